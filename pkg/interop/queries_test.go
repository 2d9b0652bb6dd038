package interop

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// dbQueries reads keystone_ng_db_queries_total from the sidecar's /metrics:
// the queries its token reader has executed (a combined statement counts
// once).
func (s *sidecar) dbQueries(t testing.TB) uint64 {
	t.Helper()
	r := s.do(t, "GET", "/metrics", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("keystone-ng /metrics: %d", r.Status)
	}
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "keystone_ng_db_queries_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("keystone_ng_db_queries_total %q: %v", v, err)
			}
			return uint64(f)
		}
	}
	t.Fatalf("keystone-ng /metrics has no keystone_ng_db_queries_total")
	return 0
}

// queriesOf validates tok as itself through Python and keystone-ng (same
// status, same JSON; GET, catalog left out so that the catalog cache does
// not decide the count) and returns the queries keystone-ng sent for it.
// Nothing else talks to this test's sidecar meanwhile.
func queriesOf(t *testing.T, chk pair, label, tok string) uint64 {
	t.Helper()
	before := chk.ng.dbQueries(t)
	chk.check(t, checkCase{label: label, authToken: tok, subject: tok, query: "?nocatalog", methods: []string{"GET"}, wantPy: http.StatusOK})
	return chk.ng.dbQueries(t) - before
}

// TestInteropRoundTrips shows, on the real database beside Python, what
// the validation hints (pkg/token/hints.go) save and that the answers they
// give equal Python's:
//   - a project token whose role comes through a group: the first
//     validation reads the assignments in a second query, the next ones
//     with the first round (on MySQL/MariaDB one query per validation);
//   - a system token: the system grants of the user and their groups, 2
//     queries the first time, then 1;
//   - a federated shadow user's project token: the first validation reads
//     the user's names (no local_user row), the assignments of the user and
//     the mapped groups and the full role records in queries of their own,
//     the next ones all of them with the first round (on MySQL/MariaDB 4
//     queries, then 1; the identity provider and the system grants always
//     come with the first round).
//
// On PostgreSQL and SQLite each statement of a round is a query of its own
// (sent concurrently), so the hints move a query into the first round
// without changing the count: there the test checks the answers and that
// the count does not grow.
func TestInteropRoundTrips(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	chk := pair{py: py, ng: ng}
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=member", admin, nil)["roles"].([]any)
	member := idOf(roles[0].(map[string]any))

	project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "ng-rt-" + sfx, "domain_id": "default"}))
	group := idOf(py.create(t, admin, "/v3/groups", "group", map[string]any{"name": "ng-rt-" + sfx, "domain_id": "default"}))
	const password = "Interop-rt-1"
	user := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "ng-rt-" + sfx, "domain_id": "default", "password": password}))
	py.put(t, admin, "/v3/groups/"+group+"/users/"+user)
	py.put(t, admin, "/v3/projects/"+project+"/groups/"+group+"/roles/"+member)
	t.Cleanup(func() {
		py.del(t, admin, "/v3/users/"+user)
		py.del(t, admin, "/v3/groups/"+group)
		py.del(t, admin, "/v3/projects/"+project)
	})
	tok := py.issue(t, auth(passwordIdentity(user, password), scopeProject(project))).Token
	// A system role through the group too, for a system token.
	py.put(t, admin, "/v3/system/groups/"+group+"/roles/"+member)
	sysTok := py.issue(t, auth(passwordIdentity(user, password), scopeSystem())).Token

	mysql := env.DB == "mysql"
	first := queriesOf(t, chk, "round-trips/project-first", tok)
	second := queriesOf(t, chk, "round-trips/project-hinted", tok)
	third := queriesOf(t, chk, "round-trips/project-hinted-again", tok)
	t.Logf("%s: project token queries %d, %d, %d", env.DB, first, second, third)
	switch {
	case mysql && (first != 2 || second != 1 || third != 1):
		t.Errorf("project token: queries %d, %d, %d per validation; want 2, then 1 (assignments with the first round)", first, second, third)
	case !mysql && (second > first || third != second):
		t.Errorf("project token: queries %d, %d, %d per validation; want no more once hinted, then steady", first, second, third)
	}

	// A system token: the grants of the user and their groups, the actors
	// hinted by the previous validation.
	first = queriesOf(t, chk, "round-trips/system-first", sysTok)
	second = queriesOf(t, chk, "round-trips/system-hinted", sysTok)
	t.Logf("%s: system token queries %d, %d", env.DB, first, second)
	switch {
	case mysql && (first != 2 || second != 1):
		t.Errorf("system token: queries %d, %d per validation; want 2 (system grants after the first round), then 1", first, second)
	case !mysql && second > first:
		t.Errorf("system token: queries %d, %d per validation; want no more once hinted", first, second)
	}
	py.del(t, admin, "/v3/system/groups/"+group+"/roles/"+member)
	runChecks(t, chk, []checkCase{{label: "round-trips/system-role-removed", authToken: admin, subject: sysTok, query: "?nocatalog", wantPy: http.StatusNotFound}})

	// A federated shadow user: identity provider, mapping to the group,
	// login through Python's mapped protocol (as in TestInteropFederated).
	idp, remote, mapping := "ng-rt-idp-"+sfx, "ng-rt-remote-"+sfx, "ng-rt-map-"+sfx
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/identity_providers/"+idp, admin,
		map[string]any{"identity_provider": map[string]any{"enabled": true, "remote_ids": []string{remote}}})
	t.Cleanup(func() {
		py.del(t, admin, "/v3/OS-FEDERATION/identity_providers/"+idp)
		py.del(t, admin, "/v3/OS-FEDERATION/mappings/"+mapping)
	})
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/mappings/"+mapping, admin,
		map[string]any{"mapping": map[string]any{"rules": []any{map[string]any{
			"local":  []any{map[string]any{"user": map[string]any{"name": "{0}"}, "group": map[string]any{"id": group}}},
			"remote": []any{map[string]any{"type": "HTTP_X_NG_FED_USER"}},
		}}}})
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/mapped", admin,
		map[string]any{"protocol": map[string]any{"mapping_id": mapping, "remote_id_attribute": "HTTP_X_NG_FED_IDP"}})
	login := py.do(t, "POST", "/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/mapped/auth", nil,
		"X-Ng-Fed-User", "fed-rt-"+sfx, "X-Ng-Fed-Idp", remote)
	if login.Status != http.StatusCreated {
		t.Fatalf("federated login: %d %s", login.Status, login.Body)
	}
	fedUnscoped := login.Header.Get("X-Subject-Token")
	fed := py.issue(t, auth(tokenIdentity(fedUnscoped), scopeProject(project))).Token

	first = queriesOf(t, chk, "round-trips/federated-first", fed)
	second = queriesOf(t, chk, "round-trips/federated-names-hinted", fed)
	third = queriesOf(t, chk, "round-trips/federated-names-hinted-again", fed)
	t.Logf("%s: federated project token queries %d, %d, %d", env.DB, first, second, third)
	switch {
	case mysql && (first != 4 || second != 1 || third != 1):
		t.Errorf("federated token: queries %d, %d, %d per validation; want 4 (names, assignments and roles after the first round), then 1", first, second, third)
	case !mysql && (second > first || third != second):
		t.Errorf("federated token: queries %d, %d, %d per validation; want no more once hinted, then steady", first, second, third)
	}

	// Scoped to a domain, the assignments need nothing from the first
	// round and come with it from the start; the role records are hinted
	// (the user's names are by now).
	py.put(t, admin, "/v3/domains/default/groups/"+group+"/roles/"+member)
	fedDomain := py.issue(t, auth(tokenIdentity(fedUnscoped), scopeDomain("default"))).Token
	first = queriesOf(t, chk, "round-trips/federated-domain-first", fedDomain)
	second = queriesOf(t, chk, "round-trips/federated-domain-hinted", fedDomain)
	t.Logf("%s: federated domain token queries %d, %d", env.DB, first, second)
	switch {
	case mysql && (first != 2 || second != 1):
		t.Errorf("federated domain token: queries %d, %d per validation; want 2 (roles after the first round), then 1", first, second)
	case !mysql && second > first:
		t.Errorf("federated domain token: queries %d, %d per validation; want no more once hinted", first, second)
	}
	// Hinted answers follow the data: without the group's domain role the
	// domain token has no role left.
	py.del(t, admin, "/v3/domains/default/groups/"+group+"/roles/"+member)
	runChecks(t, chk, []checkCase{
		{label: "round-trips/federated-domain-role-removed", authToken: admin, subject: fedDomain, query: "?nocatalog", wantPy: http.StatusNotFound},
		{label: "round-trips/federated-project-still", authToken: admin, subject: fed, query: "?nocatalog", wantPy: http.StatusOK},
	})
}
