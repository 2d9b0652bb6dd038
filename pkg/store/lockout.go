package store

import (
	"context"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// Lockout writes the two lockout columns of Python's local_user
// (failed_auth_count, failed_auth_at) in the form Python's ORM writes
// them, so failures of a /v4 login and of Python's password login count
// towards one lockout. It is the only writer of a Python identity table
// besides federation's provisioning; Reader only reads.
type Lockout struct {
	db bun.IDB
}

var _ identity.FailedAuthWriter = (*Lockout)(nil)

// NewLockout writes on db.
func NewLockout(db bun.IDB) *Lockout { return &Lockout{db: db} }

// RecordFailedAuth is keystone/identity/backends/sql.py
// _record_failed_auth: count + 1 (NULL counts as 0), failed_auth_at =
// utcnow(). One UPDATE, so concurrent failures on several instances all
// count.
func (l *Lockout) RecordFailedAuth(ctx context.Context, userID string, at time.Time) error {
	_, err := l.db.ExecContext(ctx, `UPDATE local_user SET failed_auth_count = COALESCE(failed_auth_count, 0) + 1, failed_auth_at = ? WHERE user_id = ?`,
		sqldialect.DateTime(at), userID)
	if err != nil {
		return fmt.Errorf("record failed authentication: %w", err)
	}
	return nil
}

// ResetFailedAuth is _reset_failed_auth.
func (l *Lockout) ResetFailedAuth(ctx context.Context, userID string) error {
	_, err := l.db.ExecContext(ctx, `UPDATE local_user SET failed_auth_count = 0, failed_auth_at = NULL WHERE user_id = ?`, userID)
	if err != nil {
		return fmt.Errorf("reset failed authentication: %w", err)
	}
	return nil
}
