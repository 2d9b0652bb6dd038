package federation

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

func testGraph() *roleGraph {
	return &roleGraph{
		roles: map[string]roleInfo{
			"admin": {Name: "admin"}, "manager": {Name: "manager"}, "member": {Name: "member"}, "reader": {Name: "reader"},
			"ops": {Name: "ops"}, "d1-dev": {Name: "dev", DomainID: "d1"}, "d1-boss": {Name: "boss", DomainID: "d1"},
			"d2-dev": {Name: "dev", DomainID: "d2"},
		},
		implied: edges(map[string][]string{
			"admin": {"manager"}, "manager": {"member"}, "member": {"reader"},
			"d1-dev": {"member"}, "d1-boss": {"admin"},
		}),
	}
}

func edges(m map[string][]string) []keystone.Implied {
	var out []keystone.Implied
	for p, is := range m {
		for _, i := range is {
			out = append(out, keystone.Implied{PriorID: p, ImpliedID: i})
		}
	}
	return out
}

func TestNotGrantable(t *testing.T) {
	g := testGraph()
	allowed := allowedRoles(DefaultGrantableRoles)
	for _, tc := range []struct {
		name  string
		roles []string
		want  string
	}{
		{"reader", []string{"reader"}, ""},
		{"member implies reader", []string{"member"}, ""},
		{"manager implies member and reader", []string{"manager"}, ""},
		{"admin", []string{"admin"}, "admin"},
		{"a global role off the list", []string{"ops"}, "ops"},
		{"the domain's own role implying member", []string{"d1-dev"}, ""},
		{"the domain's own role implying admin", []string{"d1-boss"}, "admin"},
		{"another domain's role", []string{"d2-dev"}, "d2-dev"},
		{"unknown role", []string{"gone"}, "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := notGrantable(g, "d1", allowed, tc.roles); got != tc.want {
				t.Fatalf("notGrantable(%v) = %q, want %q", tc.roles, got, tc.want)
			}
		})
	}
	// A later implication widens what a grant confers: member -> admin.
	g.implied = append(g.implied, keystone.Implied{PriorID: "member", ImpliedID: "admin"})
	if got := notGrantable(g, "d1", allowed, []string{"reader", "member"}); got != "admin" {
		t.Fatalf("member implying admin: got %q", got)
	}
}

func TestActorOutOfBounds(t *testing.T) {
	g := testGraph()
	allowed := allowedRoles(DefaultGrantableRoles)
	for _, tc := range []struct {
		name string
		as   []actorAssignment
		want string
	}{
		{"nothing", nil, ""},
		{"member in the domain", []actorAssignment{{RoleID: "member", TargetDomainID: "d1"}}, ""},
		{"system reader", []actorAssignment{{RoleID: "reader", System: true}}, "holds the role reader on the system"},
		{"member elsewhere", []actorAssignment{{RoleID: "member", TargetDomainID: "d1"}, {RoleID: "member", TargetDomainID: "d2"}}, "outside the identity provider's domain"},
		{"admin in the domain", []actorAssignment{{RoleID: "admin", TargetDomainID: "d1"}}, "not in [keystone_ng] domain_grantable_roles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := actorOutOfBounds(g, "d1", allowed, tc.as)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMappingBounds: a domain-owned IdP's mappings cannot grant admin,
// directly, through a group or by naming a privileged user, on write
// (403) or at login (401, nothing written); a global IdP can.
func TestMappingBounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		pythonTables(t, b)
		ctx := context.Background()
		user := storetest.QuoteIdent(b.Name, "user")
		group := storetest.QuoteIdent(b.Name, "group")
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := b.DB.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-admin', 'admin', '{}', '<<null>>')`)
		exec(`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-manager', 'manager', '{}', '<<null>>')`)
		exec(`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-ops', 'ops', '{}', '<<null>>')`)
		exec(`INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES ('r-member', 'r-reader')`)
		exec(`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g-admins', 'd1', 'admins')`)
		exec(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('GroupProject', 'g-admins', 'p1', 'r-admin', ?)`, false)
		exec(`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g-wide', 'd1', 'wide')`)
		exec(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('GroupProject', 'g-wide', 'p2', 'r-member', ?)`, false)
		exec(`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g-sys', 'd1', 'sys')`)
		exec(`INSERT INTO system_assignment (type, actor_id, target_id, role_id, inherited) VALUES ('GroupSystem', 'g-sys', 'system', 'r-reader', ?)`, false)
		exec(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('GroupProject', 'g1', 'p1', 'r-member', ?)`, false)
		for _, u := range []string{"u-plain", "u-sysadmin", "u-elsewhere", "u-ingroup"} {
			exec(`INSERT INTO `+user+` (id, extra, enabled, domain_id, created_at) VALUES (?, '{}', ?, 'd1', ?)`, u, true, time.Now().UTC().Format("2006-01-02 15:04:05"))
		}
		exec(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'u-plain', 'p1', 'r-member', ?)`, false)
		exec(`INSERT INTO system_assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserSystem', 'u-sysadmin', 'system', 'r-admin', ?)`, false)
		exec(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'u-elsewhere', 'p2', 'r-reader', ?)`, false)
		exec(`INSERT INTO user_group_membership (user_id, group_id) VALUES ('u-ingroup', 'g-admins')`)

		now := time.Now()
		svc := New(Options{DB: b.DB, HTTPClient: loopbackClient(), Leeway: 30 * time.Second, Now: func() time.Time { return now }, JWKSMinRefresh: time.Nanosecond})
		kit := newIssuerKit(t)
		jwks := kit.srv.URL + "/jwks"
		mk := func(id, domain string) *IdP {
			iss := "https://" + id + ".example.com"
			f := &IdPFields{ID: &id, Name: &id, Issuer: &iss, JWKSURL: &jwks, Audiences: &[]string{"ks"}}
			if domain != "" {
				f.DomainID = &domain
			}
			p, err := svc.CreateIdP(ctx, f)
			if err != nil {
				t.Fatalf("create idp %s: %v", id, err)
			}
			return p
		}
		own := mk("own", "d1")
		global := mk("global", "")
		rule := func(extra string) json.RawMessage {
			return json.RawMessage(`[{"match": [{"claim": "sub", "equals": "w1"}], "user": {"name": "w-{sub}"}` + extra + `}]`)
		}
		for _, tc := range []struct {
			name, extra, field string
		}{
			{"admin on the domain", `, "grants": [{"role": {"name": "admin"}, "domain": {"id": "d1"}}]`, "grants[0].role"},
			{"admin on a project", `, "grants": [{"role": {"id": "r-admin"}, "project": {"id": "p1"}}]`, "grants[0].role"},
			{"a group holding admin", `, "groups": [{"id": "g-admins"}]`, "groups[0]"},
			{"a group holding a role in another domain", `, "groups": [{"id": "g-wide"}]`, "groups[0]"},
			{"a group holding a system role", `, "groups": [{"id": "g-sys"}]`, "groups[0]"},
		} {
			t.Run("write refused/"+tc.name, func(t *testing.T) {
				_, err := svc.CreateMapping(ctx, own, "m", rule(tc.extra))
				ae := apierror.As(err)
				if ae.Code != 403 || !strings.Contains(ae.Message, "rules[0]."+tc.field) {
					t.Fatalf("want 403 naming rules[0].%s, got %v", tc.field, err)
				}
				if n := storetest.Count(t, b.DB, "ng_mapping"); n != 0 {
					t.Fatalf("mapping stored: %d", n)
				}
			})
		}
		for _, tc := range []struct{ name, uid string }{
			{"a user with a system role", "u-sysadmin"},
			{"a user with a role in another domain", "u-elsewhere"},
			{"a user in an admin group", "u-ingroup"},
		} {
			t.Run("write refused/"+tc.name, func(t *testing.T) {
				_, err := svc.CreateMapping(ctx, own, "m", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "w1"}], "user": {"id": "`+tc.uid+`"}}]`))
				if ae := apierror.As(err); ae.Code != 403 || !strings.Contains(ae.Message, "rules[0].user.id") {
					t.Fatalf("want 403 naming user.id, got %v", err)
				}
			})
		}
		// Allowed: member on a project, a group with member, a plain user.
		if _, err := svc.CreateMapping(ctx, own, "ok", rule(`, "grants": [{"role": {"name": "member"}, "project": {"id": "p1"}}], "groups": [{"id": "g1"}]`)); err != nil {
			t.Fatalf("member grant: %v", err)
		}
		if _, err := svc.CreateMapping(ctx, own, "as-user", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "w1"}], "user": {"id": "u-plain"}}]`)); err != nil {
			t.Fatalf("plain user: %v", err)
		}
		// A global IdP (system admins only) is not bounded.
		if _, err := svc.CreateMapping(ctx, global, "admin", rule(`, "grants": [{"role": {"name": "admin"}, "project": {"id": "p1"}}]`)); err != nil {
			t.Fatalf("global IdP granting admin: %v", err)
		}

		claims := func(iss, jti string) map[string]any {
			return map[string]any{"iss": iss, "aud": "ks", "sub": "w1", "jti": jti, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix()}
		}
		login := func(mapping, jti string) error {
			_, err := svc.JWTLogin(ctx, "own", kit.sign(t, jose.RS256, kit.rsa, "k1", claims(own.Issuer, jti)), mapping)
			return err
		}
		if err := login("ok", "j1"); err != nil {
			t.Fatalf("legal login: %v", err)
		}
		if err := login("as-user", "j2"); err != nil {
			t.Fatalf("login as a plain user: %v", err)
		}
		// Later changes make both mappings illegal: re-checked at login,
		// refused with the generic 401, nothing written.
		for _, tc := range []struct {
			name, mapping, change, undo string
		}{
			{"member now implies admin", "ok",
				`INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES ('r-member', 'r-admin')`,
				`DELETE FROM implied_role WHERE prior_role_id = 'r-member' AND implied_role_id = 'r-admin'`},
			{"the mapped group now holds admin", "ok",
				`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('GroupDomain', 'g1', 'd1', 'r-admin', FALSE)`,
				`DELETE FROM assignment WHERE actor_id = 'g1' AND role_id = 'r-admin'`},
			{"the mapped user now holds a system role", "as-user",
				`INSERT INTO system_assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserSystem', 'u-plain', 'system', 'r-reader', FALSE)`,
				`DELETE FROM system_assignment WHERE actor_id = 'u-plain'`},
		} {
			t.Run("login refused/"+tc.name, func(t *testing.T) {
				exec(tc.change)
				defer exec(tc.undo)
				before := counts(t, b)
				err := login(tc.mapping, "x-"+strings.ReplaceAll(tc.name, " ", "-"))
				if ae := apierror.As(err); ae.Code != 401 || ae.Message != apierror.MsgUnauthorized {
					t.Fatalf("want generic 401, got %v", err)
				}
				if after := counts(t, b); !equalCounts(before, after) {
					t.Fatalf("database changed: %v -> %v", before, after)
				}
			})
		}
		// An operator's own allow-list is honoured.
		opsRule := rule(`, "grants": [{"role": {"name": "ops"}, "project": {"id": "p1"}}]`)
		if _, err := svc.ParseMappingRules(ctx, own, opsRule); apierror.As(err).Code != 403 {
			t.Fatalf("ops with the default allow-list: %v", err)
		}
		wide := New(Options{DB: b.DB, GrantableRoles: []string{"member", "reader", "ops"}})
		if _, err := wide.ParseMappingRules(ctx, own, opsRule); err != nil {
			t.Fatalf("ops in the operator's allow-list: %v", err)
		}
	})
}
