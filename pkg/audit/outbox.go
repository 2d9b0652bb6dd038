package audit

import (
	"context"
	"time"
)

// Record is one event waiting in the outbox: the message as
// Message.JSON wrote it when the event happened, so that a late delivery
// carries the event's own time and message id.
type Record struct {
	ID        int64
	EventType string
	Message   []byte
}

// Outbox keeps events until the bus confirmed them (ng_audit_outbox,
// *store.AuditOutbox; docs/adr/0016-audit-outbox-in-the-database.md).
// Records come out in the order they went in.
type Outbox interface {
	// Append stores one event.
	Append(ctx context.Context, eventType string, message []byte, now time.Time) error
	// Pending returns up to limit records, oldest first.
	Pending(ctx context.Context, limit int) ([]Record, error)
	// Remove deletes delivered records.
	Remove(ctx context.Context, ids []int64) error
	// Count is the number of waiting records.
	Count(ctx context.Context) (int, error)
	// Lease makes holder the one drainer of every instance until until,
	// unless another holder's lease is still running at now; it reports
	// whether holder has the lease. One drainer keeps the order.
	Lease(ctx context.Context, holder string, until, now time.Time) (bool, error)
}
