package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// Restricted tokens (docs/restricted-tokens.md §2): each is backed by an
// application credential written in Python's tables the way Python's
// application credential backend writes one
// (keystone/application_credential/backends/sql.py
// create_application_credential), plus an ng_restricted_token row naming
// it as keystone-ng's.

// RestrictedCredential is the application credential behind one
// restricted token.
type RestrictedCredential struct {
	ID, Name, Description string
	UserID, ProjectID     string
	// SecretHash is a passlib-readable hash of a secret nobody is given.
	SecretHash  string
	RoleIDs     []string
	AccessRules []keystone.AccessRule // Service, Path, Method; ID is the new external id
	// SourceAuditID is the audit chain id of the token it was exchanged
	// from.
	SourceAuditID        string
	CreatedAt, ExpiresAt time.Time
	// UserLimit is [application_credential] user_limit (-1: none).
	UserLimit int
}

// ErrAppCredLimit: the user holds [application_credential] user_limit
// application credentials already (Python's
// ApplicationCredentialLimitExceeded).
var ErrAppCredLimit = errors.New("store: application credential limit reached")

// RestrictedTokens writes and purges restricted tokens' credentials.
type RestrictedTokens struct {
	db *bun.DB
}

// NewRestrictedTokens returns the store over db.
func NewRestrictedTokens(db *bun.DB) *RestrictedTokens { return &RestrictedTokens{db: db} }

// DateTimeInt is the integer Python's sql.DateTimeInt column stores for
// t: int((t - epoch).total_seconds() * 1000000), computed in floating
// point as Python does, so a value may be one microsecond below t's.
func DateTimeInt(t time.Time) int64 {
	us := t.UTC().UnixMicro()
	secs := float64(us) / 1e6 // timedelta.total_seconds(): microseconds / 10**6
	return int64(secs * 1000000)
}

// Create writes the credential, its roles and access rules in one
// transaction, and returns the Undo that deletes exactly those rows
// (docs/restricted-tokens.md §2). A concurrent writer inserting the same
// access rule makes the transaction fail on the unique constraint; it is
// then run once more, when the rule is found and reused as Python reuses
// it.
func (s *RestrictedTokens) Create(ctx context.Context, c *RestrictedCredential) (*Undo, error) {
	var undo *Undo
	var err error
	for try := 0; try < 2; try++ {
		undo, err = s.create(ctx, c)
		if err == nil || !sqldialect.IsDuplicate(err) {
			break
		}
	}
	return undo, err
}

func (s *RestrictedTokens) create(ctx context.Context, c *RestrictedCredential) (*Undo, error) {
	var undo *Undo
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		undo = &Undo{db: s.db}
		if c.UserLimit >= 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM application_credential WHERE user_id = ?`, c.UserID).Scan(&n); err != nil {
				return err
			}
			if n >= c.UserLimit {
				return ErrAppCredLimit
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential
			(id, name, secret_hash, description, user_id, project_id, system, expires_at, unrestricted)
			VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
			c.ID, c.Name, c.SecretHash, c.Description, c.UserID, c.ProjectID, DateTimeInt(c.ExpiresAt), false); err != nil {
			return fmt.Errorf("insert application_credential: %w", err)
		}
		var internal int64
		if err := tx.QueryRowContext(ctx, `SELECT internal_id FROM application_credential WHERE id = ?`, c.ID).Scan(&internal); err != nil {
			return fmt.Errorf("read application_credential.internal_id: %w", err)
		}
		undo.add(`DELETE FROM application_credential WHERE internal_id = ?`, internal)
		for _, r := range c.RoleIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_role (application_credential_id, role_id) VALUES (?, ?)`, internal, r); err != nil {
				return fmt.Errorf("insert application_credential_role: %w", err)
			}
		}
		undo.add(`DELETE FROM application_credential_role WHERE application_credential_id = ?`, internal)
		if err := s.addAccessRules(ctx, tx, undo, internal, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ng_restricted_token
			(application_credential_id, user_id, project_id, source_audit_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.ID, c.UserID, c.ProjectID, c.SourceAuditID, sqldialect.Micros(c.CreatedAt), sqldialect.Micros(c.ExpiresAt)); err != nil {
			return fmt.Errorf("insert ng_restricted_token: %w", err)
		}
		undo.add(`DELETE FROM ng_restricted_token WHERE application_credential_id = ?`, c.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return undo, nil
}

// addAccessRules links the credential to its access rules: a rule the
// user already has (same service, path and method) is reused, a new one
// is inserted with the user's id, as Python's backend does.
func (s *RestrictedTokens) addAccessRules(ctx context.Context, tx bun.Tx, undo *Undo, internal int64, c *RestrictedCredential) error {
	for _, r := range c.AccessRules {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM access_rule WHERE user_id = ? AND service = ? AND path = ? AND method = ?`,
			c.UserID, r.Service, r.Path, r.Method).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_rule (external_id, user_id, service, path, method) VALUES (?, ?, ?, ?, ?)`,
				r.ID, c.UserID, r.Service, r.Path, r.Method); err != nil {
				return fmt.Errorf("insert access_rule: %w", err)
			}
			if err := tx.QueryRowContext(ctx, `SELECT id FROM access_rule WHERE external_id = ?`, r.ID).Scan(&id); err != nil {
				return fmt.Errorf("read access_rule.id: %w", err)
			}
			// Deleted again only while no other credential uses it.
			undo.add(`DELETE FROM access_rule WHERE id = ? AND NOT EXISTS
				(SELECT 1 FROM application_credential_access_rule WHERE access_rule_id = ?)`, id, id)
		} else if err != nil {
			return fmt.Errorf("read access_rule: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_access_rule (application_credential_id, access_rule_id) VALUES (?, ?)`,
			internal, id); err != nil {
			return fmt.Errorf("insert application_credential_access_rule: %w", err)
		}
	}
	if len(c.AccessRules) > 0 {
		undo.add(`DELETE FROM application_credential_access_rule WHERE application_credential_id = ?`, internal)
	}
	return nil
}

// PurgeExpired deletes up to limit restricted tokens' application
// credentials that expired before now (with their role and access rule
// links; the access rules stay, as Python keeps them after deleting a
// credential), and their ng_restricted_token rows, also of credentials
// Python deleted already. It touches no credential keystone-ng did not
// make.
func (s *RestrictedTokens) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT application_credential_id FROM ng_restricted_token WHERE expires_at < ? ORDER BY expires_at LIMIT ?`,
		sqldialect.Micros(now), limit)
	if err != nil {
		return 0, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
	internal := `SELECT internal_id FROM application_credential WHERE id IN ` + in
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, q := range []string{
			`DELETE FROM application_credential_access_rule WHERE application_credential_id IN (` + internal + `)`,
			`DELETE FROM application_credential_role WHERE application_credential_id IN (` + internal + `)`,
			`DELETE FROM application_credential WHERE id IN ` + in,
			`DELETE FROM ng_restricted_token WHERE application_credential_id IN ` + in,
		} {
			if _, err := tx.ExecContext(ctx, q, ids...); err != nil {
				return fmt.Errorf("purge restricted tokens: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}

// CountForUser counts the restricted tokens' credentials of a user that
// keystone-ng recorded (for tests and the operator's check).
func (s *RestrictedTokens) CountForUser(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_restricted_token WHERE user_id = ?`, userID).Scan(&n)
	return n, err
}
