package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/uptrace/bun/driver/pgdriver"
)

// The Reader conformance suite: rows are written with plain SQL into
// Python's tables (storetest.PythonTables) on every backend, and each
// Reader method is checked against what Python's models would return for
// them.

const root = storetest.RootDomainID

// at parses a naive UTC time as Python stores it.
func at(s string) time.Time {
	for _, l := range []string{"2006-01-02 15:04:05.999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t
		}
	}
	panic("bad time " + s)
}

func ptr[T any](v T) *T { return &v }

// micros is Keystone's DateTimeInt encoding.
func micros(s string) int64 { return at(s).UnixMicro() }

type fixture struct {
	b *storetest.Backend
	r *store.Reader
}

func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.b.DB.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v\n%s", f.b.Name, err, q)
	}
}

// Expected rows of the seeded projects.
var (
	dom1 = keystone.Project{ID: "dom1", Name: "Dom One", DomainID: root, Enabled: true, IsDomain: true}
	dom2 = keystone.Project{ID: "dom2", Name: "Dom Two", DomainID: root, Enabled: false, IsDomain: true}
)

// chainProject is project p<i> of the dom1 tree: p1 under dom1, p<i>
// under p<i-1>.
func chainProject(i int) keystone.Project {
	parent := "dom1"
	if i > 1 {
		parent = fmt.Sprintf("p%d", i-1)
	}
	return keystone.Project{ID: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("project %d", i), DomainID: "dom1", ParentID: parent, Enabled: true}
}

func seed(t *testing.T, f *fixture) {
	user, group := storetest.QuoteIdent(f.b.Name, "user"), storetest.QuoteIdent(f.b.Name, "group")

	// --- projects
	proj := func(id, name, dom string, parent any, enabled any, isDomain bool) {
		f.exec(t, `INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain) VALUES (?, ?, '{}', '', ?, ?, ?, ?)`,
			id, name, enabled, dom, parent, isDomain)
	}
	proj("dom1", "Dom One", root, nil, true, true)
	proj("dom2", "Dom Two", root, nil, false, true)
	for i := 1; i <= 6; i++ {
		p := chainProject(i)
		proj(p.ID, p.Name, p.DomainID, p.ParentID, true, false)
	}
	// Corrupt trees: a two-cycle, a four-cycle (longer than one lineage
	// statement) and a project that is its own parent.
	proj("c1", "cycle 1", "dom1", nil, true, false)
	proj("c2", "cycle 2", "dom1", "c1", true, false)
	f.exec(t, `UPDATE project SET parent_id = 'c2' WHERE id = 'c1'`)
	proj("k1", "ring 1", "dom1", nil, true, false)
	for i := 2; i <= 4; i++ {
		proj(fmt.Sprintf("k%d", i), fmt.Sprintf("ring %d", i), "dom1", fmt.Sprintf("k%d", i-1), true, false)
	}
	f.exec(t, `UPDATE project SET parent_id = 'k4' WHERE id = 'k1'`)
	proj("s1", "self", "dom1", "s1", nil, false)

	// --- users
	usr := func(id, dom string, enabled, created, lastActive any) {
		f.exec(t, `INSERT INTO `+user+` (id, extra, enabled, default_project_id, created_at, last_active_at, domain_id) VALUES (?, '{}', ?, NULL, ?, ?, ?)`,
			id, enabled, created, lastActive, dom)
	}
	usr("u-local", "dom1", true, "2024-01-02 03:04:05", "2024-02-03")
	usr("u-legacy", "dom1", false, nil, nil)
	usr("u-noexp", "dom1", true, "2024-01-02 03:04:05", nil)
	usr("u-nonlocal", "dom2", nil, "2024-01-02 03:04:05", nil)
	usr("u-fed", "dom1", true, "2024-01-02 03:04:05", nil)
	usr("u-both", "dom1", true, nil, nil)
	usr("u-orphan", "gone", true, nil, nil)
	usr("u-other", "dom1", true, nil, nil)

	local := func(id int, userID, dom, name string) {
		f.exec(t, `INSERT INTO local_user (id, user_id, domain_id, name, failed_auth_count, failed_auth_at) VALUES (?, ?, ?, ?, 0, NULL)`, id, userID, dom, name)
	}
	local(1, "u-local", "dom1", "alice")
	local(2, "u-legacy", "dom1", "carol")
	local(3, "u-noexp", "dom1", "dave")
	local(4, "u-both", "dom1", "frank")

	pw := func(id, localID int, createdInt any, created string, expiresInt, expires any) {
		f.exec(t, `INSERT INTO password (id, local_user_id, password_hash, created_at_int, created_at, expires_at_int, expires_at, self_service)
			VALUES (?, ?, 'x', ?, ?, ?, ?, ?)`, id, localID, createdInt, created, expiresInt, expires, false)
	}
	// alice: the current password is the one created last (id 12), not
	// the one with the highest id (13); its expiry has microseconds only
	// the _int column keeps.
	pw(11, 1, micros("2024-01-01 00:00:00.000001"), "2024-01-01 00:00:00", micros("2024-03-01 00:00:00"), "2024-03-01 00:00:00")
	pw(12, 1, micros("2024-06-01 12:00:00.654321"), "2024-06-01 12:00:00", micros("2024-09-01 10:11:12.123456"), "2024-09-01 10:11:12")
	pw(13, 1, micros("2024-03-01 00:00:00"), "2024-03-01 00:00:00", micros("2024-05-01 00:00:00"), "2024-05-01 00:00:00")
	// carol: rows from before the _int columns (created_at_int 0,
	// expires_at_int NULL) fall back to the DATETIME columns.
	pw(21, 2, 0, "2023-02-01 00:00:00", nil, "2023-07-01 00:00:00")
	pw(22, 2, 0, "2023-01-01 00:00:00", nil, "2023-06-01 00:00:00")
	// dave: the current password does not expire, an older one did.
	pw(31, 3, micros("2024-01-01 00:00:00"), "2024-01-01 00:00:00", micros("2024-02-01 00:00:00"), "2024-02-01 00:00:00")
	pw(32, 3, micros("2024-04-01 00:00:00"), "2024-04-01 00:00:00", nil, nil)

	f.exec(t, `INSERT INTO nonlocal_user (domain_id, name, user_id) VALUES ('dom2', 'erin-ldap', 'u-nonlocal')`)

	opt := func(userID, id, v string) {
		f.exec(t, `INSERT INTO user_option (user_id, option_id, option_value) VALUES (?, ?, ?)`, userID, id, v)
	}
	opt("u-local", "1004", "true")
	opt("u-local", "1002", "false")
	opt("u-legacy", "1004", "false")
	opt("u-noexp", "1002", "true") // not the inactivity option

	// --- federation
	f.exec(t, `INSERT INTO identity_provider (id, enabled, description, domain_id, authorization_ttl) VALUES ('idp1', ?, NULL, 'dom1', 30)`, true)
	f.exec(t, `INSERT INTO identity_provider (id, enabled, description, domain_id, authorization_ttl) VALUES ('idp2', ?, NULL, 'dom1', NULL)`, true)
	// a trust u-local -> u-fed on p1, expiring, with uses left and two roles
	f.exec(t, `INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, expires_at_int, remaining_uses, redelegation_count)
		VALUES ('tr1', 'u-local', 'u-fed', 'p1', ?, '2030-01-02 03:04:05', 1893553445123456, 3, 0)`, true)
	f.exec(t, `INSERT INTO trust_role (trust_id, role_id) VALUES ('tr1', 'r-reader'), ('tr1', 'r-member')`)
	// application credentials: ac1 with two roles and an access rule, ac2
	// unrestricted without either
	f.exec(t, `INSERT INTO application_credential (internal_id, id, name, secret_hash, user_id, project_id, unrestricted)
		VALUES (7, 'ac1', 'ci', 'x', 'u-local', 'p1', ?), (8, 'ac2', 'ops', 'x', 'u-local', NULL, ?)`, false, true)
	f.exec(t, `INSERT INTO application_credential_role (application_credential_id, role_id) VALUES (7, 'r-member'), (7, 'r-reader')`)
	f.exec(t, `INSERT INTO access_rule (id, service, path, method, external_id, user_id) VALUES (3, 'compute', '/v2.1/servers', 'GET', 'rule-ext-1', 'u-local')`)
	f.exec(t, `INSERT INTO application_credential_access_rule (application_credential_id, access_rule_id) VALUES (7, 3)`)
	f.exec(t, `INSERT INTO mapping (id, rules) VALUES ('map1', '[]')`)
	f.exec(t, `INSERT INTO federation_protocol (id, idp_id, mapping_id) VALUES ('openid', 'idp1', 'map1')`)
	f.exec(t, `INSERT INTO federation_protocol (id, idp_id, mapping_id) VALUES ('openid', 'idp2', 'map1')`)
	fed := func(id int, userID, idp, unique string, display any) {
		f.exec(t, `INSERT INTO federated_user (id, user_id, idp_id, protocol_id, unique_id, display_name) VALUES (?, ?, ?, 'openid', ?, ?)`,
			id, userID, idp, unique, display)
	}
	// u-fed's name is the display name of its federated row with the
	// lowest id, whatever the insertion order.
	fed(20, "u-fed", "idp1", "fed-a", "second")
	fed(10, "u-fed", "idp2", "fed-b", "first")
	fed(30, "u-fed", "idp1", "fed-c", nil)
	fed(40, "u-both", "idp1", "fed-d", "fed-frank")

	// --- groups and memberships
	for _, g := range []string{"g1", "g2", "g3", "g4"} {
		f.exec(t, `INSERT INTO `+group+` (id, domain_id, name, description, extra) VALUES (?, 'dom1', ?, NULL, '{}')`, g, "group "+g)
	}
	member := func(userID, groupID string) {
		f.exec(t, `INSERT INTO user_group_membership (user_id, group_id) VALUES (?, ?)`, userID, groupID)
	}
	expiring := func(userID, groupID, idp, verified string) {
		f.exec(t, `INSERT INTO expiring_user_group_membership (user_id, group_id, idp_id, last_verified) VALUES (?, ?, ?, ?)`,
			userID, groupID, idp, verified)
	}
	member("u-local", "g1")
	member("u-local", "g2")
	expiring("u-local", "g2", "idp1", "2024-05-05 05:05:05") // g2 held both ways
	expiring("u-local", "g3", "idp2", "2024-05-06 06:06:06")
	expiring("u-fed", "g3", "idp1", "2024-05-07 07:07:07")
	member("u-other", "g4")

	// --- roles
	role := func(id, name, dom string, desc any, extra string) {
		f.exec(t, `INSERT INTO role (id, name, extra, domain_id, description) VALUES (?, ?, ?, ?, ?)`, id, name, extra, dom, desc)
	}
	role("r-admin", "admin", "<<null>>", nil, "{}")
	role("r-member", "member", "<<null>>", nil, "{}")
	role("r-reader", "reader", "<<null>>", nil, "{}")
	role("r-dom", "domrole", "dom1", nil, "{}")
	role("r-extra", "extra-role", "<<null>>", "An extra role", `{"colour": "blue", "n": 3}`)
	f.exec(t, `INSERT INTO role_option (role_id, option_id, option_value) VALUES ('r-extra', 'IMMU', 'true')`)
	f.exec(t, `INSERT INTO role_option (role_id, option_id, option_value) VALUES ('r-extra', 'ZZZZ', '"ignored"')`)
	implied := func(prior, implied string) {
		f.exec(t, `INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES (?, ?)`, prior, implied)
	}
	implied("r-admin", "r-member")
	implied("r-member", "r-reader")
	implied("r-admin", "r-dom")

	for _, a := range allAssignments {
		f.exec(t, `INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, a.Inherited)
	}
	for _, a := range allSystemAssignments {
		f.exec(t, `INSERT INTO system_assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, a.Inherited)
	}

	// --- revocation events; access_token_id (stored, never compared)
	// names each event for the assertions.
	for _, e := range allEvents {
		f.exec(t, `INSERT INTO revocation_event (domain_id, project_id, user_id, role_id, trust_id, consumer_id, access_token_id,
			issued_before, expires_at, revoked_at, audit_id, audit_chain_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			null(e.DomainID), null(e.ProjectID), null(e.UserID), null(e.RoleID), null(e.TrustID), null(e.ConsumerID), e.AccessTokenID,
			sqldialect.DateTime(e.IssuedBefore), nullTime(e.ExpiresAt), sqldialect.DateTime(e.RevokedAt), null(e.AuditID), null(e.AuditChainID))
	}
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return sqldialect.DateTime(*t)
}

func asg(typ, actor, target, role string, inherited bool) keystone.Assignment {
	names := map[string]string{"r-admin": "admin", "r-member": "member", "r-reader": "reader", "r-dom": "domrole"}
	a := keystone.Assignment{Type: typ, ActorID: actor, TargetID: target, RoleID: role, Inherited: inherited, RoleName: names[role]}
	if role == "r-dom" {
		a.RoleDomainID = "dom1"
	}
	return a
}

var allAssignments = []keystone.Assignment{
	asg("UserProject", "u-local", "p1", "r-member", false),
	asg("UserProject", "u-local", "p2", "r-reader", false),
	asg("UserProject", "u-local", "p3", "r-admin", false),
	asg("UserDomain", "u-local", "dom1", "r-admin", false),
	asg("UserDomain", "u-local", "dom1", "r-reader", true),
	asg("GroupProject", "g1", "p1", "r-reader", false), // regular membership
	asg("GroupProject", "g3", "p1", "r-admin", false),  // expiring membership only
	asg("GroupProject", "g2", "p1", "r-dom", false),    // both kinds of membership
	asg("GroupDomain", "g2", "dom1", "r-member", true),
	asg("GroupProject", "g4", "p1", "r-member", false), // a group u-local is not in
	asg("UserProject", "u-other", "p1", "r-admin", false),
	asg("GroupProject", "g3", "p3", "r-member", true), // inherited, through an expiring membership
	asg("UserProject", "u-local", "k1", "r-reader", true),
	asg("UserDomain", "u-other", "dom1", "r-member", false),
}

var allSystemAssignments = []keystone.Assignment{
	asg("UserSystem", "u-local", "system", "r-admin", false),
	asg("GroupSystem", "g1", "system", "r-reader", false),
	asg("UserSystem", "u-other", "system", "r-member", false),
}

var (
	fresh   = at("2024-06-01 12:00:00")
	revoked = at("2024-06-01 12:00:05")
)

var allEvents = []keystone.RevocationEvent{
	{AccessTokenID: "e-user", UserID: "u-local", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-other-user", UserID: "u-other", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-project", ProjectID: "p1", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-other-project", ProjectID: "p2", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-audit", AuditID: "aud-1", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-other-audit", AuditID: "aud-2", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-user-project", UserID: "u-local", ProjectID: "p1", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-user-other-project", UserID: "u-local", ProjectID: "p2", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-domain", DomainID: "dom1", RoleID: "r-admin", ExpiresAt: ptr(at("2024-06-02 00:00:00")), IssuedBefore: fresh, RevokedAt: revoked},
	// trust_id is not part of the query: the caller compares it.
	{AccessTokenID: "e-trust", TrustID: "t1", ConsumerID: "c1", AuditChainID: "chain-1", IssuedBefore: fresh, RevokedAt: revoked},
	{AccessTokenID: "e-old", UserID: "u-local", IssuedBefore: at("2024-01-01 00:00:00"), RevokedAt: at("2024-01-01 00:00:00")},
}

func TestReader(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		f := &fixture{b: b, r: store.NewReader(b.DB)}
		seed(t, f)
		t.Run("GetUser", func(t *testing.T) { testGetUser(t, f) })
		t.Run("ListMemberships", func(t *testing.T) { testListMemberships(t, f) })
		t.Run("GetProjects", func(t *testing.T) { testGetProjects(t, f) })
		t.Run("ProjectLineage", func(t *testing.T) { testProjectLineage(t, f) })
		t.Run("UserAssignments", func(t *testing.T) { testUserAssignments(t, f) })
		t.Run("Assignments", func(t *testing.T) { testAssignments(t, f) })
		t.Run("SystemAssignments", func(t *testing.T) { testSystemAssignments(t, f) })
		t.Run("ImpliedRoles", func(t *testing.T) { testImpliedRoles(t, f) })
		t.Run("GetRoles", func(t *testing.T) { testGetRoles(t, f) })
		t.Run("RevocationEvents", func(t *testing.T) { testRevocationEvents(t, f) })
		t.Run("GetAppCred", func(t *testing.T) { testGetAppCred(t, f) })
		t.Run("Prefetch", func(t *testing.T) { testPrefetch(t, f) })
		t.Run("Prefetch round trips", func(t *testing.T) { testPrefetchQueries(t, f) })
		// The cases above went through prepared statements on MySQL,
		// MariaDB and PostgreSQL (bounded in number), through bun's
		// formatter on SQLite.
		t.Run("prepared statements", func(t *testing.T) {
			if _, err := f.r.GetUser(context.Background(), "u-local"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.r.Prefetch(context.Background(), token.PrefetchQuery{UserID: "u-local", ProjectID: "p1"}); err != nil {
				t.Fatal(err)
			}
			n := store.PreparedStatements(f.r)
			prepares := b.Dialect == store.MySQL || b.Dialect == store.Postgres
			if prepares && (n == 0 || n > 128) {
				t.Fatalf("%d statements prepared on %s, want 1-128", n, b.Name)
			}
			if !prepares && n != 0 {
				t.Fatalf("%d statements prepared on %s, want none", n, b.Name)
			}
			// Prefetch's statements went as one combined statement.
			combined := 0
			for _, q := range store.PreparedSQL(f.r) {
				if strings.HasPrefix(q, "SELECT 0, ") && strings.Contains(q, "SELECT 2, ") {
					combined++
				}
			}
			if b.Dialect == store.MySQL && combined == 0 {
				t.Fatalf("no combined statement prepared on MySQL: %q", store.PreparedSQL(f.r))
			}
		})
	})
}

func testGetUser(t *testing.T, f *fixture) {
	d1, d2 := dom1, dom2
	for _, tc := range []struct {
		name string
		id   string
		want *keystone.User
	}{
		{name: "local user with password history and option 1004", id: "u-local", want: &keystone.User{
			ID: "u-local", Name: "alice", DomainID: "dom1", Enabled: true,
			CreatedAt: ptr(at("2024-01-02 03:04:05")), LastActiveAt: ptr(at("2024-02-03")),
			PasswordExpiresAt: ptr(at("2024-09-01 10:11:12.123456")),
			IgnoreInactivity:  true, Domain: &d1}},
		{name: "legacy password columns and option 1004 false", id: "u-legacy", want: &keystone.User{
			ID: "u-legacy", Name: "carol", DomainID: "dom1", Enabled: false,
			PasswordExpiresAt: ptr(at("2023-07-01 00:00:00")), Domain: &d1}},
		{name: "current password without expiry", id: "u-noexp", want: &keystone.User{
			ID: "u-noexp", Name: "dave", DomainID: "dom1", Enabled: true,
			CreatedAt: ptr(at("2024-01-02 03:04:05")), Domain: &d1}},
		{name: "nonlocal user, enabled NULL", id: "u-nonlocal", want: &keystone.User{
			ID: "u-nonlocal", Name: "erin-ldap", DomainID: "dom2", Enabled: false,
			CreatedAt: ptr(at("2024-01-02 03:04:05")), Domain: &d2}},
		{name: "federated user with several federated rows", id: "u-fed", want: &keystone.User{
			ID: "u-fed", Name: "first", DomainID: "dom1", Enabled: true,
			CreatedAt: ptr(at("2024-01-02 03:04:05")), Domain: &d1}},
		{name: "local name wins over federated display name", id: "u-both", want: &keystone.User{
			ID: "u-both", Name: "frank", DomainID: "dom1", Enabled: true, Domain: &d1}},
		{name: "domain row missing", id: "u-orphan", want: &keystone.User{
			ID: "u-orphan", DomainID: "gone", Enabled: true}},
		{name: "missing user", id: "u-nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.GetUser(context.Background(), tc.id)
			if tc.want == nil {
				if !errors.Is(err, token.ErrNotFound) {
					t.Fatalf("got %+v, %v; want token.ErrNotFound", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %s\nwant %s", showUser(got), showUser(tc.want))
			}
		})
	}
}

func showUser(u *keystone.User) string {
	if u == nil {
		return "<nil>"
	}
	tm := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{ID:%s Name:%q DomainID:%s Enabled:%v CreatedAt:%s LastActiveAt:%s PasswordExpiresAt:%s IgnoreInactivity:%v Domain:%+v}",
		u.ID, u.Name, u.DomainID, u.Enabled, tm(u.CreatedAt), tm(u.LastActiveAt), tm(u.PasswordExpiresAt), u.IgnoreInactivity, u.Domain)
}

func sortMemberships(ms []keystone.Membership) []keystone.Membership {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b keystone.Membership) int {
		if c := cmp.Compare(a.GroupID, b.GroupID); c != 0 {
			return c
		}
		return cmp.Compare(fmt.Sprint(a.Expiring), fmt.Sprint(b.Expiring))
	})
	return ms
}

func testListMemberships(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name string
		user string
		want []keystone.Membership
	}{
		{name: "regular and expiring with the IdP's TTL", user: "u-local", want: []keystone.Membership{
			{GroupID: "g1"},
			{GroupID: "g2"},
			{GroupID: "g2", Expiring: true, LastVerified: at("2024-05-05 05:05:05"), IdPTTLMinutes: ptr(30)},
			{GroupID: "g3", Expiring: true, LastVerified: at("2024-05-06 06:06:06")},
		}},
		{name: "expiring only", user: "u-fed", want: []keystone.Membership{
			{GroupID: "g3", Expiring: true, LastVerified: at("2024-05-07 07:07:07"), IdPTTLMinutes: ptr(30)},
		}},
		{name: "no memberships", user: "u-nonlocal"},
		{name: "missing user", user: "u-nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.ListMemberships(context.Background(), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := sortMemberships(got), sortMemberships(tc.want); !reflect.DeepEqual(g, w) && (len(g) != 0 || len(w) != 0) {
				t.Errorf("got  %s\nwant %s", showMemberships(g), showMemberships(w))
			}
		})
	}
}

func showMemberships(ms []keystone.Membership) string {
	s := "["
	for _, m := range ms {
		ttl := "nil"
		if m.IdPTTLMinutes != nil {
			ttl = fmt.Sprint(*m.IdPTTLMinutes)
		}
		s += fmt.Sprintf("{%s expiring:%v verified:%s ttl:%s} ", m.GroupID, m.Expiring, m.LastVerified.Format(time.RFC3339Nano), ttl)
	}
	return s + "]"
}

func testGetProjects(t *testing.T, f *fixture) {
	d1, p1 := dom1, chainProject(1)
	got, err := f.r.GetProjects(context.Background(), "dom1", "p1", "p1", "", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]*keystone.Project{"dom1": &d1, "p1": &p1}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func testProjectLineage(t *testing.T, f *fixture) {
	chain := func(depth int) []keystone.Project {
		var out []keystone.Project
		for i := depth; i >= 1; i-- {
			out = append(out, chainProject(i))
		}
		return append(out, dom1)
	}
	ring := func(ids ...string) []keystone.Project {
		var out []keystone.Project
		for _, id := range ids {
			p := keystone.Project{ID: id, DomainID: "dom1", Enabled: true}
			switch id[0] {
			case 'c':
				p.Name = "cycle " + id[1:]
				p.ParentID = map[string]string{"c1": "c2", "c2": "c1"}[id]
			case 'k':
				p.Name = "ring " + id[1:]
				p.ParentID = map[string]string{"k1": "k4", "k2": "k1", "k3": "k2", "k4": "k3"}[id]
			}
			out = append(out, p)
		}
		return out
	}
	tests := []struct {
		name    string
		project string
		want    []keystone.Project
	}{
		{name: "domain", project: "dom1", want: []keystone.Project{dom1}},
	}
	for depth := 1; depth <= 6; depth++ {
		tests = append(tests, struct {
			name    string
			project string
			want    []keystone.Project
		}{name: fmt.Sprintf("depth %d", depth), project: fmt.Sprintf("p%d", depth), want: chain(depth)})
	}
	tests = append(tests, []struct {
		name    string
		project string
		want    []keystone.Project
	}{
		{name: "two-cycle", project: "c1", want: ring("c1", "c2")},
		{name: "four-cycle", project: "k1", want: ring("k1", "k4", "k3", "k2")},
		{name: "four-cycle from another member", project: "k3", want: ring("k3", "k2", "k1", "k4")},
		{name: "own parent", project: "s1", want: []keystone.Project{{ID: "s1", Name: "self", DomainID: "dom1", ParentID: "s1"}}},
		{name: "missing project", project: "nope"},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.ProjectLineage(context.Background(), tc.project)
			if err != nil {
				t.Fatal(err)
			}
			if g := derefProjects(got); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

func derefProjects(ps []*keystone.Project) []keystone.Project {
	var out []keystone.Project
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

// assignmentSet is a multiset of rows; the Reader may return a row more
// than once (a group held through both kinds of membership).
func assignmentSet(as []keystone.Assignment) map[keystone.Assignment]bool {
	out := map[keystone.Assignment]bool{}
	for _, a := range as {
		out[a] = true
	}
	return out
}

func checkAssignments(t *testing.T, got, want []keystone.Assignment) {
	t.Helper()
	g, w := assignmentSet(got), assignmentSet(want)
	for a := range g {
		if !w[a] {
			t.Errorf("unexpected %+v", a)
		}
	}
	for a := range w {
		if !g[a] {
			t.Errorf("missing %+v", a)
		}
	}
}

func pick(from []keystone.Assignment, keep func(keystone.Assignment) bool) []keystone.Assignment {
	var out []keystone.Assignment
	for _, a := range from {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

func testUserAssignments(t *testing.T, f *fixture) {
	in := func(vals ...string) func(string) bool {
		return func(s string) bool { return slices.Contains(vals, s) }
	}
	for _, tc := range []struct {
		name    string
		user    string
		targets []string
		want    []keystone.Assignment
	}{
		{name: "direct, regular group, expiring group, group held both ways", user: "u-local", targets: []string{"p1", "dom1"},
			want: pick(allAssignments, func(a keystone.Assignment) bool {
				return in("u-local", "g1", "g2", "g3")(a.ActorID) && in("p1", "dom1")(a.TargetID)
			})},
		{name: "one target", user: "u-local", targets: []string{"p2"},
			want: []keystone.Assignment{asg("UserProject", "u-local", "p2", "r-reader", false)}},
		{name: "duplicate and empty target ids", user: "u-local", targets: []string{"p2", "", "p2"},
			want: []keystone.Assignment{asg("UserProject", "u-local", "p2", "r-reader", false)}},
		{name: "via expiring membership only", user: "u-fed", targets: []string{"p1", "dom1"},
			want: []keystone.Assignment{asg("GroupProject", "g3", "p1", "r-admin", false)}},
		{name: "target outside the list", user: "u-local", targets: []string{"p5"}},
		{name: "no targets", user: "u-local"},
		{name: "missing user", user: "u-nobody", targets: []string{"p1", "dom1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.UserAssignments(context.Background(), tc.user, tc.targets)
			if err != nil {
				t.Fatal(err)
			}
			checkAssignments(t, got, tc.want)
		})
	}
	t.Run("group held both ways is returned", func(t *testing.T) {
		got, err := f.r.UserAssignments(context.Background(), "u-local", []string{"p1"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range got {
			if a.ActorID == "g2" {
				n++
			}
		}
		if n < 1 || n > 2 {
			t.Errorf("g2's row returned %d times, want 1 or 2", n)
		}
	})
}

func testAssignments(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name            string
		actors, targets []string
		want            []keystone.Assignment
	}{
		{name: "user and group on a project", actors: []string{"u-local", "g1"}, targets: []string{"p1"}, want: []keystone.Assignment{
			asg("UserProject", "u-local", "p1", "r-member", false),
			asg("GroupProject", "g1", "p1", "r-reader", false)}},
		{name: "inherited and domain-specific role", actors: []string{"u-local", "g2"}, targets: []string{"dom1", "p1"}, want: []keystone.Assignment{
			asg("UserProject", "u-local", "p1", "r-member", false),
			asg("UserDomain", "u-local", "dom1", "r-admin", false),
			asg("UserDomain", "u-local", "dom1", "r-reader", true),
			asg("GroupProject", "g2", "p1", "r-dom", false),
			asg("GroupDomain", "g2", "dom1", "r-member", true)}},
		{name: "actor without rows", actors: []string{"g4"}, targets: []string{"dom1"}},
		// Three actors and targets: a padded IN list when prepared.
		{name: "lists of three", actors: []string{"g4", "g1", "u-local"}, targets: []string{"p1", "nope", "p2"}, want: []keystone.Assignment{
			asg("UserProject", "u-local", "p1", "r-member", false),
			asg("UserProject", "u-local", "p2", "r-reader", false),
			asg("GroupProject", "g1", "p1", "r-reader", false),
			asg("GroupProject", "g4", "p1", "r-member", false)}},
		// More actors than a prepared IN list holds: sent as text.
		{name: "forty actors", actors: append(manyIDs("nobody-", 39), "g1"), targets: []string{"p1"}, want: []keystone.Assignment{
			asg("GroupProject", "g1", "p1", "r-reader", false)}},
		{name: "no actors", targets: []string{"p1"}},
		{name: "no targets", actors: []string{"u-local"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.Assignments(context.Background(), tc.actors, tc.targets)
			if err != nil {
				t.Fatal(err)
			}
			checkAssignments(t, got, tc.want)
		})
	}
}

func manyIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func testSystemAssignments(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name   string
		actors []string
		want   []keystone.Assignment
	}{
		{name: "user and group", actors: []string{"u-local", "g1", "g2"}, want: allSystemAssignments[:2]},
		{name: "other user", actors: []string{"u-other"}, want: allSystemAssignments[2:]},
		{name: "none", actors: []string{"u-fed"}},
		{name: "no actors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.SystemAssignments(context.Background(), tc.actors)
			if err != nil {
				t.Fatal(err)
			}
			checkAssignments(t, got, tc.want)
		})
	}
}

func sortImplied(is []keystone.Implied) []keystone.Implied {
	is = slices.Clone(is)
	slices.SortFunc(is, func(a, b keystone.Implied) int {
		return cmp.Or(cmp.Compare(a.PriorID, b.PriorID), cmp.Compare(a.ImpliedID, b.ImpliedID))
	})
	return is
}

func testImpliedRoles(t *testing.T, f *fixture) {
	got, err := f.r.ImpliedRoles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []keystone.Implied{
		{PriorID: "r-admin", ImpliedID: "r-dom", ImpliedName: "domrole", ImpliedDomID: "dom1"},
		{PriorID: "r-admin", ImpliedID: "r-member", ImpliedName: "member"},
		{PriorID: "r-member", ImpliedID: "r-reader", ImpliedName: "reader"},
	}
	if g := sortImplied(got); !reflect.DeepEqual(g, want) {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}
}

func testGetRoles(t *testing.T, f *fixture) {
	type role struct {
		name, domain string
		desc         *string
		extra, opts  string
	}
	for _, tc := range []struct {
		name string
		ids  []string
		want map[string]role
	}{
		{name: "global, domain-specific, with options, missing", ids: []string{"r-extra", "r-member", "r-dom", "nope", "", "r-member"}, want: map[string]role{
			"r-extra":  {name: "extra-role", desc: ptr("An extra role"), extra: `{"colour": "blue", "n": 3}`, opts: `{"immutable": true}`},
			"r-member": {name: "member", extra: `{}`, opts: `{}`},
			"r-dom":    {name: "domrole", domain: "dom1", extra: `{}`, opts: `{}`},
		}},
		{name: "none", ids: nil, want: map[string]role{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.GetRoles(context.Background(), tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			g := map[string]role{}
			for id, r := range got {
				if r.ID != id {
					t.Errorf("role %s under key %s", r.ID, id)
				}
				g[id] = role{name: r.Name, domain: r.DomainID, desc: r.Description,
					extra: string(pyjson.Marshal(r.Extra)), opts: string(pyjson.Marshal(r.Options))}
			}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

// eventsByName returns the seeded events with these access_token_ids.
func eventsByName(names ...string) []keystone.RevocationEvent {
	var out []keystone.RevocationEvent
	for _, e := range allEvents {
		if slices.Contains(names, e.AccessTokenID) {
			out = append(out, e)
		}
	}
	return out
}

func sortEvents(es []keystone.RevocationEvent) []keystone.RevocationEvent {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b keystone.RevocationEvent) int { return cmp.Compare(a.AccessTokenID, b.AccessTokenID) })
	return es
}

func eventNames(es []keystone.RevocationEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.AccessTokenID)
	}
	return out
}

func testRevocationEvents(t *testing.T, f *fixture) {
	issued := at("2024-06-01 11:00:00")
	always := []string{"e-domain", "e-trust"} // user, project and audit all NULL
	for _, tc := range []struct {
		name string
		q    token.RevocationQuery
		want []string
	}{
		{name: "user, project and audit", q: token.RevocationQuery{IssuedAt: issued, UserIDs: []string{"u-local"}, ProjectID: "p1", AuditID: "aud-1"},
			want: append([]string{"e-user", "e-project", "e-audit", "e-user-project"}, always...)},
		{name: "trustor and trustee", q: token.RevocationQuery{IssuedAt: issued, UserIDs: []string{"u-local", "u-other", ""}},
			want: append([]string{"e-user", "e-other-user"}, always...)},
		{name: "other project", q: token.RevocationQuery{IssuedAt: issued, UserIDs: []string{"u-local"}, ProjectID: "p2"},
			want: append([]string{"e-user", "e-other-project", "e-user-other-project"}, always...)},
		{name: "other audit id", q: token.RevocationQuery{IssuedAt: issued, UserIDs: []string{"u-fed"}, AuditID: "aud-2"},
			want: append([]string{"e-other-audit"}, always...)},
		{name: "nothing but issued_at", q: token.RevocationQuery{IssuedAt: issued}, want: always},
		{name: "issued in the event's second", q: token.RevocationQuery{IssuedAt: fresh, UserIDs: []string{"u-local"}},
			want: append([]string{"e-user"}, always...)},
		{name: "issued after every event", q: token.RevocationQuery{IssuedAt: fresh.Add(time.Second), UserIDs: []string{"u-local"}, ProjectID: "p1", AuditID: "aud-1"}},
		{name: "issued before the old event too", q: token.RevocationQuery{IssuedAt: at("2023-12-31 23:59:59"), UserIDs: []string{"u-local"}},
			want: append([]string{"e-user", "e-old"}, always...)},
		{name: "local time zone of issued_at", q: token.RevocationQuery{IssuedAt: fresh.In(time.FixedZone("X", 3*3600)), UserIDs: []string{"u-local"}},
			want: append([]string{"e-user"}, always...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.RevocationEvents(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			g, w := sortEvents(got), sortEvents(eventsByName(tc.want...))
			if len(g) != len(w) || (len(g) > 0 && !reflect.DeepEqual(g, w)) {
				t.Errorf("got  %v\nwant %v", eventNames(g), eventNames(w))
				if len(g) == len(w) {
					t.Errorf("got  %+v\nwant %+v", g, w)
				}
			}
		})
	}
}

func testGetAppCred(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		want *keystone.AppCred
	}{
		{id: "ac1", want: &keystone.AppCred{ID: "ac1", Name: "ci", UserID: "u-local", ProjectID: "p1", RoleIDs: []string{"r-member", "r-reader"},
			AccessRules: []keystone.AccessRule{{ID: "rule-ext-1", Service: "compute", Path: "/v2.1/servers", Method: "GET"}}}},
		{id: "ac2", want: &keystone.AppCred{ID: "ac2", Name: "ops", UserID: "u-local", Unrestricted: true}},
		{id: "nope"},
	} {
		got, err := f.r.GetAppCred(ctx, tc.id)
		if tc.want == nil {
			if !errors.Is(err, token.ErrNotFound) {
				t.Errorf("%s: %+v, %v; want ErrNotFound", tc.id, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.id, got, tc.want)
		}
	}
}

// checkTrustPrefetch compares what Prefetch read for q.Trust with the
// individual lookups.
func checkTrustPrefetch(t *testing.T, f *fixture, q token.PrefetchQuery, got *token.Prefetched) {
	t.Helper()
	ctx := context.Background()
	tq := q.Trust
	if tq == nil {
		if got.Trust != nil || got.Trustor != nil || got.TrustorMemberships != nil || got.TrustorAssignments != nil {
			t.Errorf("trust data without being asked: %+v", got)
		}
		return
	}
	want, err := f.r.GetTrust(ctx, tq.ID)
	if errors.Is(err, token.ErrNotFound) {
		want = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Trust, want) {
		t.Errorf("Trust: got %+v, want %+v", got.Trust, want)
	}
	if tq.TrustorID == "" {
		if got.Trustor != nil || got.TrustorMemberships != nil || got.TrustorAssignments != nil {
			t.Errorf("trustor data without a trustor hint: %+v", got)
		}
		return
	}
	wantUser, err := f.r.GetUser(ctx, tq.TrustorID)
	if errors.Is(err, token.ErrNotFound) {
		wantUser = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if wantUser != nil && !q.UserInactivity {
		u := *wantUser
		u.IgnoreInactivity = false
		wantUser = &u
	}
	if !reflect.DeepEqual(got.Trustor, wantUser) {
		t.Errorf("Trustor: got %s, want %s", showUser(got.Trustor), showUser(wantUser))
	}
	wantMs, err := f.r.ListMemberships(ctx, tq.TrustorID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sortMemberships(got.TrustorMemberships), sortMemberships(wantMs); len(g)+len(w) > 0 && !reflect.DeepEqual(g, w) {
		t.Errorf("TrustorMemberships: got %s, want %s", showMemberships(g), showMemberships(w))
	}
	wantRows, err := f.r.UserAssignments(ctx, tq.TrustorID, tq.TrustorTargets)
	if err != nil {
		t.Fatal(err)
	}
	checkAssignments(t, got.TrustorAssignments, wantRows)
}

// testPrefetchQueries counts the queries a first round sends
// (Reader.Queries, the keystone_ng_db_queries_total metric): on MySQL,
// MariaDB and PostgreSQL the hints of a previous validation make it one
// query; on SQLite
// every statement is its own query, and a hint moves a statement that
// would follow the round into it without adding any.
func testPrefetchQueries(t *testing.T, f *fixture) {
	ctx := context.Background()
	rq := token.RevocationQuery{IssuedAt: at("2024-06-01 11:00:00"), UserIDs: []string{"u-nonlocal"}, ProjectID: "p1"}
	hint := &token.AssignmentHint{Actors: []string{"u-local", "g1"}, Targets: []string{"p1", "dom1"}}
	count := func(q token.PrefetchQuery) uint64 {
		t.Helper()
		before := f.r.Queries()
		if _, err := f.r.Prefetch(ctx, q); err != nil {
			t.Fatal(err)
		}
		return f.r.Queries() - before
	}
	local := count(token.PrefetchQuery{UserID: "u-local", ProjectID: "p1", Revocation: &rq})
	hinted := count(token.PrefetchQuery{UserID: "u-local", ProjectID: "p1", Revocation: &rq, AssignmentHint: hint})
	nonLocal := count(token.PrefetchQuery{UserID: "u-nonlocal", ProjectID: "p1", Revocation: &rq})
	named := count(token.PrefetchQuery{UserID: "u-nonlocal", ProjectID: "p1", Revocation: &rq, UserNames: true})
	t.Logf("%s: queries local %d, hinted %d, non-local %d, non-local with names %d", f.b.Name, local, hinted, nonLocal, named)
	if f.b.Dialect == store.MySQL || f.b.Dialect == store.Postgres {
		if local != 1 || hinted != 1 || nonLocal != 2 || named != 1 {
			t.Errorf("queries: local %d, hinted %d, non-local %d, non-local with names %d; want 1, 1, 2, 1", local, hinted, nonLocal, named)
		}
		return
	}
	if hinted != local+1 || nonLocal != local+1 || named != nonLocal {
		t.Errorf("queries: local %d, hinted %d, non-local %d, non-local with names %d; want n, n+1, n+1, n+1", local, hinted, nonLocal, named)
	}
}

// prefetchCase is a first round to read and what it is about.
type prefetchCase struct {
	name string
	q    token.PrefetchQuery
}

// prefetchCases are the first rounds of every kind of token the seeded
// data has (testPrefetch, and batched at once in TestBatchedPrefetch).
func prefetchCases() []prefetchCase {
	rq := token.RevocationQuery{IssuedAt: at("2024-06-01 11:00:00"), UserIDs: []string{"u-local"}, ProjectID: "p6", AuditID: "aud-1"}
	return []prefetchCase{
		{name: "project scope with a deep tree", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p6", Revocation: &rq}},
		{name: "project scope in a cycle", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "k2"}},
		{name: "domain scope with assignments", q: token.PrefetchQuery{UserID: "u-local", DomainID: "dom1", DomainAssignments: true, Revocation: &rq}},
		{name: "domain scope without assignments", q: token.PrefetchQuery{UserID: "u-fed", DomainID: "dom1"}},
		{name: "everything", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p3", DomainID: "dom1", DomainAssignments: true, Revocation: &rq}},
		{name: "unscoped", q: token.PrefetchQuery{UserID: "u-nonlocal"}},
		{name: "missing user, project and domain", q: token.PrefetchQuery{UserID: "u-nobody", ProjectID: "nope", DomainID: "nope", DomainAssignments: true}},
		// A project token's hinted assignments come with the first round.
		{name: "assignment hint", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p1", Revocation: &rq,
			AssignmentHint: &token.AssignmentHint{Actors: []string{"u-local", "g1", "g3"}, Targets: []string{"p1", "dom1"}}}},
		{name: "assignment hint with repeated and empty ids", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p3",
			AssignmentHint: &token.AssignmentHint{Actors: []string{"u-local", "", "g2", "g2", "g4"}, Targets: []string{"p3", "p2", "p3", "", "p1", "dom1"}}}},
		{name: "assignment hint without targets", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p1",
			AssignmentHint: &token.AssignmentHint{Actors: []string{"u-local"}}}},
		// The user forms: slim (names of users without local_user read
		// in a second statement) and full (with option 1004).
		{name: "inactivity option asked for", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p1", UserInactivity: true}},
		{name: "federated user with the option asked for", q: token.PrefetchQuery{UserID: "u-fed", UserInactivity: true}},
		{name: "local and federated user", q: token.PrefetchQuery{UserID: "u-both"}},
		{name: "legacy password columns", q: token.PrefetchQuery{UserID: "u-legacy"}},
		{name: "user whose domain row is missing", q: token.PrefetchQuery{UserID: "u-orphan"}},
		// Names of users without a local_user row read with the first
		// round (the hint of a previous validation), or asked for a user
		// who has one after all.
		{name: "nonlocal user's names with the first round", q: token.PrefetchQuery{UserID: "u-nonlocal", ProjectID: "p1", UserNames: true, Revocation: &rq}},
		{name: "federated user's names with the first round", q: token.PrefetchQuery{UserID: "u-fed", UserNames: true}},
		{name: "names asked for a local user", q: token.PrefetchQuery{UserID: "u-both", UserNames: true}},
		{name: "names asked for a missing user", q: token.PrefetchQuery{UserID: "u-nobody", UserNames: true}},
		{name: "names and the inactivity option", q: token.PrefetchQuery{UserID: "u-fed", UserNames: true, UserInactivity: true}},
		// What a federated scoped token reads with the first round: its
		// identity provider, the system grants of the user and the mapped
		// groups, the roles of the role hint.
		{name: "federated project token", q: token.PrefetchQuery{UserID: "u-fed", ProjectID: "p1", UserNames: true, Revocation: &rq,
			IdentityProvider: "idp1", SystemActors: []string{"u-fed", "g1", "g3", ""}, Roles: []string{"r-extra", "r-member", "nope", "r-member"},
			AssignmentHint: &token.AssignmentHint{Actors: []string{"u-fed", "g1", "g3"}, Targets: []string{"p1", "dom1"}}}},
		{name: "federated domain token", q: token.PrefetchQuery{UserID: "u-fed", DomainID: "dom1",
			IdentityProvider: "idp2", SystemActors: []string{"u-fed"}, Roles: []string{"r-dom"},
			AssignmentHint: &token.AssignmentHint{Actors: []string{"u-fed", "g3"}, Targets: []string{"dom1"}}}},
		{name: "missing identity provider, no system grants, no roles", q: token.PrefetchQuery{UserID: "u-fed",
			IdentityProvider: "nope", SystemActors: []string{"nobody"}, Roles: []string{"nope"}}},
		// A trust token's trust, and with a hint the trustor's side.
		{name: "trust token", q: token.PrefetchQuery{UserID: "u-fed", ProjectID: "p1", Trust: &token.TrustPrefetch{ID: "tr1"}}},
		{name: "trust token with the trustor hinted", q: token.PrefetchQuery{UserID: "u-fed", ProjectID: "p1", Revocation: &rq,
			Roles: []string{"r-member", "r-reader"},
			Trust: &token.TrustPrefetch{ID: "tr1", TrustorID: "u-local", TrustorTargets: []string{"p1", "dom1"}}}},
		{name: "trust token with the trustor hinted, inactivity option", q: token.PrefetchQuery{UserID: "u-fed", ProjectID: "p1", UserInactivity: true,
			Trust: &token.TrustPrefetch{ID: "tr1", TrustorID: "u-local"}}},
		{name: "non-local trustor", q: token.PrefetchQuery{UserID: "u-local", Trust: &token.TrustPrefetch{ID: "nope", TrustorID: "u-nonlocal"}}},
		{name: "application credential", q: token.PrefetchQuery{UserID: "u-local", ProjectID: "p1", AppCred: "ac1", Roles: []string{"r-member", "r-reader"}}},
		{name: "missing application credential", q: token.PrefetchQuery{UserID: "u-local", AppCred: "nope"}},
		{name: "missing trust and trustor", q: token.PrefetchQuery{UserID: "u-fed", Trust: &token.TrustPrefetch{ID: "nope", TrustorID: "u-nobody", TrustorTargets: []string{"p1"}}}},
	}
}

func testPrefetch(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, tc := range prefetchCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.r.Prefetch(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want := &token.Prefetched{Domains: map[string]*keystone.Project{}}
			if want.User, err = f.r.GetUser(ctx, tc.q.UserID); errors.Is(err, token.ErrNotFound) {
				want.User = nil
			} else if err != nil {
				t.Fatal(err)
			}
			if want.User != nil && !tc.q.UserInactivity {
				// Not asked for: the store may leave it unset.
				u := *want.User
				u.IgnoreInactivity = false
				want.User = &u
			}
			if want.Memberships, err = f.r.ListMemberships(ctx, tc.q.UserID); err != nil {
				t.Fatal(err)
			}
			if want.Implied, err = f.r.ImpliedRoles(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.q.ProjectID != "" {
				if want.Lineage, err = f.r.ProjectLineage(ctx, tc.q.ProjectID); err != nil {
					t.Fatal(err)
				}
			}
			if tc.q.DomainID != "" {
				if want.Domains, err = f.r.GetProjects(ctx, tc.q.DomainID); err != nil {
					t.Fatal(err)
				}
				if tc.q.DomainAssignments {
					if want.Assignments, err = f.r.UserAssignments(ctx, tc.q.UserID, []string{tc.q.DomainID}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if h := tc.q.AssignmentHint; h != nil {
				if want.Assignments, err = f.r.Assignments(ctx, h.Actors, h.Targets); err != nil {
					t.Fatal(err)
				}
			}
			if tc.q.Revocation != nil {
				if want.Events, err = f.r.RevocationEvents(ctx, *tc.q.Revocation); err != nil {
					t.Fatal(err)
				}
			}

			if !reflect.DeepEqual(got.User, want.User) {
				t.Errorf("User: got %s, want %s", showUser(got.User), showUser(want.User))
			}
			if wantNonLocal := want.User != nil && !slices.Contains([]string{"u-local", "u-legacy", "u-noexp", "u-both"}, tc.q.UserID); got.UserNonLocal != wantNonLocal {
				t.Errorf("UserNonLocal = %v, want %v", got.UserNonLocal, wantNonLocal)
			}
			if g, w := sortMemberships(got.Memberships), sortMemberships(want.Memberships); len(g)+len(w) > 0 && !reflect.DeepEqual(g, w) {
				t.Errorf("Memberships: got %s, want %s", showMemberships(g), showMemberships(w))
			}
			if g, w := sortImplied(got.Implied), sortImplied(want.Implied); !reflect.DeepEqual(g, w) {
				t.Errorf("Implied: got %+v, want %+v", g, w)
			}
			if g, w := derefProjects(got.Lineage), derefProjects(want.Lineage); !reflect.DeepEqual(g, w) {
				t.Errorf("Lineage: got %+v, want %+v", g, w)
			}
			if !reflect.DeepEqual(got.Domains, want.Domains) {
				t.Errorf("Domains: got %+v, want %+v", got.Domains, want.Domains)
			}
			checkAssignments(t, got.Assignments, want.Assignments)
			if g, w := sortEvents(got.Events), sortEvents(want.Events); len(g)+len(w) > 0 && !reflect.DeepEqual(g, w) {
				t.Errorf("Events: got %v, want %v", eventNames(g), eventNames(w))
			}
			if tc.q.IdentityProvider != "" {
				want, err := f.r.IdentityProviderExists(ctx, tc.q.IdentityProvider)
				if err != nil {
					t.Fatal(err)
				}
				if got.IdentityProviderExists != want {
					t.Errorf("IdentityProviderExists = %v, want %v", got.IdentityProviderExists, want)
				}
			} else if got.IdentityProviderExists {
				t.Error("IdentityProviderExists without being asked")
			}
			wantSys, err := f.r.SystemAssignments(ctx, tc.q.SystemActors)
			if err != nil {
				t.Fatal(err)
			}
			checkAssignments(t, got.SystemAssignments, wantSys)
			if len(tc.q.Roles) > 0 {
				wantRoles, err := f.r.GetRoles(ctx, tc.q.Roles)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Roles, wantRoles) {
					t.Errorf("Roles: got %+v, want %+v", got.Roles, wantRoles)
				}
			} else if got.Roles != nil {
				t.Errorf("Roles without being asked: %+v", got.Roles)
			}
			checkTrustPrefetch(t, f, tc.q, got)
			if tc.q.AppCred != "" {
				want, err := f.r.GetAppCred(ctx, tc.q.AppCred)
				if errors.Is(err, token.ErrNotFound) {
					want = nil
				} else if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.AppCred, want) {
					t.Errorf("AppCred: got %+v, want %+v", got.AppCred, want)
				}
			} else if got.AppCred != nil {
				t.Errorf("AppCred without being asked: %+v", got.AppCred)
			}
		})
	}
}

// A combination the server will not prepare (here: branches of different
// widths, as a statement that declares its column count wrongly would
// give) is sent one statement at a time, with the same rows, and the
// reader stops combining (on PostgreSQL the miscount is seen before the
// statement is sent). SQLite combines nothing to begin with.
func TestCombinedStatementRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		f := &fixture{b: b, r: store.NewReader(b.DB)}
		seed(t, f)
		for i := range 2 { // the second round starts one by one
			projects, roles, off, err := store.RunMisdeclared(context.Background(), f.r, "p1", "r-member")
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			if !reflect.DeepEqual(projects, []string{"p1"}) || !reflect.DeepEqual(roles, []string{"r-member"}) {
				t.Fatalf("round %d: projects %v, roles %v", i, projects, roles)
			}
			if want := b.Dialect != store.SQLite; off != want {
				t.Fatalf("round %d: combining turned off = %v, want %v", i, off, want)
			}
		}
	})
}

// An error while a combined statement runs (here an invalid regular
// expression, which only the execution sees: MariaDB's error 1139,
// PostgreSQL's 2201B) sends that request's statements one by one, which
// report the error; combining stays on, and the next request goes combined
// again with the right rows.
func TestCombinedStatementFailsWhileRunning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		if b.Dialect == store.SQLite {
			t.Skip("SQLite combines no statements")
		}
		storetest.CreatePythonTables(t, b)
		f := &fixture{b: b, r: store.NewReader(b.DB)}
		seed(t, f)
		ctx := context.Background()
		_, _, off, err := store.RunPattern(ctx, f.r, "(", "r-member")
		var (
			me *mysql.MySQLError
			pe pgdriver.Error
		)
		switch {
		case b.Dialect == store.MySQL && !(errors.As(err, &me) && me.Number == 1139):
			t.Fatalf("err = %v, want MySQL error 1139", err)
		case b.Dialect == store.Postgres && !(errors.As(err, &pe) && pe.Field('C') == "2201B"):
			t.Fatalf("err = %v, want PostgreSQL error 2201B", err)
		}
		if off {
			t.Fatalf("an error while running turned combining off (%T %v)", err, err)
		}
		// The failing request went one by one: its first statement was
		// prepared on its own.
		if !slices.Contains(store.PreparedSQL(f.r), store.PatternSQL(b.DB.Dialect().Name())) {
			t.Fatalf("the statements were not retried one by one: %q", store.PreparedSQL(f.r))
		}
		projects, roles, off, err := store.RunPattern(ctx, f.r, "^ring [12]$", "r-member")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(projects)
		if off || !reflect.DeepEqual(projects, []string{"k1", "k2"}) || !reflect.DeepEqual(roles, []string{"r-member"}) {
			t.Fatalf("projects %v, roles %v, combining off %v", projects, roles, off)
		}
		combined := false
		for _, q := range store.PreparedSQL(f.r) {
			combined = combined || (strings.HasPrefix(q, "SELECT 0, ") && strings.Contains(q, "FROM project WHERE name "))
		}
		if !combined {
			t.Fatalf("the second request did not go combined: %q", store.PreparedSQL(f.r))
		}
	})
}

// Under load, first rounds that wait for the database share statements on
// MySQL/MariaDB (batch.go), and each still reads exactly what it reads
// alone: every kind of round, three times over, interleaved so that shapes
// mix in line, against the same rounds run one after the other. Rounds of
// one shape all waiting go as one statement.
func TestBatchedPrefetch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		f := &fixture{b: b, r: store.NewReader(b.DB)}
		seed(t, f)
		ctx := context.Background()
		probe := store.NewReader(b.DB)
		probe.Limit(config.DBLimits{Statements: 1, Batch: 8}, store.Waits{})
		if _, _, ok := store.HoldBatchSlots(probe); !ok {
			if b.Dialect == store.MySQL {
				t.Fatal("no batching on MySQL")
			}
			t.Skip("only MySQL/MariaDB and PostgreSQL combine, and so batch, statements")
		}

		// newReader has one statement slot and batches of up to eight.
		newReader := func() *store.Reader {
			r := store.NewReader(b.DB)
			r.Limit(config.DBLimits{Statements: 1, Batch: 8}, store.Waits{})
			return r
		}
		// runOn starts every round at once on r with its one statement
		// slot taken, waits until each is either in line or done (a round
		// of a single statement does not batch), lets them go, and returns
		// what each read and how many queries they cost.
		runOn := func(t *testing.T, r *store.Reader, qs []token.PrefetchQuery) ([]*token.Prefetched, uint64) {
			t.Helper()
			queued, release, _ := store.HoldBatchSlots(r)
			got := make([]*token.Prefetched, len(qs))
			errs := make([]error, len(qs))
			var (
				wg       sync.WaitGroup
				finished atomic.Int64
			)
			before := r.Queries()
			for i, q := range qs {
				wg.Go(func() {
					defer finished.Add(1)
					got[i], errs[i] = r.Prefetch(ctx, q)
				})
			}
			for deadline := time.Now().Add(10 * time.Second); queued()+int(finished.Load()) != len(qs); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d rounds in line and %d done of %d", queued(), finished.Load(), len(qs))
				}
			}
			release()
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
			}
			return got, r.Queries() - before
		}
		// run is runOn on a reader of its own.
		run := func(t *testing.T, qs []token.PrefetchQuery) ([]*token.Prefetched, uint64, *store.Reader) {
			t.Helper()
			r := newReader()
			got, queries := runOn(t, r, qs)
			return got, queries, r
		}

		t.Run("every kind of round", func(t *testing.T) {
			cases := prefetchCases()
			const copies = 3
			var qs []token.PrefetchQuery
			for range copies {
				for _, tc := range cases {
					qs = append(qs, tc.q)
				}
			}
			got, queries, r := run(t, qs)
			alone := 0
			for i, tc := range cases {
				before := f.r.Queries()
				want, err := f.r.Prefetch(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				alone += int(f.r.Queries() - before)
				for k := range copies {
					if g := got[k*len(cases)+i]; !reflect.DeepEqual(g, want) {
						t.Errorf("%s (copy %d): batched read\n%+v\nalone\n%+v", tc.name, k, g, want)
					}
				}
			}
			if int(queries) >= copies*alone {
				t.Errorf("%d queries batched, %d for the same rounds alone: nothing was shared", queries, copies*alone)
			}
			// The copies ask for the same rows as the first: each copy
			// that met its original in a batch was handed its rows.
			if _, rounds := r.Batched(); r.Coalesced() == 0 || r.Coalesced() >= rounds {
				t.Errorf("%d of %d batched rounds coalesced", r.Coalesced(), rounds)
			}
			t.Logf("%d rounds: %d queries batched, %d alone", len(qs), queries, copies*alone)
		})

		t.Run("one shape", func(t *testing.T) {
			var qs []token.PrefetchQuery
			for _, u := range []string{"u-local", "u-legacy", "u-noexp", "u-both"} {
				for _, p := range []string{"k2", "p3"} {
					qs = append(qs, token.PrefetchQuery{UserID: u, ProjectID: p})
				}
			}
			got, queries, r := run(t, qs)
			if batches, rounds := r.Batched(); batches != 1 || rounds != 8 {
				t.Errorf("Batched() = %d statements, %d rounds; want 1, 8", batches, rounds)
			}
			alone := 0
			for i, q := range qs {
				before := f.r.Queries()
				want, err := f.r.Prefetch(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				alone += int(f.r.Queries() - before)
				if !reflect.DeepEqual(got[i], want) {
					t.Errorf("%s on %s: batched read\n%+v\nalone\n%+v", q.UserID, q.ProjectID, got[i], want)
				}
			}
			// The eight first rounds went as one statement; what follows
			// them (the rest of a lineage longer than one statement reads)
			// is each round's own.
			if want := alone - (len(qs) - 1); int(queries) != want {
				t.Errorf("%d queries batched, want %d (%d alone)", queries, want, alone)
			}
		})

		// Every pattern of shared branches is one more prepared statement
		// (share.go). On one reader, batches of eight rounds of one shape
		// go through every pattern of u distinct users and p distinct
		// projects (u, p = 1..8: 64 patterns, past maxSharedPrepared):
		// the preparer must stay within its bound, the batches must keep
		// going (as plain batches once sharing ones can no longer be
		// prepared), and every round must still read exactly its own rows.
		// Round 0 of each batch reads a seeded user and project; the others
		// read ids that match nothing, so rows handed to the wrong round
		// show.
		t.Run("past the bounds of sharing", func(t *testing.T) {
			r := newReader()
			users := func(n, k int) string {
				if k%n == 0 {
					return "u-local"
				}
				return fmt.Sprintf("nobody-%d", k%n)
			}
			projects := func(n, k int) string {
				if k%n == 0 {
					return "k2"
				}
				return fmt.Sprintf("nowhere-%d", k%n)
			}
			want := map[[2]string]*token.Prefetched{}
			for nu := 1; nu <= 8; nu++ {
				for np := 1; np <= 8; np++ {
					qs := make([]token.PrefetchQuery, 8)
					for k := range qs {
						qs[k] = token.PrefetchQuery{UserID: users(nu, k), ProjectID: projects(np, k)}
					}
					got, _ := runOn(t, r, qs)
					for k, q := range qs {
						w, ok := want[[2]string{q.UserID, q.ProjectID}]
						if !ok {
							var err error
							if w, err = f.r.Prefetch(ctx, q); err != nil {
								t.Fatal(err)
							}
							want[[2]string{q.UserID, q.ProjectID}] = w
						}
						if !reflect.DeepEqual(got[k], w) {
							t.Fatalf("%d users, %d projects, round %d (%s on %s): batched read\n%+v\nalone\n%+v", nu, np, k, q.UserID, q.ProjectID, got[k], w)
						}
					}
					if n := store.PreparedStatements(r); n > store.MaxPrepared {
						t.Fatalf("after %d users, %d projects: %d statements prepared, bound %d", nu, np, n, store.MaxPrepared)
					}
				}
			}
			if w := want[[2]string{"u-local", "k2"}]; w.User == nil || len(w.Lineage) == 0 {
				t.Fatalf("the seeded round read no user or no project: %+v", w)
			}
			batches, rounds := r.Batched()
			// Every pattern went as one batched statement of its eight
			// rounds, past the sharing bound too (the eight identical
			// rounds of the 1x1 pattern as well, coalesced).
			if batches != 64 || rounds != 64*8 {
				t.Errorf("Batched() = %d statements, %d rounds; want every pattern batched (64, 512)", batches, rounds)
			}
			// Sharing patterns stop being prepared at MaxSharedPrepared;
			// past it the batches go plain (one more statement, eight
			// rounds of every statement), beside the few statements
			// rounds run alone (the rest of a lineage).
			n := store.PreparedStatements(r)
			if n < store.MaxSharedPrepared || n > store.MaxSharedPrepared+4 {
				t.Errorf("%d statements prepared: want the sharing bound (%d) reached and kept", n, store.MaxSharedPrepared)
			}
			t.Logf("64 patterns: %d statements, %d rounds batched, %d coalesced, %d statements prepared", batches, rounds, r.Coalesced(), n)
		})
	})
}

// keystone-ng reads times as text on PostgreSQL (pgdriver's text protocol,
// the combined statements' casts), so its connections ask for the ISO
// DateStyle whatever the database's default says.
func TestPostgresDateStyle(t *testing.T) {
	b := storetest.Open(t, "postgres")
	ctx := context.Background()
	var name string
	if err := b.DB.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DB.ExecContext(ctx, "ALTER DATABASE "+name+" SET DateStyle = 'SQL, DMY'"); err != nil {
		t.Fatal(err)
	}
	target, err := store.ParseURL(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, target, store.PoolOptions{MaxPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var style string
	if err := db.QueryRowContext(ctx, "SHOW DateStyle").Scan(&style); err != nil {
		t.Fatal(err)
	}
	if style != "ISO, MDY" {
		t.Fatalf("DateStyle %q on keystone-ng's connection, want ISO, MDY", style)
	}
	var text string
	if err := db.QueryRowContext(ctx, "SELECT CAST(CAST('2024-01-02 03:04:05.123456' AS timestamp) AS text)").Scan(&text); err != nil {
		t.Fatal(err)
	}
	if _, err := sqldialect.ParseDateTime(text); err != nil {
		t.Fatalf("a time cast to text reads %q: %v", text, err)
	}
}

// keystone-ng's PostgreSQL connections plan prepared statements once
// (store.genericPlans); a server without the setting would refuse the SET,
// and the connection is kept (not testable here: every supported server
// here has it).
func TestPostgresGenericPlans(t *testing.T) {
	b := storetest.Open(t, "postgres")
	var mode string
	if err := b.DB.QueryRowContext(context.Background(), "SHOW plan_cache_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode %q on keystone-ng's connection, want force_generic_plan", mode)
	}
}

// A prepared statement PostgreSQL no longer accepts (here 0A000, "cached
// plan must not change result type", after a column the statement selects
// changed type under it) is sent as text this once and prepared afresh:
// the reads go on with the same answers.
func TestPostgresStalePlanPreparedAgain(t *testing.T) {
	b := storetest.Open(t, "postgres")
	storetest.CreatePythonTables(t, b)
	ctx := context.Background()
	target, err := store.ParseURL(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	// One connection, so that the statement runs again where it was
	// prepared.
	db, err := store.Open(ctx, target, store.PoolOptions{MaxPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := &fixture{b: b, r: store.NewReader(db)}
	seed(t, f)
	want, err := f.r.GetUser(ctx, "u-local")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE local_user ALTER COLUMN name TYPE text"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := f.r.GetUser(ctx, "u-local")
		if err != nil {
			t.Fatalf("read %d after the change: %v", i+1, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read %d after the change: %+v, want %+v", i+1, got, want)
		}
	}
}
