package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestInteropServiceAccounts: keystone-ng's /v4/service_accounts and
// /v4/oauth2/token on the real Python Keystone's database
// (docs/service-accounts.md).
//
//   - A domain's admin creates an account; Python shows it (GET
//     /v3/users/{id}, the domain's user list) as an ordinary user, and
//     Python's own API grants it member on a project.
//   - Python's password method refuses it, by id and by name, whatever the
//     password (no password row: check_password(password, None) is False).
//   - It logs in with a key the test holds, with a key pair keystone-ng
//     generated, with a client secret, and through `keystone-ng login`;
//     each token validates in Python and keystone-ng with the same JSON and
//     Python rescopes it.
//   - Every token endpoint refusal of the issue answers RFC 6749's JSON
//     with the rows of every counted table unchanged; an account holding a
//     role outside domain_grantable_roles is refused; an expired secret and
//     a deleted key are refused at once.
//   - Disabled: its tokens are refused by both at once and it cannot log
//     in; enabled again, old tokens stay refused (Python's revocation
//     event); deleted: refused by both, Python no longer lists the user or
//     its assignment.
//   - Every persona that must not manage the account or mint its
//     credentials (another domain's admin, a project admin, a domain
//     reader, an application credential token, the account's own token,
//     anonymous) is refused with Keystone's error JSON and the database
//     unchanged.
func TestInteropServiceAccounts(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	ng := startSidecarWith(t, env, noLoginLimit, "")
	rc := newRowCounter(t, env)
	sfx := randSuffix(t)

	// Two domains, each with an admin (domain-scoped) and a project.
	member, adminRole, reader := roleIDByName(t, py, admin, "member"), roleIDByName(t, py, admin, "admin"), roleIDByName(t, py, admin, "reader")
	type dom struct{ id, project, adminTok, readerTok, projAdminTok string }
	mkDomain := func(base string) dom {
		var d dom
		d.id = idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "sa-" + base + "-" + sfx}))
		d.project = idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "sa-proj-" + sfx, "domain_id": d.id}))
		pw := "sa-" + sfx + "-Secret!"
		user := func(name string) string {
			return idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": name, "domain_id": d.id, "password": pw}))
		}
		da, dr := user("dadmin"), user("dreader")
		py.put(t, admin, "/v3/domains/"+d.id+"/users/"+da+"/roles/"+adminRole)
		py.put(t, admin, "/v3/projects/"+d.project+"/users/"+da+"/roles/"+adminRole)
		py.put(t, admin, "/v3/domains/"+d.id+"/users/"+dr+"/roles/"+reader)
		d.adminTok = py.issue(t, auth(passwordIdentity(da, pw), scopeDomain(d.id))).Token
		d.readerTok = py.issue(t, auth(passwordIdentity(dr, pw), scopeDomain(d.id))).Token
		d.projAdminTok = py.issue(t, auth(passwordIdentity(da, pw), scopeProject(d.project))).Token
		return d
	}
	a, b := mkDomain("a"), mkDomain("b")

	// Created by domain A's admin.
	created := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts", a.adminTok, map[string]any{"service_account": map[string]any{
		"name": "ci-deployer", "domain_id": a.id, "description": "deploys", "default_project_id": a.project}})["service_account"].(map[string]any)
	saID := idOf(created)
	if created["domain_id"] != a.id || created["enabled"] != true || created["default_project_id"] != a.project || created["name"] != "ci-deployer" {
		t.Fatalf("created: %v", created)
	}

	// Python sees an ordinary user and grants it a role with its own API.
	pu := py.must(t, http.StatusOK, "GET", "/v3/users/"+saID, admin, nil)["user"].(map[string]any)
	if pu["name"] != "ci-deployer" || pu["domain_id"] != a.id || pu["enabled"] != true || pu["description"] != "deploys" ||
		pu["default_project_id"] != a.project || pu["options"].(map[string]any)["ignore_lockout_failure_attempts"] != true {
		t.Fatalf("Python's view of the service account: %v", pu)
	}
	listed := py.must(t, http.StatusOK, "GET", "/v3/users?domain_id="+a.id+"&name=ci-deployer", admin, nil)["users"].([]any)
	if len(listed) != 1 || idOf(listed[0].(map[string]any)) != saID {
		t.Fatalf("Python's user list of domain A: %v", listed)
	}
	py.put(t, admin, "/v3/projects/"+a.project+"/users/"+saID+"/roles/"+member)

	// Python's own password method refuses it, by id and by name.
	for _, ident := range []map[string]any{passwordIdentity(saID, ""), passwordIdentity(saID, "guess"), passwordByName("ci-deployer", a.id, "guess")} {
		r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(ident, scopeProject(a.project))})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("Python password login of the service account: %d\n%s", r.Status, r.Body)
		}
	}

	// Credentials: a public key registered as PEM (the private half stays
	// with the test), a key pair generated by keystone-ng, a client secret.
	tokenURL := ngBaseURL(t, ng) + "/v4/oauth2/token"
	myKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&myKey.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	keyA := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/keys", a.adminTok,
		map[string]any{"key": map[string]any{"public_key": pemKey}})["key"].(map[string]any)
	if keyA["algorithm"] != "ES256" || keyA["private_key"] != nil || keyA["last_used_at"] != nil {
		t.Fatalf("registered key: %v", keyA)
	}
	gen := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/keys", a.adminTok,
		map[string]any{"key": map[string]any{"algorithm": "EdDSA"}})["key"].(map[string]any)
	genPriv := parsePrivatePEM(t, gen["private_key"].(string))
	genPEM := gen["private_key"].(string)
	sec := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/secrets", a.adminTok,
		map[string]any{"secret": map[string]any{}})["secret"].(map[string]any)
	secret := sec["secret"].(string)
	if listed := ng.must(t, http.StatusOK, "GET", "/v4/service_accounts/"+saID+"/secrets", a.adminTok, nil)["secrets"].([]any); len(listed) != 1 ||
		listed[0].(map[string]any)["secret"] != nil {
		t.Fatalf("secret list shows the secret or is wrong: %v", listed)
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": saID, "sub": saID, "aud": tokenURL, "exp": time.Now().Add(time.Minute).Unix(),
			"iat": time.Now().Unix(), "jti": randSuffix(t) + randSuffix(t)}
		if mod != nil {
			mod(c)
		}
		return c
	}
	assertion := func(c map[string]any) string { return signJWT(t, myKey, jose.ES256, c) }

	// Logins: with the test's key, with the generated key, with the secret.
	// Each token validates alike in Python and keystone-ng, and Python
	// rescopes it.
	chk := pair{py: py, ng: ng}
	var tokens []string
	for _, r := range []*response{
		oauthToken(t, ng, jwtForm(assertion(claims(nil)), ""), "", ""),
		oauthToken(t, ng, jwtForm(signJWT(t, genPriv, jose.EdDSA, claims(nil)), "project:"+a.project), "", ""),
		oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret),
	} {
		m := r.json(t)
		if r.Status != http.StatusOK || m["token_type"] != "Bearer" || m["scope"] != "project:"+a.project || m["expires_in"].(float64) <= 0 ||
			r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token endpoint: %d %v", r.Status, m)
		}
		tok := m["access_token"].(string)
		if st := chk.compare(t, admin, tok, ""); st != http.StatusOK {
			t.Fatalf("service account token: status %d, want 200 in both", st)
		}
		v := validate(t, py, "GET", admin, tok, "?nocatalog").json(t)["token"].(map[string]any)
		if v["user"].(map[string]any)["id"] != saID || v["project"].(map[string]any)["id"] != a.project {
			t.Fatalf("Python's view of the token: %v", v)
		}
		py.issue(t, auth(tokenIdentity(tok), scopeProject(a.project)))
		tokens = append(tokens, tok)
	}
	tok := tokens[0]

	// The CLI: `keystone-ng login --service-account ID --key-file F` (the
	// generated key) and `--secret-file F` print the exports of the other
	// login kinds; the token in them validates in Python.
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "sa.pem"), filepath.Join(dir, "sa.secret")
	if err := os.WriteFile(keyFile, []byte(genPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, creds := range [][]string{{"--key-file", keyFile}, {"--secret-file", secretFile}} {
		args := append([]string{"login", "--os-auth-url", ngBaseURL(t, ng) + "/v3", "--service-account", saID, "--project", a.project}, creds...)
		out, err := exec.Command(sidecarBinary(t), args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "export OS_AUTH_TYPE=token\n") || !strings.Contains(string(out), "export OS_PROJECT_ID="+a.project+"\n") {
			t.Fatalf("keystone-ng %v: %v\n%s", creds[0], err, out)
		}
		i := strings.Index(string(out), "export OS_TOKEN=")
		cliTok := strings.TrimSpace(strings.SplitN(string(out)[i+len("export OS_TOKEN="):], "\n", 2)[0])
		if st := chk.compare(t, admin, cliTok, ""); st != http.StatusOK {
			t.Fatalf("token from keystone-ng login %s: status %d", creds[0], st)
		}
	}
	if k := ng.must(t, http.StatusOK, "GET", "/v4/service_accounts/"+saID+"/keys/"+idOf(keyA), a.adminTok, nil)["key"].(map[string]any); k["last_used_at"] == nil {
		t.Fatalf("key's last_used_at not set: %v", k)
	}

	// A second account with its own key, for "key of another account".
	other := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts", a.adminTok, map[string]any{"service_account": map[string]any{
		"name": "other-" + sfx, "domain_id": a.id}})["service_account"].(map[string]any)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ospki, _ := x509.MarshalPKIXPublicKey(&otherKey.PublicKey)
	ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+idOf(other)+"/keys", a.adminTok,
		map[string]any{"key": map[string]any{"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ospki}))}})

	// Token endpoint refusals: RFC 6749 error JSON, nothing written.
	used := claims(nil)
	oauthToken(t, ng, jwtForm(assertion(used), ""), "", "") // consumed once
	hsKey := []byte(pemKey)
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong aud", jwtForm(assertion(claims(func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" })), ""), "", "", 401, "invalid_client"},
		{"replayed jti", jwtForm(assertion(used), ""), "", "", 401, "invalid_client"},
		{"expired assertion", jwtForm(assertion(claims(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), ""), "", "", 401, "invalid_client"},
		{"assertion valid for an hour", jwtForm(assertion(claims(func(c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() })), ""), "", "", 401, "invalid_client"},
		{"key of another account", jwtForm(signJWT(t, otherKey, jose.ES256, claims(nil)), ""), "", "", 401, "invalid_client"},
		{"alg none", jwtForm(unsignedJWT(claims(nil)), ""), "", "", 401, "invalid_client"},
		{"HMAC with the public key", jwtForm(signJWT(t, hsKey, jose.HS256, claims(nil)), ""), "", "", 401, "invalid_client"},
		{"scope without a role", jwtForm(assertion(claims(nil)), "project:"+b.project), "", "", 400, "invalid_scope"},
		{"unknown scope", jwtForm(assertion(claims(nil)), "domain:nope"), "", "", 400, "invalid_scope"},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, saID, secret + "x", 401, "invalid_client"},
		{"secret of another account", url.Values{"grant_type": {"client_credentials"}}, idOf(other), secret, 401, "invalid_client"},
		{"unsupported grant type", url.Values{"grant_type": {"password"}}, saID, secret, 400, "unsupported_grant_type"},
		{"no client authentication", url.Values{"grant_type": {"client_credentials"}}, "", "", 401, "invalid_client"},
	} {
		t.Run("token/"+tc.name, func(t *testing.T) {
			rc.unchanged(t, tc.name, func() {
				r := oauthToken(t, ng, tc.form, tc.user, tc.pass)
				m := r.json(t)
				if r.Status != tc.status || m["error"] != tc.code {
					t.Fatalf("status %d %v, want %d %s", r.Status, m, tc.status, tc.code)
				}
				if tc.user != "" && tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("no WWW-Authenticate: Basic on a failed client_secret_basic: %v", r.Header)
				}
			})
		})
	}

	// A role outside domain_grantable_roles (admin, granted with Python's
	// API by the cloud admin): the account created by a domain admin
	// cannot log in; removing the role lets it again.
	py.put(t, admin, "/v3/projects/"+a.project+"/users/"+saID+"/roles/"+adminRole)
	rc.unchanged(t, "login with a role outside the allow-list", func() {
		r := oauthToken(t, ng, jwtForm(assertion(claims(nil)), ""), "", "")
		if m := r.json(t); r.Status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("login holding admin: %d %v", r.Status, m)
		}
	})
	py.del(t, admin, "/v3/projects/"+a.project+"/users/"+saID+"/roles/"+adminRole)

	// An account a system admin creates is unbounded: it may hold admin and
	// log in, and the domain's own admin cannot mint credentials for it.
	sysTok := py.issue(t, auth(passwordByName(env.AdminUser, "default", env.AdminPassword), scopeSystem())).Token
	ops := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts", sysTok, map[string]any{"service_account": map[string]any{
		"name": "ops-" + sfx, "domain_id": a.id, "default_project_id": a.project}})["service_account"].(map[string]any)
	if ops["bounded"] != false {
		t.Fatalf("a system admin's account: %v", ops)
	}
	py.put(t, admin, "/v3/projects/"+a.project+"/users/"+idOf(ops)+"/roles/"+adminRole)
	rc.unchanged(t, "domain admin minting a key of an unbounded account", func() {
		if r := ng.do(t, "POST", "/v4/service_accounts/"+idOf(ops)+"/secrets", map[string]any{}, "X-Auth-Token", a.adminTok); r.Status != 403 {
			t.Fatalf("domain admin adds a secret to a system admin's account: %d %s", r.Status, r.Body)
		}
	})
	opsSecret := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+idOf(ops)+"/secrets", sysTok, map[string]any{})["secret"].(map[string]any)["secret"].(string)
	if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, idOf(ops), opsSecret); r.Status != 200 {
		t.Fatalf("unbounded account holding admin: %d %s", r.Status, r.Body)
	}

	// An expired secret and a deleted key are refused at once.
	short := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/secrets", a.adminTok,
		map[string]any{"secret": map[string]any{"expires_at": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)}})["secret"].(map[string]any)
	if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, short["secret"].(string)); r.Status != 200 {
		t.Fatalf("short secret before expiry: %d %s", r.Status, r.Body)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, short["secret"].(string)); r.Status != 401 {
		t.Fatalf("expired secret: %d %s", r.Status, r.Body)
	}
	ng.must(t, http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID+"/keys/"+idOf(keyA), a.adminTok, nil)
	if r := oauthToken(t, ng, jwtForm(assertion(claims(nil)), ""), "", ""); r.Status != 401 {
		t.Fatalf("deleted key: %d %s", r.Status, r.Body)
	}

	// Refusals: each with Keystone's error JSON, nothing written.
	body := func(name, domain string) map[string]any {
		return map[string]any{"service_account": map[string]any{"name": name, "domain_id": domain}}
	}
	appCred := py.create(t, a.projAdminTok, "/v3/users/"+tokenUser(t, py, admin, a.projAdminTok)+"/application_credentials",
		"application_credential", map[string]any{"name": "sa-ac-" + sfx})
	acTok := py.issue(t, auth(appCredIdentity(idOf(appCred), appCred["secret"].(string)), nil)).Token
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"another domain's admin reads", "GET", "/v4/service_accounts/" + saID, b.adminTok, nil, 403},
		{"another domain's admin disables", "PATCH", "/v4/service_accounts/" + saID, b.adminTok, map[string]any{"service_account": map[string]any{"enabled": false}}, 403},
		{"another domain's admin deletes", "DELETE", "/v4/service_accounts/" + saID, b.adminTok, nil, 403},
		{"another domain's admin creates in A", "POST", "/v4/service_accounts", b.adminTok, body("x-"+sfx, a.id), 403},
		{"another domain's admin lists A", "GET", "/v4/service_accounts?domain_id=" + a.id, b.adminTok, nil, 403},
		{"domain admin lists every domain", "GET", "/v4/service_accounts", a.adminTok, nil, 403},
		{"project admin creates", "POST", "/v4/service_accounts", a.projAdminTok, body("x-"+sfx, a.id), 403},
		{"domain reader creates", "POST", "/v4/service_accounts", a.readerTok, body("x-"+sfx, a.id), 403},
		{"domain reader deletes", "DELETE", "/v4/service_accounts/" + saID, a.readerTok, nil, 403},
		{"application credential token creates", "POST", "/v4/service_accounts", acTok, body("x-"+sfx, a.id), 403},
		{"anonymous creates", "POST", "/v4/service_accounts", "", body("x-"+sfx, a.id), 401},
		{"ordinary user through the API", "DELETE", "/v4/service_accounts/" + tokenUser(t, py, admin, a.adminTok), a.adminTok, nil, 403},
		{"duplicate name", "POST", "/v4/service_accounts", a.adminTok, body("ci-deployer", a.id), 409},
		{"default project of another domain", "POST", "/v4/service_accounts", a.adminTok,
			map[string]any{"service_account": map[string]any{"name": "x-" + sfx, "domain_id": a.id, "default_project_id": b.project}}, 400},
		{"moving to another domain", "PATCH", "/v4/service_accounts/" + saID, a.adminTok, map[string]any{"service_account": map[string]any{"domain_id": b.id}}, 400},
		{"another domain's admin adds a key", "POST", "/v4/service_accounts/" + saID + "/keys", b.adminTok, map[string]any{"key": map[string]any{"algorithm": "ES256"}}, 403},
		{"another domain's admin lists secrets", "GET", "/v4/service_accounts/" + saID + "/secrets", b.adminTok, nil, 403},
		{"another domain's admin deletes a secret", "DELETE", "/v4/service_accounts/" + saID + "/secrets/" + idOf(sec), b.adminTok, nil, 403},
		{"domain reader adds a secret", "POST", "/v4/service_accounts/" + saID + "/secrets", a.readerTok, map[string]any{}, 403},
		{"project admin adds a key", "POST", "/v4/service_accounts/" + saID + "/keys", a.projAdminTok, map[string]any{"key": map[string]any{"algorithm": "ES256"}}, 403},
		{"application credential token adds a secret", "POST", "/v4/service_accounts/" + saID + "/secrets", acTok, map[string]any{}, 403},
		{"the account's own token adds a key", "POST", "/v4/service_accounts/" + saID + "/keys", tok, map[string]any{"key": map[string]any{"algorithm": "ES256"}}, 403},
		{"private key sent as the public key", "POST", "/v4/service_accounts/" + saID + "/keys", a.adminTok, map[string]any{"key": map[string]any{"public_key": genPEM}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc.unchanged(t, tc.name, func() {
				var hdr []string
				if tc.token != "" {
					hdr = []string{"X-Auth-Token", tc.token}
				}
				r := ng.do(t, tc.method, tc.path, tc.body, hdr...)
				e, _ := r.json(t)["error"].(map[string]any)
				if r.Status != tc.want || e == nil || e["code"] != float64(tc.want) {
					t.Fatalf("status %d, want %d with Keystone's error JSON\n%s", r.Status, tc.want, r.Body)
				}
			})
		})
	}
	if got := ng.must(t, http.StatusOK, "GET", "/v4/service_accounts?domain_id="+a.id, a.readerTok, nil)["service_accounts"].([]any); len(got) != 3 {
		t.Fatalf("domain reader's list: %v", got)
	}

	// Disabled: refused by both at once; enabled again: the old token stays
	// refused (Python's revocation event), a new one validates.
	ng.must(t, http.StatusOK, "PATCH", "/v4/service_accounts/"+saID, a.adminTok, map[string]any{"service_account": map[string]any{"enabled": false}})
	if st := chk.compare(t, admin, tok, ""); st != http.StatusNotFound {
		t.Fatalf("token of a disabled service account: status %d, want 404 in both", st)
	}
	rc.unchanged(t, "login of a disabled account", func() {
		if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret); r.Status != 401 || r.json(t)["error"] != "invalid_client" {
			t.Fatalf("login of a disabled account: %d %s", r.Status, r.Body)
		}
	})
	ng.must(t, http.StatusOK, "PATCH", "/v4/service_accounts/"+saID, a.adminTok, map[string]any{"service_account": map[string]any{"enabled": true}})
	if st := chk.compare(t, admin, tok, ""); st != http.StatusNotFound {
		t.Fatalf("token issued before the account was disabled, after re-enabling: status %d, want 404 in both", st)
	}
	if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret); r.Status != 200 {
		t.Fatalf("login after re-enabling: %d %s", r.Status, r.Body)
	}
	time.Sleep(1100 * time.Millisecond) // revocation events compare whole seconds
	tok2 := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret).json(t)["access_token"].(string)
	if st := chk.compare(t, admin, tok2, ""); st != http.StatusOK {
		t.Fatalf("new token after re-enabling: status %d, want 200 in both", st)
	}

	// Deleted: refused by both; Python no longer knows the user or its grant.
	ng.must(t, http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID, a.adminTok, nil)
	if st := chk.compare(t, admin, tok2, ""); st != http.StatusNotFound {
		t.Fatalf("token of a deleted service account: status %d, want 404 in both", st)
	}
	if r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret); r.Status != 401 {
		t.Fatalf("login of a deleted account: %d %s", r.Status, r.Body)
	}
	py.must(t, http.StatusNotFound, "GET", "/v3/users/"+saID, admin, nil)
	ras := py.must(t, http.StatusOK, "GET", "/v3/role_assignments?user.id="+saID, admin, nil)["role_assignments"].([]any)
	if len(ras) != 0 {
		t.Fatalf("assignments left after delete: %v", ras)
	}
	if r := ng.do(t, "GET", "/v4/service_accounts/"+saID, nil, "X-Auth-Token", admin); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Fatalf("deleted account: %d", r.Status)
	}
}

// tokenUser is the user id of a token, as Python validates it.
func tokenUser(t *testing.T, py *ksClient, admin, tok string) string {
	t.Helper()
	return validate(t, py, "GET", admin, tok, "?nocatalog").json(t)["token"].(map[string]any)["user"].(map[string]any)["id"].(string)
}

// ngBaseURL is keystone-ng's base URL as it advertises it (the
// WWW-Authenticate of a 401), from which the token endpoint's audience is
// built.
func ngBaseURL(t *testing.T, ng *sidecar) string {
	t.Helper()
	r := ng.do(t, "GET", "/v4/service_accounts", nil)
	h := r.Header.Get("WWW-Authenticate")
	i := strings.Index(h, `uri="`)
	if r.Status != 401 || i < 0 {
		t.Fatalf("no WWW-Authenticate on a 401: %d %q", r.Status, h)
	}
	return strings.TrimSuffix(strings.TrimSuffix(h[i+5:], `"`), "/v3")
}

// signJWT signs claims with key (an assertion, RFC 7523).
func signJWT(t *testing.T, key any, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := sig.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedJWT is an "alg": "none" JWT.
func unsignedJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func parsePrivatePEM(t *testing.T, s string) any {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("generated private key is not PKCS #8 PEM: %q", s)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwtForm is a client credentials request authenticated by an assertion.
func jwtForm(assertion, scope string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// oauthToken posts a token request (with Basic authentication when user
// is set).
func oauthToken(t *testing.T, ng *sidecar, form url.Values, user, pass string) *response {
	t.Helper()
	req, err := http.NewRequest("POST", ng.base+"/v4/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := ng.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
