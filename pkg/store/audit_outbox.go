package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// AuditOutbox keeps audit events until the message bus confirmed them
// (ng_audit_outbox; docs/adr/0016-audit-outbox-in-the-database.md), and
// the lease that makes one instance at a time drain it
// (ng_audit_outbox_lease).
type AuditOutbox struct{ db *bun.DB }

var _ audit.Outbox = (*AuditOutbox)(nil)

// NewAuditOutbox works on db.
func NewAuditOutbox(db *bun.DB) *AuditOutbox { return &AuditOutbox{db: db} }

// Append stores one event.
func (o *AuditOutbox) Append(ctx context.Context, eventType string, message []byte, now time.Time) error {
	if _, err := o.db.ExecContext(ctx, `INSERT INTO ng_audit_outbox (created_at, event_type, message) VALUES (?, ?, ?)`,
		sqldialect.Micros(now), eventType, string(message)); err != nil {
		return fmt.Errorf("queue audit event: %w", err)
	}
	return nil
}

// Pending returns up to limit events, oldest first.
func (o *AuditOutbox) Pending(ctx context.Context, limit int) ([]audit.Record, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT id, event_type, message FROM ng_audit_outbox ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit outbox: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var msg string
		if err := rows.Scan(&r.ID, &r.EventType, &msg); err != nil {
			return nil, fmt.Errorf("read audit outbox: %w", err)
		}
		r.Message = []byte(msg)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Remove deletes delivered events.
func (o *AuditOutbox) Remove(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `DELETE FROM ng_audit_outbox WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
	if _, err := o.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("remove delivered audit events: %w", err)
	}
	return nil
}

// Count is the number of waiting events.
func (o *AuditOutbox) Count(ctx context.Context) (int, error) {
	var n int
	if err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_audit_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count audit outbox: %w", err)
	}
	return n, nil
}

// Lease takes or renews the drainer's lease: one UPDATE that succeeds
// when holder has it already or the previous holder's ran out. until
// always changes (microseconds), so MySQL's affected-rows count (changed
// rows) is 1 exactly when the lease was taken.
func (o *AuditOutbox) Lease(ctx context.Context, holder string, until, now time.Time) (bool, error) {
	res, err := o.db.ExecContext(ctx, `UPDATE ng_audit_outbox_lease SET holder = ?, held_until = ? WHERE id = 1 AND (holder = ? OR held_until < ?)`,
		holder, sqldialect.Micros(until), holder, sqldialect.Micros(now))
	if err != nil {
		return false, fmt.Errorf("audit outbox lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("audit outbox lease: %w", err)
	}
	return n == 1, nil
}
