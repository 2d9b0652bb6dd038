package storetest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// serviceAccountRows is every row a service account touches, one line
// per row, values as text.
func serviceAccountRows(t *testing.T, b *storetest.Backend) string {
	t.Helper()
	user := storetest.QuoteIdent(b.Name, "user")
	var out strings.Builder
	for _, q := range []string{
		`SELECT id, extra, enabled, default_project_id, created_at, last_active_at, domain_id FROM ` + user + ` ORDER BY id`,
		`SELECT user_id, domain_id, name, failed_auth_count, failed_auth_at FROM local_user ORDER BY user_id`,
		`SELECT COUNT(*) FROM password`,
		`SELECT user_id, option_id, option_value FROM user_option ORDER BY user_id, option_id`,
		`SELECT user_id, domain_id, created_by, created_at, bounded FROM ng_service_account ORDER BY user_id`,
		`SELECT type, actor_id, target_id, role_id FROM assignment ORDER BY actor_id, target_id`,
		`SELECT user_id, group_id FROM user_group_membership ORDER BY user_id`,
		`SELECT user_id, issued_before, revoked_at FROM revocation_event ORDER BY id`,
	} {
		for _, row := range storetest.Rows(t, b.DB, q) {
			for _, v := range row {
				out.WriteString(rowText(v) + "|")
			}
			out.WriteString("\n")
		}
		out.WriteString("--\n")
	}
	return out.String()
}

// TestServiceAccountStore is the conformance suite of
// store.ServiceAccounts: the rows are the ones Python's identity driver
// writes for a user created without a password (no password row), plus
// option 1002 and keystone-ng's mark; updates and deletes touch exactly
// what Python's update_user and delete_user touch, and a refused write
// changes nothing.
func TestServiceAccountStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		ctx := context.Background()
		d := sqldialect.Dialect(b.Name)
		for _, q := range []string{
			`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`,
			`INSERT INTO project (id, name, extra, enabled, domain_id, parent_id, is_domain) VALUES ('p1', 'web', '{}', TRUE, 'd1', 'd1', FALSE)`,
			`INSERT INTO ` + d.User() + ` (id, extra, enabled, domain_id) VALUES ('person', '{}', TRUE, 'd1')`,
			`INSERT INTO local_user (user_id, domain_id, name) VALUES ('person', 'd1', 'alice')`,
			`INSERT INTO ` + d.Group() + ` (id, domain_id, name) VALUES ('g1', 'd1', 'deployers')`,
			`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-member', 'member', '{}', '<<null>>')`,
		} {
			if _, err := b.DB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		st := store.NewServiceAccounts(b.DB)
		now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC) // whole seconds: MySQL's DATETIME keeps no fraction
		row := &store.ServiceAccountRow{ID: "sa1", Name: "ci-deployer", DomainID: "d1", Description: "Déploie", Enabled: true,
			DefaultProjectID: "p1", CreatedAt: now, CreatedBy: "admin1", Bounded: true}
		if err := st.Create(ctx, row, true); err != nil {
			t.Fatal(err)
		}
		want := `person|{}|1|NULL|NULL|NULL|d1|
sa1|{"description": "D\u00e9ploie"}|1|p1|2026-12-07 07:00:00.000000|2026-12-07|d1|
--
person|d1|alice|NULL|NULL|
sa1|d1|ci-deployer|NULL|NULL|
--
0|
--
sa1|1002|1|
--
sa1|d1|admin1|1796626800000000|1|
--
--
--
--
`
		if got := serviceAccountRows(t, b); got != want {
			t.Fatalf("rows after create:\n%s\nwant:\n%s", got, want)
		}

		// A name any user of the domain has is refused, nothing written.
		before := serviceAccountRows(t, b)
		for _, name := range []string{"alice", "ci-deployer"} {
			err := st.Create(ctx, &store.ServiceAccountRow{ID: "sa2", Name: name, DomainID: "d1", Enabled: true, CreatedAt: now, CreatedBy: "x"}, false)
			if !errors.Is(err, store.ErrNameTaken) {
				t.Fatalf("create with name %q: %v", name, err)
			}
		}
		if got := serviceAccountRows(t, b); got != before {
			t.Fatalf("refused create changed rows:\n%s", got)
		}

		got, err := st.Get(ctx, "sa1")
		if err != nil || got.Name != "ci-deployer" || got.Description != "Déploie" || !got.Enabled || got.DefaultProjectID != "p1" ||
			!got.CreatedAt.Equal(now) || got.CreatedBy != "admin1" || !got.Bounded || got.DomainID != "d1" {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		if _, err := st.Get(ctx, "person"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of an ordinary user: %v", err)
		}
		for _, tc := range []struct {
			f    store.ServiceAccountFilter
			want int
		}{{store.ServiceAccountFilter{}, 1}, {store.ServiceAccountFilter{DomainID: "d1"}, 1}, {store.ServiceAccountFilter{DomainID: "d2"}, 0},
			{store.ServiceAccountFilter{Name: "ci-deployer"}, 1}, {store.ServiceAccountFilter{Name: "alice"}, 0}} {
			rs, err := st.List(ctx, tc.f)
			if err != nil || len(rs) != tc.want {
				t.Fatalf("List(%+v) = %d rows, %v; want %d", tc.f, len(rs), err, tc.want)
			}
		}
		for id, want := range map[string]bool{"sa1": true, "person": false, "nope": false} {
			if got, err := st.IsServiceAccount(ctx, id); err != nil || got != want {
				t.Fatalf("IsServiceAccount(%s) = %v, %v", id, got, err)
			}
		}

		// Rename onto a taken name: refused, nothing written.
		alice := "alice"
		if err := st.Update(ctx, "sa1", store.ServiceAccountPatch{Name: &alice}, now, true); !errors.Is(err, store.ErrNameTaken) {
			t.Fatalf("rename onto alice: %v", err)
		}
		if err := st.Update(ctx, "person", store.ServiceAccountPatch{Name: &alice}, now, true); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of an ordinary user: %v", err)
		}
		if got := serviceAccountRows(t, b); got != before {
			t.Fatalf("refused update changed rows:\n%s", got)
		}

		// Disable: Python's revocation event; enable again: counters reset,
		// last_active_at today; description and project cleared.
		off, on, empty, name := false, true, "", "ci-deployer-2"
		later := now.Add(24 * time.Hour)
		if _, err := b.DB.ExecContext(ctx, `UPDATE local_user SET failed_auth_count = 3 WHERE user_id = 'sa1'`); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(ctx, "sa1", store.ServiceAccountPatch{Enabled: &off}, now, true); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(ctx, "sa1", store.ServiceAccountPatch{Enabled: &off}, now, true); err != nil {
			t.Fatal(err) // already disabled: no second event
		}
		if err := st.Update(ctx, "sa1", store.ServiceAccountPatch{Enabled: &on, Description: &empty, DefaultProjectID: &empty, Name: &name}, later, true); err != nil {
			t.Fatal(err)
		}
		want = `person|{}|1|NULL|NULL|NULL|d1|
sa1|{}|1|NULL|2026-12-07 07:00:00.000000|2026-12-08|d1|
--
person|d1|alice|NULL|NULL|
sa1|d1|ci-deployer-2|0|NULL|
--
0|
--
sa1|1002|1|
--
sa1|d1|admin1|1796626800000000|1|
--
--
--
sa1|2026-12-07 07:00:00.000000|2026-12-07 07:00:00.000000|
--
`
		if got := serviceAccountRows(t, b); got != want {
			t.Fatalf("rows after updates:\n%s\nwant:\n%s", got, want)
		}

		// Delete takes the assignments and memberships with it, and leaves
		// the ordinary user alone; deleting an ordinary user is refused.
		for _, q := range []string{
			`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'sa1', 'p1', 'r-member', FALSE)`,
			`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'person', 'p1', 'r-member', FALSE)`,
			`INSERT INTO user_group_membership (user_id, group_id) VALUES ('sa1', 'g1')`,
		} {
			if _, err := b.DB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := st.Delete(ctx, "person"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of an ordinary user: %v", err)
		}
		if err := st.Delete(ctx, "sa1"); err != nil {
			t.Fatal(err)
		}
		want = `person|{}|1|NULL|NULL|NULL|d1|
--
person|d1|alice|NULL|NULL|
--
0|
--
--
--
UserProject|person|p1|r-member|
--
--
sa1|2026-12-07 07:00:00.000000|2026-12-07 07:00:00.000000|
--
`
		if got := serviceAccountRows(t, b); got != want {
			t.Fatalf("rows after delete:\n%s\nwant:\n%s", got, want)
		}
		if err := st.Delete(ctx, "sa1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
