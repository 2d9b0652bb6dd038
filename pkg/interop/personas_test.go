package interop

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The personas of issue 14's adversarial suite, each with the token
// Keystone would give them.
const (
	sysAdmin    = "system-admin"       // bootstrap admin, system-scoped
	domAdmin    = "domain-admin"       // admin on D1, domain-scoped
	domManager  = "domain-manager"     // manager on D1, domain-scoped
	projMember  = "project-member"     // member on P1 (in D1), project-scoped
	otherAdmin  = "other-domain-admin" // admin on D2, domain-scoped
	anonymous   = "anonymous"          // no token at all
	pkOwner     = "passkey-owner"      // member on P1, unscoped password token (passkey cases)
	oauthOwner  = "oauth1-owner"       // admin on its own project (to authorize OAuth1 requests)
	trusteeUser = "trustee"            // no roles; acts for pkOwner through a trust
)

// persona is a user of the suite with how its tokens are scoped.
type persona struct {
	userID, password string
	scope            any // nil: unscoped
}

// advWorld is what the adversarial suite builds through Python's own API:
// two domains, a project in each, the personas, and the roles
// (manager created as Keystone 2023.2+ bootstrap does).
type advWorld struct {
	env   *pyEnv
	py    *ksClient
	admin string // bootstrap admin, project-scoped: Python API calls
	sfx   string
	rc    *rowCounter

	d1, d2, p1, p2 string
	roles          map[string]string // admin, member, reader, manager -> id
	personas       map[string]persona
	tokens         map[string]string // persona -> its last token
	freshTokens    bool              // a new token for every request
}

// name is a unique name for this run.
func (w *advWorld) name(base string) string { return "adv-" + base + "-" + w.sfx }

// globalRole returns the id of the global role name, creating it when
// absent.
func (w *advWorld) globalRole(t *testing.T, name string) string {
	t.Helper()
	m := w.py.must(t, http.StatusOK, "GET", "/v3/roles?name="+url.QueryEscape(name), w.admin, nil)
	for _, r := range m["roles"].([]any) {
		if rm := r.(map[string]any); rm["name"] == name && rm["domain_id"] == nil {
			return idOf(rm)
		}
	}
	return idOf(w.py.create(t, w.admin, "/v3/roles", "role", map[string]any{"name": name}))
}

// ensureImplied makes prior imply implied unless it already does.
func (w *advWorld) ensureImplied(t *testing.T, prior, implied string) {
	t.Helper()
	path := "/v3/roles/" + prior + "/implies/" + implied
	if r := w.py.do(t, "GET", path, nil, "X-Auth-Token", w.admin); r.Status == http.StatusOK {
		return
	}
	w.py.put(t, w.admin, path)
}

// buildAdvWorld creates D1 (with P1), D2 (with P2) and the personas.
// Keystone 22 (Zed) bootstraps admin -> member -> reader; the manager role
// and manager -> member are what 2023.2's bootstrap adds (admin -> manager
// is left out so that admin tokens of the other interop tests keep their
// roles).
func buildAdvWorld(t *testing.T) *advWorld {
	t.Helper()
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	w := &advWorld{env: env, py: py, admin: adminLogin(t, py, env).Token, sfx: randSuffix(t), roles: map[string]string{}, tokens: map[string]string{}}
	for _, r := range []string{"admin", "member", "reader", "manager"} {
		w.roles[r] = w.globalRole(t, r)
	}
	w.ensureImplied(t, w.roles["manager"], w.roles["member"])
	w.ensureImplied(t, w.roles["member"], w.roles["reader"])

	w.d1 = idOf(py.create(t, w.admin, "/v3/domains", "domain", map[string]any{"name": w.name("d1")}))
	w.d2 = idOf(py.create(t, w.admin, "/v3/domains", "domain", map[string]any{"name": w.name("d2")}))
	w.p1 = idOf(py.create(t, w.admin, "/v3/projects", "project", map[string]any{"name": w.name("p1"), "domain_id": w.d1}))
	w.p2 = idOf(py.create(t, w.admin, "/v3/projects", "project", map[string]any{"name": w.name("p2"), "domain_id": w.d2}))
	poa := idOf(py.create(t, w.admin, "/v3/projects", "project", map[string]any{"name": w.name("oauth1"), "domain_id": "default"}))

	sysAdminID := idOf(py.must(t, http.StatusOK, "GET", "/v3/users?name="+url.QueryEscape(env.AdminUser)+"&domain_id=default", w.admin, nil)["users"].([]any)[0].(map[string]any))
	w.personas = map[string]persona{
		sysAdmin: {userID: sysAdminID, password: env.AdminPassword, scope: scopeSystem()},
	}
	add := func(key, domain string, scope any, grants ...string) string {
		pw := "Adv-" + w.sfx + "-pw!"
		id := w.user(t, key, domain, pw)
		for _, g := range grants {
			py.put(t, w.admin, g+"/users/"+id+"/roles/"+w.roles[scopeRole(key)])
		}
		w.personas[key] = persona{userID: id, password: pw, scope: scope}
		return id
	}
	add(domAdmin, w.d1, scopeDomain(w.d1), "/v3/domains/"+w.d1)
	add(domManager, w.d1, scopeDomain(w.d1), "/v3/domains/"+w.d1)
	add(projMember, w.d1, scopeProject(w.p1), "/v3/projects/"+w.p1)
	add(otherAdmin, w.d2, scopeDomain(w.d2), "/v3/domains/"+w.d2)
	add(pkOwner, w.d1, nil, "/v3/projects/"+w.p1)
	add(oauthOwner, "default", scopeProject(poa), "/v3/projects/"+poa)
	add(trusteeUser, w.d1, nil)
	w.rc = newRowCounter(t, env)
	t.Logf("adversarial world %s: D1 %s (P1 %s), D2 %s (P2 %s)", w.sfx, w.d1, w.p1, w.d2, w.p2)
	return w
}

// scopeRole is the role a persona holds on its scope.
func scopeRole(key string) string {
	switch key {
	case domAdmin, otherAdmin, oauthOwner:
		return "admin"
	case domManager:
		return "manager"
	default:
		return "member"
	}
}

// user creates a user of domain with password pw.
func (w *advWorld) user(t *testing.T, base, domain, pw string) string {
	t.Helper()
	return idOf(w.py.create(t, w.admin, "/v3/users", "user", map[string]any{"name": w.name(base), "domain_id": domain, "password": pw}))
}

// group creates a group of domain.
func (w *advWorld) group(t *testing.T, base, domain string) string {
	t.Helper()
	return idOf(w.py.create(t, w.admin, "/v3/groups", "group", map[string]any{"name": w.name(base), "domain_id": domain}))
}

// token is a Python token of the persona ("" for anonymous): issued once
// and reused, or, while freshTokens is set (the passkey cases), issued
// anew for every request so that only the kind of token, never its age,
// explains an answer ([webauthn] reauthentication_window is 3 s here).
func (w *advWorld) token(t *testing.T, key string) string {
	t.Helper()
	if key == anonymous {
		return ""
	}
	if tok := w.tokens[key]; tok != "" && !w.freshTokens {
		return tok
	}
	p, ok := w.personas[key]
	if !ok {
		t.Fatalf("unknown persona %q", key)
	}
	tok := w.py.issue(t, auth(passwordIdentity(p.userID, p.password), p.scope)).Token
	w.tokens[key] = tok
	return tok
}

// pyRoles is what Python's own validation says about a token: the role
// names, and the scope ("project:<id>", "domain:<id>", "system" or
// "unscoped").
func (w *advWorld) pyRoles(t *testing.T, tok string) ([]string, string) {
	t.Helper()
	body := validate(t, w.py, "GET", w.admin, tok, "").json(t)["token"].(map[string]any)
	var names []string
	if rs, ok := body["roles"].([]any); ok {
		for _, r := range rs {
			names = append(names, r.(map[string]any)["name"].(string))
		}
	}
	sort.Strings(names)
	scope := "unscoped"
	switch {
	case body["project"] != nil:
		scope = "project:" + idOf(body["project"].(map[string]any))
	case body["domain"] != nil:
		scope = "domain:" + idOf(body["domain"].(map[string]any))
	case body["system"] != nil:
		scope = "system"
	}
	return names, scope
}

// jwtIssuer is a workload identity platform run by the test (or by an
// attacker: the JWKS is whatever its owner serves): one RSA key served as
// a JWKS on 127.0.0.1, used by every IdP of the suite with its own issuer.
type jwtIssuer struct {
	key *rsa.PrivateKey
	srv *httptest.Server
	n   int
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ji := &jwtIssuer{key: key}
	ji.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "adv", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(ji.srv.Close)
	return ji
}

// idpBody is the create body of an IdP with this issuer's keys; domain
// nil makes a global IdP.
func (ji *jwtIssuer) idpBody(id string, domain any) map[string]any {
	return map[string]any{"identity_provider": map[string]any{
		"id": id, "name": id, "domain_id": domain, "issuer": "https://ci.example.org/" + id,
		"jwks_url": ji.srv.URL, "audiences": []string{"keystone-" + id}}}
}

// sign makes a JWT for the IdP id (as idpBody configured it) whose
// repository claim is repo; each has its own jti.
func (ji *jwtIssuer) sign(t *testing.T, id, repo string) string {
	t.Helper()
	ji.n++
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: ji.key}, (&jose.SignerOptions{}).WithHeader("kid", "adv"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(map[string]any{
		"iss": "https://ci.example.org/" + id, "aud": "keystone-" + id, "sub": "repo:" + repo, "repository": repo,
		"jti": id + "-" + repo + "-" + now.Format(time.RFC3339Nano) + "-" + strconv.Itoa(ji.n), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// jwtLogin logs a workload in through keystone-ng with the named mapping.
func jwtLogin(t *testing.T, ng *sidecar, ji *jwtIssuer, idp, mapping, repo string) *response {
	t.Helper()
	return ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/jwt", nil,
		"Authorization", "Bearer "+ji.sign(t, idp, repo), "OpenStack-Mapping", mapping)
}

// mappingBody is one mapping of one rule that matches repository == repo;
// user is the rule's user ({"name": ...} or {"id": ...}); grants, groups
// and scope may be nil.
func mappingBody(name, repo string, user map[string]any, grants, groups []any, scope map[string]any) map[string]any {
	rule := map[string]any{"match": []any{map[string]any{"claim": "repository", "equals": repo}}, "user": user}
	if grants != nil {
		rule["grants"] = grants
	}
	if groups != nil {
		rule["groups"] = groups
	}
	if scope != nil {
		rule["scope"] = scope
	}
	m := map[string]any{"rules": []any{rule}}
	if name != "" {
		m["name"] = name
	}
	return map[string]any{"mapping": m}
}

// grantOn is a mapping grant of the global role name on a project or a
// domain ("project"/"domain").
func grantOn(role, kind, id string) map[string]any {
	return map[string]any{"role": map[string]any{"name": role}, kind: map[string]any{"id": id}}
}

// shadowUser names a workload user after its repository.
func shadowUser(repo string) map[string]any { return map[string]any{"name": "wl-" + repo} }
