package federation

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// TestQuotas: a domain's identity providers and an IdP's mappings are
// bounded (403, nothing written); global IdPs are the operator's and are
// not counted.
func TestQuotas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		pythonTables(t, b)
		ctx := context.Background()
		svc := New(Options{DB: b.DB, MaxIdPsPerDomain: 1, MaxMappingsPerIdP: 1})
		mk := func(id, domain string) (*IdP, error) {
			iss := "https://" + id + ".example.com"
			f := &IdPFields{ID: &id, Name: &id, Issuer: &iss}
			if domain != "" {
				f.DomainID = &domain
			}
			return svc.CreateIdP(ctx, f)
		}
		p, err := mk("a", "d1")
		if err != nil {
			t.Fatal(err)
		}
		before := storetest.Count(t, b.DB, "identity_provider")
		if _, err := mk("b", "d1"); apierror.As(err).Code != 403 {
			t.Fatalf("second IdP of d1: %v", err)
		}
		if n := storetest.Count(t, b.DB, "identity_provider"); n != before {
			t.Fatalf("identity_provider rows %d -> %d", before, n)
		}
		if _, err := mk("c", "d2"); err != nil {
			t.Fatalf("another domain's first IdP: %v", err)
		}
		for _, id := range []string{"g1", "g2"} {
			if _, err := mk(id, ""); err != nil {
				t.Fatalf("global IdP %s: %v", id, err)
			}
		}
		rule := json.RawMessage(`[{"match": [{"claim": "sub", "equals": "x"}], "user": {"name": "x"}}]`)
		if _, err := svc.CreateMapping(ctx, p, "one", rule); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateMapping(ctx, p, "two", rule); apierror.As(err).Code != 403 {
			t.Fatalf("second mapping: %v", err)
		}
		if n := storetest.Count(t, b.DB, "ng_mapping"); n != 1 {
			t.Fatalf("ng_mapping rows: %d", n)
		}
	})
}
