package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// ServiceAccounts keeps service accounts (docs/service-accounts.md §2):
// each is a Keystone user written in Python's tables exactly as Python's
// identity SQL driver writes a user created without a password
// (keystone/identity/backends/sql.py create_user: a user row and a
// local_user row, no password row), plus user option 1002
// ignore_lockout_failure_attempts, and marked by an ng_service_account
// row. Python's password method finds no password and refuses
// (password_hashing.check_password(password, None) is False), and the
// option keeps a stranger's wrong guesses from locking the account out
// of its own logins.
type ServiceAccounts struct {
	db    *bun.DB
	tUser string
}

// NewServiceAccounts works on db.
func NewServiceAccounts(db *bun.DB) *ServiceAccounts {
	return &ServiceAccounts{db: db, tUser: sqldialect.Of(db).User()}
}

// ServiceAccountRow is a service account: Python's user and local_user
// columns joined to its ng_service_account row.
type ServiceAccountRow struct {
	ID, Name, DomainID string
	Description        string
	Enabled            bool
	DefaultProjectID   string // "" for none (NULL)
	CreatedAt          time.Time
	CreatedBy          string
	// Bounded: created by a domain's admin or manager, so its roles must
	// stay inside the domain and domain_grantable_roles.
	Bounded bool
}

// ServiceAccountFilter selects accounts; zero fields do not filter.
type ServiceAccountFilter struct {
	DomainID, Name string
}

// ServiceAccountPatch changes the fields that are not nil.
type ServiceAccountPatch struct {
	Name             *string
	Description      *string
	Enabled          *bool
	DefaultProjectID *string // "" clears it
}

// The service account store's errors.
var (
	// ErrNameTaken: a user of that name exists in the domain (Python's
	// local_user unique (domain_id, name)).
	ErrNameTaken = errors.New("store: user name taken in the domain")
)

// extraJSON is user.extra as Python writes it (jsonutils.dumps of the
// attributes that are not columns; ensure_ascii, ", " and ": ").
func extraJSON(description string, keep map[string]json.RawMessage) string {
	if description == "" && len(keep) == 0 {
		return "{}"
	}
	b := []byte{'{'}
	if description != "" {
		b = append(b, `"description": `...)
		b = pyjson.AppendString(b, description)
	}
	for k, v := range keep {
		if k == "description" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ", "...)
		}
		b = pyjson.AppendString(b, k)
		b = append(b, ": "...)
		b = append(b, v...)
	}
	return string(append(b, '}'))
}

// Create writes the account's rows in one transaction. setLastActive
// writes last_active_at as Python's User.enabled setter does when
// [security_compliance] disable_user_account_days_inactive is set.
func (s *ServiceAccounts) Create(ctx context.Context, r *ServiceAccountRow, setLastActive bool) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var last any
		if setLastActive && r.Enabled {
			last = sqldialect.Date(r.CreatedAt)
		}
		var proj any
		if r.DefaultProjectID != "" {
			proj = r.DefaultProjectID
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM local_user WHERE domain_id = ? AND name = ?`, r.DomainID, r.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrNameTaken
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.tUser+` (id, extra, enabled, default_project_id, created_at, last_active_at, domain_id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, extraJSON(r.Description, nil), r.Enabled, proj, sqldialect.DateTime(r.CreatedAt), last, r.DomainID); err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO local_user (user_id, domain_id, name, failed_auth_count, failed_auth_at) VALUES (?, ?, ?, NULL, NULL)`,
			r.ID, r.DomainID, r.Name); err != nil {
			if sqldialect.IsDuplicate(err) {
				return ErrNameTaken
			}
			return fmt.Errorf("insert local_user: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_option (user_id, option_id, option_value) VALUES (?, '1002', 'true')`, r.ID); err != nil {
			return fmt.Errorf("insert user_option: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ng_service_account (user_id, domain_id, created_by, created_at, bounded) VALUES (?, ?, ?, ?, ?)`,
			r.ID, r.DomainID, r.CreatedBy, r.CreatedAt.UTC().UnixMicro(), boolInt(r.Bounded)); err != nil {
			return fmt.Errorf("insert ng_service_account: %w", err)
		}
		return nil
	})
}

const serviceAccountColumns = `u.id, lu.name, u.domain_id, u.extra, u.enabled, u.default_project_id, u.created_at, sa.created_by, sa.bounded`

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *ServiceAccounts) from() string {
	return ` FROM ng_service_account sa JOIN ` + s.tUser + ` u ON u.id = sa.user_id JOIN local_user lu ON lu.user_id = u.id`
}

func scanServiceAccount(rows interface{ Scan(...any) error }) (*ServiceAccountRow, error) {
	var (
		r       ServiceAccountRow
		extra   nullString
		enabled nullBool
		proj    nullString
		created nullTime
		bounded int
	)
	if err := rows.Scan(&r.ID, &r.Name, &r.DomainID, &extra, &enabled, &proj, &created, &r.CreatedBy, &bounded); err != nil {
		return nil, err
	}
	r.Enabled, r.DefaultProjectID, r.Bounded = enabled.Bool, proj.String, bounded != 0
	if created.Valid {
		r.CreatedAt = created.Time
	}
	r.Description = descriptionOf(extra.String)
	return &r, nil
}

// descriptionOf reads the description Python keeps in user.extra.
func descriptionOf(extra string) string {
	var m map[string]any
	if json.Unmarshal([]byte(extra), &m) != nil {
		return ""
	}
	d, _ := m["description"].(string)
	return d
}

// Get returns the account; ErrNotFound when the id is not a service
// account (an ordinary user included).
func (s *ServiceAccounts) Get(ctx context.Context, id string) (*ServiceAccountRow, error) {
	r, err := scanServiceAccount(s.db.QueryRowContext(ctx, `SELECT `+serviceAccountColumns+s.from()+` WHERE sa.user_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get service account: %w", err)
	}
	return r, nil
}

// List returns the accounts f selects, by name then id.
func (s *ServiceAccounts) List(ctx context.Context, f ServiceAccountFilter) ([]*ServiceAccountRow, error) {
	q := `SELECT ` + serviceAccountColumns + s.from() + ` WHERE 1 = 1`
	var args []any
	if f.DomainID != "" {
		q += ` AND sa.domain_id = ?`
		args = append(args, f.DomainID)
	}
	if f.Name != "" {
		q += ` AND lu.name = ?`
		args = append(args, f.Name)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY lu.name, u.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	defer rows.Close()
	var out []*ServiceAccountRow
	for rows.Next() {
		r, err := scanServiceAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list service accounts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// IsServiceAccount reports whether the user is a service account.
func (s *ServiceAccounts) IsServiceAccount(ctx context.Context, userID string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("service account lookup: %w", err)
	}
	return n > 0, nil
}

// Update applies p in one transaction, as Python's update_user writes:
// the name in local_user, the description in user.extra (other extra
// keys kept), enabled and default_project_id in user. Disabling writes
// the revocation event Python persists for the user
// (identity/core.py update_user -> revoke_by_user), so tokens issued
// before stay revoked if the account is enabled again; enabling resets
// the failed-auth counters and, with setLastActive, last_active_at (the
// User.enabled setter).
func (s *ServiceAccounts) Update(ctx context.Context, id string, p ServiceAccountPatch, now time.Time, setLastActive bool) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var (
			extra   nullString
			enabled nullBool
			domain  string
		)
		err := tx.QueryRowContext(ctx, `SELECT u.extra, u.enabled, u.domain_id FROM ng_service_account sa JOIN `+s.tUser+` u ON u.id = sa.user_id WHERE sa.user_id = ?`, id).
			Scan(&extra, &enabled, &domain)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		exec := func(q string, args ...any) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}
		if p.Name != nil {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM local_user WHERE domain_id = ? AND name = ? AND user_id <> ?`, domain, *p.Name, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrNameTaken
			}
			if err := exec(`UPDATE local_user SET name = ? WHERE user_id = ?`, *p.Name, id); err != nil {
				if sqldialect.IsDuplicate(err) {
					return ErrNameTaken
				}
				return err
			}
		}
		if p.Description != nil {
			keep := map[string]json.RawMessage{}
			_ = json.Unmarshal([]byte(extra.String), &keep)
			if err := exec(`UPDATE `+s.tUser+` SET extra = ? WHERE id = ?`, extraJSON(*p.Description, keep), id); err != nil {
				return err
			}
		}
		if p.DefaultProjectID != nil {
			var proj any
			if *p.DefaultProjectID != "" {
				proj = *p.DefaultProjectID
			}
			if err := exec(`UPDATE `+s.tUser+` SET default_project_id = ? WHERE id = ?`, proj, id); err != nil {
				return err
			}
		}
		if p.Enabled != nil {
			if err := exec(`UPDATE `+s.tUser+` SET enabled = ? WHERE id = ?`, *p.Enabled, id); err != nil {
				return err
			}
			switch {
			case *p.Enabled:
				if err := exec(`UPDATE local_user SET failed_auth_count = 0, failed_auth_at = NULL WHERE user_id = ?`, id); err != nil {
					return err
				}
				if setLastActive {
					if err := exec(`UPDATE `+s.tUser+` SET last_active_at = ? WHERE id = ?`, sqldialect.Date(now), id); err != nil {
						return err
					}
				}
			case enabled.Bool:
				if err := exec(`INSERT INTO revocation_event (user_id, issued_before, revoked_at) VALUES (?, ?, ?)`,
					id, sqldialect.DateTime(now), sqldialect.DateTime(now)); err != nil {
					return fmt.Errorf("insert revocation_event: %w", err)
				}
				// Python deletes a disabled user's application credentials
				// and access rules (application_credential/core.py,
				// _delete_app_creds_on_user_delete_callback on 'disabled'):
				// restricted tokens made from the account's tokens go too.
				for _, q := range userAppCredDeletes {
					if err := exec(q, id); err != nil {
						return fmt.Errorf("%s: %w", q, err)
					}
				}
			}
		}
		return nil
	})
}

// userAppCredDeletes delete a user's application credentials with their
// role and access rule links, and the user's access rules, as Python does
// when a user is deleted or disabled (the links explicitly: SQLite's
// cascades need foreign keys on).
var userAppCredDeletes = []string{
	`DELETE FROM application_credential_access_rule WHERE application_credential_id IN (SELECT internal_id FROM application_credential WHERE user_id = ?)`,
	`DELETE FROM application_credential_role WHERE application_credential_id IN (SELECT internal_id FROM application_credential WHERE user_id = ?)`,
	`DELETE FROM application_credential WHERE user_id = ?`,
	`DELETE FROM access_rule WHERE user_id = ?`,
}

// Delete removes the account as Python's delete_user does
// (identity/backends/sql.py delete_user: group memberships and the user
// with its local_user, password and user_option rows; then
// assignment_api.delete_user_assignments, and the application
// credentials the user's deletion callback removes), and its
// ng_service_account row, in one transaction. Rows are deleted child
// first so that no backend depends on cascades.
func (s *ServiceAccounts) Delete(ctx context.Context, id string) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account WHERE user_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		for _, q := range append(append([]string{}, userAppCredDeletes...),
			`DELETE FROM user_group_membership WHERE user_id = ?`,
			`DELETE FROM assignment WHERE actor_id = ? AND type IN ('UserProject', 'UserDomain')`,
			`DELETE FROM system_assignment WHERE actor_id = ? AND type = 'UserSystem'`,
			`DELETE FROM password WHERE local_user_id IN (SELECT id FROM local_user WHERE user_id = ?)`,
			`DELETE FROM local_user WHERE user_id = ?`,
			`DELETE FROM user_option WHERE user_id = ?`,
			`DELETE FROM `+s.tUser+` WHERE id = ?`,
			`DELETE FROM ng_service_account_key WHERE user_id = ?`,
			`DELETE FROM ng_service_account_secret WHERE user_id = ?`,
			`DELETE FROM ng_oauth2_jti WHERE user_id = ?`,
			`DELETE FROM ng_service_account WHERE user_id = ?`,
		) {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
}
