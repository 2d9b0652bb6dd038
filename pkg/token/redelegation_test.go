package token_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	. "github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

// trustStore is the in-memory store with trusts; its TrustReads counts
// the trusts read (each is one SQL statement in pkg/store).
type trustStore struct {
	*tokentest.MemStore
}

const (
	// users: the original trustor, then one trustee per link
	uOrig = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
	uT1   = "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b"
	uT2   = "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c"
	uT3   = "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d"
	// trusts: A (uOrig -> uT1), B (uT1 -> uT2, from A), C (uT2 -> uT3, from B);
	// P is an ordinary trust uOrig -> uT1
	trA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	trB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	trC = "cccccccccccccccccccccccccccccccc"
	trP = "dddddddddddddddddddddddddddddddd"
	grp = "9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e"
)

func intp(n int) *int { return &n }

// redelegationFixture: a project in domain default; member (m, implies
// reader r) held on it by the original trustor and by the trustees that
// redelegate (Keystone 22 checks the direct trustor too); a domain-specific
// role dsr. Trust A allows two redelegations, as Python records them.
func redelegationFixture() *trustStore {
	m := fixture()
	for _, id := range []string{uOrig, uT1, uT2, uT3} {
		m.Users[id] = &keystone.User{ID: id, Name: "u-" + id[:2], DomainID: "default", Enabled: true}
	}
	m.Projects["d2"] = &keystone.Project{ID: "d2", Name: "D2", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true}
	m.Grants = nil
	for _, id := range []string{uOrig, uT1, uT2} {
		m.Grants = append(m.Grants, keystone.Assignment{Type: "UserProject", ActorID: id, TargetID: projectID, RoleID: "m", RoleName: "member"})
	}
	m.Roles = map[string]*keystone.Role{
		"m":   {ID: "m", Name: "member"},
		"r":   {ID: "r", Name: "reader"},
		"dsr": {ID: "dsr", Name: "dsr", DomainID: "default"},
	}
	m.Trusts = map[string]*keystone.Trust{
		trA: {ID: trA, TrustorUserID: uOrig, TrusteeUserID: uT1, ProjectID: projectID, RedelegationCount: intp(2), RoleIDs: []string{"m"}},
		trB: {ID: trB, TrustorUserID: uT1, TrusteeUserID: uT2, ProjectID: projectID, RedelegatedTrustID: trA, RedelegationCount: intp(1), RoleIDs: []string{"m"}},
		trC: {ID: trC, TrustorUserID: uT2, TrusteeUserID: uT3, ProjectID: projectID, RedelegatedTrustID: trB, RedelegationCount: intp(0), RoleIDs: []string{"m"}},
		trP: {ID: trP, TrustorUserID: uOrig, TrusteeUserID: uT1, ProjectID: projectID, RedelegationCount: intp(0), RoleIDs: []string{"m"}},
	}
	return &trustStore{MemStore: m}
}

func TestValidateRedelegatedTrust(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, later, latest := now.Add(-time.Minute), now.Add(time.Hour), now.Add(2*time.Hour)
	tests := []struct {
		name   string
		trust  string // the token's trust; default C (token of uT3)
		max    int    // [trust] max_redelegation_count; default 3
		mutate func(s *trustStore)
		code   int
		msg    string
		reads  int64 // trusts read (0: not checked)
	}{
		// valid pedigrees
		{name: "three-link chain", code: 200, reads: 3},
		{name: "two-link chain", trust: trB, code: 200, reads: 2},
		{name: "ordinary trust reads one trust", trust: trP, code: 200, reads: 1},
		{name: "original trustor holds the role through a group", mutate: func(s *trustStore) {
			s.Grants[0] = keystone.Assignment{Type: "GroupProject", ActorID: grp, TargetID: projectID, RoleID: "m", RoleName: "member"}
			s.Memberships = map[string][]keystone.Membership{uOrig: {{GroupID: grp}}}
		}, code: 200},
		{name: "intermediate trustee without the role is not checked", mutate: func(s *trustStore) {
			s.Grants = removeGrant(s.Grants, uT1)
		}, code: 200},
		{name: "equal expiries", mutate: func(s *trustStore) {
			for _, id := range []string{trA, trB, trC} {
				s.Trusts[id].ExpiresAt = &later
			}
		}, code: 200},
		{name: "child without expiry under an expiring ancestor", mutate: func(s *trustStore) { s.Trusts[trA].ExpiresAt = &later }, code: 200},

		// roles: original trustor (_get_trust_roles), then direct trustor (_validate_trust_scope)
		{name: "original trustor lost the role", mutate: func(s *trustStore) { s.Grants = removeGrant(s.Grants, uOrig) }, code: 403},
		{name: "original trustor lost the role, two-link chain", trust: trB, mutate: func(s *trustStore) { s.Grants = removeGrant(s.Grants, uOrig) }, code: 403},
		{name: "direct trustor lost the role", mutate: func(s *trustStore) { s.Grants = removeGrant(s.Grants, uT2) }, code: 403},
		{name: "only a domain-specific role delegated", mutate: func(s *trustStore) {
			for _, id := range []string{trA, trB, trC} {
				s.Trusts[id].RoleIDs = []string{"dsr"}
			}
			for _, u := range []string{uOrig, uT2} {
				s.Grants = append(s.Grants, keystone.Assignment{Type: "UserProject", ActorID: u, TargetID: projectID, RoleID: "dsr", RoleName: "dsr", RoleDomainID: "default"})
			}
		}, code: 404},
		{name: "ordinary trust, trustor lost the role", trust: trP, mutate: func(s *trustStore) { s.Grants = removeGrant(s.Grants, uOrig) }, code: 403},

		// a link of the pedigree that get_trust does not return
		{name: "original trust deleted", mutate: func(s *trustStore) { s.Trusts[trA].Deleted = true }, code: 404, msg: "Could not find trust: " + trA + "."},
		{name: "original trust missing", mutate: func(s *trustStore) { delete(s.Trusts, trA) }, code: 404, msg: "Could not find trust: " + trA + "."},
		{name: "middle trust expired", mutate: func(s *trustStore) {
			s.Trusts[trB].ExpiresAt = &past
			s.Trusts[trA].ExpiresAt = &later
		}, code: 404, msg: "Could not find trust: " + trB + "."},
		{name: "ancestor used up", mutate: func(s *trustStore) { s.Trusts[trA].RemainingUses = intp(0) }, code: 404, msg: "Could not find trust: " + trA + "."},
		{name: "token's own trust deleted", mutate: func(s *trustStore) { s.Trusts[trC].Deleted = true }, code: 404, msg: "Could not find trust: " + trC + ".", reads: 1},
		{name: "missing ancestor beats a disabled agent", mutate: func(s *trustStore) {
			delete(s.Trusts, trA)
			s.Users[uT2].Enabled = false
		}, code: 404, msg: "Could not find trust: " + trA + "."},

		// _validate_redelegation on every (ancestor, child) pair
		{name: "ancestor redelegation_count zero", mutate: func(s *trustStore) { s.Trusts[trB].RedelegationCount = intp(0) }, code: 403},
		{name: "ancestor redelegation_count above the maximum", max: 1, trust: trB, code: 403},
		{name: "ancestor redelegation_count NULL", mutate: func(s *trustStore) { s.Trusts[trA].RedelegationCount = nil }, code: 500},
		{name: "redelegated trust limits its uses", mutate: func(s *trustStore) { s.Trusts[trC].RemainingUses = intp(5) }, code: 403},
		{name: "child outlives its ancestor", mutate: func(s *trustStore) {
			s.Trusts[trA].ExpiresAt = &latest
			s.Trusts[trB].ExpiresAt = &later
			s.Trusts[trC].ExpiresAt = &latest
		}, code: 403},
		{name: "child expires, ancestor does not", mutate: func(s *trustStore) { s.Trusts[trC].ExpiresAt = &later }, code: 500},
		{name: "role not delegated by the ancestor", mutate: func(s *trustStore) {
			s.Trusts[trC].RoleIDs = []string{"m", "r"}
		}, code: 403},
		{name: "impersonation gained by redelegation", mutate: func(s *trustStore) { s.Trusts[trC].Impersonation = true }, code: 403},
		{name: "impersonation kept", mutate: func(s *trustStore) {
			for _, id := range []string{trA, trB, trC} {
				s.Trusts[id].Impersonation = true
			}
		}, code: 200},

		// trust agents: the trustee of every ancestor
		{name: "first trustee disabled", mutate: func(s *trustStore) { s.Users[uT1].Enabled = false }, code: 403},
		{name: "first trustee deleted", mutate: func(s *trustStore) { delete(s.Users, uT1) }, code: 403},
		{name: "first trustee's domain disabled", mutate: func(s *trustStore) {
			s.Users[uT1].DomainID = "d2"
			s.Projects["d2"].Enabled = false
		}, code: 403},
		{name: "direct trustor disabled", mutate: func(s *trustStore) { s.Users[uT2].Enabled = false }, code: 403},
		{name: "original trustor disabled is not checked", mutate: func(s *trustStore) { s.Users[uOrig].Enabled = false }, code: 200},

		// bounds keystone-ng adds (Python would loop or walk without end)
		{name: "pedigree longer than max_redelegation_count", max: 1, code: 403, reads: 2},
		{name: "max_redelegation_count zero refuses redelegated trusts", max: -1, trust: trB, code: 403, reads: 1},
		{name: "pedigree loops", mutate: func(s *trustStore) { s.Trusts[trA].RedelegatedTrustID = trC }, code: 403},
		{name: "trust redelegated from itself", mutate: func(s *trustStore) { s.Trusts[trC].RedelegatedTrustID = trC }, code: 403, reads: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := redelegationFixture()
			if tc.mutate != nil {
				tc.mutate(st)
			}
			trustID := tc.trust
			if trustID == "" {
				trustID = trC
			}
			v, ks := newTestValidator(t, st, now)
			switch {
			case tc.max == 0:
				v.Settings.MaxRedelegationCount = 3
			case tc.max < 0:
				v.Settings.MaxRedelegationCount = 0
			default:
				v.Settings.MaxRedelegationCount = tc.max
			}
			// the token's user is the trustee of its trust
			user := map[string]string{trA: uT1, trB: uT2, trC: uT3, trP: uT1}[trustID]
			p := &payload.Payload{Version: 3, UserID: user, Methods: []string{"password"}, ProjectID: projectID, TrustID: trustID,
				ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
			got, err := v.Validate(context.Background(), Request{Token: mint(t, ks, p, now.Add(-time.Minute)), Catalog: true})
			if tc.reads != 0 && st.TrustReads.Load() != tc.reads {
				t.Errorf("GetTrust called %d times, want %d", st.TrustReads.Load(), tc.reads)
			}
			if tc.code == 200 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				var ids []string
				for _, r := range got.Roles {
					ids = append(ids, r.ID)
				}
				sort.Strings(ids)
				if len(ids) != 2 || ids[0] != "m" || ids[1] != "r" {
					t.Fatalf("roles = %v, want m and r", ids)
				}
				// rendering names the direct trustor, and builds its catalog
				if got.Trust.TrustorUserID != got.Trustor.ID || got.CatalogUserID != got.Trust.TrustorUserID {
					t.Fatalf("trustor %s, catalog user %s, want the trust's direct trustor %s", got.Trustor.ID, got.CatalogUserID, got.Trust.TrustorUserID)
				}
				return
			}
			if err == nil {
				t.Fatalf("validated, want %d", tc.code)
			}
			ae := apierror.As(err)
			if ae.Code != tc.code {
				t.Fatalf("code = %d (%v), want %d", ae.Code, err, tc.code)
			}
			if tc.msg != "" && ae.Message != tc.msg {
				t.Fatalf("message = %q, want %q", ae.Message, tc.msg)
			}
		})
	}
}

func removeGrant(gs []keystone.Assignment, actor string) []keystone.Assignment {
	var out []keystone.Assignment
	for _, g := range gs {
		if g.ActorID != actor {
			out = append(out, g)
		}
	}
	return out
}

// A trust token's second round (both users, the trustor's memberships and
// assignments, the revocation events of all three) comes with the first
// once a validation of the same trust has left a hint; the trust row read
// in that round decides whether the hint applies. Each step checks the
// answer and whether a second round happened (GetUser is only called
// there).
func TestTrustHints(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := redelegationFixture()
	v, ks := newTestValidator(t, st, now)
	v.Settings.MaxRedelegationCount = 3
	p := &payload.Payload{Version: 3, UserID: uT1, Methods: []string{"password"}, ProjectID: projectID, TrustID: trP,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	tok := mint(t, ks, p, now.Add(-time.Minute))
	member := keystone.Assignment{Type: "UserProject", ActorID: uOrig, TargetID: projectID, RoleID: "m", RoleName: "member"}
	for _, s := range []struct {
		name     string
		change   func(s *trustStore)
		code     int
		userName string // the rendered user's name (200 only)
		second   bool   // a second round happened
	}{
		{name: "first validation", code: 200, userName: "u-1b", second: true},
		{name: "hinted", code: 200, userName: "u-1b"},
		{name: "trustor lost the role", change: func(s *trustStore) { s.Grants = removeGrant(s.Grants, uOrig) }, code: 403},
		{name: "role back through a group the trustor joined", change: func(s *trustStore) {
			s.Memberships = map[string][]keystone.Membership{uOrig: {{GroupID: grp}}}
			s.Grants = append(s.Grants, keystone.Assignment{Type: "GroupProject", ActorID: grp, TargetID: projectID, RoleID: "m", RoleName: "member"})
		}, code: 200, userName: "u-1b"},
		{name: "trustor left the group", change: func(s *trustStore) { s.Memberships = nil }, code: 403},
		{name: "impersonation renders the trustor", change: func(s *trustStore) {
			s.Grants = append(s.Grants, member)
			s.Trusts[trP].Impersonation = true
		}, code: 200, userName: "u-0a"},
		{name: "trustor disabled", change: func(s *trustStore) { s.Users[uOrig].Enabled = false }, code: 403},
		{name: "trustor deleted", change: func(s *trustStore) { delete(s.Users, uOrig) }, code: 404},
		{name: "trustor back, trust deleted", change: func(s *trustStore) {
			s.Users[uOrig] = &keystone.User{ID: uOrig, Name: "u-0a", DomainID: "default", Enabled: true}
			s.Trusts[trP].Deleted = true
		}, code: 404},
		{name: "trust back", change: func(s *trustStore) { s.Trusts[trP].Deleted = false }, code: 200, userName: "u-0a"},
		{name: "project under a new parent: a target the hint lacks", change: func(s *trustStore) {
			s.Projects["a"] = &keystone.Project{ID: "a", Name: "a", DomainID: "default", ParentID: "default", Enabled: true}
			s.Projects[projectID].ParentID = "a"
		}, code: 200, userName: "u-0a", second: true},
		{name: "hinted again", code: 200, userName: "u-0a"},
		{name: "the trust row names another trustor than the hint", change: func(s *trustStore) {
			s.Trusts[trP].TrustorUserID = uT2
			s.Grants = append(s.Grants, keystone.Assignment{Type: "UserProject", ActorID: uT2, TargetID: projectID, RoleID: "m", RoleName: "member"})
		}, code: 200, userName: "u-2c", second: true},
	} {
		if s.change != nil {
			s.change(st)
		}
		before := st.GetUserReads.Load()
		got, code := validateStep(t, v, tok, s.name, s.code, []string{"m", "r"})
		if code == 200 {
			body := string(pyjson.Marshal(v.Render(got, false)))
			if want := `"name": "` + s.userName + `"`; !strings.Contains(body, want) {
				t.Errorf("%s: rendered token lacks %s: %s", s.name, want, body)
			}
		}
		if second := st.GetUserReads.Load() > before; second != s.second {
			t.Errorf("%s: second round = %v, want %v", s.name, second, s.second)
		}
	}
}

// Many validations of every kind of hinted token at once, on one
// Validator: the hint cache is shared, and every answer must stay the
// same as the first (run with -race in make test).
func TestHintsConcurrently(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := redelegationFixture()
	st.Grants = append(st.Grants, keystone.Assignment{Type: "GroupProject", ActorID: grp, TargetID: projectID, RoleID: "m", RoleName: "member"})
	st.AppCreds = map[string]*keystone.AppCred{"ac1": {ID: "ac1", Name: "ci", UserID: uOrig, ProjectID: projectID, RoleIDs: []string{"m"}}}
	st.System = []keystone.Assignment{{Type: "UserSystem", ActorID: uOrig, TargetID: "system", RoleID: "r", RoleName: "reader"}}
	v, ks := newTestValidator(t, st, now)
	v.Settings.MaxRedelegationCount = 3
	base := payload.Payload{Methods: []string{"password"}, ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	kinds := map[string]*payload.Payload{
		"project":     {Version: 2, UserID: uOrig, ProjectID: projectID},
		"system":      {Version: payload.VersionSystemScoped, UserID: uOrig, System: "all"},
		"trust":       {Version: 3, UserID: uT1, ProjectID: projectID, TrustID: trP},
		"redelegated": {Version: 3, UserID: uT3, ProjectID: projectID, TrustID: trC},
		"app-cred":    {Version: payload.VersionAppCredScoped, UserID: uOrig, ProjectID: projectID, AppCredID: "ac1"},
		"federated":   {Version: payload.VersionFederatedProject, UserID: uT3, ProjectID: projectID, FederatedGroupIDs: []string{grp}, IdentityProviderID: "idp", ProtocolID: "mapped"},
	}
	tokens := map[string]string{}
	for name, p := range kinds {
		p.Methods, p.ExpiresAt, p.AuditIDs = base.Methods, base.ExpiresAt, base.AuditIDs
		tokens[name] = mint(t, ks, p, now.Add(-time.Minute))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				for name, tok := range tokens {
					got, err := v.Validate(context.Background(), Request{Token: tok, Catalog: (g+i)%2 == 0})
					if err != nil {
						t.Errorf("%s, validation %d: %v", name, i, err)
						return
					}
					var ids []string
					for _, r := range got.Roles {
						ids = append(ids, r.ID)
					}
					sort.Strings(ids)
					want := []string{"m", "r"}
					switch name {
					case "system":
						want = []string{"r"}
					case "app-cred":
						want = []string{"m"} // its own roles only
					}
					if !slices.Equal(ids, want) {
						t.Errorf("%s, validation %d: roles %v, want %v", name, i, ids, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
