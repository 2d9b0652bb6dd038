package interop

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInteropPolicyOverride writes an operator policy.yaml beside the
// shared keystone.conf (where oslo.config's find_file looks first) that
// restricts identity:validate_token and identity:check_token to admins.
// Python Keystone and keystone-ng must both start refusing a member's
// validation of its own token, then both allow it again once the override
// is emptied. It runs last in the package: it changes shared policy.
func TestInteropPolicyOverride(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	admin := adminLogin(t, py, env)
	self := validate(t, py, "GET", admin.Token, admin.Token, "?nocatalog").json(t)["token"].(map[string]any)
	projectID := self["project"].(map[string]any)["id"].(string)

	// A plain member of the admin project.
	name := "ng-policy-" + randSuffix(t)
	user := idOf(py.create(t, admin.Token, "/v3/users", "user", map[string]any{"name": name, "domain_id": "default", "password": "pw-" + name}))
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=member", admin.Token, nil)["roles"].([]any)
	py.put(t, admin.Token, "/v3/projects/"+projectID+"/users/"+user+"/roles/"+idOf(roles[0].(map[string]any)))
	member := py.issue(t, auth(passwordIdentity(user, "pw-"+name), scopeProject(projectID))).Token

	policy := filepath.Join(filepath.Dir(env.Conf), "policy.yaml")
	if b, err := os.ReadFile(policy); err == nil && string(b) != "{}\n" {
		t.Fatalf("%s already exists; refusing to overwrite an operator file", policy)
	}
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// Python re-reads on the next enforcement; keystone-ng checks the
		// file at most once a second.
		time.Sleep(1500 * time.Millisecond)
	}
	// The file stays, empty: once oslo.policy has loaded a policy file,
	// Python Keystone fails every request if the file disappears.
	t.Cleanup(func() {
		_ = os.WriteFile(policy, []byte("{}\n"), 0o644)
		time.Sleep(1500 * time.Millisecond)
	})
	both := func(label string, want int) {
		t.Helper()
		for _, method := range []string{"GET", "HEAD"} {
			pr := validate(t, py, method, member, member, "")
			nr := validate(t, ng.ksClient, method, member, member, "")
			if pr.Status != want || nr.Status != want {
				t.Fatalf("%s %s: python %d, keystone-ng %d, want %d\npython: %s\nkeystone-ng: %s", label, method, pr.Status, nr.Status, want, pr.Body, nr.Body)
			}
			if method == "GET" && want != http.StatusOK && string(pr.Body) != string(nr.Body) {
				t.Fatalf("%s: bodies differ\npython: %s\nkeystone-ng: %s", label, pr.Body, nr.Body)
			}
		}
	}
	both("default policy", http.StatusOK)
	write("\"identity:validate_token\": \"role:admin\"\n\"identity:check_token\": \"role:admin\"\n")
	both("admin-only override", http.StatusForbidden)
	write("{}\n")
	both("override removed", http.StatusOK)
}
