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
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// Decrypter opens a Fernet token (the key repository).
type Decrypter interface {
	Decrypt(token string) (plaintext []byte, issuedAt time.Time, err error)
}

// Opener reads a token of a format other than Fernet into the payload
// model the Fernet path decodes (pkg/jws for [token] provider = jws), so
// that the rest of validation is the same for every format. Its errors
// are the client's answer (*apierror.Error).
type Opener interface {
	Open(token string, now time.Time) (p *payload.Payload, issuedAt time.Time, err error)
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
	// UnrecognizedNamesToken: the release's answer to a token it cannot
	// decrypt names the token ("This is not a recognized Fernet token
	// <token>"), as Queens and Rocky did; later releases say "Could not
	// recognize Fernet token".
	UnrecognizedNamesToken bool
	// TokenData is how the release behind the database renders a token
	// (docs/compatibility.md §2).
	TokenData TokenDataFormat
}

// TokenDataFormat names the code a Python release renders validated tokens
// with.
type TokenDataFormat int

const (
	// TokenModel is keystone/common/render_token.py (Rocky, 14.0, and
	// later).
	TokenModel TokenDataFormat = iota
	// TokenDataHelper is V3TokenDataHelper in
	// keystone/token/providers/common.py (Queens, 13.0).
	TokenDataHelper
)

// Validator validates tokens. It holds no per-token state: every call reads
// the database afresh so no answer is stale (docs/design.md §4). How many
// validations read at once is the Store's to decide (Rounder).
type Validator struct {
	Keys Decrypter
	// Opener, when set, reads tokens instead of Keys and Codec (JWS).
	Opener   Opener
	Codec    *payload.Codec
	Store    Store
	Settings Settings
	Now      func() time.Time
	Log      *slog.Logger
	// Identity answers for the users of domains not served from SQL
	// (LDAP); nil serves every user from SQL (identity.go).
	Identity IdentityBackend
	// QueryTimeout bounds the database lookups of one validation
	// ([keystone_ng] db_query_timeout); 0 means only the request deadline.
	QueryTimeout time.Duration

	// hints remembers which assignments each user and project needed
	// last time (hints.go).
	hints hintCache
}

// restorePadding is the token as TokenFormatter.restore_padding hands it
// to Fernet: "=" appended up to a multiple of four characters.
func restorePadding(token string) string {
	if m := len(token) % 4; m != 0 {
		return token + strings.Repeat("=", 4-m)
	}
	return token
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

	User          *keystone.User
	UserDomain    *keystone.Project
	Project       *keystone.Project
	ProjectDomain *keystone.Project
	Domain        *keystone.Project
	Trust         *keystone.Trust
	Trustor       *keystone.User
	Trustee       *keystone.User
	TrustorDomain *keystone.Project
	AppCred       *keystone.AppCred
	AccessToken   *keystone.AccessToken

	// Roles are {id, name} refs, or full records when FullRoles is set
	// (trust and federated scoped tokens render full role dicts).
	Roles     []RoleRef
	FullRoles map[string]*keystone.Role

	Catalog          []keystone.Service
	ProjectEndpoints *keystone.ProjectEndpoints
	ServiceProviders []keystone.ServiceProvider
	CatalogUserID    string
}

// Unscoped reports a token without any scope.
func (t *Token) Unscoped() bool { return unscoped(t.Payload) }

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
	p, issuedAt, err := v.open(req.Token)
	if err != nil {
		return nil, err
	}
	if v.QueryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.QueryTimeout)
		defer cancel()
	}
	now := v.Now().UTC()
	issuedAt = issuedAt.UTC()
	hint, nonLocal := v.hints.lookup(p.UserID, hintScopeOf(p))
	pl := planValidation(p, issuedAt, hint, nonLocal, req.Catalog, v.Settings)
	ev := newEvidence(&pl, p, issuedAt)
	if err := v.read(ctx, &pl, ev, now); err != nil {
		return nil, apierror.Internal(err)
	}
	in := judgeInput{token: req.Token, now: now, window: req.Window,
		accessRulesVersion: req.AccessRulesVersion, settings: v.Settings}
	vd := judge(ev, in)
	if len(vd.needRoles) > 0 {
		// The judge is pure: with the role records read, judging again
		// gives the verdict it would have given had they been read
		// before. Only one role step runs, so it asks at most once.
		if err := v.readRoles(ctx, ev, vd.needRoles); err != nil {
			return nil, apierror.Internal(err)
		}
		if vd = judge(ev, in); len(vd.needRoles) > 0 {
			return nil, apierror.Internal(fmt.Errorf("role records %v still missing after reading them", vd.needRoles))
		}
	}
	if vd.rolesUsed != nil && pl.hintScope != "" {
		v.hintRoles(p.UserID, pl.hintScope, ev.hintedRoleIDs, vd.rolesUsed)
	}
	if n := vd.note; n != nil {
		v.Log.Log(ctx, n.level, n.msg, n.attrs...)
	}
	return vd.token, vd.err
}

// open reads the token into the payload model: the Opener's format, or
// Fernet.
func (v *Validator) open(token string) (*payload.Payload, time.Time, error) {
	if v.Opener != nil {
		return v.Opener.Open(token, v.Now())
	}
	plain, issuedAt, err := v.Keys.Decrypt(token)
	if err != nil {
		// The formatter's ValidationError becomes TokenNotFound(e) and keeps
		// its message (keystone/token/providers/fernet/core.py).
		e := &apierror.Error{Code: 404, Title: "Not Found", Message: msgUnrecognized, Cause: err}
		if v.Settings.UnrecognizedNamesToken {
			e.Message = "This is not a recognized Fernet token " + restorePadding(token)
			e.LogMessage = "This is not a recognized Fernet token (the token, left out of the log)"
		}
		return nil, time.Time{}, e
	}
	p, err := v.Codec.Decode(plain)
	if err != nil {
		msg := msgUnrecognized
		if ver, ok := peekVersion(plain); ok && errors.Is(err, payload.ErrUnknownVersion) {
			msg = fmt.Sprintf("This is not a recognized Fernet payload version: %d", ver)
		}
		return nil, time.Time{}, &apierror.Error{Code: 404, Title: "Not Found", Message: msg, Cause: err}
	}
	return p, issuedAt, nil
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
// provider._validate_token_access_rules does, and logs why. Validate runs
// the same check; this is for a token validated once and checked again
// for another header.
func (v *Validator) CheckAccessRules(ctx context.Context, t *Token, header string) error {
	n, err := accessRulesCheck(t, header)
	if n != nil {
		v.Log.Log(ctx, n.level, n.msg, n.attrs...)
	}
	return err
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
func trustUsable(tr *keystone.Trust, now time.Time) bool {
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

// UserEnabled is User.enabled from keystone's SQL model: the column, and
// the inactivity rule of [security_compliance]
// disable_user_account_days_inactive (maxDays; 0 = off) unless option 1004
// exempts the user: disabled once maxDays or more whole days passed since
// last_active_at, or created_at for a user never seen active. It is the
// one rule of who may obtain a token: validation, every /v4 login
// (pkg/identity) and federation use it.
func UserEnabled(u *keystone.User, now time.Time, maxDays int) bool {
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
func groupIDs(ms []keystone.Membership) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.GroupID)
	}
	return out
}
