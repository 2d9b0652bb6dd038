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
	val     T
	expires time.Time
	ok      bool
}

// maxCachedProjects bounds the per-project endpoint filters kept; past it
// the map is dropped and refilled, which only costs queries.
const maxCachedProjects = 50000

// NewCachedCatalog returns s itself when ttl is 0.
func NewCachedCatalog(s token.Store, ttl time.Duration) token.Store {
	if ttl <= 0 {
		return s
	}
	return &CachedCatalog{Store: s, TTL: ttl, Now: time.Now, projects: map[string]*cacheEntry[*keystone.ProjectEndpoints]{}}
}

// cached returns *e while it is fresh, otherwise loads, stores and returns
// a new value. Concurrent misses may load twice; both results are valid.
func cached[T any](c *CachedCatalog, e *cacheEntry[T], load func() (T, error)) (T, error) {
	now := c.Now()
	c.mu.Lock()
	cur := *e
	c.mu.Unlock()
	if cur.ok && now.Before(cur.expires) {
		return cur.val, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	*e = cacheEntry[T]{val: v, expires: now.Add(c.TTL), ok: true}
	c.mu.Unlock()
	return v, nil
}

func (c *CachedCatalog) Services(ctx context.Context) ([]keystone.Service, error) {
	return cached(c, &c.services, func() ([]keystone.Service, error) { return c.Store.Services(ctx) })
}

func (c *CachedCatalog) EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error) {
	return cached(c, &c.sps, func() ([]keystone.ServiceProvider, error) { return c.Store.EnabledServiceProviders(ctx) })
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
	return cached(c, e, func() (*keystone.ProjectEndpoints, error) { return c.Store.ProjectEndpoints(ctx, projectID) })
}
