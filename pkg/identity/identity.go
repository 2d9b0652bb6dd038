// Package identity holds the user checks every /v4 login applies before a
// token is minted: the user exists and is enabled, so is their domain, and
// the account is not locked out by [security_compliance] rules. Failed
// attempts are recorded in Python's own columns (local_user
// failed_auth_count / failed_auth_at) exactly as Python's password plugin
// records them, so a passkey failure counts towards the same lockout as a
// wrong password, and the other way round.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// LocalAuth is the lockout state of a local (SQL) user.
type LocalAuth struct {
	FailedCount int
	FailedAt    *time.Time
	// IgnoreLockout is user option 1002 ignore_lockout_failure_attempts.
	IgnoreLockout bool
}

// Directory reads users and their lockout state.
type Directory interface {
	// GetUser returns the user with its domain row; token.ErrNotFound
	// when absent.
	GetUser(ctx context.Context, id string) (*keystone.User, error)
	// UserByName finds a user by name in a domain (local users first,
	// then non-local ones, as Python's SQL driver); token.ErrNotFound.
	UserByName(ctx context.Context, name, domainID string) (*keystone.User, error)
	// DomainByName finds a domain; token.ErrNotFound when absent.
	DomainByName(ctx context.Context, name string) (*keystone.Project, error)
	// LocalAuth returns the lockout state, or nil for a user without a
	// local_user row (federated or non-local users have no lockout).
	LocalAuth(ctx context.Context, userID string) (*LocalAuth, error)
	// Account returns how the user authenticates (local, non-local,
	// federated through which IdPs) and their MFA options.
	Account(ctx context.Context, userID string) (*Account, error)
}

// FailedAuthWriter records authentication outcomes in the lockout columns
// (kept apart from Directory so that reading never needs write access).
type FailedAuthWriter interface {
	// RecordFailedAuth increments failed_auth_count and sets
	// failed_auth_at, as keystone/identity/backends/sql.py
	// _record_failed_auth does.
	RecordFailedAuth(ctx context.Context, userID string, at time.Time) error
	// ResetFailedAuth sets failed_auth_count = 0 and failed_auth_at = NULL
	// (_reset_failed_auth).
	ResetFailedAuth(ctx context.Context, userID string) error
}

// Account is what a passwordless login needs beyond the user row.
type Account struct {
	Local    bool // a local_user row (Keystone's own password)
	NonLocal bool // a nonlocal_user row (a backend such as LDAP)
	// IdPs are the identity providers the user is federated through
	// (federated_user rows), with whether each is enabled; a deleted IdP
	// takes its rows with it.
	IdPs []FederatedIdP
	// MFAEnabled is user option MFAE (nil: unset, which Python reads as
	// true); MFARules is option MFAR as stored (JSON; nil when unset).
	MFAEnabled *bool
	MFARules   []byte
}

// FederatedIdP is one federated_user row's identity provider.
type FederatedIdP struct {
	ID      string
	Enabled bool
}

// Lockout is [security_compliance] lockout_failure_attempts and
// lockout_duration.
type Lockout struct {
	Attempts int           // 0 = no lockout
	Duration time.Duration // 0 = locked until an administrator resets
}

// Locked reports whether a is locked at now, and whether an earlier lockout
// has run out (Python then resets the counter before going on).
// keystone/identity/backends/sql.py _is_account_locked.
func (l Lockout) Locked(a *LocalAuth, now time.Time) (locked, expired bool) {
	if a == nil || a.IgnoreLockout || l.Attempts <= 0 || a.FailedCount < l.Attempts {
		return false, false
	}
	if l.Duration > 0 && a.FailedAt != nil && !a.FailedAt.Add(l.Duration).After(now) {
		return false, true
	}
	return true, false
}

// Checker applies the login checks.
type Checker struct {
	Dir Directory
	// Failures writes the lockout columns. nil: a write the checks need
	// (a failure, a reset) fails with ErrNoFailureWriter, so a checker
	// wired without it cannot silently stop counting failures.
	Failures FailedAuthWriter
	Lockout  Lockout
	Now      func() time.Time
	// DisableUserAccountDaysInactive is [security_compliance]
	// disable_user_account_days_inactive (0 = off).
	DisableUserAccountDaysInactive int
	// AuthMethods is [auth] methods (MFA rules count only these).
	AuthMethods []string
	// Backend answers for users of non-SQL identity backends (LDAP): a
	// login follows the backend's word on whether the user exists and is
	// enabled, as validation does. nil: every user is SQL's.
	Backend token.IdentityBackend
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ErrLocked, ErrDisabled and ErrNoUser are the causes behind the 401s
// (logged, never shown: Python answers every one with the generic 401).
var (
	ErrLocked   = errors.New("identity: account locked")
	ErrDisabled = errors.New("identity: user or domain disabled")
	ErrNoUser   = errors.New("identity: no such user")
	// ErrNoFailureWriter: the Checker has no Failures to write with.
	ErrNoFailureWriter = errors.New("identity: no writer for the lockout columns")
)

func (c *Checker) recordFailed(ctx context.Context, userID string, at time.Time) error {
	if c.Failures == nil {
		return ErrNoFailureWriter
	}
	return c.Failures.RecordFailedAuth(ctx, userID, at)
}

func (c *Checker) resetFailed(ctx context.Context, userID string) error {
	if c.Failures == nil {
		return ErrNoFailureWriter
	}
	return c.Failures.ResetFailedAuth(ctx, userID)
}

func unauthorized(cause error) *apierror.Error {
	e := apierror.New(http.StatusUnauthorized, apierror.MsgUnauthorized)
	e.Cause = cause
	return e
}

// Usable checks that the user may log in now: exists, enabled (including
// the inactivity rule), domain enabled, not locked out. An expired lockout
// is reset as Python does. Every refusal is a 401 with the generic text.
func (c *Checker) Usable(ctx context.Context, userID string) (*keystone.User, error) {
	u, err := c.Dir.GetUser(ctx, userID)
	if err != nil && !errors.Is(err, token.ErrNotFound) {
		return nil, apierror.Internal(err)
	}
	if c.Backend != nil {
		if u, err = c.backendUser(ctx, userID, u); err != nil {
			return nil, err
		}
	}
	if u == nil {
		return nil, unauthorized(fmt.Errorf("%w: %s", ErrNoUser, userID))
	}
	now := c.now()
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	locked, expired := c.Lockout.Locked(a, now)
	if expired {
		if err := c.resetFailed(ctx, userID); err != nil {
			return nil, apierror.Internal(err)
		}
	}
	if locked {
		// Python: keystone.exception.AccountLocked is a 401 with the
		// generic text unless insecure_debug.
		return nil, unauthorized(fmt.Errorf("%w: %s", ErrLocked, userID))
	}
	if !c.enabled(u, now) || u.Domain == nil || !u.Domain.Enabled {
		return nil, unauthorized(fmt.Errorf("%w: %s", ErrDisabled, userID))
	}
	return u, nil
}

// backendUser replaces the SQL row of a user of a non-SQL identity
// backend with the backend's user (nil: gone from the directory), on the
// SQL row's domain. A failure to read the backend refuses the login (a
// 500): never a login the directory might have refused.
func (c *Checker) backendUser(ctx context.Context, userID string, sqlUser *keystone.User) (*keystone.User, error) {
	bu, err := c.Backend.LookupUser(ctx, userID, sqlUser)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	if bu == nil {
		return sqlUser, nil
	}
	if bu.User == nil || sqlUser == nil || sqlUser.Domain == nil || sqlUser.Domain.ID != bu.User.DomainID {
		// No directory user, or no shadow row to take the domain and the
		// lockout state from: refused.
		return nil, nil
	}
	nu := *bu.User
	nu.Domain = sqlUser.Domain
	return &nu, nil
}

// enabled is the one rule validation uses too (token.UserEnabled:
// Python's User.enabled with disable_user_account_days_inactive).
func (c *Checker) enabled(u *keystone.User, now time.Time) bool {
	return token.UserEnabled(u, now, c.DisableUserAccountDaysInactive)
}

// ErrAccount and ErrMFA are causes of refused passwordless logins.
var (
	ErrAccount = errors.New("identity: the account can no longer sign in through its origin")
	ErrMFA     = errors.New("identity: the user's multi-factor rules are not satisfied")
)

// Passwordless checks what a login that proves no Keystone password (a
// passkey) needs beyond Usable: the account still has an origin that may
// sign in (a local or non-local user, or a federated user with at least
// one enabled identity provider: a passkey must not outlive the IdP it was
// registered through), and Python's per-user MFA rules accept the token's
// methods. Refusals are the generic 401.
func (c *Checker) Passwordless(ctx context.Context, userID string, methods []string) error {
	a, err := c.Dir.Account(ctx, userID)
	if err != nil {
		return apierror.Internal(err)
	}
	if !AccountMaySignIn(a) {
		return unauthorized(fmt.Errorf("%w: %s", ErrAccount, userID))
	}
	enabled := a.MFAEnabled == nil || *a.MFAEnabled
	if !MFASatisfied(enabled, ParseMFARules(a.MFARules), c.AuthMethods, methods) {
		return unauthorized(fmt.Errorf("%w: %s (methods %v)", ErrMFA, userID, methods))
	}
	return nil
}

// AccountMaySignIn is the origin rule of Passwordless.
func AccountMaySignIn(a *Account) bool {
	if a == nil {
		return false
	}
	if a.Local || a.NonLocal {
		return true
	}
	for _, p := range a.IdPs {
		if p.Enabled {
			return true
		}
	}
	return false
}

// ParseMFARules reads option MFAR as Python's
// UserMFARulesValidator._parse_rule_structure does: a list of lists of
// strings; anything else in the top level means no rules (corrupt data
// never locks a user out), and a rule that is not a non-empty list of
// strings is dropped.
func ParseMFARules(raw []byte) [][]string {
	if len(raw) == 0 {
		return nil
	}
	var top []json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		// Python's JsonBlob may hold a JSON string of the list.
		var inner string
		if json.Unmarshal(raw, &inner) != nil || json.Unmarshal([]byte(inner), &top) != nil {
			return nil
		}
	}
	var out [][]string
	for _, r := range top {
		var items []any
		if json.Unmarshal(r, &items) != nil || len(items) == 0 {
			continue
		}
		rule := make([]string, 0, len(items))
		ok := true
		for _, it := range items {
			s, isStr := it.(string)
			if !isStr {
				ok = false
				break
			}
			rule = append(rule, s)
		}
		if ok {
			out = append(out, rule)
		}
	}
	return out
}

// MFASatisfied is check_auth_methods_against_rules: no rules or rules
// disabled pass; otherwise some rule, reduced to the methods [auth]
// methods enables, must be a subset of the methods used.
func MFASatisfied(enabled bool, rules [][]string, configured, used []string) bool {
	if !enabled || len(rules) == 0 {
		return true
	}
	conf := map[string]bool{}
	for _, m := range configured {
		conf[m] = true
	}
	have := map[string]bool{}
	for _, m := range used {
		have[m] = true
	}
	for _, r := range rules {
		ok := true
		for _, m := range r {
			if conf[m] && !have[m] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Failed records a failed attempt for a local user (no-op for others).
func (c *Checker) Failed(ctx context.Context, userID string) error {
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil || a == nil {
		return err
	}
	return c.recordFailed(ctx, userID, c.now().UTC())
}

// Succeeded resets the failure counter of a local user, as a successful
// password login does.
func (c *Checker) Succeeded(ctx context.Context, userID string) error {
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil || a == nil || (a.FailedCount == 0 && a.FailedAt == nil) {
		return err
	}
	return c.resetFailed(ctx, userID)
}
