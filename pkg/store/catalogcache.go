package store

import (
	"context"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// CachedCatalog wraps a token.Store and reuses the service catalog (enabled
// services with their endpoints, project endpoint filters, enabled service
// providers) for at most TTL. It is the only cache on the validation path,
// and it is allowed there because a catalog grants no access (design.md §4):
// a token's validity, user, scope and roles are still read on every
// request. A catalog change shows in validation responses within TTL.
type CachedCatalog struct {
	token.Store
	TTL time.Duration
	Now func() time.Time

	mu       sync.Mutex
	services cacheEntry[[]token.Service]
	sps      cacheEntry[[]token.ServiceProvider]
	projects map[string]cacheEntry[*token.ProjectEndpoints]
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
	return &CachedCatalog{Store: s, TTL: ttl, Now: time.Now, projects: map[string]cacheEntry[*token.ProjectEndpoints]{}}
}

func (c *CachedCatalog) Services(ctx context.Context) ([]token.Service, error) {
	now := c.Now()
	c.mu.Lock()
	e := c.services
	c.mu.Unlock()
	if e.ok && now.Before(e.expires) {
		return e.val, nil
	}
	v, err := c.Store.Services(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.services = cacheEntry[[]token.Service]{val: v, expires: now.Add(c.TTL), ok: true}
	c.mu.Unlock()
	return v, nil
}

func (c *CachedCatalog) EnabledServiceProviders(ctx context.Context) ([]token.ServiceProvider, error) {
	now := c.Now()
	c.mu.Lock()
	e := c.sps
	c.mu.Unlock()
	if e.ok && now.Before(e.expires) {
		return e.val, nil
	}
	v, err := c.Store.EnabledServiceProviders(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sps = cacheEntry[[]token.ServiceProvider]{val: v, expires: now.Add(c.TTL), ok: true}
	c.mu.Unlock()
	return v, nil
}

func (c *CachedCatalog) ProjectEndpoints(ctx context.Context, projectID string) (*token.ProjectEndpoints, error) {
	now := c.Now()
	c.mu.Lock()
	e := c.projects[projectID]
	c.mu.Unlock()
	if e.ok && now.Before(e.expires) {
		return e.val, nil
	}
	v, err := c.Store.ProjectEndpoints(ctx, projectID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.projects) >= maxCachedProjects {
		c.projects = map[string]cacheEntry[*token.ProjectEndpoints]{}
	}
	c.projects[projectID] = cacheEntry[*token.ProjectEndpoints]{val: v, expires: now.Add(c.TTL), ok: true}
	c.mu.Unlock()
	return v, nil
}
