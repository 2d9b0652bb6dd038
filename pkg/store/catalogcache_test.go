package store

import (
	"context"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

type countingStore struct {
	*tokentest.MemStore
	services, projects, sps int
}

func (c *countingStore) Services(ctx context.Context) ([]keystone.Service, error) {
	c.services++
	return c.MemStore.Services(ctx)
}
func (c *countingStore) ProjectEndpoints(ctx context.Context, id string) (*keystone.ProjectEndpoints, error) {
	c.projects++
	return c.MemStore.ProjectEndpoints(ctx, id)
}
func (c *countingStore) EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error) {
	c.sps++
	return c.MemStore.EnabledServiceProviders(ctx)
}

func TestCachedCatalogBoundedByTTL(t *testing.T) {
	inner := &countingStore{MemStore: &tokentest.MemStore{}}
	now := time.Unix(1000, 0)
	c := NewCachedCatalog(inner, time.Second).(*CachedCatalog)
	c.Now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, _ = c.Services(ctx)
		_, _ = c.ProjectEndpoints(ctx, "p1")
		_, _ = c.EnabledServiceProviders(ctx)
	}
	_, _ = c.ProjectEndpoints(ctx, "p2")
	if inner.services != 1 || inner.sps != 1 || inner.projects != 2 {
		t.Fatalf("within the TTL: services=%d sps=%d projects=%d", inner.services, inner.sps, inner.projects)
	}
	now = now.Add(time.Second)
	_, _ = c.Services(ctx)
	_, _ = c.ProjectEndpoints(ctx, "p1")
	if inner.services != 2 || inner.projects != 3 {
		t.Fatalf("after the TTL: services=%d projects=%d", inner.services, inner.projects)
	}
	// The non-catalog lookups are never cached.
	if _, err := c.GetUser(ctx, "nobody"); err != token.ErrNotFound {
		t.Fatalf("GetUser: %v", err)
	}
	if NewCachedCatalog(inner, 0) != token.Store(inner) {
		t.Fatal("TTL 0 must disable the cache")
	}
}
