package token

import (
	"context"
	"errors"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// ErrNotFound is returned by store lookups for a missing row.
var ErrNotFound = errors.New("not found")

// User is what validation needs of a Python user row
// (keystone/identity/backends/sql_model.py User).
type User struct {
	ID       string
	Name     string
	DomainID string
	// Enabled is the raw column; EffectiveEnabled applies inactivity rules.
	Enabled           bool
	CreatedAt         *time.Time
	LastActiveAt      *time.Time // a DATE
	PasswordExpiresAt *time.Time
	// IgnoreInactivity is user option 1004.
	IgnoreInactivity bool
	// Domain is the user's domain row, read in the same query (nil if the
	// row is missing).
	Domain *Project
}

// Project is a project row; domains are projects with IsDomain.
type Project struct {
	ID       string
	Name     string
	DomainID string
	ParentID string
	Enabled  bool
	IsDomain bool
}

// Membership is one group membership of a user.
type Membership struct {
	GroupID string
	// Expiring memberships come from federated logins and count only while
	// LastVerified + TTL is in the future.
	Expiring     bool
	LastVerified time.Time
	// IdPTTLMinutes is identity_provider.authorization_ttl (nil: use
	// [federation] default_authorization_ttl).
	IdPTTLMinutes *int
}

// Assignment is one row of assignment or system_assignment, with the
// role's name and domain joined in.
type Assignment struct {
	Type      string // UserProject, GroupProject, UserDomain, GroupDomain, UserSystem, GroupSystem
	ActorID   string
	TargetID  string
	RoleID    string
	Inherited bool
	RoleName  string
	// RoleDomainID is "" for global roles (stored as "<<null>>").
	RoleDomainID string
}

// Implied is one implied_role edge with the implied role's name joined.
type Implied struct {
	PriorID      string
	ImpliedID    string
	ImpliedName  string
	ImpliedDomID string
}

// Role is a full role record as role_api.get_role returns it.
type Role struct {
	ID          string
	Name        string
	DomainID    string // "" = global
	Description *string
	Extra       pyjson.Object
	Options     pyjson.Object
}

// Trust is a trust row with its role ids.
type Trust struct {
	ID                 string
	TrustorUserID      string
	TrusteeUserID      string
	ProjectID          string
	Impersonation      bool
	Deleted            bool
	ExpiresAt          *time.Time
	RemainingUses      *int
	RedelegatedTrustID string
	// RedelegationCount is the column as stored (nil for NULL): how many
	// more times the trust may be redelegated. Validation checks it on the
	// ancestors of a redelegated trust (trust/core.py _validate_redelegation).
	RedelegationCount *int
	RoleIDs           []string
}

// AccessRule is an application credential access rule.
type AccessRule struct {
	ID, Service, Path, Method string
}

// AppCred is an application credential with its role ids.
type AppCred struct {
	ID           string
	Name         string
	UserID       string
	ProjectID    string
	Unrestricted bool
	RoleIDs      []string
	AccessRules  []AccessRule
}

// AccessToken is an OAuth1 access token.
type AccessToken struct {
	ID         string
	ConsumerID string
	RoleIDs    []string
}

// RevocationEvent is a revocation_event row.
type RevocationEvent struct {
	DomainID      string
	ProjectID     string
	UserID        string
	RoleID        string
	TrustID       string
	ConsumerID    string
	AccessTokenID string
	AuditID       string
	AuditChainID  string
	IssuedBefore  time.Time
	ExpiresAt     *time.Time
	RevokedAt     time.Time
}

// RevocationQuery is the SQL pre-filter Python applies
// (keystone/revoke/backends/sql.py _list_token_events).
type RevocationQuery struct {
	IssuedAt  time.Time
	UserIDs   []string // token user, trustor, trustee (non-empty ones)
	ProjectID string
	AuditID   string
}

// Endpoint is an endpoint row.
type Endpoint struct {
	ID        string
	Interface string
	RegionID  *string
	ServiceID string
	URL       string
	Enabled   bool
	Extra     pyjson.Object
}

// Service is an enabled service with all its endpoints (enabled or not).
type Service struct {
	ID        string
	Type      string
	Extra     pyjson.Object
	Endpoints []Endpoint
}

// EndpointGroup is an endpoint group associated with a project.
type EndpointGroup struct {
	ID      string
	Filters pyjson.Object
}

// ProjectEndpoints is the endpoint filter of one project.
type ProjectEndpoints struct {
	EndpointIDs []string
	Groups      []EndpointGroup
}

// ServiceProvider is an enabled K2K service provider.
type ServiceProvider struct {
	ID, AuthURL, SPURL string
}

// IdentityReader reads users and memberships.
type IdentityReader interface {
	GetUser(ctx context.Context, id string) (*User, error)
	ListMemberships(ctx context.Context, userID string) ([]Membership, error)
}

// ResourceReader reads projects and domains.
type ResourceReader interface {
	// GetProjects returns the rows that exist among ids.
	GetProjects(ctx context.Context, ids ...string) (map[string]*Project, error)
	// ProjectLineage returns the project followed by its ancestors up to
	// and including its domain; empty if the project does not exist.
	ProjectLineage(ctx context.Context, projectID string) ([]*Project, error)
}

// AssignmentReader reads role assignments and roles.
type AssignmentReader interface {
	// Assignments returns assignment rows with actor in actorIDs and
	// target in targetIDs.
	Assignments(ctx context.Context, actorIDs, targetIDs []string) ([]Assignment, error)
	// UserAssignments returns the assignments on targetIDs whose actor is
	// the user or any group the user belongs to (regular or expiring
	// membership: the caller drops expired ones), in one statement.
	UserAssignments(ctx context.Context, userID string, targetIDs []string) ([]Assignment, error)
	SystemAssignments(ctx context.Context, actorIDs []string) ([]Assignment, error)
	ImpliedRoles(ctx context.Context) ([]Implied, error)
	GetRoles(ctx context.Context, ids []string) (map[string]*Role, error)
}

// RevocationReader reads revocation events.
type RevocationReader interface {
	RevocationEvents(ctx context.Context, q RevocationQuery) ([]RevocationEvent, error)
}

// CatalogReader reads the service catalog.
type CatalogReader interface {
	Services(ctx context.Context) ([]Service, error)
	ProjectEndpoints(ctx context.Context, projectID string) (*ProjectEndpoints, error)
	EnabledServiceProviders(ctx context.Context) ([]ServiceProvider, error)
}

// DelegationReader reads trusts (a redelegated trust's pedigree) and
// OAuth1 access tokens. Application credentials and identity providers
// come with the first round only (PrefetchQuery.AppCred,
// PrefetchQuery.IdentityProvider).
type DelegationReader interface {
	GetTrust(ctx context.Context, id string) (*Trust, error)
	GetAccessToken(ctx context.Context, id string) (*AccessToken, error)
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
	User *User // nil if the user does not exist
	// UserNonLocal: the user exists and has no local_user row (an LDAP
	// or federated shadow user).
	UserNonLocal bool
	Memberships  []Membership
	Implied      []Implied
	Lineage      []*Project
	Domains      map[string]*Project
	Assignments  []Assignment
	Events       []RevocationEvent
	// IdentityProviderExists answers PrefetchQuery.IdentityProvider.
	IdentityProviderExists bool
	// SystemAssignments answers PrefetchQuery.SystemActors.
	SystemAssignments []Assignment
	// Roles answers PrefetchQuery.Roles (the roles found, by id).
	Roles map[string]*Role
	// Trust, Trustor, TrustorMemberships and TrustorAssignments answer
	// PrefetchQuery.Trust (nil when not found or not asked for).
	Trust              *Trust
	Trustor            *User
	TrustorMemberships []Membership
	TrustorAssignments []Assignment
	// AppCred answers PrefetchQuery.AppCred.
	AppCred *AppCred
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
