package interop

import (
	"net/http"
	"testing"
)

// TestInteropTrustDomainSpecificRole checks an ordinary trust whose
// delegated roles include a domain-specific one. The token body lists only
// global roles (TokenModel._get_trust_roles renders domain-specific ones
// nowhere); a trust left with domain-specific roles only has nothing to
// render, which Python's _validate_project_scope turns into a 404. The
// state is made by removing the global role from trust_role directly,
// since a trust's roles cannot be changed through the API once created.
func TestInteropTrustDomainSpecificRole(t *testing.T) {
	s := newSideBySide(t, "trustrole")
	py, chk, admin, pw := s.py, s.chk, s.admin, testPassword

	member := roleIDByName(t, py, admin, "member")
	domRole := idOf(py.create(t, admin, "/v3/roles", "role", map[string]any{"name": s.name("domrole"), "domain_id": "default"}))
	proj := s.project(t, "proj")
	trustor, trustee := s.user(t, "trustor"), s.user(t, "trustee")
	for _, r := range []string{member, domRole} {
		py.put(t, admin, "/v3/projects/"+proj+"/users/"+trustor+"/roles/"+r)
	}
	trustorTok := py.issue(t, auth(passwordIdentity(trustor, pw), scopeProject(proj))).Token
	tr := py.create(t, trustorTok, "/v3/OS-TRUST/trusts", "trust", map[string]any{
		"trustor_user_id": trustor, "trustee_user_id": trustee, "project_id": proj, "impersonation": false,
		"roles": []any{map[string]any{"id": member}, map[string]any{"id": domRole}}})
	trustTok := py.issue(t, auth(passwordIdentity(trustee, pw), scopeTrust(idOf(tr)))).Token

	exec := directSQL(t, s.env)

	ts := &tokenSet{}
	ts.add("trust", trustTok)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
		want   int
	}{
		{name: "global-and-domain-specific", want: http.StatusOK},
		{name: "domain-specific-only", want: http.StatusNotFound, change: func(t *testing.T) {
			exec(t, "DELETE FROM trust_role WHERE trust_id = ? AND role_id = ?", idOf(tr), member)
		}},
		{name: "global-back", want: http.StatusOK, change: func(t *testing.T) {
			exec(t, "INSERT INTO trust_role (trust_id, role_id) VALUES (?, ?)", idOf(tr), member)
		}},
		// The trustor no longer holds the domain-specific role: the
		// delegation check covers every delegated role (403).
		{name: "trustor-loses-domain-specific-role", want: http.StatusForbidden, change: func(t *testing.T) {
			py.del(t, admin, "/v3/projects/"+proj+"/users/"+trustor+"/roles/"+domRole)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change(t)
			}
			matrix(t, chk, tc.name, admin, ts, map[string]int{"trust": tc.want}, []string{"*"}, "", "?nocatalog")
		})
	}
}
