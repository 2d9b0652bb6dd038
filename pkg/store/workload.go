package store

import (
	"context"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

// Workload tokens (ng_workload_token): the audit ids of tokens a workload
// (JWT) login minted, kept until the tokens expire, kept by Federation.

// RecordWorkloadToken remembers a token minted by a JWT login of idpID
// until it expires.
func (f *Federation) RecordWorkloadToken(ctx context.Context, auditID, idpID string, expires time.Time) error {
	if _, err := f.db.ExecContext(ctx, `INSERT INTO ng_workload_token (audit_id, idp_id, expires_at) VALUES (?, ?, ?)`,
		auditID, idpID, sqldialect.Micros(expires)); err != nil {
		return fmt.Errorf("record workload token: %w", err)
	}
	return nil
}

// IsWorkloadToken reports whether any of auditIDs was recorded.
func (f *Federation) IsWorkloadToken(ctx context.Context, auditIDs []string) (bool, error) {
	if len(auditIDs) == 0 {
		return false, nil
	}
	in, args := placeholders(auditIDs)
	var n int
	q := `SELECT COUNT(*) FROM ng_workload_token WHERE audit_id IN (` + in + `)`
	if err := f.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("look up workload token: %w", err)
	}
	return n > 0, nil
}

// PurgeWorkloadTokens deletes the rows of tokens that expired before now.
func (f *Federation) PurgeWorkloadTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := f.db.ExecContext(ctx, `DELETE FROM ng_workload_token WHERE expires_at < ?`, sqldialect.Micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
