package federation

import (
	"context"
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
	return s.st.RecordWorkloadToken(ctx, auditID, idpID, expires)
}

// IsWorkloadToken reports whether any of auditIDs (a token's audit chain)
// was minted by a workload login.
func (s *Service) IsWorkloadToken(ctx context.Context, auditIDs []string) (bool, error) {
	return s.st.IsWorkloadToken(ctx, auditIDs)
}

// WorkloadTokenPurger deletes ng_workload_token rows of expired tokens.
type WorkloadTokenPurger struct{ S *Service }

// Name names the table.
func (WorkloadTokenPurger) Name() string { return "ng_workload_token" }

// Purge deletes rows whose token expired before now.
func (p WorkloadTokenPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	return p.S.st.PurgeWorkloadTokens(ctx, now)
}
