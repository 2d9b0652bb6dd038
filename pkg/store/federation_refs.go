package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

// What Federation reads of Keystone's resource, identity and assignment
// tables to resolve a mapping's references and to judge what its grants
// confer.

// Ref names a row by id, or by name within a domain (DomainID; for a
// role, "" is a global role).
type Ref struct {
	ID, Name, DomainID string
}

// Domain resolves a domain by id or name (the root pseudo-domain is
// none); ErrNotFound.
func (f *Federation) Domain(ctx context.Context, r Ref) (string, error) {
	var id string
	var err error
	if r.ID != "" {
		err = f.db.QueryRowContext(ctx, `SELECT id FROM project WHERE id = ? AND is_domain = ? AND id <> ?`, r.ID, true, rootDomainID).Scan(&id)
	} else {
		err = f.db.QueryRowContext(ctx, `SELECT id FROM project WHERE name = ? AND is_domain = ? AND id <> ?`, r.Name, true, rootDomainID).Scan(&id)
	}
	return id, notFound(err)
}

// Project resolves a project (not a domain) to its id and domain;
// ErrNotFound.
func (f *Federation) Project(ctx context.Context, r Ref) (id, domainID string, err error) {
	if r.ID != "" {
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM project WHERE id = ? AND is_domain = ?`, r.ID, false).Scan(&id, &domainID)
	} else {
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM project WHERE name = ? AND domain_id = ? AND is_domain = ?`, r.Name, r.DomainID, false).Scan(&id, &domainID)
	}
	return id, domainID, notFound(err)
}

// UserDomain reads the domain of a user; ErrNotFound.
func (f *Federation) UserDomain(ctx context.Context, userID string) (string, error) {
	var dom string
	err := f.db.QueryRowContext(ctx, `SELECT domain_id FROM `+f.tUser+` WHERE id = ?`, userID).Scan(&dom)
	return dom, notFound(err)
}

// Group resolves a group to its id and domain; ErrNotFound.
func (f *Federation) Group(ctx context.Context, r Ref) (id, domainID string, err error) {
	if r.ID != "" {
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM `+f.tGrp+` WHERE id = ?`, r.ID).Scan(&id, &domainID)
	} else {
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM `+f.tGrp+` WHERE name = ? AND domain_id = ?`, r.Name, r.DomainID).Scan(&id, &domainID)
	}
	return id, domainID, notFound(err)
}

// Role resolves a role to its id and domain ("" for a global role, which
// Keystone stores as <<null>>); ErrNotFound.
func (f *Federation) Role(ctx context.Context, r Ref) (id, domainID string, err error) {
	if r.ID != "" {
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM role WHERE id = ?`, r.ID).Scan(&id, &domainID)
	} else {
		dom := r.DomainID
		if dom == "" {
			dom = nullDomainID
		}
		err = f.db.QueryRowContext(ctx, `SELECT id, domain_id FROM role WHERE name = ? AND domain_id = ?`, r.Name, dom).Scan(&id, &domainID)
	}
	if domainID == nullDomainID {
		domainID = ""
	}
	return id, domainID, notFound(err)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// RoleRow is a role as the grantable check needs it.
type RoleRow struct {
	ID, Name string
	DomainID string // "" for a global role
}

// RoleGraph reads the role table and the implied_role edges (both small:
// a cloud has tens of roles).
func (f *Federation) RoleGraph(ctx context.Context) ([]RoleRow, []keystone.Implied, error) {
	rows, err := f.db.QueryContext(ctx, `SELECT id, name, domain_id FROM role`)
	if err != nil {
		return nil, nil, fmt.Errorf("read roles: %w", err)
	}
	var roles []RoleRow
	for rows.Next() {
		var r RoleRow
		if err := rows.Scan(&r.ID, &r.Name, &r.DomainID); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if r.DomainID == nullDomainID {
			r.DomainID = ""
		}
		roles = append(roles, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = f.db.QueryContext(ctx, `SELECT prior_role_id, implied_role_id FROM implied_role`)
	if err != nil {
		return nil, nil, fmt.Errorf("read implied roles: %w", err)
	}
	defer rows.Close()
	var implied []keystone.Implied
	for rows.Next() {
		var e keystone.Implied
		if err := rows.Scan(&e.PriorID, &e.ImpliedID); err != nil {
			return nil, nil, err
		}
		implied = append(implied, e)
	}
	return roles, implied, rows.Err()
}

// ActorAssignment is one assignment a user or group holds.
type ActorAssignment struct {
	Type     string
	TargetID string
	RoleID   string
	// TargetDomainID is the domain of the target: the domain itself for a
	// domain assignment, the project's domain for a project assignment.
	TargetDomainID string
	System         bool
}

// ActorAssignments reads every assignment (project, domain and system) of
// the actors, project targets resolved to their domain.
func (f *Federation) ActorAssignments(ctx context.Context, actors []string) ([]ActorAssignment, error) {
	if len(actors) == 0 {
		return nil, nil
	}
	in, args := placeholders(actors)
	var out []ActorAssignment
	// A project target's domain; a domain target is its own domain (a
	// domain is a project row with is_domain, whose domain_id is the
	// root: so the target id itself is used).
	rows, err := f.db.QueryContext(ctx, `SELECT a.type, a.target_id, a.role_id, COALESCE(p.is_domain, ?), COALESCE(p.domain_id, '')
		FROM assignment a LEFT JOIN project p ON p.id = a.target_id WHERE a.actor_id IN (`+in+`)`, append([]any{false}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("read assignments: %w", err)
	}
	for rows.Next() {
		var a ActorAssignment
		var isDomain any
		var projDomain string
		if err := rows.Scan(&a.Type, &a.TargetID, &a.RoleID, &isDomain, &projDomain); err != nil {
			rows.Close()
			return nil, err
		}
		if strings.HasSuffix(a.Type, "Domain") || sqldialect.Truthy(isDomain) {
			a.TargetDomainID = a.TargetID
		} else {
			a.TargetDomainID = projDomain
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = f.db.QueryContext(ctx, `SELECT type, target_id, role_id FROM system_assignment WHERE actor_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read system assignments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a := ActorAssignment{System: true}
		if err := rows.Scan(&a.Type, &a.TargetID, &a.RoleID); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UserGroups lists the groups a user belongs to, expiring memberships
// included.
func (f *Federation) UserGroups(ctx context.Context, userID string) ([]string, error) {
	rows, err := f.db.QueryContext(ctx, `SELECT group_id FROM user_group_membership WHERE user_id = ?
		UNION SELECT group_id FROM expiring_user_group_membership WHERE user_id = ?`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("read group memberships: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// placeholders is the "?, ?" text and the arguments of an IN list of vals.
func placeholders(vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", "), args
}
