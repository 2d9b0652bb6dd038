package tokenexchange

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"golang.org/x/crypto/bcrypt"
)

// Validator validates the subject token (*token.Validator).
type Validator interface {
	Validate(ctx context.Context, req token.Request) (*token.Token, error)
}

var _ Validator = (*token.Validator)(nil)

// Store writes restricted tokens' credentials (*store.RestrictedTokens).
type Store interface {
	Create(ctx context.Context, c *store.RestrictedCredential) (*store.Undo, error)
	PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

var _ Store = (*store.RestrictedTokens)(nil)

// Options are the settings of the exchange.
type Options struct {
	// AdditionalPrimaryMethods is [auth] additional_primary_auth_methods.
	AdditionalPrimaryMethods []string
	// Expiration is [token] expiration: no restricted token lives longer.
	Expiration time.Duration
	// UserLimit is [application_credential] user_limit (-1: none).
	UserLimit int
	// AccessRules tells whether the schema has access rules (Train on).
	AccessRules bool
	Now         func() time.Time
}

// Service makes restricted tokens through the login pipeline.
type Service struct {
	v       Validator
	st      Store
	opt     Options
	primary map[string]bool
	log     *slog.Logger
}

// New returns the exchange service.
func New(v Validator, st Store, opt Options, log *slog.Logger) *Service {
	primary := map[string]bool{}
	for _, m := range PrimaryMethods {
		primary[m] = true
	}
	for _, m := range opt.AdditionalPrimaryMethods {
		primary[m] = true
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{v: v, st: st, opt: opt, primary: primary, log: log}
}

func (s *Service) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now()
	}
	return time.Now()
}

// Exchange is one token exchange as a login (login.Authenticator).
type Exchange struct {
	s   *Service
	req *Request
	// Admitted is set once the subject's user passed the usability rule:
	// a refusal after it comes from the issuer.
	Admitted bool
	// Plan is the restriction decided, once Authenticate succeeded.
	Plan *Plan
}

var _ login.Authenticator = (*Exchange)(nil)

// Exchange returns the authenticator of a request.
func (s *Service) Exchange(req *Request) *Exchange { return &Exchange{s: s, req: req} }

// errSubjectInvalid is the cause logged when validation refused the
// subject token.
var errSubjectInvalid = errors.New("token exchange refused: the subject token did not validate")

// purgeBatch bounds the expired credentials deleted after one exchange.
const purgeBatch = 100

// Authenticate validates the subject token, decides the restriction and
// says what to write: the application credential behind the new token.
func (x *Exchange) Authenticate(ctx context.Context) (*login.Attempt, error) {
	r, err := Parse(x.req)
	if err != nil {
		return nil, err
	}
	now := x.s.now()
	// The subject may be an application credential's token with access
	// rules: say the rules are understood, since they are narrowed here.
	t, err := x.s.v.Validate(ctx, token.Request{Token: x.req.SubjectToken, AccessRulesVersion: "1.0"})
	if err != nil {
		if ae := apierror.As(err); ae.Code >= 500 {
			return nil, ae
		}
		e := oauth2.InvalidRequest("The subject token is not valid.")
		e.Cause = fmt.Errorf("%w: %v", errSubjectInvalid, err)
		return nil, e
	}
	if err := CheckSubject(t, x.s.primary); err != nil {
		return nil, err
	}
	plan, err := Narrow(t, r, now, x.s.opt.Expiration)
	if err != nil {
		return nil, err
	}
	if len(plan.AccessRules) > 0 && !x.s.opt.AccessRules {
		return nil, oauth2.InvalidAuthorizationDetails("This Keystone's database has no access rules (they came with Train).")
	}
	x.Plan = plan
	cred, err := credentialFor(plan, now, x.s.opt.UserLimit)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return &login.Attempt{
		Kind:   "token_exchange",
		UserID: plan.UserID,
		Grant: issue.Grant{Methods: []string{MethodApplicationCredential}, Scope: issue.Scope{ProjectID: plan.ProjectID},
			ApplicationCredentialID: cred.ID, NotAfter: plan.ExpiresAt, ParentAuditID: plan.SourceAuditID},
		Confirm: func(context.Context, *keystone.User) error { x.Admitted = true; return nil },
		Provision: func(ctx context.Context) (string, login.Undo, error) {
			undo, err := x.s.st.Create(ctx, cred)
			if errors.Is(err, store.ErrAppCredLimit) {
				return "", nil, oauth2.New("invalid_request", http.StatusBadRequest,
					"You hold as many application credentials as [application_credential] user_limit allows.", err)
			}
			if err != nil {
				return "", nil, apierror.Internal(err)
			}
			return plan.UserID, undo, nil
		},
		Record: func(ctx context.Context, issued *issue.Issued) error {
			if miss := MissingRoles(plan.Roles, issued.Token.Roles); len(miss) > 0 {
				e := oauth2.InvalidScope("These roles are not assigned to you on the project (a federated login's group roles, for example), so Python would not put them in an application credential: " + strings.Join(miss, ", ") + ".")
				e.Cause = fmt.Errorf("token exchange refused: the minted token lacks %v", miss)
				return e
			}
			// Best effort: an expired credential left behind refuses
			// nothing and is deleted after a later exchange.
			if n, err := x.s.st.PurgeExpired(ctx, now, purgeBatch); err != nil {
				x.s.log.WarnContext(ctx, "deleting expired restricted tokens' application credentials failed", "error", err)
			} else if n > 0 {
				x.s.log.InfoContext(ctx, "deleted expired restricted tokens' application credentials", "count", n)
			}
			return nil
		},
	}, nil
}

// credentialFor is the application credential behind a plan: a new id
// and name, a secret of 48 random bytes that is hashed and forgotten
// (nobody can authenticate with the credential; its tokens come only
// from the exchange), the roles and rules, the expiry.
func credentialFor(p *Plan, now time.Time, userLimit int) (*store.RestrictedCredential, error) {
	id := hexID()
	hash, err := unusableSecretHash()
	if err != nil {
		return nil, err
	}
	c := &store.RestrictedCredential{
		ID: id, Name: "restricted-" + id,
		Description: "Restricted token made by keystone-ng (RFC 8693 token exchange); it expires with the token.",
		UserID:      p.UserID, ProjectID: p.ProjectID, SecretHash: hash,
		SourceAuditID: p.SourceAuditID, CreatedAt: now, ExpiresAt: p.ExpiresAt, UserLimit: userLimit,
	}
	for _, r := range p.Roles {
		c.RoleIDs = append(c.RoleIDs, r.ID)
	}
	for _, r := range p.AccessRules {
		// Python: uuid.uuid4().hex for a rule given without id.
		c.AccessRules = append(c.AccessRules, keystone.AccessRule{ID: hexID(), Service: r.Service, Method: r.Method, Path: r.Path})
	}
	return c, nil
}

// hexID is a random UUID4 in hex, as Python's uuid.uuid4().hex.
func hexID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}

// unusableSecretHash hashes a random secret nobody is given, in bcrypt
// (which every Keystone release's password_hashing.check_password
// reads), at bcrypt's lowest cost: stretching protects guessable secrets,
// and 384 random bits are not guessable.
func unusableSecretHash() (string, error) {
	var b [48]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(base64.RawURLEncoding.EncodeToString(b[:])), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}
