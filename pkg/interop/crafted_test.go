package interop

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// TestInteropCraftedTokens sends tokens that only a key holder or an
// attacker could make: sealed with the repository's real primary key but
// carrying a bad payload, sealed with a foreign key, or oversized. Python and
// keystone-ng must agree on the status (and JSON); where Python itself fails
// with a 5xx (it crashes on some malformed payloads) keystone-ng must answer
// 404 instead, never 5xx. Tokens keystone-ng mints must validate in Python.
func TestInteropCraftedTokens(t *testing.T) {
	env := loadEnv(t)
	skipUnlessFernet(t, env, "crafted Fernet payloads; TestInteropJWSTokens crafts JWS tokens")
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	admin := adminLogin(t, py, env).Token

	repo, err := fernet.LoadRepository(env.FernetDir)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := fernet.NewKeySet("xKSbOjKeoFqcuDzVmnNOqCNmA9DbYXUIfaSYp3CgxwQ=")
	if err != nil {
		t.Fatal(err)
	}
	seal := func(ks *fernet.KeySet, plain []byte) string {
		tok, err := ks.Encrypt(plain, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// What Python's admin token says about itself, to mint look-alikes.
	self := validate(t, py, "GET", admin, admin, "?nocatalog").json(t)["token"].(map[string]any)
	userID := self["user"].(map[string]any)["id"].(string)
	projectID := self["project"].(map[string]any)["id"].(string)
	codec := &payload.Codec{}
	good, err := codec.Encode(&payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"},
		ProjectID: projectID, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second), AuditIDs: []string{"q2x9fQnLQm-1zP3rV0y0lg"}})
	if err != nil {
		t.Fatal(err)
	}
	unscoped, err := codec.Encode(&payload.Payload{Version: 0, UserID: userID, Methods: []string{"password"},
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second), AuditIDs: []string{"r2x9fQnLQm-1zP3rV0y0lg"}})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		subject string
		// pyMay5xx: Python is known to crash (500/502) on this input.
		pyMay5xx bool
	}{
		{"minted by keystone-ng, project scope", seal(repo, good), false},
		{"minted by keystone-ng, unscoped", seal(repo, unscoped), false},
		{"foreign key", seal(foreign, good), false},
		{"unknown payload version", seal(repo, []byte{0x92, 0x63, 0xc0}), false},
		{"msgpack array longer than the data", seal(repo, []byte{0x9f, 0x02, 0x92, 0xc3}), true},
		{"msgpack bin length lying", seal(repo, append([]byte{0x95, 0x00, 0x92, 0xc3, 0xc4, 0xff}, make([]byte, 16)...)), true},
		{"not msgpack at all", seal(repo, []byte("hello world")), true},
		{"empty plaintext", seal(repo, nil), true},
		{"oversized token", "gAAAAA" + strings.Repeat("A", 9000), false},
		{"non-base64 characters", "gAAAAA$$$$%%%%", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Python's uWSGI worker may crash and close the connection
			// without an answer: that counts as a 5xx.
			pr, perr := validateE(py, "GET", admin, tc.subject, "")
			if perr != nil {
				pr = &response{Status: 0}
			}
			nr := validate(t, ng.ksClient, "GET", admin, tc.subject, "")
			if nr.Status >= 500 {
				t.Fatalf("keystone-ng answered %d: %s", nr.Status, nr.Body)
			}
			if pr.Status >= 500 || pr.Status == 0 {
				if !tc.pyMay5xx {
					t.Fatalf("python answered %d unexpectedly: %s", pr.Status, pr.Body)
				}
				if nr.Status != http.StatusNotFound {
					t.Fatalf("python crashed (%d); keystone-ng must answer 404, answered %d", pr.Status, nr.Status)
				}
				t.Logf("python %d (crash; 0 = connection closed: %v), keystone-ng 404", pr.Status, perr)
				return
			}
			if pr.Status != nr.Status {
				t.Fatalf("status python %d, keystone-ng %d\npython: %s\nkeystone-ng: %s", pr.Status, nr.Status, pr.Body, nr.Body)
			}
			if strings.HasPrefix(tc.name, "minted") && pr.Status != http.StatusOK {
				t.Fatalf("a token minted by keystone-ng was refused by Python: %d %s", pr.Status, pr.Body)
			}
			pj, _ := canonicalJSON(pr.Body)
			nj, _ := canonicalJSON(nr.Body)
			if !reflect.DeepEqual(pj, nj) {
				// Bodies (token or error) must match in canonical order.
				t.Fatalf("JSON differs\n%s", jsonDiff(pj, nj))
			}
		})
	}
}
