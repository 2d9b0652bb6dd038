package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

type countingStore struct {
	*tokentest.MemStore
	services, projects, sps atomic.Int64
	// catalog, when set, is what Services answers (safe to change while
	// a background read runs).
	catalog atomic.Pointer[[]keystone.Service]
	// hold holds the Services read of that number (1 = the first) until
	// gate receives.
	hold atomic.Int64
	gate chan struct{}
}

func (c *countingStore) Services(ctx context.Context) ([]keystone.Service, error) {
	n := c.services.Add(1)
	if n == c.hold.Load() {
		<-c.gate
	}
	if v := c.catalog.Load(); v != nil {
		return *v, nil
	}
	return c.MemStore.Services(ctx)
}
func (c *countingStore) ProjectEndpoints(ctx context.Context, id string) (*keystone.ProjectEndpoints, error) {
	c.projects.Add(1)
	return c.MemStore.ProjectEndpoints(ctx, id)
}
func (c *countingStore) EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error) {
	c.sps.Add(1)
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
	if inner.services.Load() != 1 || inner.sps.Load() != 1 || inner.projects.Load() != 2 {
		t.Fatalf("within the TTL: services=%d sps=%d projects=%d", inner.services.Load(), inner.sps.Load(), inner.projects.Load())
	}
	now = now.Add(time.Second)
	_, _ = c.Services(ctx)
	_, _ = c.ProjectEndpoints(ctx, "p1")
	if inner.services.Load() != 2 || inner.projects.Load() != 3 {
		t.Fatalf("after the TTL: services=%d projects=%d", inner.services.Load(), inner.projects.Load())
	}
	// The non-catalog lookups are never cached.
	if _, err := c.GetUser(ctx, "nobody"); err != token.ErrNotFound {
		t.Fatalf("GetUser: %v", err)
	}
	if NewCachedCatalog(inner, 0) != token.Store(inner) {
		t.Fatal("TTL 0 must disable the cache")
	}
}

// Past half its TTL, a value is renewed in the background, once, while
// requests are still answered from it at once; the renewed value counts
// from when its read started; a value whose renewal has not landed is
// never served past its TTL.
func TestCachedCatalogRenewsAhead(t *testing.T) {
	inner := &countingStore{MemStore: &tokentest.MemStore{}, gate: make(chan struct{})}
	setCatalog := func(id string) { inner.catalog.Store(&[]keystone.Service{{ID: id}}) }
	var (
		mu  sync.Mutex
		now = time.Unix(1000, 0)
	)
	set := func(d time.Duration) { mu.Lock(); now = time.Unix(1000, 0).Add(d); mu.Unlock() }
	c := NewCachedCatalog(inner, time.Second).(*CachedCatalog)
	c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	get := func(at time.Duration, want string, reads int64) {
		t.Helper()
		set(at)
		v, err := c.Services(ctx)
		if err != nil || len(v) != 1 || v[0].ID != want {
			t.Fatalf("at %v: %v %v, want %s", at, v, err, want)
		}
		if reads > 0 {
			waitFor(t, func() bool { return inner.services.Load() == reads })
		}
	}
	idle := func() {
		waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return !c.services.refreshing })
	}
	setCatalog("v1")
	get(0, "v1", 1)
	// The catalog changes; before half the TTL nothing is read.
	setCatalog("v2")
	get(400*time.Millisecond, "v1", 1)
	// Past half the TTL: answered from v1 while one renewal (read 2,
	// held) runs, however many requests see it.
	inner.hold.Store(2)
	for range 3 {
		get(600*time.Millisecond, "v1", 2)
	}
	inner.gate <- struct{}{}
	idle()
	// v2 counts from 0.6 s: still fresh at 1.5 s, nothing waited for; the
	// request at 1.5 s starts the next renewal (read 3), held again.
	inner.hold.Store(3)
	get(1500*time.Millisecond, "v2", 3)
	// That renewal has not landed at 1.6 s, v2's TTL: the request reads
	// for itself (read 4) rather than serve v2 longer.
	setCatalog("v3")
	get(1600*time.Millisecond, "v3", 4)
	inner.gate <- struct{}{} // the late renewal read v3 too, started at 1.5 s
	idle()
	// The later read (started at 1.6 s) is kept: fresh until 2.6 s.
	c.mu.Lock()
	loaded := c.services.loaded
	c.mu.Unlock()
	if want := time.Unix(1000, 0).Add(1600 * time.Millisecond); !loaded.Equal(want) {
		t.Fatalf("kept the read of %v, want the later one of %v", loaded, want)
	}
	get(2050*time.Millisecond, "v3", 4)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 2000 {
		if ok() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not reached in 2 s")
}
