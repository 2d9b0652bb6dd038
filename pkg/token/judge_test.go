package token

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// The judge's tests build evidence by hand: no store, no hint cache, no
// clock. Each case starts from evidence a token of some kind passes with,
// breaks one thing (or two, to check which check Python runs first) and
// expects Python's answer.

var (
	jNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	jIssued = jNow.Add(-time.Minute)
)

const (
	jUser    = "u1"
	jTrustor = "tor"
	jProject = "p1"
	jDomain  = "d1"
	jTrust   = "tr1"
	jToken   = "the-token"
)

func jDomainRow() *keystone.Project {
	return &keystone.Project{ID: jDomain, Name: "D", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true}
}

func jUserRow(id string) *keystone.User {
	return &keystone.User{ID: id, Name: "n-" + id, DomainID: jDomain, Enabled: true, Domain: jDomainRow()}
}

// projectEvidence: a project token of jUser holding role m (implying r)
// directly on jProject.
func projectEvidence() *evidence {
	d := jDomainRow()
	return &evidence{
		payload: &payload.Payload{Version: 2, UserID: jUser, Methods: []string{"password"}, ProjectID: jProject,
			ExpiresAt: jNow.Add(time.Hour), AuditIDs: []string{"audit-one"}},
		issuedAt:    jIssued,
		user:        jUserRow(jUser),
		lineage:     []*keystone.Project{{ID: jProject, Name: "P", DomainID: jDomain, ParentID: jDomain, Enabled: true}, d},
		domains:     map[string]*keystone.Project{jDomain: d},
		assignments: []keystone.Assignment{{Type: "UserProject", ActorID: jUser, TargetID: jProject, RoleID: "m", RoleName: "member"}},
		graph:       newImpliedGraph([]keystone.Implied{{PriorID: "m", ImpliedID: "r", ImpliedName: "reader"}}),
		idpExists:   true,
		trustUsers:  map[string]*keystone.User{},
	}
}

// withRoles records that the full records of ids were read, and found.
func withRoles(ev *evidence, ids ...string) *evidence {
	found := map[string]*keystone.Role{}
	for _, id := range ids {
		found[id] = &keystone.Role{ID: id, Name: "name-" + id}
	}
	ev.addRoles(ids, found)
	return ev
}

// trustEvidence: a trust token of jUser (the trustee) through jTrust from
// jTrustor, who holds m on the project; m and r read.
func trustEvidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.TrustID = 3, jTrust
	ev.assignments = nil
	ev.trust = &keystone.Trust{ID: jTrust, TrustorUserID: jTrustor, TrusteeUserID: jUser, ProjectID: jProject, RoleIDs: []string{"m"}}
	ev.trustUsers = map[string]*keystone.User{jUser: ev.user, jTrustor: jUserRow(jTrustor)}
	ev.trustorLineage = ev.lineage
	ev.trustorRows = []keystone.Assignment{{Type: "UserProject", ActorID: jTrustor, TargetID: jProject, RoleID: "m", RoleName: "member"}}
	return withRoles(ev, "m", "r")
}

// redelegatedEvidence: jTrust was redelegated from "tr0" (jTrustor's own
// trust from "orig"), whose trustee jTrustor is enabled.
func redelegatedEvidence() *evidence {
	ev := trustEvidence()
	ev.trust.RedelegatedTrustID = "tr0"
	parent := &keystone.Trust{ID: "tr0", TrustorUserID: "orig", TrusteeUserID: jTrustor, ProjectID: jProject,
		RedelegationCount: ptr(2), RoleIDs: []string{"m"}}
	ev.chain = &trustChain{links: []*keystone.Trust{ev.trust, parent}, agents: map[string]*keystone.User{jTrustor: jUserRow(jTrustor)},
		trustorRows: []keystone.Assignment{{Type: "UserProject", ActorID: "orig", TargetID: jProject, RoleID: "m"}}}
	return ev
}

func appCredEvidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.AppCredID = 9, "ac1"
	ev.appCred = &keystone.AppCred{ID: "ac1", UserID: jUser, ProjectID: jProject, RoleIDs: []string{"m"}}
	return withRoles(ev, "m")
}

func federatedEvidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.Federated = 5, true
	ev.payload.IdentityProviderID, ev.payload.FederatedGroupIDs = "idp1", []string{"g1"}
	ev.assignments = []keystone.Assignment{{Type: "GroupProject", ActorID: "g1", TargetID: jProject, RoleID: "m", RoleName: "member"}}
	return withRoles(ev, "m", "r")
}

func oauth1Evidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.AccessTokenID = 7, "at1"
	ev.accessToken = &keystone.AccessToken{ID: "at1", ConsumerID: "c1", RoleIDs: []string{"m"}}
	return withRoles(ev, "m")
}

func domainEvidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.ProjectID, ev.payload.DomainID = 1, "", jDomain
	ev.lineage = nil
	ev.scopeDomains = map[string]*keystone.Project{jDomain: jDomainRow()}
	ev.assignments = []keystone.Assignment{{Type: "UserDomain", ActorID: jUser, TargetID: jDomain, RoleID: "m", RoleName: "member"}}
	return ev
}

func systemEvidence() *evidence {
	ev := projectEvidence()
	ev.payload.Version, ev.payload.ProjectID, ev.payload.System = 8, "", "all"
	ev.lineage, ev.assignments = nil, nil
	ev.systemAssignments = []keystone.Assignment{{Type: "UserSystem", ActorID: jUser, TargetID: "system", RoleID: "admin", RoleName: "admin"}}
	return ev
}

func ptr[T any](v T) *T { return &v }

func jInput() judgeInput {
	return judgeInput{token: jToken, now: jNow, settings: Settings{MaxRedelegationCount: 3}}
}

const (
	jFailed         = "Failed to validate token"
	jTokenNotFound  = "Could not find token: " + jToken + "."
	jForbidden      = apierror.MsgForbidden
	jDomainDisabled = "Unable to validate token because domain " + jDomain + " is disabled"
)

func TestJudge(t *testing.T) {
	tests := []struct {
		name  string
		ev    func() *evidence
		edit  func(ev *evidence, in *judgeInput)
		code  int
		msg   string
		roles []string // on success, the role ids (sorted)
		need  []string // roles the judge asks to read
		used  []string // rolesUsed (sorted)
		note  slog.Level
		noted bool
	}{
		// --- _validate_token_resources
		{name: "project token", ev: projectEvidence, code: 200, roles: []string{"m", "r"}},
		{name: "project missing", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.lineage = nil },
			code: 404, msg: "Could not find project: p1."},
		{name: "project disabled", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.lineage[0].Enabled = false },
			code: 404, msg: "Unable to validate token because project p1 is disabled"},
		{name: "project's domain missing", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.domains = map[string]*keystone.Project{} },
			code: 404, msg: "Could not find domain: d1."},
		{name: "project's domain disabled", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.domains[jDomain].Enabled = false },
			code: 404, msg: jDomainDisabled},
		// --- _validate_token_user
		{name: "user missing", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.user = nil },
			code: 404, msg: "Could not find user: u1."},
		{name: "user's domain disabled", ev: domainEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.domains[jDomain].Enabled = false },
			code: 404, msg: jDomainDisabled},
		{name: "user's domain missing", ev: systemEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.user.DomainID = "gone" },
			code: 404, msg: "Could not find domain: gone."},
		// --- roles
		{name: "no role left", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.assignments = nil },
			code: 404, msg: jTokenNotFound},
		{name: "expired group membership's role does not count", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.assignments[0].Type, ev.assignments[0].ActorID = "GroupProject", "g-expired"
		}, code: 404, msg: jTokenNotFound},
		{name: "role through a valid group", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.assignments[0].Type, ev.assignments[0].ActorID = "GroupProject", "g1"
			ev.groups = []string{"g1"}
		}, code: 200, roles: []string{"m", "r"}},
		{name: "domain token", ev: domainEvidence, code: 200, roles: []string{"m", "r"}},
		{name: "domain token's domain missing", ev: domainEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.scopeDomains = nil },
			code: 404, msg: "Could not find domain: d1."},
		{name: "system token", ev: systemEvidence, code: 200, roles: []string{"admin"}},
		{name: "system token without a grant", ev: systemEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.systemAssignments = nil },
			code: 404, msg: jTokenNotFound},
		// --- _is_valid_token and after
		{name: "expired", ev: projectEvidence, edit: func(ev *evidence, in *judgeInput) { in.now = ev.payload.ExpiresAt },
			code: 404, msg: jFailed},
		{name: "expired, within the allow_expired window", ev: projectEvidence, edit: func(ev *evidence, in *judgeInput) {
			in.now, in.window = ev.payload.ExpiresAt.Add(time.Minute), 2*time.Minute
		}, code: 200, roles: []string{"m", "r"}},
		{name: "expired, past the allow_expired window", ev: projectEvidence, edit: func(ev *evidence, in *judgeInput) {
			in.now, in.window = ev.payload.ExpiresAt.Add(2*time.Minute), 2*time.Minute
		}, code: 404, msg: jFailed},
		{name: "revoked", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.events = []keystone.RevocationEvent{{UserID: jUser, IssuedBefore: jIssued.Add(time.Second)}}
		}, code: 404, msg: jFailed},
		{name: "revocation event of another user", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.events = []keystone.RevocationEvent{{UserID: "other", IssuedBefore: jIssued.Add(time.Second)}}
		}, code: 200, roles: []string{"m", "r"}},
		{name: "user disabled", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.user.Enabled = false },
			code: 404, msg: jTokenNotFound},
		{name: "user inactive too long", ev: projectEvidence, edit: func(ev *evidence, in *judgeInput) {
			ev.user.LastActiveAt = ptr(jNow.AddDate(0, 0, -10))
			in.settings.DisableUserAccountDaysInactive = 5
		}, code: 404, msg: jTokenNotFound},
		{name: "access rules without the client's support", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.appCred.AccessRules = []keystone.AccessRule{{ID: "ar", Service: "compute", Path: "/x", Method: "GET"}}
		}, code: 404, msg: jFailed, used: []string{"m"}, noted: true, note: slog.LevelWarn},
		{name: "access rules with the client's support", ev: appCredEvidence, edit: func(ev *evidence, in *judgeInput) {
			ev.appCred.AccessRules = []keystone.AccessRule{{ID: "ar", Service: "compute", Path: "/x", Method: "GET"}}
			in.accessRulesVersion = "1.0"
		}, code: 200, roles: []string{"m"}, used: []string{"m"}},
		{name: "identity provider gone", ev: federatedEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.idpExists = false },
			code: 404, msg: "Could not find Identity Provider: idp1.", used: []string{"m", "r"}},
		// --- federated, application credential and OAuth1 roles
		{name: "federated token", ev: federatedEvidence, code: 200, roles: []string{"m", "r"}, used: []string{"m", "r"}},
		{name: "federated token, role records not read", ev: func() *evidence {
			ev := federatedEvidence()
			ev.roleIDsRead, ev.roles = []string{"m"}, nil
			return ev
		}, need: []string{"m", "r"}},
		{name: "application credential token", ev: appCredEvidence, code: 200, roles: []string{"m"}, used: []string{"m"}},
		{name: "application credential missing", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.appCred = nil },
			code: 404, msg: "Could not find Application Credential: ac1."},
		{name: "application credential role missing", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.appCred.RoleIDs = []string{"m", "gone"}
			ev.addRoles([]string{"gone"}, nil)
		}, code: 404, msg: "Could not find role: gone."},
		{name: "application credential roles not read", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.roleIDsRead = nil
		}, need: []string{"m"}},
		{name: "application credential role the user lost", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.assignments = nil },
			code: 404, msg: jTokenNotFound, used: []string{"m"}},
		{name: "OAuth1 token", ev: oauth1Evidence, code: 200, roles: []string{"m", "r"}},
		{name: "OAuth1 access token missing", ev: oauth1Evidence, edit: func(ev *evidence, _ *judgeInput) { ev.accessToken = nil },
			code: 404, msg: "Access token not found"},
		{name: "OAuth1 role records not read", ev: oauth1Evidence, edit: func(ev *evidence, _ *judgeInput) { ev.roleIDsRead = nil },
			need: []string{"m"}},
		{name: "OAuth1 consumer revoked", ev: oauth1Evidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.events = []keystone.RevocationEvent{{ConsumerID: "c1", IssuedBefore: jIssued}}
		}, code: 404, msg: jFailed},
		// --- trusts
		{name: "trust token", ev: trustEvidence, code: 200, roles: []string{"m", "r"}, used: []string{"m", "r"}},
		{name: "trust missing", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trust = nil },
			code: 404, msg: "Could not find trust: tr1."},
		{name: "trust deleted", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trust.Deleted = true },
			code: 404, msg: "Could not find trust: tr1."},
		{name: "trust expired", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trust.ExpiresAt = ptr(jNow.Add(-time.Second)) },
			code: 404, msg: "Could not find trust: tr1."},
		{name: "trust used up", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trust.RemainingUses = ptr(0) },
			code: 404, msg: "Could not find trust: tr1."},
		{name: "trustee missing", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { delete(ev.trustUsers, jUser) },
			code: 404, msg: "Could not find user: u1."},
		{name: "token user is not the trustee", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.TrusteeUserID = "someone"
			ev.trustUsers["someone"] = jUserRow("someone")
		}, code: 403, msg: jForbidden},
		{name: "trustor missing", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { delete(ev.trustUsers, jTrustor) },
			code: 404, msg: "Could not find user: tor."},
		{name: "trustor's domain disabled", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trustUsers[jTrustor].DomainID = "d2"
			ev.domains["d2"] = &keystone.Project{ID: "d2", IsDomain: true}
		}, code: 404, msg: "Trustor domain is disabled."},
		{name: "trustor disabled", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trustUsers[jTrustor].Enabled = false },
			code: 403, msg: jForbidden},
		{name: "trustor no longer holds the role", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trustorRows = nil },
			code: 403, msg: jForbidden},
		{name: "trust's project gone", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.trustorLineage = nil },
			code: 404, msg: "Could not find project: p1."},
		{name: "trust role records not read", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.roleIDsRead = []string{"m"} },
			need: []string{"m", "r"}},
		{name: "trust delegating only a domain-specific role", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.graph = nil
			ev.roles["m"].DomainID = jDomain
		}, code: 404, msg: jTokenNotFound, used: []string{"m"}},
		// --- redelegated trusts (Manager.get_trust, _validate_redelegation)
		{name: "redelegated trust", ev: redelegatedEvidence, code: 200, roles: []string{"m", "r"}, used: []string{"m", "r"}},
		{name: "redelegated trust without its pedigree", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) { ev.chain = nil },
			code: 500, msg: apierror.MsgInternal},
		{name: "pedigree refused while read", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.refusal = apierror.Forbidden("")
			ev.chain.refusalNote = &note{level: slog.LevelWarn, msg: "loops"}
		}, code: 403, msg: jForbidden, noted: true, note: slog.LevelWarn},
		{name: "ancestor gone while read", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.refusal = apierror.NotFound("Could not find trust: tr0.")
		}, code: 404, msg: "Could not find trust: tr0."},
		{name: "ancestor's redelegation count above the maximum", ev: redelegatedEvidence, edit: func(ev *evidence, in *judgeInput) {
			in.settings.MaxRedelegationCount = 1
		}, code: 403, msg: jForbidden},
		{name: "ancestor's redelegation count NULL", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.links[1].RedelegationCount = nil
		}, code: 500, msg: apierror.MsgInternal},
		{name: "redelegated trust limits its uses", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.RemainingUses = ptr(3)
		}, code: 403, msg: jForbidden},
		{name: "redelegated trust outlives its ancestor", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.ExpiresAt, ev.chain.links[1].ExpiresAt = ptr(jNow.Add(2*time.Hour)), ptr(jNow.Add(time.Hour))
		}, code: 403, msg: jForbidden},
		{name: "redelegated trust widens the roles", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.RoleIDs = []string{"m", "r"}
		}, code: 403, msg: jForbidden},
		{name: "redelegated trust gains impersonation", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.Impersonation = true
		}, code: 403, msg: jForbidden},
		{name: "trust agent disabled", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.agents[jTrustor].Enabled = false
		}, code: 403, msg: jForbidden, noted: true, note: slog.LevelDebug},
		{name: "original trustor no longer holds the role", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.trustorRows = nil
		}, code: 403, msg: jForbidden},
		// --- order: the first check in Python's order wins
		{name: "project disabled before user missing", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.lineage[0].Enabled, ev.user = false, nil
		}, code: 404, msg: "Unable to validate token because project p1 is disabled"},
		{name: "trust missing before user missing", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust, ev.user = nil, nil
		}, code: 404, msg: "Could not find trust: tr1."},
		{name: "pedigree before trustee", ev: redelegatedEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.chain.links[1].Impersonation, ev.trust.Impersonation = false, true
			delete(ev.trustUsers, jUser)
		}, code: 403, msg: jForbidden},
		{name: "user missing before no role", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.user, ev.assignments = nil, nil
		}, code: 404, msg: "Could not find user: u1."},
		{name: "no role before expiry", ev: projectEvidence, edit: func(ev *evidence, in *judgeInput) {
			ev.assignments, in.now = nil, ev.payload.ExpiresAt.Add(time.Hour)
		}, code: 404, msg: jTokenNotFound},
		{name: "revocation before disabled user", ev: projectEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.user.Enabled = false
			ev.events = []keystone.RevocationEvent{{UserID: jUser, IssuedBefore: jIssued}}
		}, code: 404, msg: jFailed},
		{name: "disabled user before access rules", ev: appCredEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.user.Enabled = false
			ev.appCred.AccessRules = []keystone.AccessRule{{ID: "ar"}}
		}, code: 404, msg: jTokenNotFound, used: []string{"m"}},
		{name: "trustee mismatch before trustor missing", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trust.TrusteeUserID = "someone"
			ev.trustUsers["someone"] = jUserRow("someone")
			delete(ev.trustUsers, jTrustor)
		}, code: 403, msg: jForbidden},
		{name: "app cred missing before expiry", ev: appCredEvidence, edit: func(ev *evidence, in *judgeInput) {
			ev.appCred, in.now = nil, ev.payload.ExpiresAt
		}, code: 404, msg: "Could not find Application Credential: ac1."},
		{name: "trustor's refusal before the role records are read", ev: trustEvidence, edit: func(ev *evidence, _ *judgeInput) {
			ev.trustorRows, ev.roleIDsRead = nil, nil
		}, code: 403, msg: jForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, in := tc.ev(), jInput()
			if tc.edit != nil {
				tc.edit(ev, &in)
			}
			vd := judge(ev, in)
			if tc.need != nil {
				if !slices.Equal(vd.needRoles, tc.need) || vd.token != nil || vd.err != nil {
					t.Fatalf("verdict %+v, want a request for the records of %v", vd, tc.need)
				}
				return
			}
			checkVerdict(t, vd, tc.code, tc.msg, tc.roles)
			if used := slices.Sorted(slices.Values(vd.rolesUsed)); !slices.Equal(used, tc.used) {
				t.Errorf("roles used %v, want %v", used, tc.used)
			}
			if (vd.note != nil) != tc.noted || (tc.noted && vd.note.level != tc.note) {
				t.Errorf("note %+v, want noted=%v at %v", vd.note, tc.noted, tc.note)
			}
		})
	}
}

func checkVerdict(t *testing.T, vd verdict, code int, msg string, roles []string) {
	t.Helper()
	if code == 200 {
		if vd.err != nil || vd.token == nil {
			t.Fatalf("verdict %+v (%v), want a token", vd, vd.err)
		}
		var got []string
		for _, r := range vd.token.Roles {
			got = append(got, r.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, roles) {
			t.Fatalf("roles %v, want %v", got, roles)
		}
		return
	}
	if vd.token != nil || vd.err == nil {
		t.Fatalf("verdict %+v, want %d %q", vd, code, msg)
	}
	if e := apierror.As(vd.err); e.Code != code || e.Message != msg {
		t.Fatalf("error %d %q, want %d %q", e.Code, e.Message, code, msg)
	}
}

// Judging again over the same evidence gives the same verdict (the judge
// is pure); once the records it asked for are read, it concludes.
func TestJudgeAgainAfterReadingRoles(t *testing.T) {
	ev := federatedEvidence()
	ev.roleIDsRead, ev.roles = nil, nil
	in := jInput()
	first, again := judge(ev, in), judge(ev, in)
	if !slices.Equal(first.needRoles, []string{"m", "r"}) || !slices.Equal(again.needRoles, first.needRoles) {
		t.Fatalf("needs %v then %v, want [m r] twice", first.needRoles, again.needRoles)
	}
	ev.addRoles(first.needRoles, map[string]*keystone.Role{"m": {ID: "m", Name: "member"}, "r": {ID: "r", Name: "reader"}})
	vd := judge(ev, in)
	checkVerdict(t, vd, 200, "", []string{"m", "r"})
	if vd.token.FullRoles["m"].Name != "member" || vd.token.Domain != nil || vd.token.CatalogUserID != jUser {
		t.Fatalf("token %+v", vd.token)
	}
	if again := judge(ev, in); again.token == vd.token || !slices.Equal(again.rolesUsed, vd.rolesUsed) {
		t.Fatal("a second judgement should build an equal, new token")
	}
}

// What a role read finds is the truth for the ids it read, over what the
// first round's role hint read.
func TestEvidenceAddRoles(t *testing.T) {
	ev := &evidence{roles: map[string]*keystone.Role{"a": {ID: "a", Name: "old"}, "b": {ID: "b"}}, roleIDsRead: []string{"a", "b"}}
	ev.addRoles([]string{"a", "c"}, map[string]*keystone.Role{"c": {ID: "c"}})
	got, ok := ev.rolesFor([]string{"a", "b", "c"})
	if !ok || got["a"] != nil || got["b"] == nil || got["c"] == nil {
		t.Fatalf("rolesFor = %v, %v; want a gone, b and c found", got, ok)
	}
	if _, ok := ev.rolesFor([]string{"d"}); ok {
		t.Fatal("a role never asked for must be read first")
	}
}

func TestTrustTokenCatalogUser(t *testing.T) {
	vd := judge(trustEvidence(), jInput())
	checkVerdict(t, vd, 200, "", []string{"m", "r"})
	if tok := vd.token; tok.CatalogUserID != jTrustor || tok.Trustor.ID != jTrustor || tok.TrustorDomain == nil || tok.ProjectDomain == nil {
		t.Fatalf("token %+v", tok)
	}
}
