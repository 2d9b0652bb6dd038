package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// The Reader also answers the lookups of v4 logins; the lockout columns
// it reads are written by Lockout (lockout.go).
var (
	_ identity.Directory = (*Reader)(nil)
	_ issue.ScopeLookup  = (*Reader)(nil)
)

func (r *Reader) projectRow(ctx context.Context, where string, args ...any) (*keystone.Project, error) {
	rows, err := r.query(ctx, `SELECT id, name, domain_id, parent_id, enabled, is_domain FROM project WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("lookup project: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("lookup project: %w", err)
		}
		return nil, token.ErrNotFound
	}
	var (
		p              keystone.Project
		parent         nullString
		enabled, isDom nullBool
	)
	if err := rows.Scan(&p.ID, &p.Name, &p.DomainID, &parent, &enabled, &isDom); err != nil {
		return nil, fmt.Errorf("lookup project: %w", err)
	}
	p.ParentID, p.Enabled, p.IsDomain = parent.String, enabled.Bool, isDom.Bool
	return &p, nil
}

// DomainByName finds a domain by name (domains are projects with
// is_domain, under the <<keystone.domain.root>> pseudo-domain).
func (r *Reader) DomainByName(ctx context.Context, name string) (*keystone.Project, error) {
	return r.projectRow(ctx, `name = ? AND is_domain`, name)
}

// ProjectByName finds a project (not a domain) by name in a domain.
func (r *Reader) ProjectByName(ctx context.Context, name, domainID string) (*keystone.Project, error) {
	return r.projectRow(ctx, `name = ? AND domain_id = ? AND NOT is_domain`, name, domainID)
}

// UserByName finds a user by name in a domain: local users, then non-local
// ones (keystone/identity/backends/sql.py get_user_by_name).
func (r *Reader) UserByName(ctx context.Context, name, domainID string) (*keystone.User, error) {
	for _, q := range []string{
		`SELECT user_id FROM local_user WHERE name = ? AND domain_id = ?`,
		`SELECT user_id FROM nonlocal_user WHERE name = ? AND domain_id = ?`,
	} {
		var id string
		err := r.db.QueryRowContext(ctx, q, name, domainID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lookup user by name: %w", err)
		}
		return r.GetUser(ctx, id)
	}
	return nil, token.ErrNotFound
}

// LocalAuth reads the lockout columns and option 1002.
func (r *Reader) LocalAuth(ctx context.Context, userID string) (*identity.LocalAuth, error) {
	var (
		count nullInt64
		at    nullTime
		opt   nullString
	)
	err := r.db.QueryRowContext(ctx, `SELECT lu.failed_auth_count, lu.failed_auth_at, o.option_value
		FROM local_user lu LEFT JOIN user_option o ON o.user_id = lu.user_id AND o.option_id = '1002'
		WHERE lu.user_id = ?`, userID).Scan(&count, &at, &opt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lockout state: %w", err)
	}
	return &identity.LocalAuth{
		FailedCount:   int(count.Int64),
		FailedAt:      at.ptr(),
		IgnoreLockout: opt.Valid && strings.TrimSpace(opt.String) == "true",
	}, nil
}

// Account reads how a user authenticates and their MFA options
// (identity.Directory).
func (r *Reader) Account(ctx context.Context, userID string) (*identity.Account, error) {
	a := &identity.Account{}
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM local_user WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	a.Local = n > 0
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM nonlocal_user WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	a.NonLocal = n > 0
	rows, err := r.db.QueryContext(ctx, `SELECT f.idp_id, i.enabled FROM federated_user f JOIN identity_provider i ON i.id = f.idp_id WHERE f.user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	for rows.Next() {
		var p identity.FederatedIdP
		var enabled nullBool
		if err := rows.Scan(&p.ID, &enabled); err != nil {
			rows.Close()
			return nil, err
		}
		p.Enabled = enabled.Valid && enabled.Bool
		a.IdPs = append(a.IdPs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = r.db.QueryContext(ctx, `SELECT option_id, option_value FROM user_option WHERE user_id = ? AND option_id IN ('MFAE', 'MFAR')`, userID)
	if err != nil {
		return nil, fmt.Errorf("read account options: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var v nullString
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		switch id {
		case "MFAE":
			on := strings.TrimSpace(v.String) != "false"
			a.MFAEnabled = &on
		case "MFAR":
			a.MFARules = []byte(v.String)
		}
	}
	return a, rows.Err()
}
