package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/migrations"
	"github.com/uptrace/bun"
)

// requiredTables are the Python tables validation reads; their absence
// means the database is not a Keystone database (or db_sync never ran).
var requiredTables = []string{
	"user", "local_user", "password", "project", "assignment", "system_assignment",
	"role", "implied_role", "revocation_event", "service", "endpoint", "trust",
	"application_credential", "user_group_membership", "identity_provider",
}

// CheckSchema verifies Python Keystone's schema is present.
func CheckSchema(ctx context.Context, db *bun.DB) error {
	var missing []string
	for _, t := range requiredTables {
		q := "SELECT 1 FROM " + quoteIdent(db, t) + " WHERE 1 = 0"
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			missing = append(missing, t)
			continue
		}
		rows.Close()
	}
	if len(missing) > 0 {
		return fmt.Errorf("not a Python Keystone database (run keystone-manage db_sync first): missing tables %s", strings.Join(missing, ", "))
	}
	return nil
}

func quoteIdent(db *bun.DB, name string) string {
	if db.Dialect().Name().String() == "mysql" {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// PythonSchemaHeads returns Python Keystone's alembic revisions.
func PythonSchemaHeads(ctx context.Context, db *bun.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT version_num FROM alembic_version ORDER BY version_num")
	if err != nil {
		return nil, fmt.Errorf("read alembic_version: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// MigrationState is one of keystone-ng's migrations.
type MigrationState struct {
	Name    string
	Applied *time.Time
}

func dialectDir(d Dialect) string {
	switch d {
	case MySQL:
		return "mysql"
	case Postgres:
		return "postgres"
	}
	return "sqlite"
}

func migrationFiles(d Dialect) ([]string, error) {
	entries, err := fs.ReadDir(migrations.FS, dialectDir(d))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// MigrationStatus lists every migration and when it was applied.
func MigrationStatus(ctx context.Context, db *bun.DB, d Dialect) ([]MigrationState, error) {
	names, err := migrationFiles(d)
	if err != nil {
		return nil, err
	}
	applied := map[string]time.Time{}
	rows, err := db.QueryContext(ctx, "SELECT name, applied_at FROM ng_schema_migrations")
	if err == nil {
		for rows.Next() {
			var (
				n  string
				at nullTime
			)
			if err := rows.Scan(&n, &at); err != nil {
				rows.Close()
				return nil, err
			}
			applied[n] = at.Time
		}
		rows.Close()
	}
	out := make([]MigrationState, 0, len(names))
	for _, n := range names {
		st := MigrationState{Name: strings.TrimSuffix(n, ".sql")}
		if at, ok := applied[st.Name]; ok {
			st.Applied = &at
		}
		out = append(out, st)
	}
	return out, nil
}

// Migrate applies pending migrations in order, each in a transaction where
// the backend allows DDL in one (PostgreSQL, SQLite; MySQL commits DDL
// implicitly, so each file there must be idempotent).
func Migrate(ctx context.Context, db *bun.DB, d Dialect) ([]string, error) {
	st, err := MigrationStatus(ctx, db, d)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range st {
		if m.Applied != nil {
			continue
		}
		body, err := fs.ReadFile(migrations.FS, path.Join(dialectDir(d), m.Name+".sql"))
		if err != nil {
			return done, err
		}
		err = db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
			for _, stmt := range splitSQL(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", m.Name, err)
				}
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO ng_schema_migrations (name, applied_at) VALUES (?, ?)", m.Name, time.Now().UTC())
			return err
		})
		if err != nil {
			return done, err
		}
		done = append(done, m.Name)
	}
	return done, nil
}

// splitSQL splits a migration file on semicolons at line ends, dropping
// comment lines. Migration files keep to that simple form.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, stmt)
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}
