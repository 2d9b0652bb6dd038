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
}

// Validator validates tokens. It holds no per-token state: every call reads
// the database afresh so no answer is stale (design.md §4).
type Validator struct {
	Keys     Decrypter
	Codec    *payload.Codec
	Store    Store
	Settings Settings
	Now      func() time.Time
	Log      *slog.Logger
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
}

// Unscoped reports a token without any scope.
func (t *Token) Unscoped() bool {
	p := t.Payload
	return p.System == "" && p.DomainID == "" && p.ProjectID == "" && p.TrustID == ""
}

// fetch runs fns concurrently: the database lookups of one validation are
// independent, so they cost one round trip of latency instead of many.
func fetch(fns ...func() error) error {
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
)

// Validate checks a token the way Python's provider.validate_token does,
// in the same order, so the first failing check gives the same status and
// message as Python's.
func (v *Validator) Validate(ctx context.Context, req Request) (*Token, error) {
	if req.Token == "" {
		return nil, apierror.NotFound("No token in the request")
	}
	plain, issuedAt, err := v.Keys.Decrypt(req.Token)
	if err != nil {
		return nil, apierror.TokenNotFound(req.Token)
	}
	p, err := v.Codec.Decode(plain)
	if err != nil {
		return nil, apierror.TokenNotFound(req.Token)
	}
	now := v.Now().UTC()
	t := &Token{ID: req.Token, Payload: p, IssuedAt: issuedAt.UTC()}

	// Round one: everything the payload alone determines.
	var (
		lineage     []*Project
		memberships []Membership
		implied     []Implied
		domainRows  map[string]*Project
		assignments []Assignment
		sysAssign   []Assignment
		userErr     error
		trustErr    error
		appErr      error
		atErr       error
		idpExists   = true
		events      []RevocationEvent
		eventsDone  bool
	)
	scoped := !t.Unscoped()
	wantCatalog := req.Catalog && scoped
	fns := []func() error{
		func() error {
			t.User, userErr = v.Store.GetUser(ctx, p.UserID)
			if userErr != nil && !errors.Is(userErr, ErrNotFound) {
				return userErr
			}
			return nil
		},
		func() (err error) { memberships, err = v.Store.ListMemberships(ctx, p.UserID); return },
		func() (err error) { implied, err = v.Store.ImpliedRoles(ctx); return },
	}
	if p.ProjectID != "" {
		fns = append(fns, func() (err error) { lineage, err = v.Store.ProjectLineage(ctx, p.ProjectID); return })
	}
	if p.DomainID != "" {
		fns = append(fns, func() (err error) { domainRows, err = v.Store.GetProjects(ctx, p.DomainID); return })
	}
	if p.TrustID != "" {
		fns = append(fns, func() error {
			t.Trust, trustErr = v.Store.GetTrust(ctx, p.TrustID)
			if trustErr != nil && !errors.Is(trustErr, ErrNotFound) {
				return trustErr
			}
			return nil
		})
	} else {
		// Without a trust the revocation pre-filter is known already.
		eventsDone = true
		fns = append(fns, func() (err error) {
			events, err = v.Store.RevocationEvents(ctx, RevocationQuery{
				IssuedAt: t.IssuedAt, UserIDs: []string{p.UserID}, ProjectID: p.ProjectID, AuditID: auditID(p),
			})
			return
		})
	}
	if p.AppCredID != "" {
		fns = append(fns, func() error {
			t.AppCred, appErr = v.Store.GetAppCred(ctx, p.AppCredID)
			if appErr != nil && !errors.Is(appErr, ErrNotFound) {
				return appErr
			}
			return nil
		})
	}
	if p.AccessTokenID != "" {
		fns = append(fns, func() error {
			t.AccessToken, atErr = v.Store.GetAccessToken(ctx, p.AccessTokenID)
			if atErr != nil && !errors.Is(atErr, ErrNotFound) {
				return atErr
			}
			return nil
		})
	}
	if p.Federated {
		fns = append(fns, func() (err error) { idpExists, err = v.Store.IdentityProviderExists(ctx, p.IdentityProviderID); return })
	}
	if wantCatalog {
		fns = append(fns, func() (err error) { t.Catalog, err = v.Store.Services(ctx); return })
		if p.ProjectID != "" {
			fns = append(fns, func() (err error) { t.ProjectEndpoints, err = v.Store.ProjectEndpoints(ctx, p.ProjectID); return })
		}
	}
	if req.Catalog {
		fns = append(fns, func() (err error) { t.ServiceProviders, err = v.Store.EnabledServiceProviders(ctx); return })
	}
	if err := fetch(fns...); err != nil {
		return nil, apierror.Internal(err)
	}
	groups := validGroups(memberships, now, v.Settings.DefaultAuthorizationTTL)
	graph := newImpliedGraph(implied)

	// Round two: lookups that depend on round one.
	var (
		userDomains map[string]*Project
		trustUsers  = map[string]*User{}
		trustorRows []Assignment
		trustorLine []*Project
		trustorGrp  []string
	)
	fns = fns[:0]
	actorIDs := append([]string{p.UserID}, groups...)
	if len(lineage) > 0 {
		targets := make([]string, 0, len(lineage)+1)
		for _, pr := range lineage {
			targets = append(targets, pr.ID)
		}
		targets = append(targets, lineage[0].DomainID)
		fns = append(fns, func() (err error) { assignments, err = v.Store.Assignments(ctx, actorIDs, targets); return })
	}
	if p.DomainID != "" {
		fns = append(fns, func() (err error) {
			assignments, err = v.Store.Assignments(ctx, actorIDs, []string{p.DomainID})
			return
		})
	}
	if p.System != "" {
		fns = append(fns, func() (err error) { sysAssign, err = v.Store.SystemAssignments(ctx, actorIDs); return })
	}
	domIDs := []string{}
	if t.User != nil {
		domIDs = append(domIDs, t.User.DomainID)
	}
	if t.Trust != nil {
		for _, id := range []string{t.Trust.TrustorUserID, t.Trust.TrusteeUserID} {
			id := id
			var mu sync.Mutex
			fns = append(fns, func() error {
				u, err := v.Store.GetUser(ctx, id)
				if err != nil {
					if errors.Is(err, ErrNotFound) {
						return nil
					}
					return err
				}
				mu.Lock()
				trustUsers[id] = u
				mu.Unlock()
				return nil
			})
		}
	}
	if err := fetch(append(fns, func() error { return nil })...); err != nil {
		return nil, apierror.Internal(err)
	}
	if t.Trust != nil {
		t.Trustor, t.Trustee = trustUsers[t.Trust.TrustorUserID], trustUsers[t.Trust.TrusteeUserID]
		for _, u := range []*User{t.Trustor, t.Trustee} {
			if u != nil {
				domIDs = append(domIDs, u.DomainID)
			}
		}
	}
	if len(lineage) > 0 {
		t.Project = lineage[0]
		domIDs = append(domIDs, t.Project.DomainID)
	}
	fns = fns[:0]
	fns = append(fns, func() (err error) { userDomains, err = v.Store.GetProjects(ctx, domIDs...); return })
	if t.Trust != nil && t.Trustor != nil {
		// The trustor's roles on the trust's project, for the delegation
		// check (get_roles_for_trustor_and_project).
		trustorID := t.Trustor.ID
		fns = append(fns, func() error {
			ms, err := v.Store.ListMemberships(ctx, trustorID)
			if err != nil {
				return err
			}
			trustorGrp = validGroups(ms, now, v.Settings.DefaultAuthorizationTTL)
			if t.Trust.ProjectID == "" {
				return nil
			}
			trustorLine, err = v.Store.ProjectLineage(ctx, t.Trust.ProjectID)
			if err != nil || len(trustorLine) == 0 {
				return err
			}
			targets := []string{trustorLine[0].DomainID}
			for _, pr := range trustorLine {
				targets = append(targets, pr.ID)
			}
			trustorRows, err = v.Store.Assignments(ctx, append([]string{trustorID}, trustorGrp...), targets)
			return err
		})
	}
	if !eventsDone {
		ids := []string{p.UserID}
		if t.Trust != nil {
			ids = append(ids, t.Trust.TrustorUserID, t.Trust.TrusteeUserID)
		}
		fns = append(fns, func() (err error) {
			events, err = v.Store.RevocationEvents(ctx, RevocationQuery{IssuedAt: t.IssuedAt, UserIDs: ids, ProjectID: p.ProjectID, AuditID: auditID(p)})
			return
		})
	}
	if err := fetch(fns...); err != nil {
		return nil, apierror.Internal(err)
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
	// Keystone 29.0.0+ refuses tokens of disabled users (including the
	// inactivity rule) at validation; older releases rely on the
	// revocation event written when a user is disabled through the API.
	// Refusing here is the safe superset: a user disabled directly in SQL
	// loses access too.
	if !v.userEnabled(t.User, now) {
		return nil, apierror.TokenNotFound(req.Token)
	}

	// --- roles, and the scope checks that need them
	actors := map[string]bool{p.UserID: true}
	for _, g := range groups {
		actors[g] = true
	}
	if err := v.computeRoles(ctx, t, actors, lineage, domainRows, assignments, sysAssign, graph, trustorRows, trustorGrp, trustorLine); err != nil {
		return nil, err
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
	// --- _validate_token_access_rules
	if t.AppCred != nil && len(t.AppCred.AccessRules) > 0 && !accessRulesSupported(req.AccessRulesVersion) {
		v.Log.WarnContext(ctx, "application credential with access rules used by a client that does not declare support for them")
		return nil, apierror.NotFound(msgFailed)
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

// userEnabled is User.enabled from keystone's SQL model: the column, and
// the inactivity rule of [security_compliance]
// disable_user_account_days_inactive unless option 1004 exempts the user.
func (v *Validator) userEnabled(u *User, now time.Time) bool {
	if !u.Enabled {
		return false
	}
	maxDays := v.Settings.DisableUserAccountDaysInactive
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
