package interop

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestInteropV4Federation: a domain admin creates an identity provider in
// its own domain through keystone-ng (not in another domain, and a
// project member cannot at all); Python lists it; a workload logs in with
// a JWT (JWKS served here on 127.0.0.1) and the federated token is
// validated by Python and keystone-ng alike and rescoped by Python;
// removing the mapping's grant takes effect at the next login; deleting
// the IdP removes Python's rows.
func TestInteropV4Federation(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)

	dom := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "fed-" + sfx}))
	other := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "fed-other-" + sfx}))
	project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "fed-app-" + sfx, "domain_id": dom}))
	roleID := func(name string) string {
		roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name="+name, admin, nil)["roles"].([]any)
		return idOf(roles[0].(map[string]any))
	}
	adminRole, memberRole := roleID("admin"), roleID("member")
	pw := "Fed-" + sfx + "-secret!"
	dadmin := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "fed-dadmin-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, admin, "/v3/domains/"+dom+"/users/"+dadmin+"/roles/"+adminRole)
	member := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "fed-member-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, admin, "/v3/projects/"+project+"/users/"+member+"/roles/"+memberRole)
	dadminTok := py.issue(t, auth(passwordIdentity(dadmin, pw), scopeDomain(dom))).Token
	memberTok := py.issue(t, auth(passwordIdentity(member, pw), scopeProject(project))).Token

	key, jwks := rsaJWKS(t)

	ng := startSidecarWith(t, env, loopbackIdPs, "")
	chk := pair{py: py, ng: ng}
	issuer := "https://token.actions.githubusercontent.com/" + sfx
	idpBody := func(domainID string) map[string]any {
		return map[string]any{"identity_provider": map[string]any{
			"id": "gh-" + sfx, "name": "github-" + sfx, "domain_id": domainID, "issuer": issuer,
			"jwks_url": jwks.URL, "audiences": []string{"keystone-" + sfx}, "default_mapping": "deploy"}}
	}
	for _, tc := range []struct {
		name, token, domain string
		want                int
	}{
		{"other domain", dadminTok, other, http.StatusForbidden},
		{"project member", memberTok, dom, http.StatusForbidden},
		{"no token", "", dom, http.StatusUnauthorized},
		{"own domain", dadminTok, dom, http.StatusCreated},
	} {
		r := ng.do(t, "POST", "/v4/federation/identity_providers", idpBody(tc.domain), "X-Auth-Token", tc.token)
		if r.Status != tc.want {
			t.Fatalf("%s: create IdP: %d %s", tc.name, r.Status, r.Body)
		}
	}
	idp := "gh-" + sfx
	got := py.must(t, http.StatusOK, "GET", "/v3/OS-FEDERATION/identity_providers/"+idp, admin, nil)["identity_provider"].(map[string]any)
	if got["domain_id"] != dom {
		t.Fatalf("Python sees the IdP in domain %v, want %s", got["domain_id"], dom)
	}
	list := py.must(t, http.StatusOK, "GET", "/v3/OS-FEDERATION/identity_providers", admin, nil)["identity_providers"].([]any)
	found := false
	for _, e := range list {
		found = found || e.(map[string]any)["id"] == idp
	}
	if !found {
		t.Fatalf("Python's list lacks %s", idp)
	}
	py.must(t, http.StatusOK, "GET", "/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/openid", admin, nil)

	mapping := func(method, path string, rules string, want int) {
		t.Helper()
		body := map[string]any{"mapping": map[string]any{"name": "deploy", "rules": json.RawMessage(rules)}}
		if r := ng.do(t, method, "/v4/federation/identity_providers/"+idp+"/mappings"+path, body, "X-Auth-Token", dadminTok); r.Status != want {
			t.Fatalf("%s mapping: %d %s", method, r.Status, r.Body)
		}
	}
	mapping("POST", "", `[{"match": [{"claim": "repository", "equals": "acme/app"}],
		"user": {"name": "gh-{repository}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "`+project+`"}}],
		"scope": {"project": {"id": "`+project+`"}}}]`, http.StatusCreated)
	mapping("POST", "", `[{"match": [{"claim": "repository", "regex": "("}], "user": {"name": "x"}}]`, http.StatusBadRequest)

	n := 0
	signJWT := func() string {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": issuer, "aud": "keystone-" + sfx, "sub": "repo:acme/app:ref:refs/heads/main", "repository": "acme/app",
			"ref": "refs/heads/main", "jti": sfx + "-" + time.Now().Format(time.RFC3339Nano), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	login := func(want int) string {
		t.Helper()
		n++
		raw := signJWT()
		r := ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/jwt", nil, "Authorization", "Bearer "+raw)
		if r.Status != want {
			t.Fatalf("JWT login %d: %d %s", n, r.Status, r.Body)
		}
		if want == http.StatusCreated {
			replay := ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/jwt", nil, "Authorization", "Bearer "+raw)
			if replay.Status != http.StatusUnauthorized {
				t.Fatalf("replayed JWT: %d", replay.Status)
			}
		}
		return r.Header.Get("X-Subject-Token")
	}
	scoped := login(http.StatusCreated)
	runChecks(t, chk, []checkCase{
		{label: "jwt-login/federated-project", authToken: admin, subject: scoped, wantPy: http.StatusOK},
		{label: "jwt-login/federated-self", authToken: scoped, subject: scoped, wantPy: http.StatusOK},
	})
	// The same login through the CLI: keystone-ng login --jwt-file.
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwtFile, []byte(signJWT()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sidecarBinary(t), "login", "--os-auth-url", ng.base+"/v3", "--idp", idp, "--jwt-file", jwtFile).Output()
	if err != nil {
		t.Fatalf("keystone-ng login --jwt-file: %v\n%s", err, out)
	}
	cliTok := regexp.MustCompile(`(?m)^export OS_TOKEN=(\S+)$`).FindStringSubmatch(string(out))
	if cliTok == nil || !strings.Contains(string(out), "export OS_PROJECT_ID="+project) {
		t.Fatalf("keystone-ng login --jwt-file printed:\n%s", out)
	}
	runChecks(t, chk, []checkCase{{label: "jwt-login/cli", authToken: admin, subject: cliTok[1], wantPy: http.StatusOK}})
	rescoped := py.issue(t, auth(tokenIdentity(scoped), scopeProject(project))).Token
	runChecks(t, chk, []checkCase{{label: "jwt-login/python-rescoped", authToken: admin, subject: rescoped, wantPy: http.StatusOK}})

	// Without the grant (and unscoped), the next login's token has no
	// role on the project: Python refuses to rescope to it.
	mapping("PATCH", "/deploy", `[{"match": [{"claim": "repository", "equals": "acme/app"}], "user": {"name": "gh-{repository}"}}]`, http.StatusOK)
	unscoped := login(http.StatusCreated)
	runChecks(t, chk, []checkCase{{label: "grant-removed/federated-unscoped", authToken: admin, subject: unscoped, wantPy: http.StatusOK}})
	if r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(tokenIdentity(unscoped), scopeProject(project))}); r.Status != http.StatusUnauthorized {
		t.Fatalf("rescope after grant removal: %d %s", r.Status, r.Body)
	}

	if r := ng.do(t, "DELETE", "/v4/federation/identity_providers/"+idp, nil, "X-Auth-Token", dadminTok); r.Status != http.StatusNoContent {
		t.Fatalf("delete IdP: %d %s", r.Status, r.Body)
	}
	py.must(t, http.StatusNotFound, "GET", "/v3/OS-FEDERATION/identity_providers/"+idp, admin, nil)
	runChecks(t, chk, []checkCase{{label: "idp-deleted/federated-unscoped", authToken: admin, subject: unscoped, wantPy: http.StatusNotFound}})
}

// rsaJWKS is an RS256 key and a JWKS server publishing it as "k1" (the
// identity provider of the workload JWT tests), closed with the test.
func rsaJWKS(t *testing.T) (*rsa.PrivateKey, *httptest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	return key, jwks
}
