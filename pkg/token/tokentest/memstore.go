// Package tokentest provides an in-memory token.Store for unit tests of
// the validation and HTTP layers. The same logic is tested against MariaDB,
// PostgreSQL and SQLite beside a real Python Keystone in pkg/interop.
package tokentest

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// MemStore is an in-memory token.Store for testing the validation logic in
// isolation; the same logic runs against MariaDB, PostgreSQL and SQLite
// beside a real Python Keystone in pkg/interop.
type MemStore struct {
	Users       map[string]*keystone.User
	Projects    map[string]*keystone.Project
	Memberships map[string][]keystone.Membership
	Grants      []keystone.Assignment
	System      []keystone.Assignment
	Implied     []keystone.Implied
	Events      []keystone.RevocationEvent
	Catalog     []keystone.Service
	Roles       map[string]*keystone.Role
	// AccessTokens are the OAuth1 access tokens by id.
	AccessTokens map[string]*keystone.AccessToken

	// NonLocal are the users without a local_user row (LDAP or
	// federated shadow users).
	NonLocal map[string]bool
	// MissingIdPs are identity providers that do not exist (all others
	// do).
	MissingIdPs map[string]bool
	// Trusts are the trusts by id, AppCreds the application credentials.
	Trusts   map[string]*keystone.Trust
	AppCreds map[string]*keystone.AppCred

	// AssignmentReads counts Assignments calls, HintedReads the
	// assignments read by Prefetch for an AssignmentHint, LateNameReads
	// the names of a non-local user Prefetch read after its first round
	// (as the SQL store does without PrefetchQuery.UserNames).
	AssignmentReads, HintedReads, LateNameReads atomic.Int64
	// SystemReads and RoleReads count SystemAssignments and GetRoles
	// calls (Prefetch's own reads are not counted).
	SystemReads, RoleReads atomic.Int64
	// TrustReads counts trusts read (GetTrust, and Prefetch's read of a
	// trust token's trust: one SQL statement each in pkg/store);
	// TrustorReads the trustor's user row read by GetUser after a first
	// round (as GetUserReads counts every GetUser).
	TrustReads, GetUserReads atomic.Int64
	// Rounds counts the rounds of lookups run.
	Rounds atomic.Int64
}

var _ token.Store = (*MemStore)(nil)

// Round runs a round at once: the in-memory store admits every round.
func (m *MemStore) Round(_ context.Context, fns ...func() error) error {
	m.Rounds.Add(1)
	return token.Concurrently(fns...)
}

func (m *MemStore) GetUser(ctx context.Context, id string) (*keystone.User, error) {
	m.GetUserReads.Add(1)
	return m.user(id)
}

func (m *MemStore) user(id string) (*keystone.User, error) {
	u, ok := m.Users[id]
	if !ok {
		return nil, token.ErrNotFound
	}
	c := *u
	c.Domain = m.Projects[u.DomainID]
	return &c, nil
}
func (m *MemStore) ListMemberships(_ context.Context, id string) ([]keystone.Membership, error) {
	return m.Memberships[id], nil
}
func (m *MemStore) GetProjects(_ context.Context, ids ...string) (map[string]*keystone.Project, error) {
	out := map[string]*keystone.Project{}
	for _, id := range ids {
		if p, ok := m.Projects[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}
func (m *MemStore) ProjectLineage(_ context.Context, id string) ([]*keystone.Project, error) {
	var out []*keystone.Project
	for p := m.Projects[id]; p != nil; p = m.Projects[p.ParentID] {
		out = append(out, p)
		if p.ParentID == "" {
			break
		}
	}
	return out, nil
}
func (m *MemStore) Assignments(_ context.Context, actors, targets []string) ([]keystone.Assignment, error) {
	m.AssignmentReads.Add(1)
	return m.assignments(actors, targets), nil
}

func (m *MemStore) assignments(actors, targets []string) []keystone.Assignment {
	in := func(s string, l []string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	var out []keystone.Assignment
	for _, a := range m.Grants {
		if in(a.ActorID, actors) && in(a.TargetID, targets) {
			out = append(out, a)
		}
	}
	return out
}
func (m *MemStore) UserAssignments(ctx context.Context, userID string, targets []string) ([]keystone.Assignment, error) {
	actors := []string{userID}
	for _, ms := range m.Memberships[userID] {
		actors = append(actors, ms.GroupID)
	}
	return m.assignments(actors, targets), nil
}
func (m *MemStore) SystemAssignments(_ context.Context, actors []string) ([]keystone.Assignment, error) {
	m.SystemReads.Add(1)
	return m.systemAssignments(actors), nil
}

// systemAssignments are the system grants of actors, as the SQL store
// selects them.
func (m *MemStore) systemAssignments(actors []string) []keystone.Assignment {
	var out []keystone.Assignment
	for _, a := range m.System {
		if slices.Contains(actors, a.ActorID) {
			out = append(out, a)
		}
	}
	return out
}
func (m *MemStore) ImpliedRoles(context.Context) ([]keystone.Implied, error) { return m.Implied, nil }
func (m *MemStore) GetRoles(_ context.Context, ids []string) (map[string]*keystone.Role, error) {
	m.RoleReads.Add(1)
	return m.roles(ids), nil
}

func (m *MemStore) roles(ids []string) map[string]*keystone.Role {
	out := map[string]*keystone.Role{}
	for _, id := range ids {
		if r, ok := m.Roles[id]; ok {
			out[id] = r
		}
	}
	return out
}
func (m *MemStore) RevocationEvents(context.Context, token.RevocationQuery) ([]keystone.RevocationEvent, error) {
	return m.Events, nil
}
func (m *MemStore) Services(context.Context) ([]keystone.Service, error) { return m.Catalog, nil }
func (m *MemStore) ProjectEndpoints(context.Context, string) (*keystone.ProjectEndpoints, error) {
	return &keystone.ProjectEndpoints{}, nil
}
func (m *MemStore) EnabledServiceProviders(context.Context) ([]keystone.ServiceProvider, error) {
	return nil, nil
}
func (m *MemStore) GetTrust(_ context.Context, id string) (*keystone.Trust, error) {
	m.TrustReads.Add(1)
	tr, ok := m.Trusts[id]
	if !ok {
		return nil, token.ErrNotFound
	}
	c := *tr
	c.RoleIDs = slices.Clone(tr.RoleIDs)
	return &c, nil
}

// appCred is the application credential id, as Prefetch reads it.
func (m *MemStore) appCred(id string) *keystone.AppCred {
	ac, ok := m.AppCreds[id]
	if !ok {
		return nil
	}
	c := *ac
	return &c
}
func (m *MemStore) GetAccessToken(_ context.Context, id string) (*keystone.AccessToken, error) {
	at, ok := m.AccessTokens[id]
	if !ok {
		return nil, token.ErrNotFound
	}
	c := *at
	return &c, nil
}

// Prefetch answers from the individual lookups.
func (m *MemStore) Prefetch(ctx context.Context, q token.PrefetchQuery) (*token.Prefetched, error) {
	out := &token.Prefetched{Domains: map[string]*keystone.Project{}}
	if u, err := m.user(q.UserID); err == nil {
		if !q.UserInactivity {
			// As the SQL store: the exemption is only read when asked for.
			c := *u
			c.IgnoreInactivity = false
			u = &c
		}
		out.User = u
		out.UserNonLocal = m.NonLocal[q.UserID]
		if out.UserNonLocal && !q.UserNames && !q.UserInactivity {
			m.LateNameReads.Add(1)
		}
	}
	out.Memberships, _ = m.ListMemberships(ctx, q.UserID)
	out.Implied, _ = m.ImpliedRoles(ctx)
	if q.ProjectID != "" {
		out.Lineage, _ = m.ProjectLineage(ctx, q.ProjectID)
	}
	if q.DomainID != "" {
		out.Domains, _ = m.GetProjects(ctx, q.DomainID)
		if q.DomainAssignments {
			out.Assignments, _ = m.UserAssignments(ctx, q.UserID, []string{q.DomainID})
		}
	}
	if h := q.AssignmentHint; h != nil {
		m.HintedReads.Add(1)
		out.Assignments = append(out.Assignments, m.assignments(h.Actors, h.Targets)...)
	}
	if q.Revocation != nil {
		out.Events, _ = m.RevocationEvents(ctx, *q.Revocation)
	}
	if q.IdentityProvider != "" {
		out.IdentityProviderExists = !m.MissingIdPs[q.IdentityProvider]
	}
	if len(q.SystemActors) > 0 {
		out.SystemAssignments = m.systemAssignments(q.SystemActors)
	}
	if len(q.Roles) > 0 {
		out.Roles = m.roles(q.Roles)
	}
	if q.AppCred != "" {
		out.AppCred = m.appCred(q.AppCred)
	}
	if tq := q.Trust; tq != nil {
		if tr, err := m.GetTrust(ctx, tq.ID); err == nil {
			out.Trust = tr
		}
		if tq.TrustorID != "" {
			if u, err := m.user(tq.TrustorID); err == nil {
				out.Trustor = u
			}
			out.TrustorMemberships = m.Memberships[tq.TrustorID]
			if len(tq.TrustorTargets) > 0 {
				out.TrustorAssignments, _ = m.UserAssignments(ctx, tq.TrustorID, tq.TrustorTargets)
			}
		}
	}
	return out, nil
}
