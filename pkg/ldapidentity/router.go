package ldapidentity

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// Mapping is an id_mapping row.
type Mapping struct {
	DomainID, LocalID, EntityType string
}

// IDMapper reads Python's id_mapping table (pkg/store).
type IDMapper interface {
	// IDMapping returns the row of a public id (false: none).
	IDMapping(ctx context.Context, publicID string) (Mapping, bool, error)
	// PublicIDs returns, for local ids of a domain's entities of a type,
	// the public ids of those that have a row.
	PublicIDs(ctx context.Context, domainID, entityType string, localIDs []string) (map[string]string, error)
}

// Backend kinds.
const (
	KindSQL  = "sql"
	KindLDAP = "ldap"
	// KindUnsupported is a driver keystone-ng does not implement, or an
	// LDAP configuration it cannot honour: its users' validations are
	// left to Python (a 500 the front door fails over on).
	KindUnsupported = "unsupported"
)

// UserDirectory is what the Router asks of a directory (*Directory).
type UserDirectory interface {
	GetUser(ctx context.Context, localID string) (*User, error)
	GroupsForUser(ctx context.Context, u *User) ([]Group, error)
	Close()
}

var _ UserDirectory = (*Directory)(nil)

// Backend is the identity backend of a domain (or the default one).
type Backend struct {
	Kind string
	// Dir reads the directory (KindLDAP).
	Dir UserDirectory
	// Source says where its configuration comes from, Reason why it is
	// unsupported (for keystone-ng check and logs).
	Source, Reason string
}

// Router is keystone-ng's side of Python's identity manager: it finds the
// backend of a user's public id as _get_domain_driver_and_entity_id does
// and asks it. It implements token.IdentityBackend.
type Router struct {
	// DefaultDomainID is [identity] default_domain_id.
	DefaultDomainID string
	// DomainSpecific is [identity] domain_specific_drivers_enabled.
	DomainSpecific bool
	// BackwardCompatibleIDs is [identity_mapping] backward_compatible_ids.
	BackwardCompatibleIDs bool
	// Default is the backend of [identity] driver; Domains those of the
	// domains with their own configuration, by domain id.
	Default *Backend
	// Domains is read under mu: Refresh replaces it while requests read.
	Domains map[string]*Backend
	Map     IDMapper

	mu sync.RWMutex
	// catalog and rowsSeen: the database source of domain configuration
	// (Refresh); nil catalog for files.
	catalog  Catalog
	rowsSeen map[string]string
	onSearch func(ok bool)

	// groupIDs remembers public ids of groups: an id_mapping row never
	// changes once written, and Python writes the one the sha256
	// generator gives when it finds none.
	groupIDs sync.Map // [3]string{domain, "group", local} -> public id
}

var _ token.IdentityBackend = (*Router)(nil)

// backendOf is _select_identity_driver: the domain's own backend, else
// the default one.
func (r *Router) backendOf(domainID string) *Backend {
	r.mu.RLock()
	b, ok := r.Domains[domainID]
	r.mu.RUnlock()
	if ok {
		return b
	}
	return r.Default
}

// ServesFromSQL reports whether the users of a domain are read from SQL
// (its own backend, else the default one, is the SQL driver).
func (r *Router) ServesFromSQL(domainID string) bool {
	return r.backendOf(domainID).Kind == KindSQL
}

// Needed reports whether any user may be served by something other than
// SQL; without that a Validator needs no Router at all.
func (r *Router) Needed() bool {
	if r.Default.Kind != KindSQL {
		return true
	}
	if !r.DomainSpecific {
		return false
	}
	if r.catalog != nil {
		// Stored configuration may name an LDAP domain later (Refresh).
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, b := range r.Domains {
		if b.Kind != KindSQL {
			return true
		}
	}
	return false
}

// LookupUser implements token.IdentityBackend.
//
// A user whose SQL row lies in a domain served from SQL is answered from
// that row without a statement: such a user's id is a SQL user id (32
// hex digits), never an id_mapping public id (64 hex digits of SHA-256),
// so Python's mapping lookup would find nothing and end at the SQL
// driver too.
func (r *Router) LookupUser(ctx context.Context, userID string, sqlUser *keystone.User) (*token.BackendUser, error) {
	if sqlUser != nil && r.backendOf(sqlUser.DomainID).Kind == KindSQL {
		return nil, nil
	}
	domainID, localID, b, err := r.resolve(ctx, userID)
	if err != nil {
		return nil, err
	}
	switch {
	case b == nil:
		// PublicIDNotFound, which Python's identity manager turns into
		// UserNotFound naming the public id.
		return &token.BackendUser{Backend: r.Default.Kind, LocalID: userID}, nil
	case b.Kind == KindSQL:
		return nil, nil
	case b.Kind != KindLDAP:
		return nil, fmt.Errorf("%w: domain %s: %s", token.ErrBackendUnserved, domainID, b.Reason)
	}
	u, err := b.Dir.GetUser(ctx, localID)
	if err != nil {
		return nil, fmt.Errorf("ldap identity of domain %s: %w", domainID, err)
	}
	if u == nil {
		return &token.BackendUser{Backend: KindLDAP, LocalID: localID}, nil
	}
	groups, err := b.Dir.GroupsForUser(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("ldap groups of domain %s: %w", domainID, err)
	}
	gids, err := r.groupPublicIDs(ctx, b, domainID, groups)
	if err != nil {
		return nil, err
	}
	return &token.BackendUser{Backend: KindLDAP, LocalID: localID, GroupIDs: gids,
		User: &keystone.User{ID: userID, Name: u.Name, DomainID: domainID, Enabled: u.Enabled}}, nil
}

// resolve is _get_domain_driver_and_entity_id: the id_mapping row when
// domain-specific drivers are on, else the default driver, which for
// LDAP takes the public id as its own (backward_compatible_ids) or needs
// a row. A nil backend is PublicIDNotFound.
func (r *Router) resolve(ctx context.Context, userID string) (string, string, *Backend, error) {
	looked := false
	if r.DomainSpecific {
		m, ok, err := r.Map.IDMapping(ctx, userID)
		if err != nil {
			return "", "", nil, err
		}
		if ok {
			return m.DomainID, m.LocalID, r.backendOf(m.DomainID), nil
		}
		looked = true
	}
	if r.Default.Kind == KindSQL || r.BackwardCompatibleIDs {
		return r.DefaultDomainID, userID, r.Default, nil
	}
	if !looked {
		m, ok, err := r.Map.IDMapping(ctx, userID)
		if err != nil {
			return "", "", nil, err
		}
		if ok {
			return m.DomainID, m.LocalID, r.Default, nil
		}
	}
	return "", "", nil, nil
}

// groupPublicIDs maps the groups' local ids to public ids as
// _set_domain_id_and_mapping does: not at all for the default driver in
// backward-compatible mode; otherwise the id_mapping row, or for a group
// without one the id Python would create (sha256 generator).
func (r *Router) groupPublicIDs(ctx context.Context, b *Backend, domainID string, groups []Group) ([]string, error) {
	out := make([]string, 0, len(groups))
	if b == r.Default && r.BackwardCompatibleIDs {
		for _, g := range groups {
			out = append(out, g.LocalID)
		}
		return out, nil
	}
	var missing []string
	for _, g := range groups {
		if _, ok := r.groupIDs.Load([3]string{domainID, "group", g.LocalID}); !ok {
			missing = append(missing, g.LocalID)
		}
	}
	if len(missing) > 0 {
		found, err := r.Map.PublicIDs(ctx, domainID, "group", missing)
		if err != nil {
			return nil, err
		}
		for _, l := range missing {
			p, ok := found[l]
			if !ok {
				p = PublicID(domainID, "group", l)
			}
			r.groupIDs.Store([3]string{domainID, "group", l}, p)
		}
	}
	for _, g := range groups {
		p, _ := r.groupIDs.Load([3]string{domainID, "group", g.LocalID})
		out = append(out, p.(string))
	}
	return out, nil
}

// DomainReport is one line of keystone-ng check: a domain's identity
// backend.
type DomainReport struct {
	Domain, Kind, Source, Reason string
}

// Report lists the backends, the default first, then domains by id.
func (r *Router) Report() []DomainReport {
	out := []DomainReport{{Domain: "(default driver, domain " + r.DefaultDomainID + ")", Kind: r.Default.Kind, Source: r.Default.Source, Reason: r.Default.Reason}}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.Domains))
	for id := range r.Domains {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b := r.Domains[id]
		out = append(out, DomainReport{Domain: id, Kind: b.Kind, Source: b.Source, Reason: b.Reason})
	}
	return out
}

// OnSearch hands f to every LDAP directory (Directory.OnSearch).
func (r *Router) OnSearch(f func(ok bool)) {
	r.mu.Lock()
	r.onSearch = f
	r.mu.Unlock()
	for _, b := range append([]*Backend{r.Default}, r.backends()...) {
		if d, ok := b.Dir.(*Directory); ok {
			d.OnSearch(f)
		}
	}
}

func (r *Router) backends() []*Backend {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Backend, 0, len(r.Domains))
	for _, b := range r.Domains {
		out = append(out, b)
	}
	return out
}

// Close closes the directories' connections.
func (r *Router) Close() {
	if r.Default.Dir != nil {
		r.Default.Dir.Close()
	}
	for _, b := range r.backends() {
		if b.Dir != nil {
			b.Dir.Close()
		}
	}
}
