package interop

import (
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
)

// TestInteropBatchedValidations validates tokens of several users and
// scopes all at once through a keystone-ng with a single statement slot
// ([keystone_ng] db_concurrency = 1), so that on MySQL/MariaDB and
// PostgreSQL the validations waiting for it share statements
// ([keystone_ng] db_batch_size, pkg/store/batch.go). Every answer must
// equal Python's, given one request at a time, and there rounds must have
// been batched (keystone_ng_db_batched_rounds_total). On SQLite nothing is
// batched and the answers must equal Python's all the same.
//
// Each token goes several times at once, so that waiting rounds asking for
// the same rows share them; and each user has a second project token,
// revoked in Python, which in a batch shares every branch with the first
// but the revocation read (docs/validation.md, "Rounds asking the same"):
// it must be refused while the first is accepted.
func TestInteropBatchedValidations(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecarWith(t, env, "db_concurrency = 1\n", "")
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=member", admin, nil)["roles"].([]any)
	member := idOf(roles[0].(map[string]any))

	// Users with a project each: some hold their role directly, the others
	// through a group, so that the rounds in line have more than one shape.
	group := idOf(py.create(t, admin, "/v3/groups", "group", map[string]any{"name": "ng-batch-" + sfx, "domain_id": "default"}))
	t.Cleanup(func() { py.del(t, admin, "/v3/groups/"+group) })
	const password = "Interop-batch-1"
	var tokens []string
	revokedAt := map[int]bool{} // index in tokens of each revoked token
	for i := range 6 {
		name := fmt.Sprintf("ng-batch-%s-%d", sfx, i)
		project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": name, "domain_id": "default"}))
		user := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": name, "domain_id": "default", "password": password}))
		t.Cleanup(func() {
			py.del(t, admin, "/v3/users/"+user)
			py.del(t, admin, "/v3/projects/"+project)
		})
		if i%2 == 0 {
			py.put(t, admin, "/v3/projects/"+project+"/users/"+user+"/roles/"+member)
		} else {
			py.put(t, admin, "/v3/groups/"+group+"/users/"+user)
			py.put(t, admin, "/v3/projects/"+project+"/groups/"+group+"/roles/"+member)
		}
		revoked := py.issue(t, auth(passwordIdentity(user, password), scopeProject(project))).Token
		py.revoke(t, admin, revoked)
		tokens = append(tokens,
			py.issue(t, auth(passwordIdentity(user, password), scopeProject(project))).Token,
			py.issue(t, auth(passwordIdentity(user, password), nil)).Token,
			revoked)
		revokedAt[len(tokens)-1] = true
	}
	tokens = append(tokens, admin)

	// Python's answers, one request at a time.
	type answer struct {
		status int
		body   any
	}
	want := make([]answer, len(tokens))
	for i, tok := range tokens {
		r := validate(t, py, "GET", admin, tok, "?nocatalog")
		wantStatus := http.StatusOK
		if revokedAt[i] {
			wantStatus = http.StatusNotFound
		}
		body, err := canonicalJSON(r.Body)
		if err != nil || r.Status != wantStatus {
			t.Fatalf("python on token %d: %d (want %d) %v %s", i, r.Status, wantStatus, err, r.Body)
		}
		want[i] = answer{r.Status, body}
	}

	// keystone-ng's, every token several times over, all at once; again
	// until rounds were batched (on MariaDB and PostgreSQL the first burst nearly always
	// suffices).
	const copies = 4
	before := ng.counter(t, "keystone_ng_db_batched_rounds_total")
	coalesced0 := ng.counter(t, "keystone_ng_db_coalesced_rounds_total")
	waits0 := ng.counter(t, "keystone_ng_db_statement_wait_seconds_count")
	batched := uint64(0)
	for burst := 1; burst <= 5; burst++ {
		var wg sync.WaitGroup
		for k := range copies {
			for i, tok := range tokens {
				wg.Go(func() {
					r, err := validateE(ng.ksClient, "GET", admin, tok, "?nocatalog")
					if err != nil {
						t.Errorf("burst %d, token %d, copy %d: %v", burst, i, k, err)
						return
					}
					body, err := canonicalJSON(r.Body)
					if err != nil || r.Status != want[i].status {
						t.Errorf("burst %d, token %d, copy %d: keystone-ng %d (%v), python %d\n%s", burst, i, k, r.Status, err, want[i].status, r.Body)
						return
					}
					if !reflect.DeepEqual(body, want[i].body) {
						t.Errorf("burst %d, token %d, copy %d: JSON differs from python's\n%s", burst, i, k, jsonDiff(want[i].body, body))
					}
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		batched = ng.counter(t, "keystone_ng_db_batched_rounds_total") - before
		t.Logf("%s: burst %d of %d validations: %d rounds batched so far, %d of them handed an identical round's rows", env.DB, burst, copies*len(tokens), batched,
			ng.counter(t, "keystone_ng_db_coalesced_rounds_total")-coalesced0)
		if batched > 0 || env.DB == "sqlite" {
			break
		}
	}
	// Every batched round waited for the statement slot, and each wait
	// was observed once.
	waits := ng.counter(t, "keystone_ng_db_statement_wait_seconds_count") - waits0
	combines := env.DB == "mysql" || env.DB == "postgresql"
	switch {
	case combines && batched == 0:
		t.Errorf("no round was batched on %s with one statement slot", env.DB)
	case combines && waits < batched:
		t.Errorf("%d statement slot waits observed for %d batched rounds", waits, batched)
	case !combines && (batched != 0 || waits != 0):
		t.Errorf("%d rounds batched, %d statement slot waits on %s, which has no combined statements", batched, waits, env.DB)
	}
}
