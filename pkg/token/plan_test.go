package token

import (
	"reflect"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

func TestPlanValidation(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	audit := []string{"audit-one"}
	rev := func(users ...string) *RevocationQuery {
		return &RevocationQuery{IssuedAt: issued, UserIDs: users, ProjectID: "p", AuditID: "audit-one"}
	}
	projectHint := &AssignmentHint{Actors: []string{"u", "g"}, Targets: []string{"p", "d"}, Roles: []string{"m"}}
	tests := []struct {
		name     string
		p        payload.Payload
		hint     *AssignmentHint
		nonLocal bool
		catalog  bool
		settings Settings
		want     plan
	}{
		{name: "unscoped", p: payload.Payload{UserID: "u", AuditIDs: audit}, catalog: true,
			want: plan{serviceProviders: true, query: PrefetchQuery{UserID: "u",
				Revocation: &RevocationQuery{IssuedAt: issued, UserIDs: []string{"u"}, AuditID: "audit-one"}}}},
		{name: "project, no hint yet", p: payload.Payload{UserID: "u", ProjectID: "p", AuditIDs: audit}, catalog: true,
			settings: Settings{DisableUserAccountDaysInactive: 30},
			want: plan{hintScope: "p", projectAssignments: true, catalog: true, serviceProviders: true,
				query: PrefetchQuery{UserID: "u", ProjectID: "p", UserInactivity: true, Revocation: rev("u")}}},
		{name: "project, hinted, non-local user", p: payload.Payload{UserID: "u", ProjectID: "p", AuditIDs: audit},
			hint: projectHint, nonLocal: true,
			want: plan{hintScope: "p", hint: projectHint, projectAssignments: true,
				query: PrefetchQuery{UserID: "u", ProjectID: "p", AssignmentHint: projectHint, UserNames: true, Revocation: rev("u")}}},
		{name: "domain", p: payload.Payload{UserID: "u", DomainID: "d", AuditIDs: audit},
			want: plan{query: PrefetchQuery{UserID: "u", DomainID: "d", DomainAssignments: true,
				Revocation: &RevocationQuery{IssuedAt: issued, UserIDs: []string{"u"}, AuditID: "audit-one"}}}},
		{name: "system, hinted", p: payload.Payload{UserID: "u", System: "all", AuditIDs: audit},
			hint: &AssignmentHint{Actors: []string{"u", "g"}},
			want: plan{hintScope: systemHintScope, hint: &AssignmentHint{Actors: []string{"u", "g"}},
				query: PrefetchQuery{UserID: "u", SystemActors: []string{"u", "g"},
					Revocation: &RevocationQuery{IssuedAt: issued, UserIDs: []string{"u"}, AuditID: "audit-one"}}}},
		{name: "federated project, hinted", p: payload.Payload{UserID: "u", ProjectID: "p", Federated: true,
			IdentityProviderID: "idp", FederatedGroupIDs: []string{"g"}, AuditIDs: audit}, hint: projectHint,
			want: plan{hintScope: "p", hint: projectHint, projectAssignments: true, fedActors: []string{"u", "g"},
				query: PrefetchQuery{UserID: "u", ProjectID: "p", AssignmentHint: projectHint, IdentityProvider: "idp",
					SystemActors: []string{"u", "g"}, Roles: []string{"m"}, Revocation: rev("u")}}},
		{name: "federated domain: its assignments are known", p: payload.Payload{UserID: "u", DomainID: "d", Federated: true,
			IdentityProviderID: "idp", FederatedGroupIDs: []string{"g"}, AuditIDs: audit},
			want: plan{hintScope: "domain:d", fedActors: []string{"u", "g"},
				query: PrefetchQuery{UserID: "u", DomainID: "d", IdentityProvider: "idp", SystemActors: []string{"u", "g"},
					AssignmentHint: &AssignmentHint{Actors: []string{"u", "g"}, Targets: []string{"d"}},
					Revocation:     &RevocationQuery{IssuedAt: issued, UserIDs: []string{"u"}, AuditID: "audit-one"}}}},
		{name: "trust, no hint: revocation waits for the trust", p: payload.Payload{UserID: "u", ProjectID: "p", TrustID: "t", AuditIDs: audit},
			want: plan{hintScope: "trust:t", query: PrefetchQuery{UserID: "u", ProjectID: "p", Trust: &TrustPrefetch{ID: "t"}}}},
		{name: "trust, hinted", p: payload.Payload{UserID: "u", ProjectID: "p", TrustID: "t", AuditIDs: audit},
			hint: &AssignmentHint{Actors: []string{"tor"}, Targets: []string{"p", "d"}, Roles: []string{"m"}},
			want: plan{hintScope: "trust:t", hint: &AssignmentHint{Actors: []string{"tor"}, Targets: []string{"p", "d"}, Roles: []string{"m"}},
				trustorHint: "tor",
				query: PrefetchQuery{UserID: "u", ProjectID: "p", Roles: []string{"m"}, Revocation: rev("u", "tor"),
					Trust: &TrustPrefetch{ID: "t", TrustorID: "tor", TrustorTargets: []string{"p", "d"}}}}},
		{name: "application credential, hinted", p: payload.Payload{UserID: "u", ProjectID: "p", AppCredID: "ac", AuditIDs: audit},
			hint: projectHint,
			want: plan{hintScope: "p", hint: projectHint, projectAssignments: true,
				query: PrefetchQuery{UserID: "u", ProjectID: "p", AssignmentHint: projectHint, AppCred: "ac", Roles: []string{"m"}, Revocation: rev("u")}}},
		{name: "OAuth1", p: payload.Payload{UserID: "u", ProjectID: "p", AccessTokenID: "at", AuditIDs: audit},
			want: plan{hintScope: "p", projectAssignments: true, accessToken: "at",
				query: PrefetchQuery{UserID: "u", ProjectID: "p", Revocation: rev("u")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hintScopeOf(&tc.p); got != tc.want.hintScope {
				t.Fatalf("hintScopeOf = %q, want %q", got, tc.want.hintScope)
			}
			got := planValidation(&tc.p, issued, tc.hint, tc.nonLocal, tc.catalog, tc.settings)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan\n got %+v\n     %+v\nwant %+v\n     %+v", got, got.query, tc.want, tc.want.query)
			}
		})
	}
}

func TestFitHint(t *testing.T) {
	h := &AssignmentHint{Actors: []string{"u", "g1"}, Targets: []string{"p", "d"}}
	tests := []struct {
		name            string
		h               *AssignmentHint
		actors, targets []string
		want            hintFit
	}{
		{"no hint", nil, []string{"u"}, []string{"p"}, hintMisses},
		{"exact", h, []string{"g1", "u"}, []string{"p", "d"}, hintExact},
		{"a new group", h, []string{"u", "g1", "g2"}, []string{"p", "d"}, hintMisses},
		{"a new parent", h, []string{"u", "g1"}, []string{"p", "a", "d"}, hintMisses},
		{"a group left", h, []string{"u"}, []string{"p", "d"}, hintWider},
		{"a parent gone", h, []string{"u", "g1"}, []string{"p"}, hintWider},
		{"system actors", &AssignmentHint{Actors: []string{"u"}}, []string{"u"}, nil, hintExact},
	}
	for _, tc := range tests {
		if got := fitHint(tc.h, tc.actors, tc.targets); got != tc.want {
			t.Errorf("%s: fitHint = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestProjectActors(t *testing.T) {
	ms := []keystone.Membership{{GroupID: "g1"}, {GroupID: "g2", Expiring: true}}
	local := payload.Payload{UserID: "u", ProjectID: "p"}
	if got := projectActors(&plan{}, &local, ms); !reflect.DeepEqual(got, []string{"u", "g1", "g2"}) {
		t.Errorf("local user's actors = %v", got)
	}
	fed := payload.Payload{UserID: "u", ProjectID: "p", Federated: true, FederatedGroupIDs: []string{"mapped"}}
	pl := planValidation(&fed, time.Time{}, nil, false, false, Settings{})
	if got := projectActors(&pl, &fed, ms); !reflect.DeepEqual(got, []string{"u", "mapped"}) {
		t.Errorf("federated user's actors = %v, want the payload's groups", got)
	}
}

func TestSameRoleHint(t *testing.T) {
	for _, tc := range []struct {
		hinted, used []string
		want         bool
	}{
		{nil, nil, true},
		{[]string{"a", "b"}, []string{"b", "a"}, true},
		{[]string{"a"}, []string{"a", "b"}, false},
		{[]string{"a", "b"}, []string{"a"}, false},
		{[]string{"a", "c"}, []string{"a", "b"}, false},
	} {
		if got := sameRoleHint(tc.hinted, tc.used); got != tc.want {
			t.Errorf("sameRoleHint(%v, %v) = %v, want %v", tc.hinted, tc.used, got, tc.want)
		}
	}
}
