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
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// LocalAuth is the lockout state of a local (SQL) user.
type LocalAuth struct {
	FailedCount int
	FailedAt    *time.Time
	// IgnoreLockout is user option 1002 ignore_lockout_failure_attempts.
	IgnoreLockout bool
}

// Directory reads users and records authentication outcomes.
type Directory interface {
	// GetUser returns the user with its domain row; token.ErrNotFound
	// when absent.
	GetUser(ctx context.Context, id string) (*token.User, error)
	// UserByName finds a user by name in a domain (local users first,
	// then non-local ones, as Python's SQL driver); token.ErrNotFound.
	UserByName(ctx context.Context, name, domainID string) (*token.User, error)
	// DomainByName finds a domain; token.ErrNotFound when absent.
	DomainByName(ctx context.Context, name string) (*token.Project, error)
	// LocalAuth returns the lockout state, or nil for a user without a
	// local_user row (federated or non-local users have no lockout).
	LocalAuth(ctx context.Context, userID string) (*LocalAuth, error)
	// RecordFailedAuth increments failed_auth_count and sets
	// failed_auth_at, as keystone/identity/backends/sql.py
	// _record_failed_auth does.
	RecordFailedAuth(ctx context.Context, userID string, at time.Time) error
	// ResetFailedAuth sets failed_auth_count = 0 and failed_auth_at = NULL
	// (_reset_failed_auth).
	ResetFailedAuth(ctx context.Context, userID string) error
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
	Dir     Directory
	Lockout Lockout
	Now     func() time.Time
	// DisableUserAccountDaysInactive is [security_compliance]
	// disable_user_account_days_inactive (0 = off).
	DisableUserAccountDaysInactive int
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
)

func unauthorized(cause error) *apierror.Error {
	e := apierror.New(http.StatusUnauthorized, apierror.MsgUnauthorized)
	e.Cause = cause
	return e
}

// Usable checks that the user may log in now: exists, enabled (including
// the inactivity rule), domain enabled, not locked out. An expired lockout
// is reset as Python does. Every refusal is a 401 with the generic text.
func (c *Checker) Usable(ctx context.Context, userID string) (*token.User, error) {
	u, err := c.Dir.GetUser(ctx, userID)
	if errors.Is(err, token.ErrNotFound) {
		return nil, unauthorized(fmt.Errorf("%w: %s", ErrNoUser, userID))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	now := c.now()
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	locked, expired := c.Lockout.Locked(a, now)
	if expired {
		if err := c.Dir.ResetFailedAuth(ctx, userID); err != nil {
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

// enabled applies disable_user_account_days_inactive like Python's User
// model (enabled column, then last_active_at older than the limit).
func (c *Checker) enabled(u *token.User, now time.Time) bool {
	if !u.Enabled {
		return false
	}
	days := c.DisableUserAccountDaysInactive
	if days <= 0 || u.IgnoreInactivity || u.LastActiveAt == nil {
		return true
	}
	limit := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -days)
	return !u.LastActiveAt.Before(limit)
}

// Failed records a failed attempt for a local user (no-op for others).
func (c *Checker) Failed(ctx context.Context, userID string) error {
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil || a == nil {
		return err
	}
	return c.Dir.RecordFailedAuth(ctx, userID, c.now().UTC())
}

// Succeeded resets the failure counter of a local user, as a successful
// password login does.
func (c *Checker) Succeeded(ctx context.Context, userID string) error {
	a, err := c.Dir.LocalAuth(ctx, userID)
	if err != nil || a == nil || (a.FailedCount == 0 && a.FailedAt == nil) {
		return err
	}
	return c.Dir.ResetFailedAuth(ctx, userID)
}
