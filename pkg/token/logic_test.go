package token

import (
	"fmt"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

func TestFormatURL(t *testing.T) {
	subs := map[string]string{"project_id": "p1", "tenant_id": "p1", "user_id": "u1", "public_endpoint": "None"}
	noProject := map[string]string{"user_id": "u1", "public_endpoint": "None"}
	silent := map[string]bool{"project_id": true, "tenant_id": true}
	tests := []struct {
		name   string
		url    string
		subs   map[string]string
		silent map[string]bool
		want   string
		ok     bool
	}{
		{"plain", "http://h:5000/v3", subs, nil, "http://h:5000/v3", true},
		{"project dollar form", "http://h/v2.1/$(project_id)s", subs, nil, "http://h/v2.1/p1", true},
		{"tenant percent form", "http://h/v1/AUTH_%(tenant_id)s", subs, nil, "http://h/v1/AUTH_p1", true},
		{"user", "http://h/$(user_id)s/x", subs, nil, "http://h/u1/x", true},
		{"escaped percent", "http://h/a%%20b", subs, nil, "http://h/a%20b", true},
		{"stray percent is malformed", "http://h/a%20b", subs, nil, "", false},
		{"unknown key is malformed", "http://h/$(compute)s", subs, nil, "", false},
		{"non-s conversion is malformed", "http://h/$(project_id)d", subs, nil, "", false},
		{"unterminated", "http://h/$(project_id", subs, nil, "", false},
		{"project placeholder without project is skipped", "http://h/$(project_id)s", noProject, silent, "", true},
		{"public endpoint unset renders None", "$(public_endpoint)s/x", subs, nil, "None/x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := formatURL(tc.url, tc.subs, tc.silent)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("formatURL(%q) = %q, %v; want %q, %v", tc.url, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestImpliedExpansion(t *testing.T) {
	g := newImpliedGraph([]keystone.Implied{
		{PriorID: "admin", ImpliedID: "member", ImpliedName: "member"},
		{PriorID: "member", ImpliedID: "reader", ImpliedName: "reader"},
		{PriorID: "reader", ImpliedID: "admin", ImpliedName: "admin"}, // a cycle must terminate
	})
	out := g.expand([]RoleRef{{ID: "admin", Name: "admin"}}, func(int) string { return "u" })
	ids := map[string]int{}
	for _, r := range out {
		ids[r.ID]++
	}
	if ids["admin"] < 1 || ids["member"] != 1 || ids["reader"] != 1 {
		t.Fatalf("expansion = %v", out)
	}
}

func TestProjectRoles(t *testing.T) {
	dom := &keystone.Project{ID: "d", IsDomain: true, Enabled: true}
	parent := &keystone.Project{ID: "parent", DomainID: "d", ParentID: "d", Enabled: true}
	child := &keystone.Project{ID: "child", DomainID: "d", ParentID: "parent", Enabled: true}
	lineage := []*keystone.Project{child, parent, dom}
	g := newImpliedGraph([]keystone.Implied{{PriorID: "member", ImpliedID: "reader", ImpliedName: "reader"}})
	actors := map[string]bool{"u": true, "grp": true}
	tests := []struct {
		name string
		rows []keystone.Assignment
		want []string
	}{
		{"direct user", []keystone.Assignment{{Type: "UserProject", ActorID: "u", TargetID: "child", RoleID: "member", RoleName: "member"}}, []string{"member", "reader"}},
		{"group", []keystone.Assignment{{Type: "GroupProject", ActorID: "grp", TargetID: "child", RoleID: "r1", RoleName: "r1"}}, []string{"r1"}},
		{"other actor ignored", []keystone.Assignment{{Type: "UserProject", ActorID: "x", TargetID: "child", RoleID: "r1"}}, nil},
		{"inherited from parent", []keystone.Assignment{{Type: "UserProject", ActorID: "u", TargetID: "parent", RoleID: "r2", Inherited: true}}, []string{"r2"}},
		{"non-inherited on parent ignored", []keystone.Assignment{{Type: "UserProject", ActorID: "u", TargetID: "parent", RoleID: "r2"}}, nil},
		{"inherited on the project itself ignored", []keystone.Assignment{{Type: "UserProject", ActorID: "u", TargetID: "child", RoleID: "r2", Inherited: true}}, nil},
		{"inherited from domain", []keystone.Assignment{{Type: "GroupDomain", ActorID: "grp", TargetID: "d", RoleID: "r3", Inherited: true}}, []string{"r3"}},
		{"direct domain grant does not reach projects", []keystone.Assignment{{Type: "UserDomain", ActorID: "u", TargetID: "d", RoleID: "r3"}}, nil},
		{"domain-specific role stripped", []keystone.Assignment{{Type: "UserProject", ActorID: "u", TargetID: "child", RoleID: "dr", RoleDomainID: "d"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := uniqueRoles(projectRoles(tc.rows, actors, lineage, g, true))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, id := range tc.want {
				if got[i].ID != id {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestValidGroups(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ttl := 30
	ms := []keystone.Membership{
		{GroupID: "regular"},
		{GroupID: "fresh", Expiring: true, LastVerified: now.Add(-10 * time.Minute)},
		{GroupID: "stale", Expiring: true, LastVerified: now.Add(-2 * time.Hour)},
		{GroupID: "idp-ttl", Expiring: true, LastVerified: now.Add(-20 * time.Minute), IdPTTLMinutes: &ttl},
	}
	got := validGroups(ms, now, 60)
	want := []string{"regular", "fresh", "idp-ttl"}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if g := validGroups(ms[1:2], now, 0); len(g) != 0 {
		t.Fatalf("default ttl 0 must expire memberships at once, got %v", g)
	}
}

func TestRevocationMatches(t *testing.T) {
	issued := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	exp := issued.Add(time.Hour)
	tv := tokenValuesT{
		issuedAt: issued, expiresAt: exp, auditID: "A", auditChainID: "C", userID: "u",
		identityDomainID: "d", projectID: "p", roles: map[string]bool{"r": true},
	}
	after := issued.Add(time.Second)
	expCopy := exp
	other := exp.Add(time.Second)
	tests := []struct {
		name string
		ev   keystone.RevocationEvent
		want bool
	}{
		{"audit id", keystone.RevocationEvent{AuditID: "A", IssuedBefore: after}, true},
		{"other audit id", keystone.RevocationEvent{AuditID: "B", IssuedBefore: after}, false},
		{"event before issue", keystone.RevocationEvent{UserID: "u", IssuedBefore: issued.Add(-time.Second)}, false},
		{"same second revokes", keystone.RevocationEvent{UserID: "u", IssuedBefore: issued}, true},
		{"user", keystone.RevocationEvent{UserID: "u", IssuedBefore: after}, true},
		{"project", keystone.RevocationEvent{ProjectID: "p", IssuedBefore: after}, true},
		{"other project", keystone.RevocationEvent{ProjectID: "q", IssuedBefore: after}, false},
		{"user domain", keystone.RevocationEvent{DomainID: "d", IssuedBefore: after}, true},
		{"domain scope needs assignment domain", keystone.RevocationEvent{DomainID: "d", ExpiresAt: &expCopy, IssuedBefore: after}, false},
		{"expiry equal", keystone.RevocationEvent{UserID: "u", ExpiresAt: &expCopy, IssuedBefore: after}, true},
		{"expiry differs", keystone.RevocationEvent{UserID: "u", ExpiresAt: &other, IssuedBefore: after}, false},
		{"role held", keystone.RevocationEvent{RoleID: "r", IssuedBefore: after}, true},
		{"role not held", keystone.RevocationEvent{RoleID: "x", IssuedBefore: after}, false},
		{"audit chain", keystone.RevocationEvent{AuditChainID: "C", IssuedBefore: after}, true},
		{"other chain", keystone.RevocationEvent{AuditChainID: "Z", IssuedBefore: after}, false},
		{"trust on a non-trust token", keystone.RevocationEvent{TrustID: "t", IssuedBefore: after}, false},
		{"consumer on a non-oauth token", keystone.RevocationEvent{ConsumerID: "c", IssuedBefore: after}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matches(&tc.ev, tv); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFullRoleKeyOrder(t *testing.T) {
	desc := "d"
	r := &keystone.Role{ID: "i", Name: "n", Description: &desc, Extra: pyjson.Object{{Key: "x", Value: "y"}}, Options: pyjson.Object{{Key: "immutable", Value: true}}}
	got := string(pyjson.Marshal(fullRole(r)))
	want := `{"x": "y", "id": "i", "name": "n", "domain_id": null, "description": "d", "options": {"immutable": true}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestImpliedClosure(t *testing.T) {
	edges := []keystone.Implied{{PriorID: "admin", ImpliedID: "member"}, {PriorID: "member", ImpliedID: "reader"},
		{PriorID: "a", ImpliedID: "b"}, {PriorID: "b", ImpliedID: "a"}}
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "[]"},
		{[]string{"reader"}, "[reader]"},
		{[]string{"admin"}, "[admin member reader]"},
		{[]string{"member", "admin"}, "[admin member reader]"},
		{[]string{"a"}, "[a b]"}, // a cycle ends
	} {
		if got := fmt.Sprint(ImpliedClosure(edges, tc.in)); got != tc.want {
			t.Errorf("ImpliedClosure(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
