package token_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	. "github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

// Federated tokens scoped to a project or domain read with the first round
// their identity provider, the system grants of the user and the mapped
// groups and, once hinted, their assignments and full role records. Each
// step changes the data and checks the answer and which lookups needed a
// read of their own after the first round.
func TestFederatedHints(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const group, idp = "mapped-group", "idp1"
	roles := map[string]*keystone.Role{
		"m":  {ID: "m", Name: "member"},
		"r":  {ID: "r", Name: "reader"},
		"a":  {ID: "a", Name: "admin"},
		"sr": {ID: "sr", Name: "system-reader"},
	}
	type step struct {
		name   string
		change func(m *tokentest.MemStore)
		code   int
		roles  []string // rendered role ids, sorted (200 only)
		// reads after the first round
		assignmentRead, roleRead bool
	}
	base := func() *tokentest.MemStore {
		st := fixture()
		st.NonLocal = map[string]bool{userID: true}
		st.Roles = roles
		st.Grants = []keystone.Assignment{{Type: "GroupProject", ActorID: group, TargetID: projectID, RoleID: "m", RoleName: "member"},
			{Type: "GroupDomain", ActorID: group, TargetID: "default", RoleID: "m", RoleName: "member"}}
		return st
	}
	for _, tc := range []struct {
		name    string
		payload *payload.Payload
		steps   []step
	}{
		{
			name: "project scope",
			payload: &payload.Payload{Version: payload.VersionFederatedProject, UserID: userID, Methods: []string{"token"}, ProjectID: projectID,
				FederatedGroupIDs: []string{group}, IdentityProviderID: idp, ProtocolID: "mapped",
				ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}},
			steps: []step{
				{name: "first validation", code: 200, roles: []string{"m", "r"}, assignmentRead: true, roleRead: true},
				{name: "hinted", code: 200, roles: []string{"m", "r"}},
				{name: "hinted again", code: 200, roles: []string{"m", "r"}},
				{name: "another role for the group", change: func(m *tokentest.MemStore) {
					m.Grants = append(m.Grants, keystone.Assignment{Type: "GroupProject", ActorID: group, TargetID: projectID, RoleID: "a", RoleName: "admin"})
				}, code: 200, roles: []string{"a", "m", "r"}, roleRead: true},
				{name: "a system grant for the group", change: func(m *tokentest.MemStore) {
					m.System = []keystone.Assignment{{Type: "GroupSystem", ActorID: group, TargetID: "system", RoleID: "sr", RoleName: "system-reader"}}
				}, code: 200, roles: []string{"a", "m", "r", "sr"}, roleRead: true},
				{name: "a system grant of another group does not count", change: func(m *tokentest.MemStore) {
					m.System = []keystone.Assignment{{Type: "GroupSystem", ActorID: "other", TargetID: "system", RoleID: "sr", RoleName: "system-reader"}}
				}, code: 200, roles: []string{"a", "m", "r"}},
				{name: "role deleted while hinted", change: func(m *tokentest.MemStore) {
					m.Roles = map[string]*keystone.Role{"m": roles["m"], "r": roles["r"]}
				}, code: 200, roles: []string{"a", "m", "r"}},
				{name: "group assignments removed", change: func(m *tokentest.MemStore) {
					m.Roles = roles
					m.Grants = nil
				}, code: 404},
				{name: "role through the user itself on a new parent", change: func(m *tokentest.MemStore) {
					m.Projects["p"] = &keystone.Project{ID: "p", Name: "p", DomainID: "default", ParentID: "default", Enabled: true}
					m.Projects[projectID].ParentID = "p"
					m.Grants = []keystone.Assignment{{Type: "UserProject", ActorID: userID, TargetID: "p", RoleID: "m", RoleName: "member", Inherited: true}}
				}, code: 200, roles: []string{"m", "r"}, assignmentRead: true, roleRead: true},
				{name: "project moved away from that parent", change: func(m *tokentest.MemStore) {
					m.Projects[projectID].ParentID = "default"
				}, code: 404},
				// Back under the parent (a target the shrunk hint lacks, so
				// read again), with its identity provider gone.
				{name: "identity provider deleted", change: func(m *tokentest.MemStore) {
					m.Projects[projectID].ParentID = "p"
					m.MissingIdPs = map[string]bool{idp: true}
				}, code: 404, assignmentRead: true},
			},
		},
		{
			name: "domain scope",
			payload: &payload.Payload{Version: payload.VersionFederatedDomain, UserID: userID, Methods: []string{"token"}, DomainID: "default",
				FederatedGroupIDs: []string{group}, IdentityProviderID: idp, ProtocolID: "mapped",
				ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}},
			steps: []step{
				{name: "first validation", code: 200, roles: []string{"m", "r"}, roleRead: true},
				{name: "hinted", code: 200, roles: []string{"m", "r"}},
				{name: "group assignment removed", change: func(m *tokentest.MemStore) { m.Grants = nil }, code: 404},
				{name: "a direct grant of another role", change: func(m *tokentest.MemStore) {
					m.Grants = []keystone.Assignment{{Type: "UserDomain", ActorID: userID, TargetID: "default", RoleID: "a", RoleName: "admin"}}
				}, code: 200, roles: []string{"a"}, roleRead: true},
				{name: "identity provider deleted", change: func(m *tokentest.MemStore) { m.MissingIdPs = map[string]bool{idp: true} }, code: 404},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base()
			v, ks := newTestValidator(t, st, now)
			tok := mint(t, ks, tc.payload, now)
			for _, s := range tc.steps {
				if s.change != nil {
					s.change(st)
				}
				assignments, roleReads := st.AssignmentReads.Load(), st.RoleReads.Load()
				got, code := validateStep(t, v, tok, s.name, s.code, s.roles)
				if code == 200 {
					// Rendered as the handler does: a domain-scoped
					// federated token once lacked its domain here.
					body := pyjson.Marshal(v.Render(got, true))
					if want := `"domain": {"id": "default", "name": "Default"}, "roles"`; tc.payload.DomainID != "" && !strings.Contains(string(body), want) {
						t.Errorf("%s: rendered token lacks %s: %s", s.name, want, body)
					}
					for _, r := range got.Roles {
						// A role record exists only while the role does
						// (the hint asked for it, and found nothing).
						full, want := got.FullRoles[r.ID], st.Roles[r.ID]
						if (full == nil) != (want == nil) || (full != nil && full.Name != want.Name) {
							t.Errorf("%s: full record of role %s: %+v, want %+v", s.name, r.ID, full, want)
						}
					}
				}
				if read := st.AssignmentReads.Load() > assignments; read != s.assignmentRead {
					t.Errorf("%s: assignments read after the first round = %v, want %v", s.name, read, s.assignmentRead)
				}
				if read := st.RoleReads.Load() > roleReads; code == 200 && read != s.roleRead {
					t.Errorf("%s: roles read after the first round = %v, want %v", s.name, read, s.roleRead)
				}
			}
			if n := st.SystemReads.Load(); n != 0 {
				t.Errorf("system grants read after the first round %d times", n)
			}
		})
	}
}

// System tokens read the system grants of the actors the previous
// validation needed (the user and their groups) with the first round; a
// group the hint names and the user has left does not count.
func TestSystemHints(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := fixture()
	st.Roles = map[string]*keystone.Role{"sa": {ID: "sa", Name: "admin"}, "sr": {ID: "sr", Name: "reader"}}
	userGrant := keystone.Assignment{Type: "UserSystem", ActorID: userID, TargetID: "system", RoleID: "sr", RoleName: "reader"}
	st.System = []keystone.Assignment{userGrant}
	v, ks := newTestValidator(t, st, now)
	tok := mint(t, ks, &payload.Payload{Version: payload.VersionSystemScoped, UserID: userID, Methods: []string{"password"}, System: "all",
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}, now)
	for _, s := range []struct {
		name     string
		change   func(m *tokentest.MemStore)
		code     int
		roles    []string
		readLate bool // system grants read after the first round
	}{
		{name: "first validation", code: 200, roles: []string{"sr"}, readLate: true},
		{name: "hinted", code: 200, roles: []string{"sr"}},
		{name: "a group with a system grant joined", change: func(m *tokentest.MemStore) {
			m.Memberships = map[string][]keystone.Membership{userID: {{GroupID: "g1"}}}
			m.System = []keystone.Assignment{userGrant, {Type: "GroupSystem", ActorID: "g1", TargetID: "system", RoleID: "sa", RoleName: "admin"}}
		}, code: 200, roles: []string{"sa", "sr"}, readLate: true},
		{name: "hinted with the group", code: 200, roles: []string{"sa", "sr"}},
		{name: "group left, its grant still read by the hint", change: func(m *tokentest.MemStore) {
			m.Memberships = nil
		}, code: 200, roles: []string{"sr"}},
		{name: "user grant removed", change: func(m *tokentest.MemStore) {
			m.System = []keystone.Assignment{{Type: "GroupSystem", ActorID: "g1", TargetID: "system", RoleID: "sa", RoleName: "admin"}}
		}, code: 404},
	} {
		if s.change != nil {
			s.change(st)
		}
		before := st.SystemReads.Load()
		validateStep(t, v, tok, s.name, s.code, s.roles)
		if late := st.SystemReads.Load() > before; late != s.readLate {
			t.Errorf("%s: system grants read after the first round = %v, want %v", s.name, late, s.readLate)
		}
	}
}

// validateStep validates tok and checks the status and, for a 200, the
// role ids (sorted).
func validateStep(t *testing.T, v *Validator, tok, name string, wantCode int, wantRoles []string) (*Token, int) {
	t.Helper()
	got, err := v.Validate(context.Background(), Request{Token: tok})
	code := 200
	if err != nil {
		code = apierror.As(err).Code
	}
	if code != wantCode {
		t.Fatalf("%s: code %d (%v), want %d", name, code, err, wantCode)
	}
	if code == 200 {
		var ids []string
		for _, r := range got.Roles {
			ids = append(ids, r.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, wantRoles) {
			t.Errorf("%s: roles %v, want %v", name, ids, wantRoles)
		}
	}
	return got, code
}

// An application credential comes with the first round, and so do the
// records of its roles (which never change) once a validation has read
// them: a steady application credential token needs no second round.
func TestAppCredHints(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := fixture()
	st.Roles = map[string]*keystone.Role{"m": {ID: "m", Name: "member"}, "a": {ID: "a", Name: "admin"}}
	st.AppCreds = map[string]*keystone.AppCred{"ac1": {ID: "ac1", Name: "ci", UserID: userID, ProjectID: projectID, RoleIDs: []string{"m"}}}
	v, ks := newTestValidator(t, st, now)
	tok := mint(t, ks, &payload.Payload{Version: payload.VersionAppCredScoped, UserID: userID, Methods: []string{"application_credential"},
		ProjectID: projectID, AppCredID: "ac1", ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}, now)
	for _, s := range []struct {
		name     string
		change   func(m *tokentest.MemStore)
		code     int
		roles    []string
		roleRead bool
	}{
		{name: "first validation", code: 200, roles: []string{"m"}, roleRead: true},
		{name: "hinted", code: 200, roles: []string{"m"}},
		{name: "the user lost the role", change: func(m *tokentest.MemStore) { m.Grants = nil }, code: 404},
		{name: "role back", change: func(m *tokentest.MemStore) {
			m.Grants = []keystone.Assignment{{Type: "UserProject", ActorID: userID, TargetID: projectID, RoleID: "m", RoleName: "member"}}
		}, code: 200, roles: []string{"m"}},
		{name: "a credential with another role under the same id", change: func(m *tokentest.MemStore) {
			m.AppCreds["ac1"].RoleIDs = []string{"m", "a"}
			m.Grants = append(m.Grants, keystone.Assignment{Type: "UserProject", ActorID: userID, TargetID: projectID, RoleID: "a", RoleName: "admin"})
		}, code: 200, roles: []string{"a", "m"}, roleRead: true},
		{name: "credential deleted", change: func(m *tokentest.MemStore) { delete(m.AppCreds, "ac1") }, code: 404},
	} {
		if s.change != nil {
			s.change(st)
		}
		before := st.RoleReads.Load()
		validateStep(t, v, tok, s.name, s.code, s.roles)
		if read := st.RoleReads.Load() > before; s.code == 200 && read != s.roleRead {
			t.Errorf("%s: role records read after the first round = %v, want %v", s.name, read, s.roleRead)
		}
	}
}
