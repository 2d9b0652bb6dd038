package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/authz"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

type noIssuer struct{}

func (noIssuer) Issue(context.Context, issue.Grant) (*issue.Issued, error) {
	return nil, fmt.Errorf("not in this test")
}

// passkeyServer is the real router with the real policy and passkey
// service on SQLite; only token validation is stubbed (it needs Python's
// whole schema and Fernet keys): X-Auth-Token names a prepared token.
func passkeyServer(t *testing.T) (*httptest.Server, *storetest.Backend, map[string]*token.Token) {
	t.Helper()
	return passkeyServerWith(t, nil)
}

// passkeyServerWith is passkeyServer with an audit recorder.
func passkeyServerWith(t *testing.T, changes Changes) (*httptest.Server, *storetest.Backend, map[string]*token.Token) {
	t.Helper()
	ctx := context.Background()
	b := storetest.Open(t, "sqlite", storetest.PythonTables("sqlite")...)
	for _, q := range []string{
		`INSERT INTO project (id, name, domain_id, enabled, is_domain) VALUES ('default', 'Default', '<<keystone.domain.root>>', 1, 1)`,
		`INSERT INTO "user" (id, domain_id, enabled) VALUES ('alice0000000000000000000000000001', 'default', 1), ('bob00000000000000000000000000001', 'default', 1)`,
		`INSERT INTO local_user (id, user_id, domain_id, name, failed_auth_count) VALUES (1, 'alice0000000000000000000000000001', 'default', 'alice', 0), (2, 'bob00000000000000000000000000001', 'default', 'bob', 0)`,
	} {
		if _, err := b.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	engine, err := authz.New(ctx, authz.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := store.NewReader(b.DB)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := passkey.New(passkey.Config{RPID: "cloud.example.com", Origins: []string{"https://cloud.example.com"}, CeremonyTimeout: time.Minute},
		passkey.NewSQLStore(b.DB), r, &identity.Checker{Dir: r}, r, log)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]*token.Token{}
	for _, u := range []struct{ tok, id, name string }{{"alice-token", "alice0000000000000000000000000001", "alice"}, {"bob-token", "bob00000000000000000000000000001", "bob"}} {
		tokens[u.tok] = &token.Token{IssuedAt: time.Now(), Payload: &payload.Payload{UserID: u.id}, User: &keystone.User{ID: u.id, Name: u.name, DomainID: "default",
			Domain: &keystone.Project{ID: "default", Name: "Default", IsDomain: true, Enabled: true}}}
	}
	sa := serviceaccount.New(store.NewServiceAccounts(b.DB), r, serviceaccount.Options{}, log)
	s := &Server{Log: log, V4: &V4{Authz: engine, Passkeys: svc, ServiceAccounts: sa, TrustedDashboards: []string{"https://horizon.example.com/auth/websso/"},
		Logins: &login.Pipeline{Users: &identity.Checker{Dir: r}, Issuer: noIssuer{}, ServiceAccounts: sa, Log: log}, Audit: changes}}
	e := s.Echo()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if tk, ok := tokens[c.Request().Header.Get("X-Auth-Token")]; ok {
				c.Set(callerKey, tk)
			} else if c.Request().Header.Get("X-Auth-Token") != "" {
				return fmt.Errorf("test: unknown token") // would be a 401 from validation
			}
			return next(c)
		}
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, b, tokens
}

func call(t *testing.T, srv *httptest.Server, method, path, tok, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if m == nil {
		m = map[string]any{"raw": string(raw)}
	}
	return resp, m
}

func keystoneError(t *testing.T, m map[string]any, code int, msg string) {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok || e["code"] != float64(code) || e["title"] != http.StatusText(code) || (msg != "" && e["message"] != msg) {
		t.Fatalf("want Keystone error %d %q, got %v", code, msg, m)
	}
}

const alice = "alice0000000000000000000000000001"

func TestPasskeyAPI(t *testing.T) {
	srv, b, _ := passkeyServer(t)
	base := "/v4/users/" + alice + "/passkeys"
	key := passkeytest.New("https://cloud.example.com")

	// Registration through the API.
	resp, m := call(t, srv, "POST", base+"/register/start", "alice-token", `{"name": "laptop"}`)
	if resp.StatusCode != 200 || m["ceremony_id"] == "" || m["options"].(map[string]any)["publicKey"] == nil {
		t.Fatalf("start: %d %v", resp.StatusCode, m)
	}
	opts, _ := json.Marshal(m["options"])
	cred, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"ceremony_id": m["ceremony_id"], "credential": json.RawMessage(cred)})
	resp, m = call(t, srv, "POST", base+"/register/finish", "alice-token", string(body))
	if resp.StatusCode != 201 {
		t.Fatalf("finish: %d %v", resp.StatusCode, m)
	}
	pk := m["passkey"].(map[string]any)
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	if pk["name"] != "laptop" || pk["user_id"] != alice || pk["last_used_at"] != nil || !timeRE.MatchString(pk["created_at"].(string)) ||
		pk["backup_eligible"] != true || pk["backup_state"] != true || pk["aaguid"] == "" || len(pk["transports"].([]any)) != 2 {
		t.Fatalf("passkey %v", pk)
	}
	id := pk["id"].(string)

	for _, tc := range []struct {
		name, method, path, tok, body string
		status                        int
		msg                           string
	}{
		{name: "list", method: "GET", path: base, tok: "alice-token", status: 200},
		{name: "get", method: "GET", path: base + "/" + id, tok: "alice-token", status: 200},
		{name: "rename", method: "PATCH", path: base + "/" + id, tok: "alice-token", body: `{"passkey": {"name": "phone"}}`, status: 200},
		{name: "rename without name", method: "PATCH", path: base + "/" + id, tok: "alice-token", body: `{"passkey": {}}`, status: 400},
		{name: "unknown field", method: "PATCH", path: base + "/" + id, tok: "alice-token", body: `{"passkey": {"name": "x", "id": "y"}}`, status: 400},
		{name: "no token", method: "GET", path: base, status: 401, msg: "The request you have made requires authentication."},
		{name: "someone else lists", method: "GET", path: base, tok: "bob-token", status: 403},
		{name: "someone else registers", method: "POST", path: base + "/register/start", tok: "bob-token", status: 403},
		{name: "someone else deletes", method: "DELETE", path: base + "/" + id, tok: "bob-token", status: 403},
		{name: "unknown user is 403 too", method: "POST", path: "/v4/users/nobody/passkeys/register/start", tok: "bob-token", status: 403},
		{name: "unknown passkey", method: "GET", path: base + "/nope", tok: "alice-token", status: 404, msg: "Could not find passkey: nope."},
		{name: "login start with a user of v3's shape", method: "POST", path: "/v4/auth/passkey/start", body: `{"user": {"name": "alice", "domain": {"name": "Default"}}}`, status: 200},
		{name: "login start usernameless", method: "POST", path: "/v4/auth/passkey/start", body: `{}`, status: 200},
		{name: "login start without body", method: "POST", path: "/v4/auth/passkey/start", status: 200},
		{name: "login finish of an unknown ceremony", method: "POST", path: "/v4/auth/passkey/finish", body: `{"ceremony_id": "x", "credential": {}}`, status: 401,
			msg: "The request you have made requires authentication."},
		{name: "login finish malformed", method: "POST", path: "/v4/auth/passkey/finish", body: `{"ceremony_id": 1}`, status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := [2]int{storetest.Count(t, b.DB, "ng_passkeys"), storetest.Count(t, b.DB, "ng_passkey_ceremonies")}
			resp, m := call(t, srv, tc.method, tc.path, tc.tok, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, m)
			}
			if tc.status >= 400 {
				keystoneError(t, m, tc.status, tc.msg)
				after := [2]int{storetest.Count(t, b.DB, "ng_passkeys"), storetest.Count(t, b.DB, "ng_passkey_ceremonies")}
				if after[0] != before[0] || (tc.path != "/v4/auth/passkey/finish" && after[1] != before[1]) {
					t.Fatalf("database changed: %v -> %v", before, after)
				}
			}
		})
	}

	// Same shape for a known and an unknown user.
	_, known := call(t, srv, "POST", "/v4/auth/passkey/start", "", `{"user": {"id": "`+alice+`"}}`)
	_, unknown := call(t, srv, "POST", "/v4/auth/passkey/start", "", `{"user": {"id": "0000000000000000000000000000ffff"}}`)
	if keysOf(known["options"].(map[string]any)["publicKey"]) != keysOf(unknown["options"].(map[string]any)["publicKey"]) {
		t.Fatalf("decoy shape differs:\n%v\n%v", known, unknown)
	}

	resp, _ = call(t, srv, "DELETE", base+"/"+id, "alice-token", "")
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if n := storetest.Count(t, b.DB, "ng_passkeys"); n != 0 {
		t.Fatalf("%d passkeys", n)
	}
}

func keysOf(v any) string {
	m := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return strings.Join(ks, ",")
}

func TestLoginPage(t *testing.T) {
	srv, _, _ := passkeyServer(t)
	resp, m := call(t, srv, "GET", "/v4/login", "", "")
	html := m["raw"].(string)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	want := "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self' https://horizon.example.com; frame-ancestors 'none'; base-uri 'none'"
	if csp != want {
		t.Fatalf("CSP %q", csp)
	}
	for _, id := range []string{"passkey-signin", "signin-name", "signin-domain", "passkey-signin-named", "token-output", "openstack-exports",
		"passkey-register", "passkey-name", "status", "signout", "token-input", "use-token"} {
		if !strings.Contains(html, `id="`+id+`"`) {
			t.Errorf("page lacks #%s", id)
		}
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "style=") || strings.Contains(html, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Error("inline script or style")
	}
	for _, a := range []string{"/v4/login/static/login.js", "/v4/login/static/login.css"} {
		resp, _ := call(t, srv, "GET", a, "", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d", a, resp.StatusCode)
		}
	}
	resp, who := call(t, srv, "GET", "/v4/login/whoami", "alice-token", "")
	if resp.StatusCode != 200 || who["user"].(map[string]any)["name"] != "alice" {
		t.Fatalf("whoami %d %v", resp.StatusCode, who)
	}
	resp, who = call(t, srv, "GET", "/v4/login/whoami", "", "")
	if resp.StatusCode != 401 {
		t.Fatalf("whoami without token %d %v", resp.StatusCode, who)
	}
}

func TestLoginPageCSP(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{name: "none", want: "form-action 'self';"},
		{name: "dashboards", in: []string{"https://a.example/auth/websso/", "http://b.example:8080/x"}, want: "form-action 'self' https://a.example http://b.example:8080;"},
		{name: "junk ignored", in: []string{"javascript:alert(1)", "https://x.example; script-src *", "not a url"}, want: "form-action 'self';"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LoginPageCSP(tc.in); !strings.Contains(got, tc.want) {
				t.Fatalf("%q lacks %q", got, tc.want)
			}
		})
	}
}

// TestPasskeyDelegatedTokens: a delegated or stale token of the owner
// cannot register or manage a passkey (issue 14 finding 3); nothing is
// written by the refusal.
func TestPasskeyDelegatedTokens(t *testing.T) {
	srv, b, tokens := passkeyServer(t)
	own := tokens["alice-token"]
	variant := func(name string, f func(tk *token.Token)) string {
		p := *own.Payload
		tk := *own
		tk.Payload = &p
		f(&tk)
		tokens[name] = &tk
		return name
	}
	base := "/v4/users/" + alice + "/passkeys"
	for _, tc := range []struct {
		tok, reason string
	}{
		{variant("appcred", func(tk *token.Token) { tk.Payload.AppCredID = "ac1" }), "an application credential token cannot manage passkeys"},
		{variant("oauth1", func(tk *token.Token) { tk.Payload.AccessTokenID = "at1" }), "an OAuth1 token cannot manage passkeys"},
		{variant("trust", func(tk *token.Token) { tk.Payload.TrustID = "t1" }), "a trust token cannot manage passkeys"},
		{variant("stale", func(tk *token.Token) { tk.IssuedAt = time.Now().Add(-11 * time.Minute) }), "re-authentication required"},
		{variant("no-issue-time", func(tk *token.Token) { tk.IssuedAt = time.Time{} }), "re-authentication required"},
	} {
		t.Run(tc.tok, func(t *testing.T) {
			before := storetest.Count(t, b.DB, "ng_passkey_ceremonies")
			resp, m := call(t, srv, "POST", base+"/register/start", tc.tok, `{"name": "x"}`)
			if resp.StatusCode != 403 {
				t.Fatalf("register/start: %d %v", resp.StatusCode, m)
			}
			keystoneError(t, m, 403, "")
			if msg, _ := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.reason) {
				t.Fatalf("message %q lacks %q", msg, tc.reason)
			}
			if after := storetest.Count(t, b.DB, "ng_passkey_ceremonies"); after != before {
				t.Fatalf("ceremonies %d -> %d", before, after)
			}
			if resp, _ := call(t, srv, "DELETE", base+"/nope", tc.tok, ""); resp.StatusCode != 403 {
				t.Fatalf("delete: %d", resp.StatusCode)
			}
		})
	}
	// A stale token may still list (a read); a delegated one may not.
	if resp, m := call(t, srv, "GET", base, "stale", ""); resp.StatusCode != 200 {
		t.Fatalf("stale list: %d %v", resp.StatusCode, m)
	}
	if resp, _ := call(t, srv, "GET", base, "appcred", ""); resp.StatusCode != 403 {
		t.Fatalf("appcred list: %d", resp.StatusCode)
	}
	// The owner's fresh first-hand token still starts a registration.
	if resp, m := call(t, srv, "POST", base+"/register/start", "alice-token", `{"name": "x"}`); resp.StatusCode != 200 {
		t.Fatalf("fresh token: %d %v", resp.StatusCode, m)
	}
}

// TestPasskeyRegistrationRefusedForServiceAccount: a service account never
// gets a passkey, even registered with its own fresh token (403, no
// ceremony written); other users are unaffected.
func TestPasskeyRegistrationRefusedForServiceAccount(t *testing.T) {
	srv, b, _ := passkeyServer(t)
	if _, err := b.DB.ExecContext(context.Background(), `INSERT INTO ng_service_account (user_id, domain_id, created_by, created_at, bounded) VALUES (?, 'default', 'admin', 0, 1)`,
		"bob00000000000000000000000000001"); err != nil {
		t.Fatal(err)
	}
	before := storetest.Count(t, b.DB, "ng_passkey_ceremonies")
	resp, m := call(t, srv, "POST", "/v4/users/bob00000000000000000000000000001/passkeys/register/start", "bob-token", `{"name": "x"}`)
	keystoneError(t, m, 403, "")
	if msg, _ := m["error"].(map[string]any)["message"].(string); resp.StatusCode != 403 || !strings.Contains(msg, "a service account cannot have passkeys") {
		t.Fatalf("register/start of a service account: %d %v", resp.StatusCode, m)
	}
	if after := storetest.Count(t, b.DB, "ng_passkey_ceremonies"); after != before {
		t.Fatalf("ceremonies %d -> %d", before, after)
	}
	if resp, m := call(t, srv, "POST", "/v4/users/"+alice+"/passkeys/register/start", "alice-token", `{"name": "x"}`); resp.StatusCode != 200 {
		t.Fatalf("a person's registration: %d %v", resp.StatusCode, m)
	}
}
