package token

import (
	"context"
	"errors"
	"fmt"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// IdentityBackend answers for the users of domains whose identity backend
// is not SQL (an LDAP directory): Python's identity manager sends every
// user lookup and group listing of such a user to the domain's driver
// (keystone/identity/core.py get_user, list_groups_for_user), so the
// shadow rows Python leaves in SQL (user, nonlocal_user) say nothing
// about whether the user still exists, is enabled, or which groups they
// are in.
//
// A Validator without one (nil) serves every user from SQL, as before:
// no statement is added for anyone.
type IdentityBackend interface {
	// LookupUser answers for the user userID given the SQL row read for it
	// in the first round (nil when there is none). It returns nil when the
	// user is served from SQL (the row stands), or the backend's user and
	// groups. An error is a failure to read: the validation answers 500,
	// which the front door hands to Python.
	LookupUser(ctx context.Context, userID string, sqlUser *keystone.User) (*BackendUser, error)
}

// BackendUser is what an identity backend says of a user.
type BackendUser struct {
	// User is nil when the backend has no such user (Python's
	// UserNotFound). Its Domain is left nil: the Validator attaches the
	// domain row.
	User *keystone.User
	// GroupIDs are the public ids of the user's groups, which feed role
	// assignments (keystone/assignment/core.py _get_group_ids_for_user_id).
	GroupIDs []string
	// Backend names the backend for logs ("ldap").
	Backend string
	// LocalID is the user's id in the backend. Python's "Could not find
	// user" names it, not the public id, when the backend has no such
	// user (the driver raises UserNotFound with its own id).
	LocalID string
}

// ErrBackendUnserved: keystone-ng cannot answer this validation as Python
// would (a backend it does not implement, or a token kind it leaves to
// Python for such users); the 500 it becomes hands the request to Python.
var ErrBackendUnserved = errors.New("identity backend: left to Python")

// readBackendIdentity replaces, for a user of a non-SQL identity backend,
// the user and memberships the first round read from SQL with the
// backend's answer. Federated tokens keep SQL's: their user is a
// federated shadow user and their groups come from the payload.
func (v *Validator) readBackendIdentity(ctx context.Context, pl *plan, ev *evidence, pre *Prefetched) error {
	p := ev.payload
	if v.Identity == nil || p.Federated {
		return nil
	}
	bu, err := v.Identity.LookupUser(ctx, p.UserID, ev.user)
	if err != nil {
		return err
	}
	if bu == nil {
		return nil
	}
	if p.TrustID != "" {
		// The trust path reads the trustor's and trustee's users and
		// memberships from SQL (readTrustorSide); rather than answer
		// differently from Python, a trust token of a backend user goes
		// to Python.
		return fmt.Errorf("%w: trust token of %s user %s", ErrBackendUnserved, bu.Backend, p.UserID)
	}
	ev.user = bu.User
	ev.memberships = make([]keystone.Membership, 0, len(bu.GroupIDs))
	for _, g := range bu.GroupIDs {
		ev.memberships = append(ev.memberships, keystone.Membership{GroupID: g})
	}
	if bu.User == nil {
		ev.missingUserID = bu.LocalID
		return nil
	}
	if su := pre.User; su != nil && su.Domain != nil && su.Domain.ID == bu.User.DomainID {
		bu.User.Domain = su.Domain
	} else {
		ds, err := v.Store.GetProjects(ctx, bu.User.DomainID)
		if err != nil {
			return err
		}
		bu.User.Domain = ds[bu.User.DomainID]
	}
	if pl.query.DomainAssignments && len(bu.GroupIDs) > 0 {
		// The first round read the domain's assignments of the user and
		// their SQL groups; the backend's groups are other ones.
		actors := append([]string{p.UserID}, bu.GroupIDs...)
		if ev.assignments, err = v.Store.Assignments(ctx, actors, []string{p.DomainID}); err != nil {
			return err
		}
	}
	return nil
}

// checkTrustorBackend refuses (to Python) a trust whose trustor is a user
// of a non-SQL identity backend, for the reason readBackendIdentity gives.
// It runs after the trustor's SQL row was read (readTrustorSide), so an
// SQL trustor costs no statement.
func (v *Validator) checkTrustorBackend(ctx context.Context, ev *evidence) error {
	if v.Identity == nil || ev.trust == nil || ev.payload.Federated {
		return nil
	}
	id := ev.trust.TrustorUserID
	bu, err := v.Identity.LookupUser(ctx, id, ev.trustUsers[id])
	if err != nil {
		return err
	}
	if bu != nil {
		return fmt.Errorf("%w: trust of %s trustor %s", ErrBackendUnserved, bu.Backend, id)
	}
	return nil
}

// checkChainBackend refuses (to Python) a redelegated trust one of whose
// earlier trustees, or whose original trustor, is a user of a non-SQL
// backend: the pedigree's checks read them from SQL. The rows were read
// with the pedigree, so SQL users cost no statement.
func (v *Validator) checkChainBackend(ctx context.Context, c *trustChain) error {
	if v.Identity == nil || c == nil || c.refusal != nil {
		return nil
	}
	ids := make([]string, 0, len(c.agents)+1)
	for id := range c.agents {
		ids = append(ids, id)
	}
	ids = append(ids, c.original().TrustorUserID)
	for _, id := range ids {
		u := c.agents[id]
		bu, err := v.Identity.LookupUser(ctx, id, u)
		if err != nil {
			return err
		}
		if bu != nil {
			return fmt.Errorf("%w: redelegated trust with %s user %s", ErrBackendUnserved, bu.Backend, id)
		}
	}
	return nil
}
