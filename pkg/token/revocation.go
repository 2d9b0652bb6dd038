package token

import (
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// tokenValuesT is keystone/models/revoke_model.py build_token_values.
type tokenValuesT struct {
	expiresAt          time.Time
	issuedAt           time.Time
	auditID            string
	auditChainID       string
	userID             string
	identityDomainID   string
	projectID          string
	assignmentDomainID string
	roles              map[string]bool
	trustID            string
	trustorID          string
	trusteeID          string
	consumerID         string
	accessTokenID      string
}

func tokenValues(t *Token) tokenValuesT {
	p := t.Payload
	tv := tokenValuesT{
		expiresAt: p.Expiry(),
		issuedAt:  t.IssuedAt.Truncate(time.Second),
		auditID:   auditID(p),
		userID:    p.UserID,
		projectID: p.ProjectID,
		roles:     roleIDSet(t.Roles),
	}
	// parent_audit_id is set only when the token carries two audit ids.
	if len(p.AuditIDs) > 1 {
		tv.auditChainID = p.AuditIDs[len(p.AuditIDs)-1]
	}
	if t.UserDomain != nil {
		tv.identityDomainID = t.UserDomain.ID
	}
	// Python sets assignment_domain_id from the project's domain and then
	// overwrites it with the token's domain scope, which is None for a
	// project-scoped token (docs/python-compat.md §2.3).
	tv.assignmentDomainID = p.DomainID
	if t.Trust != nil {
		tv.trustID, tv.trustorID, tv.trusteeID = t.Trust.ID, t.Trust.TrustorUserID, t.Trust.TrusteeUserID
	}
	if t.AccessToken != nil {
		tv.consumerID, tv.accessTokenID = t.AccessToken.ConsumerID, t.AccessToken.ID
	}
	return tv
}

// isRevoked applies revoke_model.matches to the events that passed the
// SQL pre-filter (issued_before >= issued_at; user, project and audit id
// either NULL or equal).
func isRevoked(events []keystone.RevocationEvent, tv tokenValuesT) bool {
	for i := range events {
		if matches(&events[i], tv) {
			return true
		}
	}
	return false
}

func matches(e *keystone.RevocationEvent, tv tokenValuesT) bool {
	// The SQL pre-filter already compared these; repeat them so that the
	// function is correct on its own (and for tests).
	if e.IssuedBefore.Before(tv.issuedAt) {
		return false
	}
	if e.UserID != "" && e.UserID != tv.userID && e.UserID != tv.trustorID && e.UserID != tv.trusteeID {
		return false
	}
	if e.ProjectID != "" && e.ProjectID != tv.projectID {
		return false
	}
	if e.AuditID != "" && e.AuditID != tv.auditID {
		return false
	}
	// RevokeEvent.__init__: an event with both domain_id and expires_at
	// revokes a domain-scoped token (domain_scope_id), otherwise all tokens
	// of the domain.
	domainID, domainScopeID := e.DomainID, ""
	if e.DomainID != "" && e.ExpiresAt != nil {
		domainScopeID, domainID = e.DomainID, ""
	}
	if domainID != "" && domainID != tv.identityDomainID && domainID != tv.assignmentDomainID {
		return false
	}
	if domainScopeID != "" && domainScopeID != tv.assignmentDomainID {
		return false
	}
	if e.ExpiresAt != nil && !e.ExpiresAt.Truncate(time.Second).Equal(tv.expiresAt) {
		return false
	}
	if e.TrustID != "" && e.TrustID != tv.trustID {
		return false
	}
	if e.ConsumerID != "" && e.ConsumerID != tv.consumerID {
		return false
	}
	if e.AuditChainID != "" && e.AuditChainID != tv.auditChainID {
		return false
	}
	if e.RoleID != "" && !tv.roles[e.RoleID] {
		return false
	}
	return true
}
