package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// trustTables are Python Keystone 22's trust and trust_role tables
// (keystone/trust/backends/sql.py) in each backend's column types.
func trustTables(backend string) []string {
	dt, boolean := "DATETIME", "BOOLEAN"
	if backend == "postgres" {
		dt = "TIMESTAMP WITHOUT TIME ZONE"
	}
	return []string{
		`CREATE TABLE trust (id VARCHAR(64) NOT NULL PRIMARY KEY, trustor_user_id VARCHAR(64) NOT NULL,
			trustee_user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64), impersonation ` + boolean + ` NOT NULL,
			deleted_at ` + dt + `, expires_at ` + dt + `, remaining_uses INTEGER, extra TEXT, expires_at_int BIGINT,
			redelegated_trust_id VARCHAR(64), redelegation_count INTEGER)`,
		`CREATE TABLE trust_role (trust_id VARCHAR(64) NOT NULL, role_id VARCHAR(64) NOT NULL, PRIMARY KEY (trust_id, role_id))`,
	}
}

// TestGetTrustRedelegation reads trusts as Python writes them for a
// redelegation pedigree: the original (redelegation_count set, no parent),
// a redelegated one (parent id, count), and a legacy row with NULL counts.
func TestGetTrustRedelegation(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			b := storetest.Open(t, backend, trustTables(backend)...)
			ctx := context.Background()
			exp := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
			expInt := exp.UnixMicro()
			// the DATETIME column as Python writes it (whole seconds); the
			// microseconds live in expires_at_int, which wins
			expCol := exp.Format("2006-01-02 15:04:05")
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, expires_at_int, redelegation_count)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, []any{"ta", "orig", "t1", "p", false, expCol, expInt, 2}},
				{`INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, expires_at_int, redelegated_trust_id, redelegation_count)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{"tb", "t1", "t2", "p", false, expCol, expInt, "ta", 1}},
				{`INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation)
					VALUES (?, ?, ?, ?, ?)`, []any{"legacy", "orig", "t1", "p", true}},
				{`INSERT INTO trust_role (trust_id, role_id) VALUES (?, ?), (?, ?), (?, ?)`, []any{"ta", "m", "ta", "r", "tb", "m"}},
			} {
				if _, err := b.DB.ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			r := store.NewReader(b.DB)

			a, err := r.GetTrust(ctx, "ta")
			if err != nil {
				t.Fatal(err)
			}
			if a.RedelegatedTrustID != "" || a.RedelegationCount == nil || *a.RedelegationCount != 2 ||
				!slices.Equal(a.RoleIDs, []string{"m", "r"}) || a.ExpiresAt == nil || !a.ExpiresAt.Equal(exp) {
				t.Fatalf("original trust read as %+v", a)
			}
			bt, err := r.GetTrust(ctx, "tb")
			if err != nil {
				t.Fatal(err)
			}
			if bt.RedelegatedTrustID != "ta" || bt.RedelegationCount == nil || *bt.RedelegationCount != 1 || !slices.Equal(bt.RoleIDs, []string{"m"}) {
				t.Fatalf("redelegated trust read as %+v", bt)
			}
			l, err := r.GetTrust(ctx, "legacy")
			if err != nil {
				t.Fatal(err)
			}
			if l.RedelegationCount != nil || l.RemainingUses != nil || l.ExpiresAt != nil || !l.Impersonation || len(l.RoleIDs) != 0 {
				t.Fatalf("legacy trust read as %+v", l)
			}
			if _, err := r.GetTrust(ctx, "nope"); !errors.Is(err, token.ErrNotFound) {
				t.Fatalf("missing trust: %v, want ErrNotFound", err)
			}
		})
	}
}
