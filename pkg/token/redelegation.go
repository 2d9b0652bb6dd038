package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// trustChain is the pedigree of a redelegated trust as Python Keystone 22
// reads it at validation time (keystone/trust/core.py get_trust_pedigree,
// used by Manager.get_trust and TokenModel._get_trust_roles).
//
// Only tokens whose trust has redelegated_trust_id set ever build one, so
// project tokens and ordinary trust tokens pay nothing for it.
type trustChain struct {
	// links[0] is the token's trust; every further link is the trust the
	// previous one was redelegated from; the last is the original trust.
	links []*keystone.Trust
	// refusal is the answer due while reading the pedigree: Python's
	// TrustNotFound (404) for a missing, deleted, expired or used-up link,
	// or keystone-ng's own 403 for a pedigree longer than
	// [trust] max_redelegation_count allows or one that loops (Python has
	// no bound and would never answer a loop). nil: read in full.
	refusal error
	// refusalNote says why, for the log, when the answer does not.
	refusalNote *note
	// agents holds the trustee of every ancestor link (absent: no such
	// user); Python requires each to be enabled.
	agents map[string]*keystone.User
	// The original trustor's valid groups and assignments on the trust's
	// project lineage: TokenModel._get_trust_roles checks the delegated
	// roles against the original trustor, not the trust's direct trustor.
	trustorGroups []string
	trustorRows   []keystone.Assignment
}

// original is the first trust of the pedigree.
func (c *trustChain) original() *keystone.Trust { return c.links[len(c.links)-1] }

// loadTrustChain reads the ancestors of leaf (whose RedelegatedTrustID is
// set and which is itself usable), then the users and assignments the
// checks need. known holds users already read for this validation.
// Errors are store failures only; refusals go to the chain's refusal.
//
// Python walks the pedigree without a bound. A pedigree created through
// its API cannot have more than max_redelegation_count+1 links (the count
// starts at most at the maximum, drops by one per redelegation, and every
// ancestor needs a count above zero), so keystone-ng stops reading there
// and refuses longer pedigrees and loops (only possible by editing the
// database) instead of following them; each step costs one query.
func (v *Validator) loadTrustChain(ctx context.Context, leaf *keystone.Trust, lineage []*keystone.Project, known map[string]*keystone.User, now time.Time) (*trustChain, error) {
	c := &trustChain{links: []*keystone.Trust{leaf}, agents: map[string]*keystone.User{}}
	maxLinks := v.Settings.MaxRedelegationCount + 1
	seen := map[string]bool{leaf.ID: true}
	for cur := leaf; cur.RedelegatedTrustID != ""; {
		id := cur.RedelegatedTrustID
		if seen[id] {
			c.refusal = apierror.Forbidden("")
			c.refusalNote = &note{level: slog.LevelWarn, msg: "redelegated trust refused: its pedigree loops",
				attrs: []any{"trust_id", leaf.ID, "repeated_trust_id", id}}
			return c, nil
		}
		if len(c.links) >= maxLinks {
			c.refusal = apierror.Forbidden("")
			c.refusalNote = &note{level: slog.LevelWarn, msg: "redelegated trust refused: pedigree longer than [trust] max_redelegation_count allows",
				attrs: []any{"trust_id", leaf.ID, "max_redelegation_count", v.Settings.MaxRedelegationCount}}
			return c, nil
		}
		parent, err := v.Store.GetTrust(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// The pedigree is read with the same driver.get_trust as the
		// token's own trust: a deleted, expired or used-up ancestor is
		// TrustNotFound naming that ancestor.
		if parent == nil || !trustUsable(parent, now) {
			c.refusal = apierror.NotFound(fmt.Sprintf(msgTrustNotFound, id))
			return c, nil
		}
		seen[id] = true
		c.links = append(c.links, parent)
		cur = parent
	}

	var (
		mu  sync.Mutex
		fns []func() error
	)
	for _, l := range c.links[1:] {
		id := l.TrusteeUserID
		if _, dup := c.agents[id]; dup {
			continue
		}
		if u := known[id]; u != nil {
			c.agents[id] = u
			continue
		}
		c.agents[id] = nil // claimed; stays nil if the user is missing
		fns = append(fns, func() error {
			u, err := v.Store.GetUser(ctx, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			c.agents[id] = u
			mu.Unlock()
			return nil
		})
	}
	orig := c.original().TrustorUserID
	fns = append(fns, func() error {
		// get_roles_for_trustor_and_project(original trustor, project):
		// direct, group and inherited assignments, domain roles kept.
		ms, err := v.Store.ListMemberships(ctx, orig)
		if err != nil {
			return err
		}
		c.trustorGroups = validGroups(ms, now, v.Settings.DefaultAuthorizationTTL)
		if len(lineage) == 0 {
			return nil
		}
		c.trustorRows, err = v.Store.UserAssignments(ctx, orig, projectIDs(lineage))
		return err
	})
	if err := v.Store.Round(ctx, fns...); err != nil {
		return nil, err
	}
	return c, nil
}

// checkTrustChain applies what Manager.get_trust checks on a redelegated
// trust, in its order: first any refusal met while reading the pedigree,
// then for every (ancestor, the link redelegated from it) pair, from the
// token's trust upwards, _validate_redelegation and that the ancestor's
// trustee is an enabled user in an enabled domain. Every failure is a
// Forbidden (403), whose message Python hides unless insecure_debug is set
// (hence the note for the log). Pure, as the judge it belongs to.
func checkTrustChain(c *trustChain, now time.Time, s Settings) (*note, error) {
	if c.refusal != nil {
		return c.refusalNote, c.refusal
	}
	maxCount := s.MaxRedelegationCount
	for i := 1; i < len(c.links); i++ {
		parent, child := c.links[i], c.links[i-1]
		// 0 < redelegation_count <= max_redelegation_count. A NULL count
		// makes Python compare an int with None: a TypeError, so a 500.
		if parent.RedelegationCount == nil {
			return nil, apierror.Internal(fmt.Errorf("trust %s: redelegation_count is NULL (Python fails with a TypeError)", parent.ID))
		}
		if n := *parent.RedelegationCount; n <= 0 || n > maxCount {
			return nil, apierror.Forbidden("")
		}
		// A trust that was redelegated from another may not limit its uses.
		if child.RemainingUses != nil {
			return nil, apierror.Forbidden("")
		}
		// The redelegated trust may not outlive its ancestor. Python only
		// compares when the child has an expiry; an ancestor without one
		// then fails the comparison with None (TypeError, 500).
		if child.ExpiresAt != nil {
			if parent.ExpiresAt == nil {
				return nil, apierror.Internal(fmt.Errorf("trust %s expires but its ancestor %s does not (Python fails with a TypeError)", child.ID, parent.ID))
			}
			if parent.ExpiresAt.Before(*child.ExpiresAt) {
				return nil, apierror.Forbidden("")
			}
		}
		// Delegated roles (the trust_role rows, not implied ones) must be a
		// subset of the ancestor's.
		for _, id := range child.RoleIDs {
			if !slices.Contains(parent.RoleIDs, id) {
				return nil, apierror.Forbidden("")
			}
		}
		// Impersonation cannot be gained by redelegation.
		if child.Impersonation && !parent.Impersonation {
			return nil, apierror.Forbidden("")
		}
		// assert_user_enabled(ancestor's trustee): a missing user, a
		// missing or disabled domain and a disabled user all become
		// "One of the trust agents is disabled or deleted" (403).
		u := c.agents[parent.TrusteeUserID]
		if u == nil || u.Domain == nil || !u.Domain.IsDomain || !u.Domain.Enabled || !UserEnabled(u, now, s.DisableUserAccountDaysInactive) {
			return &note{level: slog.LevelDebug, msg: "redelegated trust refused: a trust agent is disabled or deleted",
				attrs: []any{"trust_id", c.links[0].ID, "agent_id", parent.TrusteeUserID}}, apierror.Forbidden("")
		}
	}
	return nil, nil
}
