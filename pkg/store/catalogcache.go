package store

import (
	"context"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// CachedCatalog wraps a token.Store and reuses the service catalog (enabled
// services with their endpoints, project endpoint filters, enabled service
// providers) for at most TTL. It is the only cache on the validation path,
// and it is allowed there because a catalog grants no access (docs/design.md §4):
// a token's validity, user, scope and roles are still read on every
// request. A catalog change shows in validation responses within TTL.
type CachedCatalog struct {
	token.Store
	TTL time.Duration
	Now func() time.Time

	mu       sync.Mutex
	services cacheEntry[[]keystone.Service]
	sps      cacheEntry[[]keystone.ServiceProvider]
	projects map[string]*cacheEntry[*keystone.ProjectEndpoints]
}

var _ token.Store = (*CachedCatalog)(nil)

type cacheEntry[T any] struct {
	val T
	// loaded is when the read of val started: every change committed
	// before it is in val.
	loaded time.Time
	ok     bool
	// refreshing: a background read of a fresher value is under way.
	refreshing bool
}

// maxCachedProjects bounds the per-project endpoint filters kept; past it
// the map is dropped and refilled, which only costs queries.
const maxCachedProjects = 50000

// refreshTimeout bounds a background refresh (a request's own read is
// bounded by its request's deadline instead).
const refreshTimeout = 10 * time.Second

// NewCachedCatalog returns s itself when ttl is 0.
func NewCachedCatalog(s token.Store, ttl time.Duration) token.Store {
	if ttl <= 0 {
		return s
	}
	return &CachedCatalog{Store: s, TTL: ttl, Now: time.Now, projects: map[string]*cacheEntry[*keystone.ProjectEndpoints]{}}
}

// cached returns *e while it is fresh (read less than TTL ago), otherwise
// reads, stores and returns a new value. Concurrent misses may read twice;
// both results are valid.
//
// Once a value is past half its TTL, the first request to see it starts
// one background read of a fresher value and is still answered from the
// current one, so under steady traffic the entry is renewed before it
// expires and no request waits for the catalog. Before, every second the
// requests in flight when the entry expired each read the catalog (three
// statements each, outside the batching of validation rounds): with 16
// connections, a burst of 48 statements once per TTL, which set the p99
// (docs/performance.md). The bound is unchanged: a value is served only
// while its read started less than TTL ago.
func cached[T any](ctx context.Context, c *CachedCatalog, e *cacheEntry[T], load func(context.Context) (T, error)) (T, error) {
	now := c.Now()
	c.mu.Lock()
	cur := *e
	fresh := cur.ok && now.Before(cur.loaded.Add(c.TTL))
	renew := fresh && !cur.refreshing && !now.Before(cur.loaded.Add(c.TTL/2))
	if renew {
		e.refreshing = true
	}
	c.mu.Unlock()
	if renew {
		go func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
			defer cancel()
			_, _ = reload(rctx, c, e, load)
		}()
	}
	if fresh {
		return cur.val, nil
	}
	return reload(ctx, c, e, load)
}

// reload reads a value with load and keeps it in e, unless a read that
// started later is there already; a failed read keeps the current value
// (which then still expires at its time).
func reload[T any](ctx context.Context, c *CachedCatalog, e *cacheEntry[T], load func(context.Context) (T, error)) (T, error) {
	start := c.Now()
	v, err := load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if err != nil {
		return v, err
	}
	if !e.ok || !e.loaded.After(start) {
		e.val, e.loaded, e.ok = v, start, true
	}
	return v, nil
}
func (c *CachedCatalog) Services(ctx context.Context) ([]keystone.Service, error) {
	return cached(ctx, c, &c.services, c.Store.Services)
}

func (c *CachedCatalog) EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error) {
	return cached(ctx, c, &c.sps, c.Store.EnabledServiceProviders)
}

func (c *CachedCatalog) ProjectEndpoints(ctx context.Context, projectID string) (*keystone.ProjectEndpoints, error) {
	c.mu.Lock()
	e, ok := c.projects[projectID]
	if !ok {
		if len(c.projects) >= maxCachedProjects {
			c.projects = map[string]*cacheEntry[*keystone.ProjectEndpoints]{}
		}
		e = &cacheEntry[*keystone.ProjectEndpoints]{}
		c.projects[projectID] = e
	}
	c.mu.Unlock()
	return cached(ctx, c, e, func(ctx context.Context) (*keystone.ProjectEndpoints, error) {
		return c.Store.ProjectEndpoints(ctx, projectID)
	})
}
