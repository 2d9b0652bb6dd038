package storetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// TestServiceAccountCredentialStore: keys, secrets and assertion ids on
// every backend: the quota counts keys and secrets together, a key is
// stored once per account, refusals write nothing, last_used_at is
// recorded, a jti is single-use until purged, and deleting the account
// takes its credentials with it.
func TestServiceAccountCredentialStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		ctx := context.Background()
		if _, err := b.DB.ExecContext(ctx, `INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`); err != nil {
			t.Fatal(err)
		}
		st := store.NewServiceAccounts(b.DB)
		now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
		for _, id := range []string{"sa1", "sa2"} {
			if err := st.Create(ctx, &store.ServiceAccountRow{ID: id, Name: id, DomainID: "d1", Enabled: true, CreatedAt: now, CreatedBy: "admin", Bounded: true}, false); err != nil {
				t.Fatal(err)
			}
		}
		count := func() int {
			return storetest.Count(t, b.DB, "ng_service_account_key") + storetest.Count(t, b.DB, "ng_service_account_secret")
		}
		exp := now.Add(time.Hour)
		key := func(id, tp string) *store.CredentialRow {
			return &store.CredentialRow{ID: id, UserID: "sa1", Algorithm: "ES256", Thumbprint: tp, PublicJWK: `{"kty":"EC"}`, CreatedBy: "admin", CreatedAt: now, ExpiresAt: &exp}
		}
		if err := st.CreateKey(ctx, key("k1", "tp1"), 3); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateKey(ctx, key("k2", "tp1"), 3); !errors.Is(err, store.ErrKeyExists) {
			t.Fatalf("same key twice: %v", err)
		}
		if err := st.CreateSecret(ctx, &store.CredentialRow{ID: "s1", UserID: "sa1", SecretHash: "h1", CreatedBy: "admin", CreatedAt: now}, 3); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateKey(ctx, key("k3", "tp3"), 3); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSecret(ctx, &store.CredentialRow{ID: "s2", UserID: "sa1", SecretHash: "h2", CreatedBy: "admin", CreatedAt: now}, 3); !errors.Is(err, store.ErrCredentialQuota) {
			t.Fatalf("fourth credential: %v", err)
		}
		if err := st.CreateSecret(ctx, &store.CredentialRow{ID: "s3", UserID: "nope", SecretHash: "h", CreatedBy: "admin", CreatedAt: now}, 0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("credential of no account: %v", err)
		}
		if got := count(); got != 3 {
			t.Fatalf("%d credentials after the refusals, want 3", got)
		}

		ks, err := st.Keys(ctx, "sa1")
		if err != nil || len(ks) != 2 || ks[0].ID != "k1" || ks[0].ExpiresAt == nil || !ks[0].ExpiresAt.Equal(exp) || ks[0].LastUsedAt != nil || ks[0].Thumbprint != "tp1" {
			t.Fatalf("Keys: %+v, %v", ks, err)
		}
		later := now.Add(time.Minute)
		if err := st.TouchKey(ctx, "k1", later); err != nil {
			t.Fatal(err)
		}
		if err := st.TouchSecret(ctx, "s1", later); err != nil {
			t.Fatal(err)
		}
		sec, err := st.Secret(ctx, "s1")
		if err != nil || sec.UserID != "sa1" || sec.SecretHash != "h1" || sec.LastUsedAt == nil || !sec.LastUsedAt.Equal(later) || sec.ExpiresAt != nil {
			t.Fatalf("Secret: %+v, %v", sec, err)
		}
		if ks, _ := st.Keys(ctx, "sa1"); ks[0].LastUsedAt == nil || !ks[0].LastUsedAt.Equal(later) {
			t.Fatalf("key last_used_at: %+v", ks[0])
		}
		if _, err := st.Secret(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Secret(nope): %v", err)
		}
		// Another account cannot delete sa1's credentials.
		if err := st.DeleteKey(ctx, "sa2", "k1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of another account's key: %v", err)
		}
		if err := st.DeleteSecret(ctx, "sa2", "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of another account's secret: %v", err)
		}
		if err := st.DeleteKey(ctx, "sa1", "k3"); err != nil {
			t.Fatal(err)
		}

		// jti: single use, per account, purged after expiry.
		if err := st.UseJTI(ctx, "sa1", "j1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.UseJTI(ctx, "sa1", "j1", now.Add(time.Minute)); !errors.Is(err, store.ErrReplayedJTI) {
			t.Fatalf("replayed jti: %v", err)
		}
		if err := st.UseJTI(ctx, "sa2", "j1", now.Add(time.Hour)); err != nil {
			t.Fatalf("same jti, other account: %v", err)
		}
		if n, err := st.Purgers()[0].Purge(ctx, now.Add(2*time.Minute)); err != nil || n != 1 {
			t.Fatalf("Purge: %d, %v", n, err)
		}
		if err := st.UseJTI(ctx, "sa1", "j1", now.Add(time.Minute)); err != nil {
			t.Fatalf("jti after purge: %v", err)
		}
		if err := st.ForgetJTI(ctx, "sa1", "j1"); err != nil {
			t.Fatal(err)
		}
		// Expired keys and secrets are purged; unexpired ones and those
		// without expiry stay.
		if err := st.CreateKey(ctx, key("k4", "tp4"), 0); err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Purgers()[1:] {
			if _, err := p.Purge(ctx, exp.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if ks, _ := st.Keys(ctx, "sa1"); len(ks) != 0 {
			t.Fatalf("expired keys left: %+v", ks)
		}
		if ss, _ := st.Secrets(ctx, "sa1"); len(ss) != 1 {
			t.Fatalf("secret without expiry purged: %+v", ss)
		}

		// Deleting the account deletes its credentials and jti records.
		if err := st.Delete(ctx, "sa2"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, "sa1"); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range []string{"ng_service_account_key", "ng_service_account_secret", "ng_oauth2_jti", "ng_service_account"} {
			if n := storetest.Count(t, b.DB, tbl); n != 0 {
				t.Errorf("%s: %d rows left after deleting the accounts", tbl, n)
			}
		}
	})
}
