package interop

import (
	"net/http"
	"testing"
)

// TestInteropFederated sets up federation in Python Keystone through its
// API (identity provider with a remote id, a mapping to a group, protocol
// "mapped" whose remote_id_attribute is a request header) and logs in
// through Python's /OS-FEDERATION/.../auth with the assertion passed as
// headers, as a web-server module would set them. The federated unscoped
// (payload v4) and project-scoped (v5, by rescoping with the token method)
// tokens are validated by Python and keystone-ng alike: before and after
// the mapped group loses its role, and after the identity provider is
// deleted.
func TestInteropFederated(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	chk := pair{py: py, ng: ng}
	admin := adminLogin(t, py, env).Token
	self := validate(t, py, "GET", admin, admin, "?nocatalog").json(t)["token"].(map[string]any)
	projectID := self["project"].(map[string]any)["id"].(string)

	sfx := randSuffix(t)
	group := idOf(py.create(t, admin, "/v3/groups", "group", map[string]any{"name": "ng-fed-" + sfx, "domain_id": "default"}))
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=member", admin, nil)["roles"].([]any)
	member := idOf(roles[0].(map[string]any))
	py.put(t, admin, "/v3/projects/"+projectID+"/groups/"+group+"/roles/"+member)
	unscoped := federatedLogin(t, py, admin, "ng-"+sfx, group, "fed-"+sfx)
	scoped := py.issue(t, auth(tokenIdentity(unscoped), scopeProject(projectID))).Token

	cases := func(step string, want int) []checkCase {
		return []checkCase{
			{label: step + "/federated-unscoped", authToken: admin, subject: unscoped, wantPy: http.StatusOK},
			{label: step + "/federated-project", authToken: admin, subject: scoped, wantPy: want},
			{label: step + "/federated-project-nocatalog", authToken: admin, subject: scoped, query: "?nocatalog", wantPy: want},
			{label: step + "/federated-self", authToken: scoped, subject: scoped, wantPy: want},
		}
	}
	runChecks(t, chk, cases("federated", http.StatusOK))

	// Roles are recomputed at validation: without the group's role the
	// scoped token has none left.
	py.del(t, admin, "/v3/projects/"+projectID+"/groups/"+group+"/roles/"+member)
	runChecks(t, chk, []checkCase{
		{label: "group-role-removed/federated-project", authToken: admin, subject: scoped, wantPy: http.StatusNotFound},
		{label: "group-role-removed/federated-unscoped", authToken: admin, subject: unscoped, wantPy: http.StatusOK},
	})

	// Deleting the identity provider invalidates its tokens.
	py.del(t, admin, "/v3/OS-FEDERATION/identity_providers/"+federatedIdP("ng-"+sfx))
	runChecks(t, chk, []checkCase{
		{label: "idp-deleted/federated-unscoped", authToken: admin, subject: unscoped, wantPy: http.StatusNotFound},
	})
	py.del(t, admin, "/v3/groups/"+group)
}

// federatedIdP is the identity provider federatedLogin(name) creates.
func federatedIdP(name string) string { return name + "-idp" }

// federatedLogin sets up federation in Python Keystone through its API
// (identity provider name-idp with a remote id, mapping name-map of the
// remote user to a shadow user in group, protocol "mapped" whose
// remote_id_attribute is a request header) and logs remoteUser in through
// Python's /OS-FEDERATION/.../auth with the assertion passed as headers, as
// a web-server module would set them. It returns the federated unscoped
// token; the mapping and identity provider are deleted at cleanup.
func federatedLogin(t *testing.T, py *ksClient, admin, name, group, remoteUser string) string {
	t.Helper()
	idp, remote, mapping := federatedIdP(name), name+"-remote", name+"-map"
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/identity_providers/"+idp, admin,
		map[string]any{"identity_provider": map[string]any{"enabled": true, "remote_ids": []string{remote}}})
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/mappings/"+mapping, admin,
		map[string]any{"mapping": map[string]any{"rules": []any{map[string]any{
			"local":  []any{map[string]any{"user": map[string]any{"name": "{0}"}, "group": map[string]any{"id": group}}},
			"remote": []any{map[string]any{"type": "HTTP_X_NG_FED_USER"}},
		}}}})
	t.Cleanup(func() {
		// The identity provider may be gone already (a test step).
		py.do(t, "DELETE", "/v3/OS-FEDERATION/identity_providers/"+idp, nil, "X-Auth-Token", admin)
		py.del(t, admin, "/v3/OS-FEDERATION/mappings/"+mapping)
	})
	// The protocol must be "mapped": it names the auth method Python uses.
	py.must(t, http.StatusCreated, "PUT", "/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/mapped", admin,
		map[string]any{"protocol": map[string]any{"mapping_id": mapping, "remote_id_attribute": "HTTP_X_NG_FED_IDP"}})
	login := py.do(t, "POST", "/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/mapped/auth", nil,
		"X-Ng-Fed-User", remoteUser, "X-Ng-Fed-Idp", remote)
	if login.Status != http.StatusCreated {
		t.Fatalf("federated login: %d %s", login.Status, login.Body)
	}
	return login.Header.Get("X-Subject-Token")
}
