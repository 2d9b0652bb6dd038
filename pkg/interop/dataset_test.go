package interop

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"
)

// dataset is a realistic slice of a Keystone deployment created through
// Python's REST API. Every name carries a random suffix so the suite can run
// again and again against the same database.
type dataset struct {
	sfx string

	adminToken string // project-scoped admin token (bootstrap admin on project admin)
	adminID    string

	roles map[string]string // name -> id: admin, member, reader, observer, operator, auditor, dsr (domain-specific)

	dom1, dom2 string // dom2 is disabled by a step
	proj       string // main project in dom1
	child      string // child of proj (inherited assignments reach it)
	projQ      string // in dom1; userC's only assignment is removed by a step
	projOff    string // in dom1; disabled by a step
	proj2      string // in dom2

	group string // in dom1, userA is a member

	userA, userB, userC, userD, userE, userF, trustee string
	password                                          string

	trustImp, trustNoImp string // trusts userA -> trustee on proj

	appCred, appCredSecret           string // restricted, roles [member] on proj
	appCredRules, appCredRulesSecret string // with access rules (needs OpenStack-Identity-Access-Rules)

	region2, service2 string
}

func randSuffix(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func adminLogin(t testing.TB, py *ksClient, env *pyEnv) issued {
	t.Helper()
	return py.issue(t, auth(passwordByName(env.AdminUser, "default", env.AdminPassword),
		map[string]any{"project": map[string]any{"name": env.AdminProject, "domain": map[string]any{"id": "default"}}}))
}

// roleByName finds a global role by name.
func (ds *dataset) roleByName(t testing.TB, py *ksClient, name string) string {
	t.Helper()
	m := py.must(t, http.StatusOK, "GET", "/v3/roles?name="+name, ds.adminToken, nil)
	list, _ := m["roles"].([]any)
	for _, r := range list {
		rm := r.(map[string]any)
		if rm["name"] == name && rm["domain_id"] == nil {
			return idOf(rm)
		}
	}
	t.Fatalf("role %q not found (bootstrap should have created it)", name)
	return ""
}

// buildDataset creates domains, a project tree, users, groups, roles (with an
// implied chain and a domain-specific role), direct/group/inherited/system
// assignments, two trusts, application credentials, and a second region and
// service whose endpoint URLs use $(project_id)s / $(tenant_id)s.
func buildDataset(t testing.TB, py *ksClient, env *pyEnv) *dataset {
	t.Helper()
	start := time.Now()
	ds := &dataset{sfx: randSuffix(t), password: "Interop-pw-1", roles: map[string]string{}}
	admin := adminLogin(t, py, env)
	ds.adminToken = admin.Token
	ds.adminID = idOf(admin.Body["token"].(map[string]any)["user"].(map[string]any))
	tok := ds.adminToken
	n := func(base string) string { return "ng-" + base + "-" + ds.sfx }

	for _, r := range []string{"admin", "member", "reader"} {
		ds.roles[r] = ds.roleByName(t, py, r)
	}
	// custom roles: operator -> observer -> reader (implied chain)
	ds.roles["observer"] = idOf(py.create(t, tok, "/v3/roles", "role", map[string]any{"name": n("observer"), "description": "interop observer"}))
	ds.roles["operator"] = idOf(py.create(t, tok, "/v3/roles", "role", map[string]any{"name": n("operator")}))
	ds.roles["auditor"] = idOf(py.create(t, tok, "/v3/roles", "role", map[string]any{"name": n("auditor")}))
	py.put(t, tok, "/v3/roles/"+ds.roles["operator"]+"/implies/"+ds.roles["observer"])
	py.put(t, tok, "/v3/roles/"+ds.roles["observer"]+"/implies/"+ds.roles["reader"])

	// domains and the project tree
	ds.dom1 = idOf(py.create(t, tok, "/v3/domains", "domain", map[string]any{"name": n("dom1"), "description": "interop domain 1"}))
	ds.dom2 = idOf(py.create(t, tok, "/v3/domains", "domain", map[string]any{"name": n("dom2")}))
	ds.proj = idOf(py.create(t, tok, "/v3/projects", "project", map[string]any{"name": n("proj"), "domain_id": ds.dom1, "description": "main"}))
	ds.child = idOf(py.create(t, tok, "/v3/projects", "project", map[string]any{"name": n("child"), "domain_id": ds.dom1, "parent_id": ds.proj}))
	ds.projQ = idOf(py.create(t, tok, "/v3/projects", "project", map[string]any{"name": n("projq"), "domain_id": ds.dom1}))
	ds.projOff = idOf(py.create(t, tok, "/v3/projects", "project", map[string]any{"name": n("projoff"), "domain_id": ds.dom1}))
	ds.proj2 = idOf(py.create(t, tok, "/v3/projects", "project", map[string]any{"name": n("proj2"), "domain_id": ds.dom2}))

	// a domain-specific role (stripped from tokens) that implies a global role
	ds.roles["dsr"] = idOf(py.create(t, tok, "/v3/roles", "role", map[string]any{"name": n("dsr"), "domain_id": ds.dom1}))
	py.put(t, tok, "/v3/roles/"+ds.roles["dsr"]+"/implies/"+ds.roles["auditor"])

	user := func(name, domain, defaultProject string) string {
		u := map[string]any{"name": n(name), "domain_id": domain, "password": ds.password, "email": name + "@example.org"}
		if defaultProject != "" {
			u["default_project_id"] = defaultProject
		}
		return idOf(py.create(t, tok, "/v3/users", "user", u))
	}
	ds.userA = user("alice", ds.dom1, ds.proj)
	ds.userB = user("bob", ds.dom1, "")
	ds.userC = user("carol", ds.dom1, "")
	ds.userD = user("dave", ds.dom1, "")
	ds.userE = user("erin", ds.dom1, "")
	ds.userF = user("frank", ds.dom2, "")
	ds.trustee = user("trent", ds.dom1, "")

	ds.group = idOf(py.create(t, tok, "/v3/groups", "group", map[string]any{"name": n("devs"), "domain_id": ds.dom1}))
	py.put(t, tok, "/v3/groups/"+ds.group+"/users/"+ds.userA)
	py.put(t, tok, "/v3/groups/"+ds.group+"/users/"+ds.userB)

	r := ds.roles
	// userA on proj: direct reader + observer (implies reader) + dsr, group member,
	// user-inherited operator (reaches child), group-inherited auditor from dom1
	py.put(t, tok, "/v3/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+r["reader"])
	py.put(t, tok, "/v3/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+r["observer"])
	py.put(t, tok, "/v3/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+r["dsr"])
	py.put(t, tok, "/v3/projects/"+ds.proj+"/groups/"+ds.group+"/roles/"+r["member"])
	py.put(t, tok, "/v3/OS-INHERIT/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+r["operator"]+"/inherited_to_projects")
	py.put(t, tok, "/v3/OS-INHERIT/domains/"+ds.dom1+"/groups/"+ds.group+"/roles/"+r["auditor"]+"/inherited_to_projects")
	// userA on dom1 (domain scope) and on the system
	py.put(t, tok, "/v3/domains/"+ds.dom1+"/users/"+ds.userA+"/roles/"+r["member"])
	py.put(t, tok, "/v3/system/users/"+ds.userA+"/roles/"+r["reader"])
	// userB: group roles only (member on proj, inherited auditor)
	// userC: only a direct member on projQ (removed by a step)
	py.put(t, tok, "/v3/projects/"+ds.projQ+"/users/"+ds.userC+"/roles/"+r["member"])
	// userD: member on projOff (project disabled by a step)
	py.put(t, tok, "/v3/projects/"+ds.projOff+"/users/"+ds.userD+"/roles/"+r["member"])
	// userE: member on proj (user disabled by a step)
	py.put(t, tok, "/v3/projects/"+ds.proj+"/users/"+ds.userE+"/roles/"+r["member"])
	// userF: dom2 member on dom2 and proj2 (domain disabled by a step)
	py.put(t, tok, "/v3/domains/"+ds.dom2+"/users/"+ds.userF+"/roles/"+r["member"])
	py.put(t, tok, "/v3/projects/"+ds.proj2+"/users/"+ds.userF+"/roles/"+r["member"])
	// trustee: admin-ish observer on the child only, so its own scope differs from the trust's
	py.put(t, tok, "/v3/projects/"+ds.child+"/users/"+ds.trustee+"/roles/"+r["observer"])

	// second region, a service with project-templated endpoints, a disabled endpoint
	ds.region2 = n("RegionTwo")
	py.create(t, tok, "/v3/regions", "region", map[string]any{"id": ds.region2, "description": "interop second region"})
	ds.service2 = idOf(py.create(t, tok, "/v3/services", "service", map[string]any{"type": "ng-compute-" + ds.sfx, "name": n("nova"), "description": "templated endpoints"}))
	for _, iface := range []string{"public", "internal", "admin"} {
		py.create(t, tok, "/v3/endpoints", "endpoint", map[string]any{
			"service_id": ds.service2, "interface": iface, "region_id": ds.region2,
			"url": "http://127.0.0.1:8774/v2.1/$(project_id)s"})
	}
	py.create(t, tok, "/v3/endpoints", "endpoint", map[string]any{
		"service_id": ds.service2, "interface": "public", "region_id": "RegionOne",
		"url": "http://127.0.0.1:8776/v3/$(tenant_id)s"})
	py.create(t, tok, "/v3/endpoints", "endpoint", map[string]any{
		"service_id": ds.service2, "interface": "internal", "region_id": "RegionOne", "enabled": false,
		"url": "http://127.0.0.1:8777/disabled"})
	// a service without endpoints still shows up in catalogs
	py.create(t, tok, "/v3/services", "service", map[string]any{"type": "ng-empty-" + ds.sfx})

	// trusts and application credentials are created by their owner (userA)
	aTok := py.issue(t, auth(passwordIdentity(ds.userA, ds.password), scopeProject(ds.proj))).Token
	ds.trustImp = idOf(py.create(t, aTok, "/v3/OS-TRUST/trusts", "trust", map[string]any{
		"trustor_user_id": ds.userA, "trustee_user_id": ds.trustee, "project_id": ds.proj,
		"impersonation": true, "roles": []any{map[string]any{"name": "member"}}}))
	ds.trustNoImp = idOf(py.create(t, aTok, "/v3/OS-TRUST/trusts", "trust", map[string]any{
		"trustor_user_id": ds.userA, "trustee_user_id": ds.trustee, "project_id": ds.proj,
		"impersonation": false, "roles": []any{map[string]any{"id": r["observer"]}},
		"expires_at": time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02T15:04:05.000000Z")}))
	ac := py.create(t, aTok, "/v3/users/"+ds.userA+"/application_credentials", "application_credential", map[string]any{
		"name": n("appcred"), "description": "interop", "roles": []any{map[string]any{"id": r["member"]}}})
	ds.appCred, ds.appCredSecret = idOf(ac), ac["secret"].(string)
	acr := py.create(t, aTok, "/v3/users/"+ds.userA+"/application_credentials", "application_credential", map[string]any{
		"name": n("appcred-rules"), "unrestricted": false,
		"access_rules": []any{map[string]any{"service": "identity", "path": "/v3/users", "method": "GET"}}})
	ds.appCredRules, ds.appCredRulesSecret = idOf(acr), acr["secret"].(string)

	t.Logf("dataset %s built through Python in %s (domains %s %s, project %s, child %s, userA %s)",
		ds.sfx, time.Since(start).Round(time.Millisecond), ds.dom1, ds.dom2, ds.proj, ds.child, ds.userA)
	return ds
}

// tokenSet holds one token of every kind, issued by Python.
type tokenSet struct {
	names  []string // stable order for reports
	tokens map[string]string
}

func (ts *tokenSet) add(name, token string) {
	if ts.tokens == nil {
		ts.tokens = map[string]string{}
	}
	if _, dup := ts.tokens[name]; !dup {
		ts.names = append(ts.names, name)
	}
	ts.tokens[name] = token
}

func (ts *tokenSet) get(t testing.TB, name string) string {
	t.Helper()
	tok, ok := ts.tokens[name]
	if !ok {
		t.Fatalf("no token %q in the set", name)
	}
	return tok
}

// issueAll mints every kind of token through Python.
func issueAll(t testing.TB, py *ksClient, env *pyEnv, ds *dataset) *tokenSet {
	t.Helper()
	ts := &tokenSet{}
	pw := ds.password
	ts.add("admin-project", ds.adminToken)
	ts.add("admin-system", py.issue(t, auth(passwordByName(env.AdminUser, "default", env.AdminPassword), scopeSystem())).Token)
	unscopedA := py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeUnscoped)).Token
	ts.add("a-unscoped", unscopedA)
	ts.add("a-default-project", py.issue(t, auth(passwordIdentity(ds.userA, pw), nil)).Token)
	ts.add("a-project", py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeProject(ds.proj))).Token)
	ts.add("a-child-inherited", py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeProject(ds.child))).Token)
	ts.add("a-domain", py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeDomain(ds.dom1))).Token)
	ts.add("a-system", py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeSystem())).Token)
	ts.add("a-rescoped-project", py.issue(t, auth(tokenIdentity(unscopedA), scopeProject(ds.proj))).Token)
	ts.add("b-group-only", py.issue(t, auth(passwordByName("ng-bob-"+ds.sfx, ds.dom1, pw), scopeProject(ds.proj))).Token)
	ts.add("trust-impersonation", py.issue(t, auth(passwordIdentity(ds.trustee, pw), scopeTrust(ds.trustImp))).Token)
	ts.add("trust-plain", py.issue(t, auth(passwordIdentity(ds.trustee, pw), scopeTrust(ds.trustNoImp))).Token)
	ts.add("app-cred", py.issue(t, auth(appCredIdentity(ds.appCred, ds.appCredSecret), nil)).Token)
	ts.add("app-cred-access-rules", py.issue(t, auth(appCredIdentity(ds.appCredRules, ds.appCredRulesSecret), nil)).Token)
	ts.add("c-projq", py.issue(t, auth(passwordIdentity(ds.userC, pw), scopeProject(ds.projQ))).Token)
	ts.add("d-projoff", py.issue(t, auth(passwordIdentity(ds.userD, pw), scopeProject(ds.projOff))).Token)
	ts.add("e-project", py.issue(t, auth(passwordIdentity(ds.userE, pw), scopeProject(ds.proj))).Token)
	ts.add("f-domain2", py.issue(t, auth(passwordIdentity(ds.userF, pw), scopeDomain(ds.dom2))).Token)
	ts.add("f-project2", py.issue(t, auth(passwordIdentity(ds.userF, pw), scopeProject(ds.proj2))).Token)
	ts.add("a-to-revoke", py.issue(t, auth(passwordIdentity(ds.userA, pw), scopeProject(ds.proj))).Token)
	return ts
}
