// Package token validates Keystone Fernet tokens with Python Keystone's
// semantics (keystone/token/provider.py, keystone/models/token_model.py,
// keystone/common/render_token.py) against the shared database.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// Decrypter opens a Fernet token (the key repository).
type Decrypter interface {
	Decrypt(token string) (plaintext []byte, issuedAt time.Time, err error)
}

// Settings are the keystone.conf values validation depends on.
type Settings struct {
	// DefaultAuthorizationTTL is [federation] default_authorization_ttl
	// in minutes.
	DefaultAuthorizationTTL int
	// DisableUserAccountDaysInactive is [security_compliance]
	// disable_user_account_days_inactive (0 = off).
	DisableUserAccountDaysInactive int
	// ReturnAllEndpointsIfNoFilter is [endpoint_filter]
	// return_all_endpoints_if_no_filter.
	ReturnAllEndpointsIfNoFilter bool
	// AdminProjectName and AdminProjectDomainName are [resource]
	// admin_project_name / admin_project_domain_name.
	AdminProjectName, AdminProjectDomainName string
	// PublicEndpoint is [DEFAULT] public_endpoint (catalog substitution).
	PublicEndpoint string
	// MaxRedelegationCount is [trust] max_redelegation_count (Python's
	// default 3; 0 refuses every redelegated trust, as in Python).
	MaxRedelegationCount int
}

// Validator validates tokens. It holds no per-token state: every call reads
// the database afresh so no answer is stale (docs/design.md §4).
type Validator struct {
	Keys     Decrypter
	Codec    *payload.Codec
	Store    Store
	Settings Settings
	Now      func() time.Time
	Log      *slog.Logger
	// QueryTimeout bounds the database lookups of one validation
	// ([keystone_ng] db_query_timeout); 0 means only the request deadline.
	QueryTimeout time.Duration
	// Gate bounds how many validation rounds read the database at once
	// ([keystone_ng] db_concurrency, times db_batch_size when the store
	// batches, config.DBLimits); nil: no bound.
	Gate Gate
	// GateWaited, if set, is told how long each round waited at the Gate
	// (0 when a place was free), for the wait metric.
	GateWaited func(time.Duration)

	// hints remembers which assignments each user and project needed
	// last time (hints.go).
	hints hintCache
}

// Gate is a first-come-first-served bound on how many validations run a
// round of database lookups at the same time. Under a load the database
// cannot keep up with, letting every request in at once has each of them
// compete for the same cores (on MariaDB one server thread per
// connection): throughput does not rise, the database spends more CPU per
// statement and the slowest answers wait for the scheduler. Waiting in
// line here instead keeps the database's work per validation and the
// latency spread down (docs/performance.md). Go's channel sends queue in
// arrival order, so the first to wait is the first let in.
type Gate chan struct{}

// NewGate returns a Gate for n concurrent rounds; nil (no bound) for n <= 0.
func NewGate(n int) Gate {
	if n <= 0 {
		return nil
	}
	return make(Gate, n)
}

// enter takes a place, waiting in line if none is free, and reports how
// long it waited (the clock is read only when it had to wait).
func (g Gate) enter(ctx context.Context) (time.Duration, error) {
	if g == nil {
		return 0, nil
	}
	select {
	case g <- struct{}{}:
		return 0, nil
	default:
	}
	start := time.Now()
	select {
	case g <- struct{}{}:
		return time.Since(start), nil
	case <-ctx.Done():
		return time.Since(start), ctx.Err()
	}
}

func (g Gate) leave() {
	if g != nil {
		<-g
	}
}

// Request says how to validate.
type Request struct {
	Token string
	// Window is the allow_expired window (0 for none).
	Window time.Duration
	// Catalog asks for the catalog and service providers to be fetched.
	Catalog bool
	// AccessRulesVersion is the OpenStack-Identity-Access-Rules header.
	AccessRulesVersion string
}

// Token is a validated token with everything rendering needs.
type Token struct {
	ID       string
	Payload  *payload.Payload
	IssuedAt time.Time

	User          *User
	UserDomain    *Project
	Project       *Project
	ProjectDomain *Project
	Domain        *Project
	Trust         *Trust
	Trustor       *User
	Trustee       *User
	TrustorDomain *Project
	AppCred       *AppCred
	AccessToken   *AccessToken

	// Roles are {id, name} refs, or full records when FullRoles is set
	// (trust and federated scoped tokens render full role dicts).
	Roles     []RoleRef
	FullRoles map[string]*Role

	Catalog          []Service
	ProjectEndpoints *ProjectEndpoints
	ServiceProviders []ServiceProvider
	CatalogUserID    string

	// chain is the pedigree of a redelegated trust (nil otherwise).
	chain *trustChain
	// knownRoles are the full role records the first round read for the
	// role hint (PrefetchQuery.Roles), knownRoleIDs the ids it asked for;
	// rolesAsked are the roles whose full records the token needed
	// (federated, trust and application credential tokens, fullRoles).
	knownRoles   map[string]*Role
	knownRoleIDs []string
	rolesAsked   []string
}

// Unscoped reports a token without any scope.
func (t *Token) Unscoped() bool {
	p := t.Payload
	return p.System == "" && p.DomainID == "" && p.ProjectID == "" && p.TrustID == ""
}

// fetch runs one round of lookups, holding a place at the Gate.
func (v *Validator) fetch(ctx context.Context, fns ...func() error) error {
	waited, err := v.Gate.enter(ctx)
	if v.GateWaited != nil && v.Gate != nil {
		v.GateWaited(waited)
	}
	if err != nil {
		return fmt.Errorf("waiting for a database turn: %w", err)
	}
	defer v.Gate.leave()
	return fetchAll(fns...)
}

// fetchAll runs fns concurrently (the first in this goroutine): the
// database lookups of one round are independent, so they cost one round
// trip of latency instead of many.
func fetchAll(fns ...func() error) error {
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

// notFound maps a store miss to Keystone's NotFound message, other store
// errors to an internal error.
func notFound(err error, format, id string) error {
	if errors.Is(err, ErrNotFound) {
		return apierror.NotFound(fmt.Sprintf(format, id))
	}
	return apierror.Internal(err)
}

const (
	msgUserNotFound    = "Could not find user: %s."
	msgProjectNotFound = "Could not find project: %s."
	msgDomainNotFound  = "Could not find domain: %s."
	msgTrustNotFound   = "Could not find trust: %s."
	msgAppCredNotFound = "Could not find Application Credential: %s."
	msgIdPNotFound     = "Could not find Identity Provider: %s."
	msgFailed          = "Failed to validate token"
	msgUnrecognized    = "Could not recognize Fernet token"
)

// peekVersion reads the integer version at the start of a msgpack array,
// for the "not a recognized payload version" message.
func peekVersion(b []byte) (int64, bool) {
	if len(b) < 2 {
		return 0, false
	}
	i := 1
	switch {
	case b[0]&0xf0 == 0x90:
	case b[0] == 0xdc && len(b) > 3:
		i = 3
	case b[0] == 0xdd && len(b) > 5:
		i = 5
	default:
		return 0, false
	}
	c := b[i]
	rest := b[i+1:]
	switch {
	case c < 0x80:
		return int64(c), true
	case c >= 0xe0:
		return int64(int8(c)), true
	case c == 0xcc && len(rest) >= 1:
		return int64(rest[0]), true
	case c == 0xcd && len(rest) >= 2:
		return int64(rest[0])<<8 | int64(rest[1]), true
	case c == 0xce && len(rest) >= 4:
		return int64(rest[0])<<24 | int64(rest[1])<<16 | int64(rest[2])<<8 | int64(rest[3]), true
	case c == 0xd0 && len(rest) >= 1:
		return int64(int8(rest[0])), true
	}
	return 0, false
}

// Validate checks a token the way Python's provider.validate_token does,
// in the same order, so the first failing check gives the same status and
// message as Python's.
func (v *Validator) Validate(ctx context.Context, req Request) (*Token, error) {
	if req.Token == "" {
		return nil, apierror.NotFound("No token in the request")
	}
	plain, issuedAt, err := v.Keys.Decrypt(req.Token)
	if err != nil {
		// The formatter's ValidationError becomes TokenNotFound(e) and keeps
		// its message (keystone/token/providers/fernet/core.py).
		return nil, &apierror.Error{Code: 404, Title: "Not Found", Message: msgUnrecognized, Cause: err}
	}
	p, err := v.Codec.Decode(plain)
	if err != nil {
		msg := msgUnrecognized
		if ver, ok := peekVersion(plain); ok && errors.Is(err, payload.ErrUnknownVersion) {
			msg = fmt.Sprintf("This is not a recognized Fernet payload version: %d", ver)
		}
		return nil, &apierror.Error{Code: 404, Title: "Not Found", Message: msg, Cause: err}
	}
	if v.QueryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.QueryTimeout)
		defer cancel()
	}
	now := v.Now().UTC()
	t := &Token{ID: req.Token, Payload: p, IssuedAt: issuedAt.UTC()}

	// Round one: everything the payload alone determines. For a project
	// token that is the user (with its domain), memberships, implied
	// roles, the project lineage and revocation events, read together by
	// the store's Prefetch, and the catalog (normally from its cache).
	var (
		lineage     []*Project
		memberships []Membership
		implied     []Implied
		domainRows  map[string]*Project
		assignments []Assignment
		sysAssign   []Assignment
		idpExists   = true
		events      []RevocationEvent
	)
	scoped := !t.Unscoped()
	wantCatalog := req.Catalog && scoped
	// A missing row is a validation outcome (checked below in Python's
	// order), not a failure.
	optional := func(err error) error {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	// The independent lookups go to the store together (one round trip
	// on MySQL/MariaDB); the rarer ones run beside them.
	pq := PrefetchQuery{UserID: p.UserID, ProjectID: p.ProjectID, DomainID: p.DomainID,
		DomainAssignments: p.TrustID == "" && p.ProjectID == "" && p.DomainID != "" && !p.Federated,
		UserInactivity:    v.Settings.DisableUserAccountDaysInactive > 0}
	// Project tokens read their assignments with the first round when the
	// previous validation of the user and project says which (hints.go).
	// Federated tokens scoped to a project or domain do too, and read
	// there as well what only their payload decides (the system grants of
	// the user and the mapped groups, the identity provider) and the full
	// role records the previous validation rendered. System, trust and
	// application credential tokens have hints of their own below. The
	// cache key is the user and a scope: the project (project, federated
	// project and application credential tokens share it, at worst
	// costing each other a second round), a federated token's domain, the
	// system, or the trust.
	projectAssignments := p.ProjectID != "" && p.TrustID == ""
	federatedScoped := p.Federated && (p.ProjectID != "" || p.DomainID != "")
	var fedActors []string
	hintScope := ""
	switch {
	case projectAssignments:
		hintScope = p.ProjectID
	case federatedScoped:
		hintScope = domainHintScope(p.DomainID)
	case p.System != "":
		hintScope = systemHintScope
	case p.TrustID != "":
		hintScope = trustHintScope(p.TrustID)
	}
	hint, nonLocal := v.hints.lookup(p.UserID, hintScope)
	pq.AssignmentHint, pq.UserNames = hint, nonLocal
	if p.System != "" {
		// A system token's grants are those of the user and their
		// groups: the actors the previous validation needed are read
		// with the first round (the hint's Actors; it has no targets).
		pq.AssignmentHint = nil
		if hint != nil {
			pq.SystemActors = hint.Actors
		}
	}
	if p.Federated {
		pq.IdentityProvider = p.IdentityProviderID
	}
	if federatedScoped {
		fedActors = append([]string{p.UserID}, p.FederatedGroupIDs...)
		pq.SystemActors = fedActors
		if hint != nil {
			pq.Roles = hint.Roles
			t.knownRoleIDs = hint.Roles
		}
		if p.ProjectID == "" {
			// A domain's assignments depend on nothing the first round
			// reads: ask for exactly them.
			pq.AssignmentHint = &AssignmentHint{Actors: fedActors, Targets: []string{p.DomainID}}
		}
	}
	var trustorHint string
	if p.TrustID == "" {
		// Without a trust the revocation pre-filter is known already.
		pq.Revocation = &RevocationQuery{IssuedAt: t.IssuedAt, UserIDs: []string{p.UserID}, ProjectID: p.ProjectID, AuditID: auditID(p)}
	} else {
		// The trust comes with the first round. So does, when the
		// previous validation of the trust left a hint, what the
		// trustor's side needs: a trust's trustor never changes, and the
		// trust row read in this same round decides whether the hint is
		// used (trustHinted below).
		pq.AssignmentHint = nil
		pq.Trust = &TrustPrefetch{ID: p.TrustID}
		if hint != nil && len(hint.Actors) == 1 {
			trustorHint = hint.Actors[0]
			pq.Trust.TrustorID, pq.Trust.TrustorTargets = trustorHint, hint.Targets
			pq.Roles, t.knownRoleIDs = hint.Roles, hint.Roles
			// The trustee is the token's user (or the token is refused).
			pq.Revocation = &RevocationQuery{IssuedAt: t.IssuedAt, UserIDs: []string{p.UserID, trustorHint}, ProjectID: p.ProjectID, AuditID: auditID(p)}
		}
	}
	if p.AppCredID != "" {
		// An application credential's roles never change: the full
		// records of those the previous validation read come along.
		pq.AppCred = p.AppCredID
		if hint != nil {
			pq.Roles, t.knownRoleIDs = hint.Roles, hint.Roles
		}
	}
	var pre *Prefetched
	fns := []func() error{
		func() error {
			var err error
			if pre, err = v.Store.Prefetch(ctx, pq); err != nil {
				return err
			}
			t.User, memberships, implied, lineage, events = pre.User, pre.Memberships, pre.Implied, pre.Lineage, pre.Events
			v.hints.setNonLocal(p.UserID, pre.UserNonLocal, pq.UserNames)
			if p.DomainID != "" {
				domainRows = pre.Domains
			}
			if pq.DomainAssignments || pq.AssignmentHint != nil {
				assignments = pre.Assignments
			}
			idpExists = pre.IdentityProviderExists
			sysAssign = pre.SystemAssignments
			t.knownRoles = pre.Roles
			t.Trust = pre.Trust
			t.AppCred = pre.AppCred
			return nil
		},
	}
	if p.AccessTokenID != "" {
		fns = append(fns, func() (err error) {
			t.AccessToken, err = v.Store.GetAccessToken(ctx, p.AccessTokenID)
			return optional(err)
		})
	}
	// The catalog lookups run first, in this goroutine: the store normally
	// answers them from its catalog cache at once (a miss costs one extra
	// round trip about once a second), and for a project token the
	// prefetch is then the only other lookup, so fetch needs no goroutine.
	if wantCatalog {
		var err error
		if t.Catalog, err = v.Store.Services(ctx); err == nil && p.ProjectID != "" {
			t.ProjectEndpoints, err = v.Store.ProjectEndpoints(ctx, p.ProjectID)
		}
		if err != nil {
			return nil, apierror.Internal(err)
		}
	}
	if req.Catalog {
		var err error
		if t.ServiceProviders, err = v.Store.EnabledServiceProviders(ctx); err != nil {
			return nil, apierror.Internal(err)
		}
	}
	if err := v.fetch(ctx, fns...); err != nil {
		return nil, apierror.Internal(err)
	}
	groups := validGroups(memberships, now, v.Settings.DefaultAuthorizationTTL)
	graph := newImpliedGraph(implied)

	// Round two: lookups that depend on round one (the assignments of a
	// project token need its lineage; system grants need the groups; trust
	// tokens need the trustor).
	var (
		userDomains = map[string]*Project{}
		trustUsers  = map[string]*User{}
		trustorRows []Assignment
		trustorGrp  []string
		trustorLine []*Project
		mu          sync.Mutex
	)
	if t.User != nil && t.User.Domain != nil {
		userDomains[t.User.Domain.ID] = t.User.Domain
	}
	for _, pr := range lineage {
		if pr.IsDomain {
			userDomains[pr.ID] = pr
		}
	}
	fns = fns[:0]
	if projectAssignments && len(lineage) > 0 {
		// Assignments on the project, its ancestors and its domain, of
		// the user and their groups: the memberships are known by now, so
		// the actors are listed explicitly, which is cheaper for the
		// database than membership subqueries. (Folding this lookup into
		// the first round, joined to the project rows and memberships,
		// cost MariaDB more than the round trip it saved:
		// docs/performance.md.)
		ids := make([]string, 0, len(lineage))
		for _, pr := range lineage {
			ids = append(ids, pr.ID)
		}
		// A federated token's groups are the payload's (the mapping's
		// at login), not the user's memberships.
		actors := fedActors
		if !p.Federated {
			actors = append([]string{p.UserID}, groupIDs(memberships)...)
		}
		switch h := pq.AssignmentHint; {
		case !h.covers(actors, ids):
			// No hint, or one that misses an actor or a target: read
			// them now, and hint them for the next validation.
			fns = append(fns, func() (err error) {
				assignments, err = v.Store.Assignments(ctx, actors, ids)
				if err == nil {
					v.hints.put(p.UserID, p.ProjectID, &AssignmentHint{Actors: actors, Targets: ids, Roles: h.roles()})
				}
				return
			})
		case len(h.Actors) > len(actors) || len(h.Targets) > len(ids):
			// The hint read more than needed (a group left, a parent
			// gone): the rows were filtered, the next read can be
			// smaller.
			v.hints.put(p.UserID, p.ProjectID, &AssignmentHint{Actors: actors, Targets: ids, Roles: h.roles()})
		}
	}
	if p.System != "" {
		actors := append([]string{p.UserID}, groups...)
		switch {
		case !hint.covers(actors, nil):
			fns = append(fns, func() (err error) {
				sysAssign, err = v.Store.SystemAssignments(ctx, actors)
				if err == nil {
					v.hints.put(p.UserID, systemHintScope, &AssignmentHint{Actors: actors})
				}
				return
			})
		case len(hint.Actors) > len(actors):
			// A group left: its grants, read by the hint, do not count
			// (systemRoles keeps only this request's actors).
			v.hints.put(p.UserID, systemHintScope, &AssignmentHint{Actors: actors})
		}
	}
	if tr := t.Trust; tr != nil {
		ids := make([]string, 0, len(lineage))
		for _, pr := range lineage {
			ids = append(ids, pr.ID)
		}
		if trustHinted(tr, p, trustorHint, hint, ids) {
			// Everything came with the first round: the trustor's roles
			// on the trust's project (the token's), through the
			// trustor's memberships read then, and the revocation
			// events of the trustor and the trustee.
			trustUsers[p.UserID] = t.User
			if u := pre.Trustor; u != nil {
				trustUsers[u.ID] = u
				if u.Domain != nil {
					userDomains[u.Domain.ID] = u.Domain
				}
			}
			trustorGrp = validGroups(pre.TrustorMemberships, now, v.Settings.DefaultAuthorizationTTL)
			if tr.ProjectID != "" {
				trustorLine, trustorRows = lineage, pre.TrustorAssignments
			}
			if len(hint.Targets) > len(ids) && tr.ProjectID != "" {
				v.hints.put(p.UserID, hintScope, &AssignmentHint{Actors: []string{tr.TrustorUserID}, Targets: ids, Roles: hint.Roles})
			}
		} else {
			// No usable hint: both users, the trustor's roles on the
			// trust's project (get_roles_for_trustor_and_project) and the
			// revocation events of all three, in a second round; the
			// hint for the next validation of the trust is left here.
			for _, id := range []string{tr.TrustorUserID, tr.TrusteeUserID} {
				fns = append(fns, func() error {
					u, err := v.Store.GetUser(ctx, id)
					if err != nil {
						return optional(err)
					}
					mu.Lock()
					trustUsers[id] = u
					if u.Domain != nil {
						userDomains[u.Domain.ID] = u.Domain
					}
					mu.Unlock()
					return nil
				})
			}
			fns = append(fns, func() error {
				ms, err := v.Store.ListMemberships(ctx, tr.TrustorUserID)
				if err != nil {
					return err
				}
				trustorGrp = validGroups(ms, now, v.Settings.DefaultAuthorizationTTL)
				var targets []string
				if tr.ProjectID != "" {
					if trustorLine, err = v.Store.ProjectLineage(ctx, tr.ProjectID); err != nil {
						return err
					}
					for _, pr := range trustorLine {
						targets = append(targets, pr.ID)
					}
					if trustorRows, err = v.Store.UserAssignments(ctx, tr.TrustorUserID, targets); err != nil {
						return err
					}
				}
				v.hints.put(p.UserID, hintScope, &AssignmentHint{Actors: []string{tr.TrustorUserID}, Targets: targets, Roles: hint.roles()})
				return nil
			}, func() (err error) {
				events, err = v.Store.RevocationEvents(ctx, RevocationQuery{IssuedAt: t.IssuedAt,
					UserIDs: []string{p.UserID, tr.TrustorUserID, tr.TrusteeUserID}, ProjectID: p.ProjectID, AuditID: auditID(p)})
				return
			})
		}
	}
	if len(fns) > 0 {
		if err := v.fetch(ctx, fns...); err != nil {
			return nil, apierror.Internal(err)
		}
	}
	if t.Trust != nil && t.Trust.RedelegatedTrustID != "" && trustUsable(t.Trust, now) {
		// Round three, for redelegated trusts only: the trust pedigree
		// and what its checks need (redelegation.go).
		var err error
		if t.chain, err = v.loadTrustChain(ctx, t.Trust, trustorLine, trustUsers, now); err != nil {
			return nil, apierror.Internal(err)
		}
	}
	if t.Trust != nil {
		t.Trustor, t.Trustee = trustUsers[t.Trust.TrustorUserID], trustUsers[t.Trust.TrusteeUserID]
		if t.Trustor != nil {
			t.TrustorDomain = userDomains[t.Trustor.DomainID]
		}
	}
	if len(lineage) > 0 {
		t.Project = lineage[0]
	}

	// --- TokenModel.mint(): _validate_token_resources
	if p.ProjectID != "" {
		if t.Project == nil {
			return nil, apierror.NotFound(fmt.Sprintf(msgProjectNotFound, p.ProjectID))
		}
		if !t.Project.Enabled {
			return nil, apierror.NotFound(fmt.Sprintf("Unable to validate token because project %s is disabled", p.ProjectID))
		}
		t.ProjectDomain = userDomains[t.Project.DomainID]
		if t.ProjectDomain == nil || !t.ProjectDomain.IsDomain {
			return nil, apierror.NotFound(fmt.Sprintf(msgDomainNotFound, t.Project.DomainID))
		}
		if !t.ProjectDomain.Enabled {
			return nil, apierror.NotFound(fmt.Sprintf("Unable to validate token because domain %s is disabled", t.ProjectDomain.ID))
		}
	}
	// --- _validate_token_user
	if p.TrustID != "" {
		if t.Trust == nil || !trustUsable(t.Trust, now) {
			return nil, apierror.NotFound(fmt.Sprintf(msgTrustNotFound, p.TrustID))
		}
		if t.chain != nil {
			// Manager.get_trust checks the pedigree before the trustee
			// is looked up.
			if err := v.checkTrustChain(ctx, t.chain, now); err != nil {
				return nil, err
			}
		}
		if t.Trustee == nil {
			return nil, apierror.NotFound(fmt.Sprintf(msgUserNotFound, t.Trust.TrusteeUserID))
		}
		if p.UserID != t.Trustee.ID {
			return nil, apierror.Forbidden("")
		}
		if t.Trustor == nil {
			return nil, apierror.NotFound(fmt.Sprintf(msgUserNotFound, t.Trust.TrustorUserID))
		}
		for _, pair := range []struct {
			u   *User
			msg string
		}{{t.Trustor, "Trustor domain is disabled."}, {t.Trustee, "Trustee domain is disabled."}} {
			d := userDomains[pair.u.DomainID]
			if d == nil || !d.IsDomain {
				return nil, apierror.NotFound(fmt.Sprintf(msgDomainNotFound, pair.u.DomainID))
			}
			if !d.Enabled {
				return nil, apierror.NotFound(pair.msg)
			}
		}
		if !v.userEnabled(t.Trustor, now) {
			return nil, apierror.Forbidden("")
		}
	}
	if t.User == nil {
		return nil, apierror.NotFound(fmt.Sprintf(msgUserNotFound, p.UserID))
	}
	t.UserDomain = userDomains[t.User.DomainID]
	if t.UserDomain == nil || !t.UserDomain.IsDomain {
		return nil, apierror.NotFound(fmt.Sprintf(msgDomainNotFound, t.User.DomainID))
	}
	if !t.UserDomain.Enabled {
		return nil, apierror.NotFound(fmt.Sprintf("Unable to validate token because domain %s is disabled", t.UserDomain.ID))
	}

	// --- roles, and the scope checks that need them
	actors := map[string]bool{p.UserID: true}
	for _, g := range groups {
		actors[g] = true
	}
	if err := v.computeRoles(ctx, t, actors, lineage, domainRows, assignments, sysAssign, graph, trustorRows, trustorGrp, trustorLine); err != nil {
		return nil, err
	}
	if t.rolesAsked != nil && hintScope != "" {
		v.hintRoles(p.UserID, hintScope, t)
	}
	if (p.System != "" || p.DomainID != "" || p.ProjectID != "") && len(t.Roles) == 0 {
		// Unauthorized inside validate_token becomes TokenNotFound.
		return nil, apierror.TokenNotFound(req.Token)
	}

	// --- _is_valid_token: expiry, then revocation
	if !now.Before(p.Expiry().Add(req.Window)) {
		return nil, apierror.NotFound(msgFailed)
	}
	if isRevoked(events, tokenValues(t)) {
		return nil, apierror.NotFound(msgFailed)
	}
	// Keystone 29.0.0+ refuses tokens of disabled users (including the
	// inactivity rule) during validation; older releases rely on the
	// revocation event written when a user is disabled through the API,
	// which the check above already matched (so the message stays the one
	// those releases give). Checking here as well is the safe superset: a
	// user disabled directly in SQL loses access too.
	if !v.userEnabled(t.User, now) {
		return nil, apierror.TokenNotFound(req.Token)
	}
	// --- _validate_token_access_rules
	if err := v.CheckAccessRules(ctx, t, req.AccessRulesVersion); err != nil {
		return nil, err
	}
	// --- render-time lookups
	if p.Federated && !idpExists {
		return nil, apierror.NotFound(fmt.Sprintf(msgIdPNotFound, p.IdentityProviderID))
	}
	t.CatalogUserID = p.UserID
	if t.Trust != nil {
		t.CatalogUserID = t.Trust.TrustorUserID
	}
	return t, nil
}

func auditID(p *payload.Payload) string {
	if len(p.AuditIDs) == 0 {
		return ""
	}
	return p.AuditIDs[0]
}

// CheckAccessRules refuses a token issued from an application credential
// with access rules when the client does not declare support for them
// (OpenStack-Identity-Access-Rules >= 1.0), as
// provider._validate_token_access_rules does.
func (v *Validator) CheckAccessRules(ctx context.Context, t *Token, header string) error {
	if t.AppCred != nil && len(t.AppCred.AccessRules) > 0 && !accessRulesSupported(header) {
		v.Log.WarnContext(ctx, "application credential with access rules used by a client that does not declare support for them",
			"application_credential_id", t.AppCred.ID)
		return apierror.NotFound(msgFailed)
	}
	return nil
}

// accessRulesSupported mirrors the float(header) >= 1.0 check.
func accessRulesSupported(h string) bool {
	h = strings.TrimSpace(h)
	if h == "" {
		return false
	}
	var f float64
	if _, err := fmt.Sscanf(h, "%g", &f); err != nil {
		return false
	}
	return f >= 1.0
}

// trustUsable mirrors trust_api.get_trust: not deleted, not expired,
// remaining_uses null or positive.
func trustUsable(tr *Trust, now time.Time) bool {
	if tr.Deleted {
		return false
	}
	if tr.ExpiresAt != nil && now.After(*tr.ExpiresAt) {
		return false
	}
	if tr.RemainingUses != nil && *tr.RemainingUses <= 0 {
		return false
	}
	return true
}

// userEnabled is UserEnabled with the configured inactivity limit.
func (v *Validator) userEnabled(u *User, now time.Time) bool {
	return UserEnabled(u, now, v.Settings.DisableUserAccountDaysInactive)
}

// UserEnabled is User.enabled from keystone's SQL model: the column, and
// the inactivity rule of [security_compliance]
// disable_user_account_days_inactive (maxDays; 0 = off) unless option 1004
// exempts the user: disabled once maxDays or more whole days passed since
// last_active_at, or created_at for a user never seen active. It is the
// one rule of who may obtain a token: validation, every /v4 login
// (pkg/identity) and federation use it.
func UserEnabled(u *User, now time.Time, maxDays int) bool {
	if !u.Enabled {
		return false
	}
	if maxDays <= 0 || u.IgnoreInactivity {
		return true
	}
	var last *time.Time
	if u.LastActiveAt != nil {
		last = u.LastActiveAt
	} else if u.CreatedAt != nil {
		last = u.CreatedAt
	}
	if last == nil {
		return true
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	lastDay := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
	return int(today.Sub(lastDay).Hours()/24) < maxDays
}

// groupIDs lists the group of every membership, valid or not: assignments
// of expired memberships are dropped later by the actor filter.
func groupIDs(ms []Membership) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.GroupID)
	}
	return out
}
