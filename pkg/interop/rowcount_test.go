package interop

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/uptrace/bun"
)

// pythonCountedTables are Python Keystone's tables that a self-service
// request could write to (identities, memberships, assignments, roles and
// their implications, federation). The adversarial suite counts their rows
// before and after every refused request: a refusal must write nothing.
var pythonCountedTables = []string{
	"user", "local_user", "federated_user", "nonlocal_user",
	"group", "user_group_membership", "expiring_user_group_membership",
	"assignment", "system_assignment", "project", "role", "implied_role",
	"identity_provider", "idp_remote_ids", "federation_protocol", "mapping",
	"application_credential", "application_credential_role", "access_rule", "application_credential_access_rule",
}

// rowCounter counts rows of Python's tables and of every keystone-ng ng_
// table in Python's database.
type rowCounter struct {
	db      *bun.DB
	dialect store.Dialect
	tables  []string
}

// newRowCounter opens Python's database (closed when the test ends) and
// lists the tables to count: pythonCountedTables and every ng_ table the
// catalog knows (so a table added by a later migration is counted too).
func newRowCounter(t *testing.T, env *pyEnv) *rowCounter {
	t.Helper()
	db, target := openPythonDB(t, env)
	rc := &rowCounter{db: db, dialect: target.Dialect}
	all, err := rc.catalog()
	if err != nil {
		t.Fatalf("listing the tables of %s: %v", target.Redacted, err)
	}
	rc.tables = countedTables(all)
	for _, want := range pythonCountedTables {
		if !contains(rc.tables, want) {
			t.Fatalf("table %q not in the database's catalog (%d tables): is this Python Keystone's database?", want, len(all))
		}
	}
	if !contains(rc.tables, "ng_jwt_jti") || !contains(rc.tables, "ng_passkey_ceremonies") {
		t.Fatalf("keystone-ng's tables are missing (run keystone-ng db migrate first): counted %v", rc.tables)
	}
	return rc
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// catalogQuery lists the base tables of the current database/schema.
func catalogQuery(d store.Dialect) string {
	switch d {
	case store.MySQL:
		return "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
	case store.Postgres:
		return "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
	default:
		return "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
}

func (rc *rowCounter) catalog() ([]string, error) {
	rows, err := rc.db.QueryContext(context.Background(), catalogQuery(rc.dialect))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// countedTables is pythonCountedTables plus the catalog's ng_ tables,
// sorted. The LIKE wildcard "_" is why the prefix is matched here and not
// in SQL.
func countedTables(catalog []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range catalog {
		if strings.HasPrefix(n, "ng_") && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range pythonCountedTables {
		if contains(catalog, n) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// quoteIdent quotes a table name for the dialect: "user" and "group" are
// reserved words (MySQL quotes with backticks, PostgreSQL and SQLite with
// double quotes).
func quoteIdent(d store.Dialect, name string) string {
	if d == store.MySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// rowCounts is the number of rows per table.
type rowCounts map[string]int64

// snapshot counts the rows of every counted table.
func (rc *rowCounter) snapshot(t testing.TB) rowCounts {
	t.Helper()
	out := make(rowCounts, len(rc.tables))
	for _, tbl := range rc.tables {
		var n int64
		if err := rc.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+quoteIdent(rc.dialect, tbl)).Scan(&n); err != nil {
			t.Fatalf("counting rows of %s: %v", tbl, err)
		}
		out[tbl] = n
	}
	return out
}

// countDiff lists, sorted, every table whose count differs (tables in
// ignore excepted), as "table: before -> after".
func countDiff(before, after rowCounts, ignore ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range []rowCounts{before, after} {
		for tbl := range m {
			if seen[tbl] || contains(ignore, tbl) {
				continue
			}
			seen[tbl] = true
			b, inB := before[tbl]
			a, inA := after[tbl]
			if b != a || inB != inA {
				out = append(out, fmt.Sprintf("%s: %d -> %d", tbl, b, a))
			}
		}
	}
	sort.Strings(out)
	return out
}

// unchanged runs fn and fails the test if any counted table's row count
// changed meanwhile (tables in ignore excepted).
func (rc *rowCounter) unchanged(t testing.TB, what string, fn func(), ignore ...string) {
	t.Helper()
	before := rc.snapshot(t)
	fn()
	if d := countDiff(before, rc.snapshot(t), ignore...); len(d) > 0 {
		t.Errorf("%s was refused but wrote to the database: %s", what, strings.Join(d, ", "))
	}
}

// TestRowCountHelpers needs no Keystone: quoting per dialect, the tables
// counted from a catalog, and the difference of two snapshots.
func TestRowCountHelpers(t *testing.T) {
	for _, tc := range []struct {
		d    store.Dialect
		name string
		want string
	}{
		{store.MySQL, "group", "`group`"},
		{store.MySQL, "we`ird", "`we``ird`"},
		{store.Postgres, "user", `"user"`},
		{store.SQLite, `we"ird`, `"we""ird"`},
	} {
		if got := quoteIdent(tc.d, tc.name); got != tc.want {
			t.Errorf("quoteIdent(%s, %q) = %s, want %s", tc.d, tc.name, got, tc.want)
		}
	}

	catalog := append([]string{"ngx", "token", "ng_mapping", "ng_jwt_jti", "ng_mapping", "migrate_version"}, pythonCountedTables...)
	got := countedTables(catalog)
	if !contains(got, "ng_mapping") || !contains(got, "ng_jwt_jti") || !contains(got, "group") || contains(got, "ngx") || contains(got, "token") {
		t.Errorf("countedTables = %v", got)
	}
	if len(got) != len(pythonCountedTables)+2 {
		t.Errorf("countedTables has %d entries, want %d (duplicates?): %v", len(got), len(pythonCountedTables)+2, got)
	}
	if !sort.StringsAreSorted(got) {
		t.Errorf("countedTables not sorted: %v", got)
	}

	before := rowCounts{"user": 3, "ng_jwt_jti": 1, "ng_passkey_ceremonies": 2, "role": 5}
	for _, tc := range []struct {
		name   string
		after  rowCounts
		ignore []string
		want   string
	}{
		{"same", rowCounts{"user": 3, "ng_jwt_jti": 1, "ng_passkey_ceremonies": 2, "role": 5}, nil, ""},
		{"one more jti", rowCounts{"user": 3, "ng_jwt_jti": 2, "ng_passkey_ceremonies": 2, "role": 5}, nil, "ng_jwt_jti: 1 -> 2"},
		{"deleted rows count too", rowCounts{"user": 2, "ng_jwt_jti": 1, "ng_passkey_ceremonies": 2, "role": 4}, nil, "role: 5 -> 4, user: 3 -> 2"},
		{"ignored table", rowCounts{"user": 3, "ng_jwt_jti": 1, "ng_passkey_ceremonies": 1, "role": 5}, []string{"ng_passkey_ceremonies"}, ""},
		{"table gone", rowCounts{"user": 3, "ng_jwt_jti": 1, "ng_passkey_ceremonies": 2}, nil, "role: 5 -> 0"},
	} {
		if got := strings.Join(countDiff(before, tc.after, tc.ignore...), ", "); got != tc.want {
			t.Errorf("%s: countDiff = %q, want %q", tc.name, got, tc.want)
		}
	}
}
