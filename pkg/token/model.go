package token

import (
	"context"
	"errors"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// ErrNotFound is returned by store lookups for a missing row.
var ErrNotFound = errors.New("not found")

// RevocationQuery is the SQL pre-filter Python applies
// (keystone/revoke/backends/sql.py _list_token_events).
type RevocationQuery struct {
	IssuedAt  time.Time
	UserIDs   []string // token user, trustor, trustee (non-empty ones)
	ProjectID string
	AuditID   string
}

// IdentityReader reads users and memberships.
type IdentityReader interface {
	GetUser(ctx context.Context, id string) (*keystone.User, error)
	ListMemberships(ctx context.Context, userID string) ([]keystone.Membership, error)
}

// ResourceReader reads projects and domains.
type ResourceReader interface {
	// GetProjects returns the rows that exist among ids.
	GetProjects(ctx context.Context, ids ...string) (map[string]*keystone.Project, error)
	// ProjectLineage returns the project followed by its ancestors up to
	// and including its domain; empty if the project does not exist.
	ProjectLineage(ctx context.Context, projectID string) ([]*keystone.Project, error)
}

// AssignmentReader reads role assignments and roles.
type AssignmentReader interface {
	// Assignments returns assignment rows with actor in actorIDs and
	// target in targetIDs.
	Assignments(ctx context.Context, actorIDs, targetIDs []string) ([]keystone.Assignment, error)
	// UserAssignments returns the assignments on targetIDs whose actor is
	// the user or any group the user belongs to (regular or expiring
	// membership: the caller drops expired ones), in one statement.
	UserAssignments(ctx context.Context, userID string, targetIDs []string) ([]keystone.Assignment, error)
	SystemAssignments(ctx context.Context, actorIDs []string) ([]keystone.Assignment, error)
	ImpliedRoles(ctx context.Context) ([]keystone.Implied, error)
	GetRoles(ctx context.Context, ids []string) (map[string]*keystone.Role, error)
}

// RevocationReader reads revocation events.
type RevocationReader interface {
	RevocationEvents(ctx context.Context, q RevocationQuery) ([]keystone.RevocationEvent, error)
}

// CatalogReader reads the service catalog.
type CatalogReader interface {
	Services(ctx context.Context) ([]keystone.Service, error)
	ProjectEndpoints(ctx context.Context, projectID string) (*keystone.ProjectEndpoints, error)
	EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error)
}

// DelegationReader reads trusts (a redelegated trust's pedigree) and
// OAuth1 access tokens. Application credentials and identity providers
// come with the first round only (PrefetchQuery.AppCred,
// PrefetchQuery.IdentityProvider).
type DelegationReader interface {
	GetTrust(ctx context.Context, id string) (*keystone.Trust, error)
	GetAccessToken(ctx context.Context, id string) (*keystone.AccessToken, error)
}

// PrefetchQuery says what the first round of a validation reads.
type PrefetchQuery struct {
	UserID string
	// ProjectID asks for the project's lineage up to its domain.
	ProjectID string
	// DomainID asks for the domain row, and with DomainAssignments for
	// the assignments of the user and their groups on it.
	DomainID          string
	DomainAssignments bool
	// AssignmentHint (project tokens) asks for the assignments of its
	// actors on its targets too, in Prefetched.Assignments.
	AssignmentHint *AssignmentHint
	// Revocation asks for the revocation events (nil: not yet known).
	Revocation *RevocationQuery
	// UserInactivity asks for the user's inactivity exemption (option
	// 1004), needed only when [security_compliance]
	// disable_user_account_days_inactive is set; without it the store may
	// leave User.IgnoreInactivity false.
	UserInactivity bool
	// UserNames asks for the names of a user without a local_user row
	// (nonlocal_user, federated_user) with the first round; without it
	// the store reads them afterwards when it finds no local name.
	UserNames bool
	// IdentityProvider asks whether this identity provider exists
	// (federated tokens), in Prefetched.IdentityProviderExists.
	IdentityProvider string
	// SystemActors asks for the system role grants of these actors
	// (federated scoped tokens, whose actors the payload names), in
	// Prefetched.SystemAssignments.
	SystemActors []string
	// Roles asks for these full role records (federated and trust
	// scoped tokens: the roles the previous validation rendered, a hint
	// like AssignmentHint), in Prefetched.Roles.
	Roles []string
	// Trust asks for a trust, and with a hint of the previous validation
	// for what the trustor's side of the delegation check needs.
	Trust *TrustPrefetch
	// AppCred asks for an application credential with its roles and
	// access rules, in Prefetched.AppCred (nil if it does not exist).
	AppCred string
}

// TrustPrefetch says what the first round reads of a trust token's trust.
type TrustPrefetch struct {
	// ID is the trust, in Prefetched.Trust (nil if it does not exist).
	ID string
	// TrustorID, when set (a hint: a trust's trustor never changes, but
	// the trust row read in the same round is what decides), asks for the
	// trustor (Prefetched.Trustor), their memberships and their
	// assignments, direct and through their groups, on TrustorTargets.
	TrustorID      string
	TrustorTargets []string
}

// Prefetched is the result of a PrefetchQuery.
type Prefetched struct {
	User *keystone.User // nil if the user does not exist
	// UserNonLocal: the user exists and has no local_user row (an LDAP
	// or federated shadow user).
	UserNonLocal bool
	Memberships  []keystone.Membership
	Implied      []keystone.Implied
	Lineage      []*keystone.Project
	Domains      map[string]*keystone.Project
	Assignments  []keystone.Assignment
	Events       []keystone.RevocationEvent
	// IdentityProviderExists answers PrefetchQuery.IdentityProvider.
	IdentityProviderExists bool
	// SystemAssignments answers PrefetchQuery.SystemActors.
	SystemAssignments []keystone.Assignment
	// Roles answers PrefetchQuery.Roles (the roles found, by id).
	Roles map[string]*keystone.Role
	// Trust, Trustor, TrustorMemberships and TrustorAssignments answer
	// PrefetchQuery.Trust (nil when not found or not asked for).
	Trust              *keystone.Trust
	Trustor            *keystone.User
	TrustorMemberships []keystone.Membership
	TrustorAssignments []keystone.Assignment
	// AppCred answers PrefetchQuery.AppCred.
	AppCred *keystone.AppCred
}

// Prefetcher reads the independent lookups of a validation together; a
// store can answer in a single round trip.
type Prefetcher interface {
	Prefetch(ctx context.Context, q PrefetchQuery) (*Prefetched, error)
}

// Rounder runs one round of a validation's lookups. The store owns
// admission control (how many rounds and statements read at once, from one
// limits value), so a round waits there for its turn, then runs fns
// concurrently (Concurrently), and returns their errors joined.
type Rounder interface {
	Round(ctx context.Context, fns ...func() error) error
}

// Store is everything validation reads.
type Store interface {
	Rounder
	Prefetcher
	IdentityReader
	ResourceReader
	AssignmentReader
	RevocationReader
	CatalogReader
	DelegationReader
}
