package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// The conformance suite of store.Federation: on each backend, the rows it
// writes in Python's tables are the ones Python's federation backend
// writes (values and formats), and what it reads back resolves the same.

// fedEnv is one backend with Python's tables and a few rows.
type fedEnv struct {
	b   *storetest.Backend
	f   *store.Federation
	ctx context.Context
	now time.Time
}

func newFedEnv(t *testing.T, b *storetest.Backend) *fedEnv {
	t.Helper()
	storetest.CreatePythonTables(t, b)
	e := &fedEnv{b: b, f: store.NewFederation(b.DB), ctx: context.Background(), now: time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)}
	d := sqldialect.Dialect(b.Name)
	for _, q := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO project (id, name, domain_id, enabled, is_domain) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`,
			[]any{"d1", "Dom1", storetest.RootDomainID, true, true, "d2", "Dom2", storetest.RootDomainID, true, true}},
		{`INSERT INTO project (id, name, domain_id, parent_id, enabled, is_domain) VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)`,
			[]any{"p1", "Proj", "d1", "d1", true, false, "p2", "Proj", "d2", "d2", true, false}},
		{`INSERT INTO ` + d.User() + ` (id, domain_id, enabled) VALUES (?, ?, ?), (?, ?, ?)`, []any{"u1", "d1", true, "u2", "d2", true}},
		{`INSERT INTO ` + d.Group() + ` (id, domain_id, name) VALUES (?, ?, ?), (?, ?, ?)`, []any{"g1", "d1", "devs", "g2", "d2", "devs"}},
		{`INSERT INTO role (id, name, domain_id) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)`,
			[]any{"r-admin", "admin", "<<null>>", "r-member", "member", "<<null>>", "r-reader", "reader", "<<null>>", "r-d1", "member", "d1"}},
		{`INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES (?, ?)`, []any{"r-member", "r-reader"}},
		{`INSERT INTO user_group_membership (user_id, group_id) VALUES (?, ?)`, []any{"u1", "g1"}},
		{`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`,
			[]any{"UserProject", "u1", "p1", "r-member", false, "GroupDomain", "g1", "d1", "r-reader", false, "UserDomain", "u2", "d2", "r-admin", false}},
		{`INSERT INTO system_assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`, []any{"UserSystem", "u2", "system", "r-admin", false}},
	} {
		if _, err := b.DB.ExecContext(e.ctx, q.q, q.args...); err != nil {
			t.Fatalf("%s: %v", q.q, err)
		}
	}
	return e
}

// norm is a column value as text, the same on every backend: NULL, a
// boolean as 1/0, integers in decimal, text as is.
func norm(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int64:
		return strconv.FormatInt(x, 10)
	case []byte:
		return string(x)
	case time.Time:
		return sqldialect.DateTime(x)
	}
	return fmt.Sprint(v)
}

// rows reads a query's rows as "|"-joined normalised values, sorted.
func (e *fedEnv) rows(t *testing.T, q string, args ...any) []string {
	t.Helper()
	rs, err := e.b.DB.QueryContext(e.ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	out := []string{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = norm(v)
		}
		out = append(out, strings.Join(s, "|"))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func (e *fedEnv) want(t *testing.T, q string, want []string, args ...any) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := e.rows(t, q, args...); !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", q, got, want)
	}
}

func strp(s string) *string { return &s }

func globalIdP() *store.IdPRow {
	ttl := 30
	return &store.IdPRow{ID: "gidp", Name: "corp", ShadowDomainID: "shadow1", Issuer: "https://issuer.example", DiscoveryURL: "https://issuer.example/.well-known/openid-configuration",
		JWKSURL: strp("https://issuer.example/jwks"), ClientSecret: "enc", Scopes: []string{"openid"}, RedirectURIs: []string{}, Audiences: []string{"aud"},
		PythonMappingID: "pm1", Enabled: true, AuthorizationTTL: &ttl}
}

func ownedIdP(id, name, owner, issuer string) *store.IdPRow {
	return &store.IdPRow{ID: id, Name: name, OwnerDomainID: owner, ShadowDomainID: owner, Issuer: issuer, DiscoveryURL: issuer + "/d",
		Scopes: []string{}, RedirectURIs: []string{}, Audiences: []string{}, PythonMappingID: "pm-" + id, Enabled: true, Description: "desc"}
}

func TestFederationStoreIdPs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newFedEnv(t, b)
		us := strconv.FormatInt(sqldialect.Micros(e.now), 10)
		if err := e.f.CreateIdP(e.ctx, globalIdP(), "openid", e.now, nil); err != nil {
			t.Fatal(err)
		}
		// Python's rows, as keystone/federation/backends/sql.py and
		// _create_idp_domain write them.
		e.want(t, `SELECT id, name, extra, description, enabled, domain_id, parent_id, is_domain FROM project WHERE id = 'shadow1'`,
			[]string{"shadow1|shadow1|{}|Auto generated federated domain for Identity Provider: gidp|1|<<keystone.domain.root>>|NULL|1"})
		e.want(t, `SELECT id, enabled, description, domain_id, authorization_ttl FROM identity_provider`, []string{"gidp|1|NULL|shadow1|30"})
		e.want(t, `SELECT idp_id, remote_id FROM idp_remote_ids`, []string{"gidp|https://issuer.example"})
		e.want(t, `SELECT id, rules, schema_version FROM mapping`, []string{`pm1|"[]"|1.0`})
		e.want(t, `SELECT id, idp_id, mapping_id, remote_id_attribute FROM federation_protocol`, []string{"openid|gidp|pm1|NULL"})
		e.want(t, `SELECT owner_domain_id, client_id, client_secret, scopes, redirect_uris, audiences, default_mapping, created_at, updated_at FROM ng_identity_provider`,
			[]string{`|NULL|enc|["openid"]|[]|["aud"]|NULL|` + us + "|" + us})

		got, err := e.f.GetIdP(e.ctx, "gidp")
		if err != nil {
			t.Fatal(err)
		}
		if want := globalIdP(); !reflect.DeepEqual(got, want) {
			t.Errorf("GetIdP:\n got  %+v\n want %+v", got, want)
		}
		if _, err := e.f.GetIdP(e.ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIdP of a missing IdP: %v, want ErrNotFound", err)
		}

		// An owned IdP lives in its owner's domain and never claims the
		// issuer in idp_remote_ids; neither does a second global IdP of
		// a taken issuer.
		var admitted []int
		admit := func(n int) error { admitted = append(admitted, n); return nil }
		if err := e.f.CreateIdP(e.ctx, ownedIdP("o1", "ci", "d1", "https://ci.example"), "openid", e.now, admit); err != nil {
			t.Fatal(err)
		}
		if err := e.f.CreateIdP(e.ctx, ownedIdP("o2", "ci2", "d1", "https://ci.example"), "openid", e.now, admit); err != nil {
			t.Fatal(err)
		}
		g2 := globalIdP()
		g2.ID, g2.Name, g2.ShadowDomainID, g2.PythonMappingID = "gidp2", "corp2", "shadow2", "pm2"
		if err := e.f.CreateIdP(e.ctx, g2, "openid", e.now, nil); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(admitted, []int{0, 1}) {
			t.Errorf("admit saw %v, want [0 1]", admitted)
		}
		e.want(t, `SELECT idp_id, remote_id FROM idp_remote_ids`, []string{"gidp|https://issuer.example"})
		e.want(t, `SELECT id, description, domain_id FROM identity_provider WHERE id = 'o1'`, []string{"o1|desc|d1"})
		e.want(t, `SELECT COUNT(*) FROM project WHERE is_domain = ?`, []string{"5"}, true)

		// Refusals write nothing.
		before := e.rows(t, `SELECT id FROM identity_provider`)
		quota := errors.New("quota")
		for _, c := range []struct {
			name  string
			p     *store.IdPRow
			admit func(int) error
			want  error
		}{
			{"id taken", ownedIdP("o1", "other", "d1", "https://x.example"), nil, store.ErrIdPExists},
			{"no such domain", ownedIdP("o3", "x", "nope", "https://x.example"), nil, store.ErrNoSuchDomain},
			{"name taken in the domain", ownedIdP("o3", "ci", "d1", "https://x.example"), nil, store.ErrIdPNameTaken},
			{"refused by admit", ownedIdP("o3", "x", "d1", "https://x.example"), func(int) error { return quota }, quota},
		} {
			if err := e.f.CreateIdP(e.ctx, c.p, "openid", e.now, c.admit); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		e.want(t, `SELECT id FROM identity_provider`, before)
		e.want(t, `SELECT COUNT(*) FROM mapping`, []string{"4"})

		// Lists: by owner then name; filters.
		names := func(f store.IdPFilter) string {
			l, err := e.f.ListIdPs(e.ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range l {
				s = append(s, p.ID)
			}
			return strings.Join(s, ",")
		}
		no := false
		for _, c := range []struct {
			f    store.IdPFilter
			want string
		}{
			{store.IdPFilter{}, "gidp,gidp2,o1,o2"},
			{store.IdPFilter{Global: true}, "gidp,gidp2"},
			{store.IdPFilter{OwnerDomainID: strp("d1")}, "o1,o2"},
			{store.IdPFilter{OwnerDomainID: strp("d2")}, ""},
			{store.IdPFilter{Name: strp("ci2")}, "o2"},
			{store.IdPFilter{Enabled: &no}, ""},
		} {
			if got := names(c.f); got != c.want {
				t.Errorf("ListIdPs(%+v) = %q, want %q", c.f, got, c.want)
			}
		}

		// Update: Python's columns, the remote id following the issuer
		// (a global IdP's only), keystone-ng's row.
		later := e.now.Add(time.Hour)
		g := globalIdP()
		g.Issuer, g.Enabled, g.Description, g.AuthorizationTTL, g.JWKSURL, g.Name = "https://new.example", false, "d", nil, nil, "corp-new"
		if err := e.f.UpdateIdP(e.ctx, g, "https://issuer.example", later); err != nil {
			t.Fatal(err)
		}
		e.want(t, `SELECT id, enabled, description, domain_id, authorization_ttl FROM identity_provider WHERE id = 'gidp'`, []string{"gidp|0|d|shadow1|NULL"})
		e.want(t, `SELECT idp_id, remote_id FROM idp_remote_ids`, []string{"gidp|https://new.example"})
		e.want(t, `SELECT name, issuer, jwks_url, updated_at FROM ng_identity_provider WHERE id = 'gidp'`,
			[]string{"corp-new|https://new.example|NULL|" + strconv.FormatInt(sqldialect.Micros(later), 10)})
		o2 := ownedIdP("o2", "ci", "d1", "https://ci.example")
		if err := e.f.UpdateIdP(e.ctx, o2, o2.Issuer, later); !errors.Is(err, store.ErrIdPNameTaken) {
			t.Errorf("rename onto a taken name: %v, want ErrIdPNameTaken", err)
		}

		// Delete: everything of the IdP, the assignments its mappings
		// granted, but not the shadow users nor others' rows.
		d := sqldialect.Dialect(b.Name)
		for _, q := range []string{
			`INSERT INTO ` + d.User() + ` (id, domain_id, enabled) VALUES ('fu', 'd1', ` + map[bool]string{true: "TRUE", false: "1"}[b.Name == "postgres"] + `)`,
			`INSERT INTO federated_user (user_id, idp_id, protocol_id, unique_id) VALUES ('fu', 'o1', 'openid', 'sub')`,
			`INSERT INTO expiring_user_group_membership (user_id, group_id, idp_id, last_verified) VALUES ('fu', 'g1', 'o1', '` + sqldialect.DateTime(e.now) + `')`,
			`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'fu', 'p1', 'r-member', ` + map[bool]string{true: "FALSE", false: "0"}[b.Name == "postgres"] + `)`,
			`INSERT INTO ng_federation_grant (idp_id, type, actor_id, target_id, role_id, created_at) VALUES ('o1', 'UserProject', 'fu', 'p1', 'r-member', 1)`,
			`INSERT INTO ng_jwt_jti (idp_id, jti, expires_at) VALUES ('o1', 'j', 1)`,
			`INSERT INTO ng_mapping (idp_id, name, rules, created_at, updated_at) VALUES ('o1', 'm', '[]', 1, 1)`,
		} {
			if _, err := b.DB.ExecContext(e.ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		o1, err := e.f.GetIdP(e.ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.f.DeleteIdP(e.ctx, o1); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range []string{"ng_federation_grant", "ng_jwt_jti", "ng_mapping", "federated_user", "expiring_user_group_membership"} {
			e.want(t, `SELECT COUNT(*) FROM `+tbl, []string{"0"})
		}
		e.want(t, `SELECT id FROM identity_provider`, []string{"gidp", "gidp2", "o2"})
		e.want(t, `SELECT idp_id FROM federation_protocol`, []string{"gidp", "gidp2", "o2"})
		e.want(t, `SELECT id FROM mapping`, []string{"pm-o2", "pm1", "pm2"})
		e.want(t, `SELECT actor_id FROM assignment WHERE actor_id = 'fu'`, nil)
		e.want(t, `SELECT id FROM `+d.User()+` WHERE id = 'fu'`, []string{"fu"})
		e.want(t, `SELECT COUNT(*) FROM assignment`, []string{"3"})
	})
}

func TestFederationStoreMappings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newFedEnv(t, b)
		if err := e.f.CreateIdP(e.ctx, ownedIdP("o1", "ci", "d1", "https://ci.example"), "openid", e.now, nil); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"b", "a"} {
			if err := e.f.CreateMapping(e.ctx, "o1", n, `[{"n":"`+n+`"}]`, e.now); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.f.CreateMapping(e.ctx, "o1", "a", `[]`, e.now); !errors.Is(err, store.ErrMappingExists) {
			t.Errorf("duplicate mapping: %v, want ErrMappingExists", err)
		}
		if n, err := e.f.CountMappings(e.ctx, "o1"); err != nil || n != 2 {
			t.Errorf("CountMappings = %d, %v; want 2", n, err)
		}
		l, err := e.f.ListMappings(e.ctx, "o1")
		if want := []store.MappingRow{{Name: "a", Rules: `[{"n":"a"}]`}, {Name: "b", Rules: `[{"n":"b"}]`}}; err != nil || !reflect.DeepEqual(l, want) {
			t.Errorf("ListMappings = %v, %v; want %v", l, err, want)
		}
		later := e.now.Add(time.Minute)
		if err := e.f.UpdateMapping(e.ctx, "o1", "a", `[1]`, later); err != nil {
			t.Fatal(err)
		}
		if r, err := e.f.MappingRules(e.ctx, "o1", "a"); err != nil || r != `[1]` {
			t.Errorf("MappingRules = %q, %v", r, err)
		}
		e.want(t, `SELECT name, created_at, updated_at FROM ng_mapping WHERE name = 'a'`,
			[]string{fmt.Sprintf("a|%d|%d", sqldialect.Micros(e.now), sqldialect.Micros(later))})
		if err := e.f.DeleteMapping(e.ctx, "o1", "a"); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			e.f.DeleteMapping(e.ctx, "o1", "a"),
			func() error { _, err := e.f.MappingRules(e.ctx, "o1", "a"); return err }(),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after delete: %v, want ErrNotFound", err)
			}
		}
		if l, err := e.f.ListMappings(e.ctx, "nope"); err != nil || len(l) != 0 || l == nil {
			t.Errorf("ListMappings of an IdP without mappings = %#v, %v; want an empty list", l, err)
		}
	})
}

func TestFederationStoreRefs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newFedEnv(t, b)
		type res struct{ id, dom, err string }
		r := func(id, dom string, err error) res {
			s := ""
			if err != nil {
				s = err.Error()
				if errors.Is(err, store.ErrNotFound) {
					s = "not found"
				}
			}
			return res{id, dom, s}
		}
		nf := res{err: "not found"}
		for _, c := range []struct {
			name string
			got  func() res
			want res
		}{
			{"domain by id", func() res { id, err := e.f.Domain(e.ctx, store.Ref{ID: "d1"}); return r(id, "", err) }, res{id: "d1"}},
			{"domain by name", func() res { id, err := e.f.Domain(e.ctx, store.Ref{Name: "Dom2"}); return r(id, "", err) }, res{id: "d2"}},
			{"root is no domain", func() res { id, err := e.f.Domain(e.ctx, store.Ref{ID: storetest.RootDomainID}); return r(id, "", err) }, nf},
			{"a project is no domain", func() res { id, err := e.f.Domain(e.ctx, store.Ref{ID: "p1"}); return r(id, "", err) }, nf},
			{"project by id", func() res { return r(e.f.Project(e.ctx, store.Ref{ID: "p2"})) }, res{"p2", "d2", ""}},
			{"project by name in a domain", func() res { return r(e.f.Project(e.ctx, store.Ref{Name: "Proj", DomainID: "d1"})) }, res{"p1", "d1", ""}},
			{"a domain is no project", func() res { return r(e.f.Project(e.ctx, store.Ref{ID: "d1"})) }, nf},
			{"user's domain", func() res { d, err := e.f.UserDomain(e.ctx, "u2"); return r("", d, err) }, res{dom: "d2"}},
			{"missing user", func() res { d, err := e.f.UserDomain(e.ctx, "nope"); return r("", d, err) }, nf},
			{"group by id", func() res { return r(e.f.Group(e.ctx, store.Ref{ID: "g2"})) }, res{"g2", "d2", ""}},
			{"group by name in a domain", func() res { return r(e.f.Group(e.ctx, store.Ref{Name: "devs", DomainID: "d1"})) }, res{"g1", "d1", ""}},
			{"group of another name", func() res { return r(e.f.Group(e.ctx, store.Ref{Name: "ops", DomainID: "d1"})) }, nf},
			{"global role by id", func() res { return r(e.f.Role(e.ctx, store.Ref{ID: "r-admin"})) }, res{"r-admin", "", ""}},
			{"global role by name", func() res { return r(e.f.Role(e.ctx, store.Ref{Name: "member"})) }, res{"r-member", "", ""}},
			{"domain role by name", func() res { return r(e.f.Role(e.ctx, store.Ref{Name: "member", DomainID: "d1"})) }, res{"r-d1", "d1", ""}},
			{"domain role by id", func() res { return r(e.f.Role(e.ctx, store.Ref{ID: "r-d1"})) }, res{"r-d1", "d1", ""}},
			{"no such role in a domain", func() res { return r(e.f.Role(e.ctx, store.Ref{Name: "admin", DomainID: "d1"})) }, nf},
		} {
			if got := c.got(); got != c.want {
				t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
			}
		}
	})
}

func TestFederationStoreRoleGraph(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newFedEnv(t, b)
		roles, implied, err := e.f.RoleGraph(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(roles, func(i, j int) bool { return roles[i].ID < roles[j].ID })
		wantRoles := []store.RoleRow{{ID: "r-admin", Name: "admin"}, {ID: "r-d1", Name: "member", DomainID: "d1"}, {ID: "r-member", Name: "member"}, {ID: "r-reader", Name: "reader"}}
		if !reflect.DeepEqual(roles, wantRoles) {
			t.Errorf("roles %v, want %v", roles, wantRoles)
		}
		if want := []keystone.Implied{{PriorID: "r-member", ImpliedID: "r-reader"}}; !reflect.DeepEqual(implied, want) {
			t.Errorf("implied %v, want %v", implied, want)
		}

		if err := e.f.CreateIdP(e.ctx, ownedIdP("x", "x", "d2", "https://x.example"), "openid", e.now, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := b.DB.ExecContext(e.ctx, `INSERT INTO expiring_user_group_membership (user_id, group_id, idp_id, last_verified) VALUES ('u1', 'g2', 'x', ?)`, sqldialect.DateTime(e.now)); err != nil {
			t.Fatal(err)
		}
		groups, err := e.f.UserGroups(e.ctx, "u1")
		sort.Strings(groups)
		if want := []string{"g1", "g2"}; err != nil || !reflect.DeepEqual(groups, want) {
			t.Errorf("UserGroups = %v, %v; want %v", groups, err, want)
		}

		as, err := e.f.ActorAssignments(e.ctx, []string{"u1", "g1", "u2"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range as {
			got = append(got, fmt.Sprintf("%s %s %s in %s system=%v", a.Type, a.TargetID, a.RoleID, a.TargetDomainID, a.System))
		}
		sort.Strings(got)
		want := []string{
			"GroupDomain d1 r-reader in d1 system=false",
			"UserDomain d2 r-admin in d2 system=false",
			"UserProject p1 r-member in d1 system=false",
			"UserSystem system r-admin in  system=true",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ActorAssignments:\n got  %q\n want %q", got, want)
		}
		if as, err := e.f.ActorAssignments(e.ctx, nil); err != nil || as != nil {
			t.Errorf("no actors: %v, %v", as, err)
		}
	})
}

func TestFederationStoreWorkloadTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newFedEnv(t, b)
		if err := e.f.RecordWorkloadToken(e.ctx, "audit1", "idp", e.now); err != nil {
			t.Fatal(err)
		}
		if err := e.f.RecordWorkloadToken(e.ctx, "audit2", "idp", e.now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		e.want(t, `SELECT audit_id, expires_at FROM ng_workload_token WHERE audit_id = 'audit1'`,
			[]string{"audit1|" + strconv.FormatInt(sqldialect.Micros(e.now), 10)})
		for _, c := range []struct {
			ids  []string
			want bool
		}{{nil, false}, {[]string{"x"}, false}, {[]string{"x", "audit1"}, true}} {
			if got, err := e.f.IsWorkloadToken(e.ctx, c.ids); err != nil || got != c.want {
				t.Errorf("IsWorkloadToken(%v) = %v, %v; want %v", c.ids, got, err, c.want)
			}
		}
		n, err := e.f.PurgeWorkloadTokens(e.ctx, e.now.Add(time.Minute))
		if err != nil || n != 1 {
			t.Errorf("purge = %d, %v; want 1", n, err)
		}
		e.want(t, `SELECT audit_id FROM ng_workload_token`, []string{"audit2"})
	})
}
