package storetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// TestRestrictedTokenStore: a restricted token's application credential on
// every backend, written as Python writes one (roles, access rules reused
// by service, path and method), undone exactly (an access rule another
// credential uses stays), refused at [application_credential] user_limit
// without writing, and purged once expired without touching a credential
// keystone-ng did not make.
func TestRestrictedTokenStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		ctx := context.Background()
		st := store.NewRestrictedTokens(b.DB)
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		rule := keystone.AccessRule{Service: "compute", Method: "GET", Path: "/v2.1/servers"}
		cred := func(id string, exp time.Time, rules ...keystone.AccessRule) *store.RestrictedCredential {
			c := &store.RestrictedCredential{ID: id, Name: "restricted-" + id, Description: "d", UserID: "u1", ProjectID: "p1",
				SecretHash: "$2a$04$x", RoleIDs: []string{"r1", "r2"}, SourceAuditID: "chain", CreatedAt: now, ExpiresAt: exp, UserLimit: -1}
			for i, r := range rules {
				r.ID = id + "-rule-" + string(rune('a'+i))
				c.AccessRules = append(c.AccessRules, r)
			}
			return c
		}
		counts := func() [5]int {
			return [5]int{storetest.Count(t, b.DB, "application_credential"), storetest.Count(t, b.DB, "application_credential_role"),
				storetest.Count(t, b.DB, "access_rule"), storetest.Count(t, b.DB, "application_credential_access_rule"),
				storetest.Count(t, b.DB, "ng_restricted_token")}
		}
		if _, err := st.Create(ctx, cred("c1", now.Add(time.Hour), rule)); err != nil {
			t.Fatal(err)
		}
		// The same rule again is reused, as Python's backend reuses it.
		undo, err := st.Create(ctx, cred("c2", now.Add(time.Hour), rule, keystone.AccessRule{Service: "image", Method: "GET", Path: "/v2/images"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := counts(), [5]int{2, 4, 2, 3, 2}; got != want {
			t.Fatalf("rows after two credentials %v, want %v", got, want)
		}
		var exp int64
		if err := b.DB.QueryRowContext(ctx, `SELECT expires_at FROM application_credential WHERE id = 'c1'`).Scan(&exp); err != nil || exp != store.DateTimeInt(now.Add(time.Hour)) {
			t.Fatalf("expires_at %d, %v", exp, err)
		}
		// Undo removes c2's rows and the rule only it used; the shared
		// rule stays with c1.
		if err := undo.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := counts(), [5]int{1, 2, 1, 1, 1}; got != want {
			t.Fatalf("rows after the undo %v, want %v", got, want)
		}
		// user_limit: refused without a write.
		c := cred("c3", now.Add(time.Hour))
		c.UserLimit = 1
		if _, err := st.Create(ctx, c); !errors.Is(err, store.ErrAppCredLimit) {
			t.Fatalf("over user_limit: %v", err)
		}
		if got, want := counts(), [5]int{1, 2, 1, 1, 1}; got != want {
			t.Fatalf("rows after the refusal %v, want %v", got, want)
		}
		// A user's own credential (no ng_restricted_token row), expired,
		// is never purged; an expired restricted one is.
		if _, err := b.DB.ExecContext(ctx, `INSERT INTO application_credential (id, name, secret_hash, user_id, project_id, expires_at, unrestricted)
			VALUES ('own', 'own', 'h', 'u1', 'p1', ?, ?)`, store.DateTimeInt(now.Add(-time.Hour)), false); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Create(ctx, cred("old", now.Add(time.Minute), rule)); err != nil {
			t.Fatal(err)
		}
		n, err := st.PurgeExpired(ctx, now.Add(2*time.Minute), 100)
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v; want 1", n, err)
		}
		var ids []string
		rows, err := b.DB.QueryContext(ctx, `SELECT id FROM application_credential ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != 2 || ids[0] != "c1" || ids[1] != "own" {
			t.Fatalf("credentials after the purge: %v", ids)
		}
		if got, want := counts(), [5]int{2, 2, 1, 1, 1}; got != want {
			t.Fatalf("rows after the purge %v, want %v", got, want)
		}

		// A service account disabled, then deleted: its application
		// credentials (restricted tokens' included) and access rules go,
		// as Python's callbacks delete them; nobody else's do.
		if _, err := b.DB.ExecContext(ctx, `INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`); err != nil {
			t.Fatal(err)
		}
		sas := store.NewServiceAccounts(b.DB)
		if err := sas.Create(ctx, &store.ServiceAccountRow{ID: "sa1", Name: "sa1", DomainID: "d1", Enabled: true, CreatedAt: now, CreatedBy: "admin", Bounded: true}, false); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"sa-a", "sa-b"} {
			c := cred(id, now.Add(time.Hour), keystone.AccessRule{Service: "image", Method: "GET", Path: "/v2/images"})
			c.UserID = "sa1"
			if _, err := st.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := counts(), [5]int{4, 6, 2, 3, 3}; got != want {
			t.Fatalf("rows with the account's credentials %v, want %v", got, want)
		}
		off := false
		if err := sas.Update(ctx, "sa1", store.ServiceAccountPatch{Enabled: &off}, now, false); err != nil {
			t.Fatal(err)
		}
		if got, want := counts(), [5]int{2, 2, 1, 1, 3}; got != want {
			t.Fatalf("rows after disabling the account %v, want %v", got, want)
		}
		if err := sas.Delete(ctx, "sa1"); err != nil {
			t.Fatal(err)
		}
		if got, want := counts(), [5]int{2, 2, 1, 1, 3}; got != want {
			t.Fatalf("rows after deleting the account %v, want %v", got, want)
		}
	})
}

func TestDateTimeInt(t *testing.T) {
	// Python: int((t - epoch).total_seconds() * 1000000) in floating point.
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), 1796637600000000},
		{time.UnixMicro(1796637600000001), 1796637600000001},
		// 1121519693.380885 s: in binary floating point times 1e6 it falls
		// just below the integer, and Python (checked with CPython 3.11)
		// stores one microsecond less.
		{time.UnixMicro(1121519693380885), 1121519693380884},
	} {
		if got := store.DateTimeInt(tc.t); got != tc.want {
			t.Errorf("DateTimeInt(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}
