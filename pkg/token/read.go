package token

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// read runs the rounds of lookups the plan calls for, and those that what
// the first round returned calls for, and gathers their rows as evidence.
// It is the only step of validation that touches the Store, runs lookups
// concurrently, and updates the hint cache. Errors are store failures
// only: a missing row is evidence, judged later in Python's order.
func (v *Validator) read(ctx context.Context, pl *plan, ev *evidence, now time.Time) error {
	pre, err := v.readFirst(ctx, pl, ev)
	if err != nil {
		return err
	}
	if v.Identity != nil {
		// Users of a non-SQL identity backend (identity.go); nothing is
		// read here for a Validator without one.
		if err := v.readBackendIdentity(ctx, pl, ev, pre); err != nil {
			return err
		}
	}
	ev.groups = validGroups(ev.memberships, now, v.Settings.DefaultAuthorizationTTL)
	if u := ev.user; u != nil && u.Domain != nil {
		ev.domains[u.Domain.ID] = u.Domain
	}
	for _, pr := range ev.lineage {
		if pr.IsDomain {
			ev.domains[pr.ID] = pr
		}
	}
	if err := v.readSecond(ctx, pl, ev, pre, now); err != nil {
		return err
	}
	if v.Identity != nil {
		// After round two, which read the trustor's row (or round one,
		// hinted): no statement of its own for an SQL trustor.
		if err := v.checkTrustorBackend(ctx, ev); err != nil {
			return err
		}
	}
	if tr := ev.trust; tr != nil && tr.RedelegatedTrustID != "" && trustUsable(tr, now) {
		// Round three, for redelegated trusts only: the trust pedigree
		// and what its checks need (redelegation.go).
		if ev.chain, err = v.loadTrustChain(ctx, tr, ev.trustorLineage, ev.trustUsers, now); err != nil {
			return err
		}
		if err := v.checkChainBackend(ctx, ev.chain); err != nil {
			return err
		}
	}
	return nil
}

// newEvidence starts the evidence of a validation whose first round the
// plan pl describes.
func newEvidence(pl *plan, p *payload.Payload, issuedAt time.Time) *evidence {
	return &evidence{payload: p, issuedAt: issuedAt, idpExists: true,
		domains: map[string]*keystone.Project{},
		// A copy: reading more roles appends to it, and the hint's own
		// slice is shared with other validations.
		roleIDsRead: slices.Clone(pl.query.Roles), hintedRoleIDs: pl.query.Roles}
}

// readFirst is round one: everything the payload alone determines. For a
// project token that is the user (with its domain), memberships, implied
// roles, the project lineage and revocation events, read together by the
// store's Prefetch (one round trip on MySQL/MariaDB and PostgreSQL), and the catalog
// (normally from its cache); the rarer lookups run beside them.
func (v *Validator) readFirst(ctx context.Context, pl *plan, ev *evidence) (*Prefetched, error) {
	p, q := ev.payload, pl.query
	var pre *Prefetched
	fns := []func() error{func() error {
		var err error
		if pre, err = v.Store.Prefetch(ctx, q); err != nil {
			return err
		}
		v.hints.setNonLocal(p.UserID, pre.UserNonLocal, q.UserNames)
		return nil
	}}
	if pl.accessToken != "" {
		fns = append(fns, func() (err error) {
			ev.accessToken, err = v.Store.GetAccessToken(ctx, pl.accessToken)
			return optional(err)
		})
	}
	// The catalog lookups run first, in this goroutine: the store normally
	// answers them from its catalog cache at once (a miss costs one extra
	// round trip about once a second), and for a project token the
	// prefetch is then the only other lookup, so the round needs no goroutine.
	if err := v.readCatalog(ctx, pl, ev); err != nil {
		return nil, err
	}
	if err := v.Store.Round(ctx, fns...); err != nil {
		return nil, err
	}
	ev.user, ev.memberships, ev.lineage, ev.events = pre.User, pre.Memberships, pre.Lineage, pre.Events
	ev.graph = newImpliedGraph(pre.Implied)
	if p.DomainID != "" {
		ev.scopeDomains = pre.Domains
	}
	if q.DomainAssignments || q.AssignmentHint != nil {
		ev.assignments = pre.Assignments
	}
	ev.idpExists = pre.IdentityProviderExists
	ev.systemAssignments = pre.SystemAssignments
	ev.roles = pre.Roles
	ev.trust = pre.Trust
	ev.appCred = pre.AppCred
	return pre, nil
}

// readCatalog reads the services and the project's endpoint filter, and
// the service providers, when the request asks for the catalog.
func (v *Validator) readCatalog(ctx context.Context, pl *plan, ev *evidence) error {
	var err error
	if pl.catalog {
		if ev.catalog, err = v.Store.Services(ctx); err == nil && ev.payload.ProjectID != "" {
			ev.projectEndpoints, err = v.Store.ProjectEndpoints(ctx, ev.payload.ProjectID)
		}
		if err != nil {
			return err
		}
	}
	if pl.serviceProviders {
		ev.serviceProviders, err = v.Store.EnabledServiceProviders(ctx)
	}
	return err
}

// readSecond is round two: the lookups that depend on round one (the
// assignments of a project token need its lineage; system grants need the
// groups; trust tokens need the trustor), when the hints did not have
// round one read them.
func (v *Validator) readSecond(ctx context.Context, pl *plan, ev *evidence, pre *Prefetched, now time.Time) error {
	var fns []func() error
	fns = v.readProjectAssignments(ctx, pl, ev, fns)
	fns = v.readSystemAssignments(ctx, pl, ev, fns)
	if ev.trust != nil {
		fns = v.readTrustorSide(ctx, pl, ev, pre, now, fns)
	}
	if len(fns) == 0 {
		return nil
	}
	return v.Store.Round(ctx, fns...)
}

// readProjectAssignments adds to fns, when the hint did not cover them,
// the assignments on the project, its ancestors and its domain of the
// project token's actors. The memberships are known by now, so the actors
// are listed explicitly, which is cheaper for the database than
// membership subqueries. (Folding this lookup into the first round,
// joined to the project rows and memberships, cost MariaDB more than the
// round trip it saved: docs/performance.md.)
func (v *Validator) readProjectAssignments(ctx context.Context, pl *plan, ev *evidence, fns []func() error) []func() error {
	if !pl.projectAssignments || len(ev.lineage) == 0 {
		return fns
	}
	p := ev.payload
	actors, ids := projectActors(pl, p, ev.memberships), projectIDs(ev.lineage)
	h := pl.query.AssignmentHint
	next := &AssignmentHint{Actors: actors, Targets: ids, Roles: h.roles()}
	switch fitHint(h, actors, ids) {
	case hintMisses:
		return append(fns, func() (err error) {
			ev.assignments, err = v.Store.Assignments(ctx, actors, ids)
			if err == nil {
				v.hints.put(p.UserID, p.ProjectID, next)
			}
			return
		})
	case hintWider:
		v.hints.put(p.UserID, p.ProjectID, next)
	}
	return fns
}

// readSystemAssignments adds to fns, when the hint did not cover them,
// the system grants of a system token's user and groups.
func (v *Validator) readSystemAssignments(ctx context.Context, pl *plan, ev *evidence, fns []func() error) []func() error {
	p := ev.payload
	if p.System == "" {
		return fns
	}
	actors := append([]string{p.UserID}, ev.groups...)
	switch fitHint(pl.hint, actors, nil) {
	case hintMisses:
		return append(fns, func() (err error) {
			ev.systemAssignments, err = v.Store.SystemAssignments(ctx, actors)
			if err == nil {
				v.hints.put(p.UserID, systemHintScope, &AssignmentHint{Actors: actors})
			}
			return
		})
	case hintWider:
		// A group left: its grants, read by the hint, do not count
		// (systemRoles keeps only this request's actors).
		v.hints.put(p.UserID, systemHintScope, &AssignmentHint{Actors: actors})
	}
	return fns
}

// readTrustorSide takes from the first round, when the trust hint applied,
// or else adds to fns, what the delegation check needs: the trustor and
// the trustee, the trustor's roles on the trust's project
// (get_roles_for_trustor_and_project) and the revocation events of the
// token's user, the trustor and the trustee.
func (v *Validator) readTrustorSide(ctx context.Context, pl *plan, ev *evidence, pre *Prefetched, now time.Time, fns []func() error) []func() error {
	p, tr, hint := ev.payload, ev.trust, pl.hint
	ids := projectIDs(ev.lineage)
	ev.trustUsers = make(map[string]*keystone.User, 2)
	if trustHinted(tr, p, pl.trustorHint, hint, ids) {
		// Everything came with the first round, through the trustor's
		// memberships read then.
		ev.trustUsers[p.UserID] = ev.user
		if u := pre.Trustor; u != nil {
			ev.trustUsers[u.ID] = u
			if u.Domain != nil {
				ev.domains[u.Domain.ID] = u.Domain
			}
		}
		ev.trustorGroups = validGroups(pre.TrustorMemberships, now, v.Settings.DefaultAuthorizationTTL)
		if tr.ProjectID != "" {
			ev.trustorLineage, ev.trustorRows = ev.lineage, pre.TrustorAssignments
		}
		if len(hint.Targets) > len(ids) && tr.ProjectID != "" {
			v.hints.put(p.UserID, pl.hintScope, &AssignmentHint{Actors: []string{tr.TrustorUserID}, Targets: ids, Roles: hint.Roles})
		}
		return fns
	}
	// No usable hint: a second round, which leaves the hint for the next
	// validation of the trust.
	var mu sync.Mutex
	for _, id := range []string{tr.TrustorUserID, tr.TrusteeUserID} {
		fns = append(fns, func() error {
			u, err := v.Store.GetUser(ctx, id)
			if err != nil {
				return optional(err)
			}
			mu.Lock()
			ev.trustUsers[id] = u
			if u.Domain != nil {
				ev.domains[u.Domain.ID] = u.Domain
			}
			mu.Unlock()
			return nil
		})
	}
	return append(fns, func() error {
		ms, err := v.Store.ListMemberships(ctx, tr.TrustorUserID)
		if err != nil {
			return err
		}
		ev.trustorGroups = validGroups(ms, now, v.Settings.DefaultAuthorizationTTL)
		var targets []string
		if tr.ProjectID != "" {
			if ev.trustorLineage, err = v.Store.ProjectLineage(ctx, tr.ProjectID); err != nil {
				return err
			}
			targets = projectIDs(ev.trustorLineage)
			if ev.trustorRows, err = v.Store.UserAssignments(ctx, tr.TrustorUserID, targets); err != nil {
				return err
			}
		}
		v.hints.put(p.UserID, pl.hintScope, &AssignmentHint{Actors: []string{tr.TrustorUserID}, Targets: targets, Roles: hint.roles()})
		return nil
	}, func() (err error) {
		ev.events, err = v.Store.RevocationEvents(ctx, RevocationQuery{IssuedAt: ev.issuedAt,
			UserIDs: []string{p.UserID, tr.TrustorUserID, tr.TrusteeUserID}, ProjectID: p.ProjectID, AuditID: auditID(p)})
		return
	})
}

// readRoles reads the full records of ids, which the judge asked for
// (verdict.needRoles), into the evidence.
func (v *Validator) readRoles(ctx context.Context, ev *evidence, ids []string) error {
	found, err := v.Store.GetRoles(ctx, ids)
	if err != nil {
		return err
	}
	ev.addRoles(ids, found)
	return nil
}

// optional makes a missing row a validation outcome (judged in Python's
// order), not a failure.
func optional(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Concurrently runs fns concurrently (the first in this goroutine) and
// joins their errors: the database lookups of one round are independent,
// so they cost one round trip of latency instead of many. Stores run a
// Round with it once the round is admitted.
func Concurrently(fns ...func() error) error {
	if len(fns) == 1 {
		return fns[0]()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, f := range fns[1:] {
		wg.Add(1)
		go func(i int, f func() error) {
			defer wg.Done()
			errs[i+1] = f()
		}(i, f)
	}
	errs[0] = fns[0]()
	wg.Wait()
	return errors.Join(errs...)
}
