package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptrace/bun"
)

func TestSchemaRelease(t *testing.T) {
	cases := []struct {
		s    Schema
		want string
	}{
		{Schema{Contract: 44}, "Queens (13) (sqlalchemy-migrate contract 44)"},
		{Schema{Contract: 52}, "Rocky (14) (sqlalchemy-migrate contract 52)"},
		{Schema{Contract: 61}, "between Rocky (14) and Train (16) (sqlalchemy-migrate contract 61)"},
		{Schema{Contract: 71}, "Train (16) (sqlalchemy-migrate contract 71)"},
		{Schema{Contract: 79}, "Victoria (18) to Yoga (21) (sqlalchemy-migrate contract 79)"},
		{Schema{Contract: 80}, "after Victoria (18) to Yoga (21), before Zed (sqlalchemy-migrate contract 80)"},
		{Schema{Alembic: []string{"e25ffa003242", "29e87d24a316"}}, "Zed (22) or 2023.1 (23) (alembic 29e87d24a316, e25ffa003242)"},
		{Schema{Alembic: []string{"c88cdce8f248", "742c857f1dfb"}}, "2026.1 (29) (alembic 742c857f1dfb, c88cdce8f248)"},
		{Schema{Alembic: []string{"ffff", "c88cdce8f248"}}, "Zed (22) or later, an alembic revision keystone-ng has not been tested with (alembic c88cdce8f248, ffff)"},
	}
	for _, c := range cases {
		if got := c.s.Release(); got != c.want {
			t.Errorf("%+v: Release() = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestSchemaReleaseBehaviours(t *testing.T) {
	cases := []struct {
		s                    Schema
		legacyErr, dataHelpr bool
	}{
		{Schema{Contract: 44}, true, true},
		{Schema{Contract: 52}, true, false},
		{Schema{Contract: 53}, false, false},
		{Schema{Contract: 71}, false, false},
		{Schema{Alembic: []string{"x"}, Contract: 44}, false, false},
		{Schema{}, false, false},
	}
	for _, c := range cases {
		if got := c.s.LegacyErrorBodies(); got != c.legacyErr {
			t.Errorf("%+v: LegacyErrorBodies() = %v", c.s, got)
		}
		if got := c.s.RendersWithDataHelper(); got != c.dataHelpr {
			t.Errorf("%+v: RendersWithDataHelper() = %v", c.s, got)
		}
	}
}

// TestDetectSchema builds small SQLite schemas shaped like old releases and
// checks what DetectSchema reads from them, and that the statements built
// for each schema run there.
func TestDetectSchema(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, ddl ...string) *Reader { return NewReader(sqliteWith(t, ddl...)) }
	// The tables every read touches, as Queens had them.
	queens := []string{
		`CREATE TABLE migrate_version (repository_id TEXT, repository_path TEXT, version INTEGER)`,
		`CREATE TABLE user_group_membership (user_id TEXT, group_id TEXT)`,
		`CREATE TABLE identity_provider (id TEXT, enabled INTEGER, description TEXT, domain_id TEXT)`,
		`CREATE TABLE role (id TEXT, name TEXT, extra TEXT, domain_id TEXT)`,
		`CREATE TABLE assignment (type TEXT, actor_id TEXT, target_id TEXT, role_id TEXT, inherited INTEGER)`,
		`CREATE TABLE trust (id TEXT, trustor_user_id TEXT, trustee_user_id TEXT, project_id TEXT, impersonation INTEGER,
			deleted_at TEXT, expires_at TEXT, expires_at_int INTEGER, remaining_uses INTEGER, extra TEXT)`,
		`CREATE TABLE trust_role (trust_id TEXT, role_id TEXT)`,
		`CREATE TABLE application_credential (internal_id INTEGER, id TEXT, name TEXT, user_id TEXT, project_id TEXT, unrestricted INTEGER)`,
		`CREATE TABLE application_credential_role (application_credential_id INTEGER, role_id TEXT)`,
		`INSERT INTO migrate_version VALUES ('keystone', 'x', 109), ('keystone_contract', 'x', 44)`,
		`INSERT INTO role VALUES ('r1', 'member', '{}', '<<null>>')`,
		`INSERT INTO user_group_membership VALUES ('u1', 'g1')`,
		`INSERT INTO trust VALUES ('t1', 'u1', 'u2', 'p1', 1, NULL, NULL, NULL, NULL, '{}')`,
		`INSERT INTO trust_role VALUES ('t1', 'r1')`,
		`INSERT INTO application_credential VALUES (1, 'a1', 'ac', 'u1', 'p1', 0)`,
		`INSERT INTO application_credential_role VALUES (1, 'r1')`,
	}
	r := open(t, queens...)
	s, err := DetectSchema(ctx, r.DB())
	if err != nil {
		t.Fatal(err)
	}
	want := Schema{Contract: 44}
	if s.Contract != want.Contract || s.Alembic != nil || s.ExpiringMemberships || s.IdPAuthorizationTTL || s.AccessRules ||
		s.RoleOptions || s.RoleDescription || s.TrustRedelegation {
		t.Fatalf("DetectSchema = %+v, want only contract 44", s)
	}
	if len(s.Missing()) != 4 {
		t.Errorf("Missing() = %q, want four notes", s.Missing())
	}
	r.UseSchema(s)
	ms, err := r.ListMemberships(ctx, "u1")
	if err != nil || len(ms) != 1 || ms[0].GroupID != "g1" || ms[0].Expiring {
		t.Errorf("ListMemberships = %+v, %v", ms, err)
	}
	roles, err := r.GetRoles(ctx, []string{"r1"})
	if err != nil || roles["r1"] == nil || !roles["r1"].Bare || roles["r1"].Description != nil {
		t.Errorf("GetRoles = %+v, %v", roles, err)
	}
	tr, err := r.GetTrust(ctx, "t1")
	if err != nil || tr.RedelegationCount != nil || tr.RedelegatedTrustID != "" || len(tr.RoleIDs) != 1 {
		t.Errorf("GetTrust = %+v, %v", tr, err)
	}
	ac, err := r.GetAppCred(ctx, "a1")
	if err != nil || len(ac.RoleIDs) != 1 || len(ac.AccessRules) != 0 {
		t.Errorf("GetAppCred = %+v, %v", ac, err)
	}
	if _, err := r.UserAssignments(ctx, "u1", []string{"p1"}); err != nil {
		t.Errorf("UserAssignments: %v", err)
	}

	// The newest schema's statements do not run on Queens' tables: the
	// adaptation is what makes the reads work.
	r.UseSchema(NewestSchema)
	if _, err := r.ListMemberships(ctx, "u1"); err == nil {
		t.Error("the newest schema's memberships statement ran on Queens' tables")
	}
}

func TestDetectSchemaRefusesOldAndUnknown(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		ddl  []string
		want string
	}{
		{"older than Queens", []string{
			`CREATE TABLE migrate_version (repository_id TEXT, repository_path TEXT, version INTEGER)`,
			`INSERT INTO migrate_version VALUES ('keystone_contract', 'x', 24)`,
		}, "older than Queens"},
		{"no contract repository", []string{
			`CREATE TABLE migrate_version (repository_id TEXT, repository_path TEXT, version INTEGER)`,
			`INSERT INTO migrate_version VALUES ('keystone', 'x', 97)`,
		}, "no keystone_contract row"},
		{"no version table", nil, "cannot tell which Keystone release"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := sqliteWith(t, c.ddl...)
			_, err := DetectSchema(ctx, db)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("DetectSchema error = %v, want one saying %q", err, c.want)
			}
		})
	}
}

// sqliteWith is a fresh SQLite database (closed when the test ends) after
// the statements ddl.
func sqliteWith(t *testing.T, ddl ...string) *bun.DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	target, err := ParseURL("sqlite:///" + path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, target, PoolOptions{MaxPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range ddl {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}
