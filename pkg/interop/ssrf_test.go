package interop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"github.com/keystone-ng/keystone-ng/pkg/outbound/outboundtest"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// idpRows counts identity providers in Python's table and in keystone-ng's.
func idpRows(t *testing.T, env *pyEnv) [2]int {
	t.Helper()
	db, _ := openPythonDB(t, env)
	var out [2]int
	for i, tb := range []string{"identity_provider", "ng_identity_provider"} {
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+tb).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestInteropSSRF: issue 14, finding 4, through keystone-ng's HTTP API
// against the real Python Keystone. With outbound_allowed_networks empty,
// identity providers whose issuer, discovery_url or jwks_url name the
// metadata service, a private address or loopback are refused with 400
// (Keystone's error JSON, no row written), for a domain admin and for the
// system admin; a host name resolving to loopback is accepted at write
// time but its login fails (401) without a connection. With only
// 127.0.0.2/32 allowed, an IdP served there whose discovery document
// names a jwks_uri on 127.0.0.1, or whose JWKS answer redirects there,
// cannot log in either; the listener on 127.0.0.1 never sees a connection.
// A well-behaved IdP on the allowed network logs in (the control).
func TestInteropSSRF(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)

	dom := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "ssrf-" + sfx}))
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=admin", admin, nil)["roles"].([]any)
	adminRole := idOf(roles[0].(map[string]any))
	pw := "Ssrf-" + sfx + "-secret!"
	dadmin := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "ssrf-dadmin-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, admin, "/v3/domains/"+dom+"/users/"+dadmin+"/roles/"+adminRole)
	dadminTok := py.issue(t, auth(passwordIdentity(dadmin, pw), scopeDomain(dom))).Token
	sysTok := py.issue(t, auth(passwordByName(env.AdminUser, "default", env.AdminPassword), scopeSystem())).Token

	// inside stands for an internal service (a database, a metadata
	// endpoint): nothing keystone-ng does for an IdP owner may reach it.
	inside := outboundtest.Listen(t, "127.0.0.1:0")
	port := inside.Port()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signJWT := func(issuer, aud string) string {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": issuer, "aud": aud, "sub": "ssrf", "jti": fmt.Sprintf("%s-%d", sfx, now.UnixNano()),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	aud := "keystone-" + sfx
	idpBody := func(id string, fields map[string]any) map[string]any {
		b := map[string]any{"id": id, "name": id, "domain_id": dom, "issuer": "https://idp.example.com/" + sfx,
			"audiences": []string{aud}, "default_mapping": "m"}
		for k, v := range fields {
			b[k] = v
		}
		return map[string]any{"identity_provider": b}
	}
	// mapped creates the IdP (201) and a mapping that logs in sub=ssrf, so
	// that a refused login is refused by the fetch of its keys only.
	mapped := func(t *testing.T, ng *sidecar, id string, fields map[string]any) {
		t.Helper()
		if r := ng.do(t, "POST", "/v4/federation/identity_providers", idpBody(id, fields), "X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
			t.Fatalf("create IdP %s: %d %s", id, r.Status, r.Body)
		}
		t.Cleanup(func() { ng.do(t, "DELETE", "/v4/federation/identity_providers/"+id, nil, "X-Auth-Token", sysTok) })
		body := map[string]any{"mapping": map[string]any{"name": "m", "rules": json.RawMessage(`[{"match": [{"claim": "sub", "equals": "ssrf"}], "user": {"name": "ssrf-{sub}"}}]`)}}
		if r := ng.do(t, "POST", "/v4/federation/identity_providers/"+id+"/mappings", body, "X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
			t.Fatalf("create mapping of %s: %d %s", id, r.Status, r.Body)
		}
	}
	login := func(t *testing.T, ng *sidecar, id, issuer string, want int) {
		t.Helper()
		r := ng.do(t, "POST", "/v4/federation/identity_providers/"+id+"/jwt", nil, "Authorization", "Bearer "+signJWT(issuer, aud))
		if r.Status != want {
			t.Fatalf("JWT login through %s: %d %s; want %d", id, r.Status, r.Body, want)
		}
		if want != http.StatusCreated {
			wantKeystoneError(t, r, want)
		}
	}

	t.Run("no allowed network", func(t *testing.T) {
		ng := startSidecar(t, env)
		refused := []string{
			"https://169.254.169.254/latest/meta-data",
			"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			"https://10.0.0.1/jwks",
			"http://10.0.0.1:8080/",
			"http://[::1]:5432",
			"https://[::ffff:127.0.0.1]:" + port,
			"http://127.0.0.1:" + port + "/jwks",
			"https://127.0.0.1:" + port + "/jwks",
			"http://localhost:" + port + "/jwks", // plain http to a name
		}
		before := idpRows(t, env)
		n := 0
		for _, u := range refused {
			for _, field := range []string{"issuer", "discovery_url", "jwks_url"} {
				for _, who := range []struct{ name, token string }{{"domain admin", dadminTok}, {"system admin", sysTok}} {
					n++
					id := fmt.Sprintf("ssrf-%s-%d", sfx, n)
					r := ng.do(t, "POST", "/v4/federation/identity_providers", idpBody(id, map[string]any{field: u}), "X-Auth-Token", who.token)
					if r.Status != http.StatusBadRequest {
						t.Fatalf("%s, %s = %s: %d %s; want 400", who.name, field, u, r.Status, r.Body)
					}
					wantKeystoneError(t, r, http.StatusBadRequest)
					if msg := string(r.Body); !strings.Contains(msg, "identity_provider."+field) {
						t.Fatalf("%s = %s: the message does not name the field: %s", field, u, msg)
					}
				}
			}
		}
		if after := idpRows(t, env); after != before {
			t.Fatalf("identity provider rows (Python, keystone-ng) %v -> %v", before, after)
		}

		// A host name is accepted at write time (names change; the address
		// is checked when dialled) and its logins fail without connecting.
		byName := "https://localhost:" + port
		mapped(t, ng, "ssrf-name-jwks-"+sfx, map[string]any{"issuer": byName, "jwks_url": byName + "/jwks"})
		login(t, ng, "ssrf-name-jwks-"+sfx, byName, http.StatusUnauthorized)
		byName2 := "https://localhost:" + port + "/realms/x"
		mapped(t, ng, "ssrf-name-disc-"+sfx, map[string]any{"issuer": byName2})
		login(t, ng, "ssrf-name-disc-"+sfx, byName2, http.StatusUnauthorized)
		if c := inside.Connections(t); c != 0 {
			t.Fatalf("the internal listener saw %d connections; want 0", c)
		}
	})

	t.Run("only 127.0.0.2 allowed", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		}
		base := "http://" + l.Addr().String()
		var served atomic.Int64
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/inside/.well-known/openid-configuration":
				fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, base+"/inside", "http://127.0.0.1:"+port+"/jwks")
			case "/inside-name/.well-known/openid-configuration":
				fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, base+"/inside-name", "https://localhost:"+port+"/jwks")
			case "/good/.well-known/openid-configuration":
				fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, base+"/good", base+"/good/jwks")
			case "/good/jwks":
				_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
			case "/302":
				http.Redirect(w, r, "http://127.0.0.1:"+port+"/jwks", http.StatusFound)
			default:
				http.NotFound(w, r)
			}
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })

		ng := startSidecarWith(t, env, "outbound_allowed_networks = 127.0.0.2/32\n", "")
		// Allowed network, loopback beside it still refused at write time.
		r := ng.do(t, "POST", "/v4/federation/identity_providers", idpBody("ssrf-lo-"+sfx, map[string]any{"jwks_url": "http://127.0.0.1:" + port + "/jwks"}), "X-Auth-Token", dadminTok)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("jwks_url on 127.0.0.1 with 127.0.0.2/32 allowed: %d %s", r.Status, r.Body)
		}
		wantKeystoneError(t, r, http.StatusBadRequest)

		mapped(t, ng, "ssrf-inside-"+sfx, map[string]any{"issuer": base + "/inside"})
		login(t, ng, "ssrf-inside-"+sfx, base+"/inside", http.StatusUnauthorized)
		mapped(t, ng, "ssrf-inside-name-"+sfx, map[string]any{"issuer": base + "/inside-name"})
		login(t, ng, "ssrf-inside-name-"+sfx, base+"/inside-name", http.StatusUnauthorized)
		mapped(t, ng, "ssrf-302-"+sfx, map[string]any{"issuer": base + "/redirect", "jwks_url": base + "/302"})
		login(t, ng, "ssrf-302-"+sfx, base+"/redirect", http.StatusUnauthorized)
		if c := inside.Connections(t); c != 0 {
			t.Fatalf("the internal listener saw %d connections; want 0", c)
		}
		if served.Load() < 3 {
			t.Fatalf("the allowed IdP served %d requests: the refusals must come after reaching it", served.Load())
		}
		// The control: a well-behaved IdP on the allowed network works.
		mapped(t, ng, "ssrf-good-"+sfx, map[string]any{"issuer": base + "/good"})
		login(t, ng, "ssrf-good-"+sfx, base+"/good", http.StatusCreated)
	})
}
