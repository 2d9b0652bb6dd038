// Package keystone is Python Keystone's data model as keystone-ng reads
// it: the rows of Python's tables (users, projects and domains, group
// memberships, role assignments, roles and their implications, trusts,
// application credentials, OAuth1 access tokens, revocation events, the
// catalog), each with the fields validation, rendering and /v4 need. The
// schema they come from is in docs/python-compat.md §4; pkg/store reads
// and writes them, pkg/token judges and renders them.
//
// A domain is a row of Python's project table with is_domain set
// (keystone/resource/backends/sql_model.py), so Project stands for both;
// IsDomain tells them apart.
package keystone

import (
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// User is what validation needs of a Python user row
// (keystone/identity/backends/sql_model.py User).
type User struct {
	ID       string
	Name     string
	DomainID string
	// Enabled is the raw column; token.UserEnabled adds the inactivity rule.
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
	// Bare: the schema predates role descriptions and options (Stein,
	// 15.0), so Python's role dict has neither key.
	Bare bool
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
