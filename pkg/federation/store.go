package federation

import (
	"context"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// The federation service reads and writes the database only through these
// interfaces (store.Federation implements them on the three backends);
// what the rows mean, and every rule about them (validation, grantable
// bounds, quotas), stays in the service. login.go's provisioning still
// runs its own SQL.

// IdPStore keeps identity providers: keystone-ng's row and the rows
// Python's federation needs for them.
type IdPStore interface {
	// GetIdP returns store.ErrNotFound when the IdP is not keystone-ng's.
	GetIdP(ctx context.Context, id string) (*store.IdPRow, error)
	ListIdPs(ctx context.Context, f store.IdPFilter) ([]*store.IdPRow, error)
	// CreateIdP calls admit, for an IdP owned by a domain, with how many
	// IdPs that domain has, inside the creating transaction.
	CreateIdP(ctx context.Context, p *store.IdPRow, protocolID string, now time.Time, admit func(ownerIdPs int) error) error
	UpdateIdP(ctx context.Context, p *store.IdPRow, oldIssuer string, now time.Time) error
	DeleteIdP(ctx context.Context, p *store.IdPRow) error
}

// MappingStore keeps the mappings of keystone-ng's IdPs (their rules as
// canonical JSON).
type MappingStore interface {
	CountMappings(ctx context.Context, idpID string) (int, error)
	CreateMapping(ctx context.Context, idpID, name, rules string, now time.Time) error
	MappingRules(ctx context.Context, idpID, name string) (string, error)
	ListMappings(ctx context.Context, idpID string) ([]store.MappingRow, error)
	UpdateMapping(ctx context.Context, idpID, name, rules string, now time.Time) error
	DeleteMapping(ctx context.Context, idpID, name string) error
}

// RefReader resolves the references a mapping rule makes (ids, or names
// within a domain) to ids and their domains; store.ErrNotFound when a
// reference does not resolve.
type RefReader interface {
	Domain(ctx context.Context, r store.Ref) (string, error)
	Project(ctx context.Context, r store.Ref) (id, domainID string, err error)
	UserDomain(ctx context.Context, userID string) (string, error)
	Group(ctx context.Context, r store.Ref) (id, domainID string, err error)
	// Role's domainID is "" for a global role.
	Role(ctx context.Context, r store.Ref) (id, domainID string, err error)
}

// RoleGraphReader reads what the grantable bounds (grantable.go) judge.
type RoleGraphReader interface {
	RoleGraph(ctx context.Context) ([]store.RoleRow, []keystone.Implied, error)
	ActorAssignments(ctx context.Context, actors []string) ([]store.ActorAssignment, error)
	UserGroups(ctx context.Context, userID string) ([]string, error)
}

// WorkloadTokenStore remembers the tokens workload logins minted.
type WorkloadTokenStore interface {
	RecordWorkloadToken(ctx context.Context, auditID, idpID string, expires time.Time) error
	IsWorkloadToken(ctx context.Context, auditIDs []string) (bool, error)
	PurgeWorkloadTokens(ctx context.Context, now time.Time) (int64, error)
}

// Store is everything the service needs of the database.
type Store interface {
	IdPStore
	MappingStore
	RefReader
	RoleGraphReader
	WorkloadTokenStore
}

var _ Store = (*store.Federation)(nil)
