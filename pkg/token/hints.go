package token

import (
	"slices"
	"sync"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// AssignmentHint asks the first round of a validation to read, beside its
// other lookups, the role assignments of these actors on these targets.
//
// Which actors and targets a project token needs is only known once the
// first round has read the user's memberships and the project's lineage,
// so the assignments were a second round trip. The hint is what the
// previous validation of the same user and project needed: usually the
// same again, so the assignments come with the first round and there is no
// second one. The hint never grants anything. The rows are read fresh in
// this request, and only those whose actor is in this request's
// memberships and whose target is in this request's lineage count (the
// role computation filters by both); when this request needs an actor or a
// target the hint lacks, the validation reads the assignments in a second
// round as it would without a hint. A stale hint therefore costs one round
// trip, never a stale answer (docs/design.md §5: a hint chooses what to
// read and never grants).
type AssignmentHint struct {
	Actors  []string
	Targets []string
	// Roles (federated scoped tokens) are the roles the previous
	// validation rendered as full records; the first round reads those
	// records too, and only the ones this request renders are used.
	Roles []string
}

// roles is h.Roles, nil for no hint.
func (h *AssignmentHint) roles() []string {
	if h == nil {
		return nil
	}
	return h.Roles
}

// domainHintScope is the hint cache's scope key of a federated
// domain-scoped token (project ids are the keys of project tokens; the
// prefix keeps the two apart).
func domainHintScope(domainID string) string { return "domain:" + domainID }

// systemHintScope is the hint cache's scope key of system tokens.
const systemHintScope = "system:all"

// hintRoles records the roles whose full records a federated, trust or
// application credential token used, unless the role hint (hinted, what
// the first round asked for) named exactly those.
func (v *Validator) hintRoles(user, scope string, hinted, used []string) {
	if sameRoleHint(hinted, used) {
		return
	}
	h := &AssignmentHint{Roles: used}
	if old, _ := v.hints.lookup(user, scope); old != nil {
		h.Actors, h.Targets = old.Actors, old.Targets
	}
	v.hints.put(user, scope, h)
}

// covers reports whether the hint read every actor and target needed.
func (h *AssignmentHint) covers(actors, targets []string) bool {
	if h == nil {
		return false
	}
	for _, a := range actors {
		if !slices.Contains(h.Actors, a) {
			return false
		}
	}
	for _, t := range targets {
		if !slices.Contains(h.Targets, t) {
			return false
		}
	}
	return true
}

// maxHints bounds the hint cache: one entry per user and project whose
// tokens are validated, a few hundred bytes each. When it is full an
// arbitrary entry makes room (Go's map iteration order); a user whose hint
// was dropped pays one second round trip.
const maxHints = 8192

type hintKey struct{ user, project string }

// hintCache holds the last AssignmentHint per user and project, and the
// users last seen without a local_user row (LDAP or federated shadow
// users), whose names a first round then reads too (PrefetchQuery.UserNames;
// names grant nothing either).
type hintCache struct {
	// An RWMutex: every validation reads, few write (a first validation,
	// a changed need).
	mu       sync.RWMutex
	m        map[hintKey]*AssignmentHint
	nonLocal map[string]struct{}
}

// lookup returns, under one read lock, the user and project's assignment
// hint and whether the user was last seen without a local_user row.
func (c *hintCache) lookup(user, project string) (h *AssignmentHint, nonLocal bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, nonLocal = c.nonLocal[user]
	if project != "" {
		h = c.m[hintKey{user, project}]
	}
	return h, nonLocal
}

// setNonLocal records what the last validation found, if it changed.
func (c *hintCache) setNonLocal(user string, nonLocal, was bool) {
	if nonLocal == was {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !nonLocal {
		delete(c.nonLocal, user)
		return
	}
	if c.nonLocal == nil {
		c.nonLocal = make(map[string]struct{})
	}
	if len(c.nonLocal) >= maxHints {
		for old := range c.nonLocal {
			delete(c.nonLocal, old)
			break
		}
	}
	c.nonLocal[user] = struct{}{}
}

func (c *hintCache) put(user, project string, h *AssignmentHint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[hintKey]*AssignmentHint)
	}
	k := hintKey{user, project}
	if _, ok := c.m[k]; !ok && len(c.m) >= maxHints {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = h
}

// trustHintScope is the hint cache's scope key of a trust's tokens. The
// hint's Actors hold the trustor, its Targets the lineage of the trust's
// project (the trustor's assignments to read), its Roles the full role
// records the previous validation read.
func trustHintScope(trustID string) string { return "trust:" + trustID }

// trustHinted reports whether the first round read everything the trust
// token's delegation check needs: the hint named this trust's trustor, the
// trustee is the token's user (whom the first round read), and the
// trust's project is the token's with every level of its lineage among
// the targets read (or the trust names no project). Otherwise the trustor's
// side is read in a second round, as without a hint.
func trustHinted(tr *keystone.Trust, p *payload.Payload, trustor string, h *AssignmentHint, lineage []string) bool {
	if trustor == "" || tr.TrustorUserID != trustor || tr.TrusteeUserID != p.UserID {
		return false
	}
	if tr.ProjectID == "" {
		return true
	}
	return tr.ProjectID == p.ProjectID && h.covers(nil, lineage)
}
