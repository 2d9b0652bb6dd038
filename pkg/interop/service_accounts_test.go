package interop

import (
	"net/http"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// TestInteropServiceAccounts: keystone-ng's /v4/service_accounts on the
// real Python Keystone's database (docs/service-accounts.md).
//
//   - A domain's admin creates an account; Python shows it (GET
//     /v3/users/{id}, the domain's user list) as an ordinary user, and
//     Python's own API grants it member on a project.
//   - Python's password method refuses it, by id and by name, whatever the
//     password (no password row: check_password(password, None) is False).
//   - A token of the account (sealed here with the repository's primary
//     key, as keystone-ng's issuer seals one) validates in Python and
//     keystone-ng with the same JSON, is refused by both at once when the
//     account is disabled, stays refused when it is enabled again (Python's
//     revocation event), and is refused by both once the account is
//     deleted; Python then no longer lists the user or its assignment.
//   - Every persona that must not manage the account (another domain's
//     admin, a project admin, a domain reader, an application credential
//     token, anonymous) is refused with Keystone's error JSON and the
//     database unchanged.
func TestInteropServiceAccounts(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	ng := startSidecarWith(t, env, noLoginLimit, "")
	rc := newRowCounter(t, env)
	sfx := randSuffix(t)

	// Two domains, each with an admin (domain-scoped) and a project.
	roleID := func(name string) string {
		rs := py.must(t, http.StatusOK, "GET", "/v3/roles?name="+name, admin, nil)["roles"].([]any)
		if len(rs) == 0 {
			t.Fatalf("no role %s", name)
		}
		return idOf(rs[0].(map[string]any))
	}
	member, adminRole, reader := roleID("member"), roleID("admin"), roleID("reader")
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

	// A token of the account validates alike in both.
	repo, err := fernet.LoadRepository(env.FernetDir)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(audit string) string {
		plain, err := (&payload.Codec{}).Encode(&payload.Payload{Version: 2, UserID: saID, Methods: []string{"password"},
			ProjectID: a.project, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second), AuditIDs: []string{audit}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := repo.Encrypt(plain, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint("c2VydmljZS1hY2NvdW50AA")
	chk := pair{py: py, ng: ng}
	if st := chk.compare(t, admin, tok, ""); st != http.StatusOK {
		t.Fatalf("service account token: status %d, want 200 in both", st)
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
	if got := ng.must(t, http.StatusOK, "GET", "/v4/service_accounts?domain_id="+a.id, a.readerTok, nil)["service_accounts"].([]any); len(got) != 1 {
		t.Fatalf("domain reader's list: %v", got)
	}

	// Disabled: refused by both at once; enabled again: the old token stays
	// refused (Python's revocation event), a new one validates.
	ng.must(t, http.StatusOK, "PATCH", "/v4/service_accounts/"+saID, a.adminTok, map[string]any{"service_account": map[string]any{"enabled": false}})
	if st := chk.compare(t, admin, tok, ""); st != http.StatusNotFound {
		t.Fatalf("token of a disabled service account: status %d, want 404 in both", st)
	}
	ng.must(t, http.StatusOK, "PATCH", "/v4/service_accounts/"+saID, a.adminTok, map[string]any{"service_account": map[string]any{"enabled": true}})
	if st := chk.compare(t, admin, tok, ""); st != http.StatusNotFound {
		t.Fatalf("token issued before the account was disabled, after re-enabling: status %d, want 404 in both", st)
	}
	time.Sleep(1100 * time.Millisecond) // revocation events compare whole seconds
	tok2 := mint("c2VydmljZS1hY2NvdW50AQ")
	if st := chk.compare(t, admin, tok2, ""); st != http.StatusOK {
		t.Fatalf("new token after re-enabling: status %d, want 200 in both", st)
	}

	// Deleted: refused by both; Python no longer knows the user or its grant.
	ng.must(t, http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID, a.adminTok, nil)
	if st := chk.compare(t, admin, tok2, ""); st != http.StatusNotFound {
		t.Fatalf("token of a deleted service account: status %d, want 404 in both", st)
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
