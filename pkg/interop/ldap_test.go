package interop

import (
	"context"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/ldapidentity"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// ldapEnv is the directory deploy/ldap/up.sh started, as up.sh's
// KSPY_LDAP_DOMAIN wrote it into the env file.
type ldapEnv struct {
	domain, url, suffix, adminDN, adminPW, userPW string
}

func loadLDAPEnv(t *testing.T, env *pyEnv) ldapEnv {
	t.Helper()
	v := env.vars
	if v["KSPY_LDAP_DOMAIN"] == "" {
		t.Skip("no LDAP domain: start slapd with deploy/ldap/up.sh and Python with KSPY_LDAP_DOMAIN (run-interop.sh's ldap phase does)")
	}
	return ldapEnv{domain: v["KSPY_LDAP_DOMAIN"], url: v["KSLDAP_URL"], suffix: v["KSLDAP_SUFFIX"],
		adminDN: v["KSLDAP_ADMIN_DN"], adminPW: v["KSLDAP_ADMIN_PASSWORD"], userPW: v["KSLDAP_USER_PASSWORD"]}
}

// ldapAdmin binds to the directory as its admin, for the test's changes.
func ldapAdmin(t *testing.T, le ldapEnv) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(le.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(le.adminDN, le.adminPW); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestInteropLDAP: tokens of users of a domain served by a real OpenLDAP
// (read-only, as Python's LDAP driver reads it), with roles assigned to
// them directly and through their LDAP groups, validated by Python and
// keystone-ng; then a user disabled in LDAP, removed from a group and
// deleted, and both asked again at once (Python's cache is off).
func TestInteropLDAP(t *testing.T) {
	env := loadEnv(t)
	le := loadLDAPEnv(t, env)
	s := newSideBySide(t, "ldap")
	py := s.py

	doms := py.must(t, http.StatusOK, "GET", "/v3/domains?name="+le.domain, s.admin, nil)["domains"].([]any)
	if len(doms) != 1 {
		t.Fatalf("domain %s: %v", le.domain, doms)
	}
	domID := idOf(doms[0].(map[string]any))

	// Python lists the directory's users and groups (and writes their
	// id_mapping rows); the public ids are those of the sha256 generator.
	users := map[string]string{}
	for _, u := range py.must(t, http.StatusOK, "GET", "/v3/users?domain_id="+domID, s.admin, nil)["users"].([]any) {
		m := u.(map[string]any)
		users[m["name"].(string)] = idOf(m)
	}
	groups := map[string]string{}
	for _, g := range py.must(t, http.StatusOK, "GET", "/v3/groups?domain_id="+domID, s.admin, nil)["groups"].([]any) {
		m := g.(map[string]any)
		groups[m["name"].(string)] = idOf(m)
	}
	alice, bob, carol, dave, erin, frank := users["Alice Liddell"], users["Bob Builder"], users["Carol Danvers"], users["Dave Bowman"], users["Erin Brockovich"], users["Frank Star*"]
	devs := groups["Developers"]
	if alice == "" || bob == "" || carol == "" || dave == "" || erin == "" || frank == "" || devs == "" {
		t.Fatalf("the directory's users %v and groups %v lack the dataset's (deploy/ldap/dataset.ldif)", users, groups)
	}
	if want := ldapidentity.PublicID(domID, "user", "alice"); alice != want {
		t.Errorf("alice's public id %s, sha256 generator gives %s", alice, want)
	}

	project := s.project(t, "proj")
	role := idOf(py.create(t, s.admin, "/v3/roles", "role", map[string]any{"name": s.name("role")}))
	py.put(t, s.admin, "/v3/projects/"+project+"/groups/"+devs+"/roles/"+role)
	py.put(t, s.admin, "/v3/projects/"+project+"/users/"+bob+"/roles/"+role)
	py.put(t, s.admin, "/v3/domains/"+domID+"/groups/"+devs+"/roles/"+role)

	login := func(user string, scope any) string {
		t.Helper()
		return py.issue(t, auth(passwordIdentity(user, le.userPW), scope)).Token
	}
	// A system role through the group, and an application credential of
	// alice's (its roles are kept only while she holds them, through the
	// group).
	py.put(t, s.admin, "/v3/system/groups/"+devs+"/roles/"+role)
	t.Cleanup(func() { py.del(t, s.admin, "/v3/system/groups/"+devs+"/roles/"+role) })
	aliceProject := login(alice, scopeProject(project))
	ac := py.create(t, aliceProject, "/v3/users/"+alice+"/application_credentials", "application_credential", map[string]any{
		"name": s.name("ac"), "roles": []any{map[string]any{"id": role}}})
	// A trust from bob to alice, both LDAP users.
	bobProject := login(bob, scopeProject(project))
	trust := idOf(py.create(t, bobProject, "/v3/OS-TRUST/trusts", "trust", map[string]any{
		"trustor_user_id": bob, "trustee_user_id": alice, "project_id": project, "impersonation": false,
		"roles": []any{map[string]any{"id": role}}}))
	toks := map[string]string{
		"alice project (group role)":   login(alice, scopeProject(project)),
		"alice domain (group role)":    login(alice, scopeDomain(domID)),
		"alice unscoped":               login(alice, nil),
		"alice system (group role)":    login(alice, scopeSystem()),
		"alice application credential": py.issue(t, auth(appCredIdentity(idOf(ac), ac["secret"].(string)), nil)).Token,
		"bob project (direct role)":    login(bob, scopeProject(project)),
		"carol project (group role)":   login(carol, scopeProject(project)),
		"dave project (group role)":    login(dave, scopeProject(project)),
		"erin project (group role)":    login(erin, scopeProject(project)),
		"frank project (escaped DN)":   login(frank, scopeProject(project)),
		"frank unscoped (escaped DN)":  login(frank, nil),
	}
	labels := make([]string, 0, len(toks))
	for l := range toks {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		cc := checkCase{label: l, authToken: s.admin, subject: toks[l], methods: []string{"GET", "HEAD"}, wantPy: http.StatusOK}
		s.chk.check(t, cc)
		cc.query = "?nocatalog"
		s.chk.check(t, cc)
	}

	// A trust token of LDAP users is left to Python: keystone-ng answers
	// 500 in Keystone's error shape, which the front door fails over on.
	trustTok := py.issue(t, auth(passwordIdentity(alice, le.userPW), scopeTrust(trust))).Token
	if pr := validate(t, py, "GET", s.admin, trustTok, ""); pr.Status != http.StatusOK {
		t.Errorf("python: trust token of LDAP users: %d %s", pr.Status, pr.Body)
	}
	if nr := validate(t, s.chk.ng.ksClient, "GET", s.admin, trustTok, ""); nr.Status != http.StatusInternalServerError ||
		!strings.Contains(string(nr.Body), `"code": 500`) && !strings.Contains(string(nr.Body), `"code":500`) {
		t.Errorf("keystone-ng: trust token of LDAP users: %d %s, want 500 for Python", nr.Status, nr.Body)
	}

	c := ldapAdmin(t, le)
	dn := func(cn string) string { return "cn=" + cn + ",ou=Users," + le.suffix }
	devsDN := "cn=devs,ou=UserGroups," + le.suffix
	modify := func(m *ldap.ModifyRequest) {
		t.Helper()
		if err := c.Modify(m); err != nil {
			t.Fatalf("ldap modify %s: %v", m.DN, err)
		}
	}
	// Restore the dataset for the next run, whatever happens.
	t.Cleanup(func() {
		m := ldap.NewModifyRequest(dn("carol"), nil)
		m.Replace("employeeType", []string{"TRUE"})
		_ = c.Modify(m)
		add := ldap.NewAddRequest(dn("dave"), nil)
		add.Attribute("objectClass", []string{"inetOrgPerson"})
		add.Attribute("cn", []string{"dave"})
		add.Attribute("sn", []string{"Dave Bowman"})
		add.Attribute("employeeType", []string{"TRUE"})
		add.Attribute("userPassword", []string{le.userPW})
		_ = c.Add(add)
		g := ldap.NewModifyRequest(devsDN, nil)
		g.Add("member", []string{dn("erin")})
		_ = c.Modify(g)
	})

	// Removed from the group that carried the role: both refuse at once.
	g := ldap.NewModifyRequest(devsDN, nil)
	g.Delete("member", []string{dn("erin")})
	modify(g)
	s.chk.check(t, checkCase{label: "erin after leaving devs", authToken: s.admin, subject: toks["erin project (group role)"],
		methods: []string{"GET", "HEAD"}, wantPy: http.StatusNotFound})

	// Deleted from the directory: Python's 404 names the local id.
	if err := c.Del(ldap.NewDelRequest(dn("dave"), nil)); err != nil {
		t.Fatal(err)
	}
	s.chk.check(t, checkCase{label: "dave after deletion", authToken: s.admin, subject: toks["dave project (group role)"],
		methods: []string{"GET", "HEAD"}, wantPy: http.StatusNotFound})

	// Disabled in the directory. Python 22 does not look at the user's
	// enabled flag when it validates a token (Keystone 29 does); keystone-ng
	// refuses a disabled user's token as it does for SQL users
	// (docs/python-compat.md §7.4), so here only keystone-ng's answer is
	// fixed.
	m := ldap.NewModifyRequest(dn("carol"), nil)
	m.Replace("employeeType", []string{"FALSE"})
	modify(m)
	pr := validate(t, py, "GET", s.admin, toks["carol project (group role)"], "")
	nr := validate(t, s.chk.ng.ksClient, "GET", s.admin, toks["carol project (group role)"], "")
	t.Logf("carol disabled in LDAP: python %d, keystone-ng %d", pr.Status, nr.Status)
	if nr.Status != http.StatusNotFound {
		t.Errorf("keystone-ng validated the token of a user disabled in LDAP: %d %s", nr.Status, nr.Body)
	}
	if pr.Status == http.StatusNotFound {
		// Where Python refuses too, the answers must match exactly.
		s.chk.check(t, checkCase{label: "carol disabled", authToken: s.admin, subject: toks["carol project (group role)"], methods: []string{"GET", "HEAD"}})
	}

	// A /v4 login (passkey) asks the same directory: the rule
	// identity.Checker.Usable applies, with keystone-ng's own router read
	// from Python's configuration, on Python's database.
	router, reader := ldapRouter(t, env)
	logins := &identity.Checker{Dir: reader, Backend: router}
	for _, c := range []struct {
		label, user string
		code        int
	}{{"alice", alice, 0}, {"erin (no group, still a user)", erin, 0}, {"carol (disabled)", carol, 401}, {"dave (deleted)", dave, 401}} {
		_, err := logins.Usable(context.Background(), c.user)
		code := 0
		if err != nil {
			code = apierror.As(err).Code
		}
		if code != c.code {
			t.Errorf("login rule, %s: %v, want %d", c.label, err, c.code)
		}
	}

	// The others are unaffected.
	for _, l := range []string{"alice project (group role)", "bob project (direct role)"} {
		s.chk.check(t, checkCase{label: l + " after the changes", authToken: s.admin, subject: toks[l], methods: []string{"GET"}, wantPy: http.StatusOK})
	}

	// What an LDAP user's validation costs, beside an SQL user's (one
	// keystone-ng, sequential requests, the catalog included).
	sqlUser := s.user(t, "sqluser")
	py.put(t, s.admin, "/v3/projects/"+project+"/users/"+sqlUser+"/roles/"+role)
	sqlTok := py.issue(t, auth(passwordIdentity(sqlUser, testPassword), scopeProject(project))).Token
	// Interleaved, so that the load of the (shared) machine weighs on both
	// alike; medians, as a few slow requests say nothing of either.
	const n = 300
	took := map[string][]time.Duration{}
	for range n {
		for _, k := range []struct{ label, tok string }{{"SQL user", sqlTok}, {"LDAP user (group role)", toks["alice project (group role)"]}} {
			start := time.Now()
			if r := validate(t, s.chk.ng.ksClient, "GET", s.admin, k.tok, ""); r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", k.label, r.Status, r.Body)
			}
			took[k.label] = append(took[k.label], time.Since(start))
		}
	}
	for _, l := range []string{"SQL user", "LDAP user (group role)"} {
		d := took[l]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		t.Logf("keystone-ng, %s: %d sequential validations (catalog included), median %.2f ms, p90 %.2f ms",
			l, n, float64(d[n/2].Microseconds())/1000, float64(d[n*9/10].Microseconds())/1000)
	}

	// keystone-ng check names the domain's backend.
	out, err := exec.Command(sidecarBinary(t), "check", "--config-file", env.Conf).CombinedOutput()
	if !strings.Contains(string(out), "identity backends:") || !strings.Contains(string(out), domID+": ldap") {
		t.Errorf("keystone-ng check does not report the LDAP domain (%v):\n%s", err, out)
	}
	if strings.Contains(string(out), le.adminPW) {
		t.Error("keystone-ng check printed the LDAP bind password")
	}
}

// ldapRouter builds keystone-ng's identity router from Python's
// keystone.conf and database, as keystone-ng serve does.
func ldapRouter(t *testing.T, env *pyEnv) (*ldapidentity.Router, *store.Reader) {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Files: []string{env.Conf}})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := openPythonDB(t, env)
	reader := store.NewReader(db)
	r, notes, err := ldapidentity.Build(context.Background(), cfg, reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	for _, n := range notes {
		t.Logf("identity backends: %s", n)
	}
	return r, reader
}

// TestInteropLDAPDomainConfigInDatabase: a domain configuration written
// through Python's domain configuration API (whitelisted_config and, for
// the bind password, sensitive_config) is what keystone-ng reads with
// [identity] domain_configurations_from_database.
func TestInteropLDAPDomainConfigInDatabase(t *testing.T) {
	env := loadEnv(t)
	le := loadLDAPEnv(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	dom := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "ng-ldap-dbconf-" + randSuffix(t)}))
	t.Cleanup(func() {
		py.patch(t, admin, "/v3/domains/"+dom, "domain", map[string]any{"enabled": false})
		py.del(t, admin, "/v3/domains/"+dom)
	})
	py.must(t, http.StatusCreated, "PUT", "/v3/domains/"+dom+"/config", admin, map[string]any{"config": map[string]any{
		"identity": map[string]any{"driver": "ldap"},
		"ldap": map[string]any{"url": le.url, "user": le.adminDN, "password": le.adminPW, "suffix": le.suffix,
			"user_enabled_attribute": "employeeType", "user_enabled_invert": true, "page_size": 5, "group_name_attribute": "ou"},
	}})
	t.Cleanup(func() { py.del(t, admin, "/v3/domains/"+dom+"/config") })

	db, _ := openPythonDB(t, env)
	rows, err := store.NewReader(db).DomainConfigs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := rows[dom]
	if got["identity"]["driver"] != "ldap" || got["ldap"]["url"] != le.url || got["ldap"]["user_enabled_invert"] != "true" ||
		got["ldap"]["page_size"] != "5" || got["ldap"]["password"] != le.adminPW {
		t.Fatalf("rows of domain %s: %v", dom, got)
	}
	cfg, err := config.Load(config.LoadOptions{Files: []string{env.Conf}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.DomainConfigurationsFromDatabase = true
	r, notes, err := ldapidentity.Build(context.Background(), cfg, store.NewReader(db))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := r.Domains[dom]
	if b == nil || b.Kind != ldapidentity.KindLDAP {
		t.Fatalf("domain %s: %+v (notes %v)", dom, b, notes)
	}
	// The configuration took: bound with the stored password, and alice
	// (employeeType TRUE) reads as disabled through user_enabled_invert.
	u, err := b.Dir.GetUser(context.Background(), "alice")
	if err != nil || u == nil || u.Enabled {
		t.Fatalf("alice through the database configuration: %+v, %v", u, err)
	}
}
