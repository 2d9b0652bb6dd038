package token

import (
	"slices"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// plan is what one validation reads, decided before anything is read:
// from the payload, what the hint cache remembers of the previous
// validation of the same user and scope, and the settings. It chooses
// what to read and when (which statements go with the first round, which
// wait for a second), never what is granted.
type plan struct {
	// query is the first round's prefetch.
	query PrefetchQuery
	// hintScope is the scope of the hint cache key ("" for unscoped
	// tokens, which keep no hint); hint is the hint found under it.
	hintScope string
	hint      *AssignmentHint
	// projectAssignments: the token's own assignments on its project are
	// needed (project, federated project, application credential and
	// OAuth1 tokens; trust tokens read their trustor's instead).
	projectAssignments bool
	// fedActors are a federated scoped token's actors: the user and the
	// groups of the payload (nil for other tokens).
	fedActors []string
	// trustorHint is the trustor the trust hint names ("" for none): the
	// first round then read the trustor's side too (query.Trust).
	trustorHint string
	// accessToken is the OAuth1 access token read beside the first round.
	accessToken string
	// catalog asks for the services and the project's endpoint filter,
	// serviceProviders for the enabled K2K service providers.
	catalog, serviceProviders bool
}

// hintScopeOf is the scope under which the hint cache keeps what a
// token's validation needed: the project (project, federated project and
// application credential tokens share it, at worst costing each other a
// second round), a federated token's domain, the system, or the trust.
func hintScopeOf(p *payload.Payload) string {
	switch {
	case p.ProjectID != "" && p.TrustID == "":
		return p.ProjectID
	case p.Federated && p.DomainID != "":
		return domainHintScope(p.DomainID)
	case p.System != "":
		return systemHintScope
	case p.TrustID != "":
		return trustHintScope(p.TrustID)
	}
	return ""
}

// planValidation decides the first round. hint and nonLocal are the hint
// cache's answer for the user and hintScopeOf(p); catalog is whether the
// request asks for the catalog.
func planValidation(p *payload.Payload, issuedAt time.Time, hint *AssignmentHint, nonLocal, catalog bool, s Settings) plan {
	pl := plan{
		hintScope:          hintScopeOf(p),
		hint:               hint,
		projectAssignments: p.ProjectID != "" && p.TrustID == "",
		accessToken:        p.AccessTokenID,
		catalog:            catalog && !unscoped(p),
		serviceProviders:   catalog,
	}
	q := &pl.query
	*q = PrefetchQuery{UserID: p.UserID, ProjectID: p.ProjectID, DomainID: p.DomainID,
		DomainAssignments: p.TrustID == "" && p.ProjectID == "" && p.DomainID != "" && !p.Federated,
		UserInactivity:    s.DisableUserAccountDaysInactive > 0,
		// Project tokens read their assignments with the first round
		// when the previous validation of the user and project says
		// which (hints.go).
		AssignmentHint: hint, UserNames: nonLocal}
	if p.System != "" {
		// A system token's grants are those of the user and their
		// groups: the actors the previous validation needed are read
		// with the first round (the hint's Actors; it has no targets).
		q.AssignmentHint = nil
		if hint != nil {
			q.SystemActors = hint.Actors
		}
	}
	if p.Federated {
		q.IdentityProvider = p.IdentityProviderID
	}
	if p.Federated && (p.ProjectID != "" || p.DomainID != "") {
		planFederated(&pl, p)
	}
	if p.TrustID == "" {
		// Without a trust the revocation pre-filter is known already.
		q.Revocation = &RevocationQuery{IssuedAt: issuedAt, UserIDs: []string{p.UserID}, ProjectID: p.ProjectID, AuditID: auditID(p)}
	} else {
		planTrust(&pl, p, issuedAt)
	}
	if p.AppCredID != "" {
		// An application credential's roles never change: the full
		// records of those the previous validation read come along.
		q.AppCred = p.AppCredID
		if hint != nil {
			q.Roles = hint.Roles
		}
	}
	return pl
}

// planFederated: a federated token scoped to a project or domain takes
// its groups from the payload, so the first round reads what only the
// payload decides (the system grants of the user and the mapped groups)
// and, through the role hint, the full role records the previous
// validation rendered.
func planFederated(pl *plan, p *payload.Payload) {
	q := &pl.query
	pl.fedActors = append([]string{p.UserID}, p.FederatedGroupIDs...)
	q.SystemActors = pl.fedActors
	if pl.hint != nil {
		q.Roles = pl.hint.Roles
	}
	if p.ProjectID == "" {
		// A domain's assignments depend on nothing the first round
		// reads: ask for exactly them.
		q.AssignmentHint = &AssignmentHint{Actors: pl.fedActors, Targets: []string{p.DomainID}}
	}
}

// planTrust: the trust comes with the first round. So does, when the
// previous validation of the trust left a hint, what the trustor's side
// needs: a trust's trustor never changes, and the trust row read in this
// same round decides whether the hint is used (trustHinted).
func planTrust(pl *plan, p *payload.Payload, issuedAt time.Time) {
	q := &pl.query
	q.AssignmentHint = nil
	q.Trust = &TrustPrefetch{ID: p.TrustID}
	h := pl.hint
	if h == nil || len(h.Actors) != 1 {
		return
	}
	pl.trustorHint = h.Actors[0]
	q.Trust.TrustorID, q.Trust.TrustorTargets = pl.trustorHint, h.Targets
	q.Roles = h.Roles
	// The trustee is the token's user (or the token is refused).
	q.Revocation = &RevocationQuery{IssuedAt: issuedAt, UserIDs: []string{p.UserID, pl.trustorHint}, ProjectID: p.ProjectID, AuditID: auditID(p)}
}

// hintFit is how the assignments a hint had the first round read compare
// with those this request needs, once the memberships and the lineage are
// known.
type hintFit int

const (
	// hintMisses: no hint, or one lacking an actor or a target: the
	// assignments are read in a second round and the hint replaced.
	hintMisses hintFit = iota
	// hintWider: the hint read everything needed and more (a group left,
	// a parent gone); the rows were filtered, and a narrower hint makes
	// the next read smaller.
	hintWider
	// hintExact: the hint read exactly what is needed.
	hintExact
)

// fitHint compares the hint h with the actors and targets needed.
func fitHint(h *AssignmentHint, actors, targets []string) hintFit {
	switch {
	case !h.covers(actors, targets):
		return hintMisses
	case len(h.Actors) > len(actors) || len(h.Targets) > len(targets):
		return hintWider
	}
	return hintExact
}

// projectActors are the actors whose assignments on a project count: the
// user and their groups (all memberships, valid or not: the judge drops
// expired ones), or for a federated token the user and the payload's
// groups (the mapping's at login).
func projectActors(pl *plan, p *payload.Payload, ms []keystone.Membership) []string {
	if p.Federated {
		return pl.fedActors
	}
	return append([]string{p.UserID}, groupIDs(ms)...)
}

// projectIDs lists the ids of a lineage.
func projectIDs(lineage []*keystone.Project) []string {
	ids := make([]string, 0, len(lineage))
	for _, pr := range lineage {
		ids = append(ids, pr.ID)
	}
	return ids
}

// sameRoleHint reports whether the role hint asked for exactly the roles
// used, so that it need not be replaced.
func sameRoleHint(hinted, used []string) bool {
	if len(hinted) != len(used) {
		return false
	}
	for _, id := range used {
		if !slices.Contains(hinted, id) {
			return false
		}
	}
	return true
}

// unscoped reports a payload without any scope.
func unscoped(p *payload.Payload) bool {
	return p.System == "" && p.DomainID == "" && p.ProjectID == "" && p.TrustID == ""
}
