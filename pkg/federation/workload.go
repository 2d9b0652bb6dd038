package federation

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Workload tokens. A token from a workload (JWT) login is a CI job's or a
// pod's borrowed access. Python's payload cannot say so (a workload token is
// an ordinary federated payload, so that Python validates and rescopes it),
// so keystone-ng remembers the audit ids it minted that way until they
// expire. A token rescoped from one carries its audit id as the parent id,
// so the whole audit chain is looked up.

// RecordWorkloadToken remembers a token minted by a JWT login of idpID.
func (s *Service) RecordWorkloadToken(ctx context.Context, auditID, idpID string, expires time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO ng_workload_token (audit_id, idp_id, expires_at) VALUES (?, ?, ?)`,
		auditID, idpID, micros(expires)); err != nil {
		return fmt.Errorf("record workload token: %w", err)
	}
	return nil
}

// IsWorkloadToken reports whether any of auditIDs (a token's audit chain)
// was minted by a workload login.
func (s *Service) IsWorkloadToken(ctx context.Context, auditIDs []string) (bool, error) {
	if len(auditIDs) == 0 {
		return false, nil
	}
	args := make([]any, len(auditIDs))
	for i, a := range auditIDs {
		args[i] = a
	}
	var n int
	q := `SELECT COUNT(*) FROM ng_workload_token WHERE audit_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + `)`
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("look up workload token: %w", err)
	}
	return n > 0, nil
}

// WorkloadTokenPurger deletes ng_workload_token rows of expired tokens.
type WorkloadTokenPurger struct{ S *Service }

// Name names the table.
func (WorkloadTokenPurger) Name() string { return "ng_workload_token" }

// Purge deletes rows whose token expired before now.
func (p WorkloadTokenPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	res, err := p.S.db.ExecContext(ctx, `DELETE FROM ng_workload_token WHERE expires_at < ?`, micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
