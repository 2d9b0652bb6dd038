// Package issue mints Keystone tokens for /v4 logins (passkey, OIDC, JWT).
//
// A v4 token is an ordinary Python payload (docs/design.md §7): unscoped,
// project, domain, system or federated, encrypted with the primary key of
// the shared Fernet repository, or, when Python is configured for JWS
// tokens, signed with its private key (pkg/jws), so that Python Keystone
// validates and rescopes it. Issue validates the freshly minted token with
// the same code that answers GET /v3/auth/tokens: the body a client gets
// is the body validation renders, and a grant Python would refuse (a
// project without any role, a disabled domain) is refused here too.
package issue

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// Encrypter seals a payload with the primary key (the key repository).
type Encrypter interface {
	Encrypt(plaintext []byte, now time.Time) (string, error)
}

// Signer mints a JWS token for a payload ([token] provider = jws, pkg/jws).
type Signer interface {
	Sign(p *payload.Payload, issuedAt time.Time) (string, error)
}

// Scope is the resolved scope of a token: at most one field is set.
type Scope struct {
	ProjectID string
	DomainID  string
	System    bool
}

// Unscoped reports that no scope is set.
func (s Scope) Unscoped() bool { return s.ProjectID == "" && s.DomainID == "" && !s.System }

// Federation carries what a federated payload (versions 4-6) holds.
type Federation struct {
	IdentityProviderID string
	ProtocolID         string
	GroupIDs           []string
}

// Grant is what a login decided: who, how, and with which scope.
type Grant struct {
	UserID string
	// Methods are authentication method names from [auth] methods
	// ("external" for passkeys, "mapped" for federation).
	Methods []string
	Scope   Scope
	// MaxLifetime caps the token's lifetime below [token] expiration
	// (0 = no cap), e.g. from a federation mapping.
	MaxLifetime time.Duration
	// Federation makes the token federated (payload versions 4-6).
	Federation *Federation
	// ApplicationCredentialID makes the token an application credential's
	// (payload version 9, project scope only), as Python's
	// ApplicationCredentialScopedPayload: a restricted token
	// (docs/restricted-tokens.md §2).
	ApplicationCredentialID string
	// NotAfter, when set, is the latest expiry the token may have (the
	// expiry of the token it was exchanged from).
	NotAfter time.Time
	// ParentAuditID, when set, is the audit chain the token joins: the
	// second audit id, as Python's token method keeps the original
	// token's chain (keystone/auth/plugins/token.py).
	ParentAuditID string
}

// Issuer mints tokens.
type Issuer struct {
	Keys Encrypter
	// Signer, when set, mints JWS tokens instead of Fernet ones (Keys and
	// Codec unused), as Python does with [token] provider = jws.
	Signer    Signer
	Codec     *payload.Codec
	Validator *token.Validator
	// Expiration is [token] expiration.
	Expiration time.Duration
	Now        func() time.Time
}

// Issued is a minted and validated token.
type Issued struct {
	ID    string
	Token *token.Token
}

// accessRulesVersion is the OpenStack-Identity-Access-Rules version the
// issuer's own validation announces (Python's ACCESS_RULES_MIN_VERSION).
const accessRulesVersion = "1.0"

// ErrInvalidGrant marks a grant that cannot be encoded (a programming or
// configuration error, such as a method missing from [auth] methods).
var ErrInvalidGrant = errors.New("issue: invalid grant")

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}

// NewAuditID returns a 22-character URL-safe audit id, the shape of
// keystone.common.utils.random_urlsafe_str (16 random bytes, base64url,
// padding dropped).
func NewAuditID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Payload builds the payload for a grant at now.
func (i *Issuer) Payload(g Grant, now time.Time) (*payload.Payload, error) {
	if g.UserID == "" {
		return nil, fmt.Errorf("%w: no user", ErrInvalidGrant)
	}
	if len(g.Methods) == 0 {
		return nil, fmt.Errorf("%w: no authentication method", ErrInvalidGrant)
	}
	n := 0
	for _, set := range []bool{g.Scope.ProjectID != "", g.Scope.DomainID != "", g.Scope.System} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("%w: more than one scope", ErrInvalidGrant)
	}
	life := i.Expiration
	if life <= 0 {
		life = time.Hour
	}
	if g.MaxLifetime > 0 && g.MaxLifetime < life {
		life = g.MaxLifetime
	}
	// Python: default_expire_time() = utcnow() + expiration, microseconds
	// kept in the packed float.
	exp := now.Add(life)
	if !g.NotAfter.IsZero() && g.NotAfter.Before(exp) {
		exp = g.NotAfter
	}
	if !exp.After(now) {
		return nil, fmt.Errorf("%w: expires before it is issued", ErrInvalidGrant)
	}
	p := &payload.Payload{
		UserID:    g.UserID,
		Methods:   g.Methods,
		ExpiresAt: exp.UTC().Truncate(time.Microsecond),
		AuditIDs:  []string{NewAuditID()},
	}
	if g.ParentAuditID != "" {
		p.AuditIDs = append(p.AuditIDs, g.ParentAuditID)
	}
	fed := g.Federation
	if g.ApplicationCredentialID != "" {
		if fed != nil || g.Scope.ProjectID == "" {
			return nil, fmt.Errorf("%w: an application credential's token is project scoped and not federated", ErrInvalidGrant)
		}
		p.Version, p.ProjectID, p.AppCredID = payload.VersionAppCredScoped, g.Scope.ProjectID, g.ApplicationCredentialID
		return p, nil
	}
	switch {
	case g.Scope.System:
		if fed != nil {
			return nil, fmt.Errorf("%w: federated tokens cannot be system scoped", ErrInvalidGrant)
		}
		p.Version, p.System = payload.VersionSystemScoped, "all"
	case g.Scope.ProjectID != "":
		p.Version, p.ProjectID = payload.VersionProjectScoped, g.Scope.ProjectID
		if fed != nil {
			p.Version = payload.VersionFederatedProject
		}
	case g.Scope.DomainID != "":
		p.Version, p.DomainID = payload.VersionDomainScoped, g.Scope.DomainID
		if fed != nil {
			p.Version = payload.VersionFederatedDomain
		}
	default:
		p.Version = payload.VersionUnscoped
		if fed != nil {
			p.Version = payload.VersionFederatedUnscoped
		}
	}
	if fed != nil {
		p.Federated = true
		p.IdentityProviderID = fed.IdentityProviderID
		p.ProtocolID = fed.ProtocolID
		p.FederatedGroupIDs = append([]string{}, fed.GroupIDs...)
	}
	return p, nil
}

// Issue mints a token for g and validates it. A grant that validation
// refuses (user disabled, no role on the project, ...) is a 401, as
// Python's POST /v3/auth/tokens answers.
func (i *Issuer) Issue(ctx context.Context, g Grant) (*Issued, error) {
	now := i.now()
	p, err := i.Payload(g, now)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	id, err := i.mint(p, now)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	// The answer renders a restricted token's access rules for its
	// holder, so the issuer is a client that understands them.
	t, err := i.Validator.Validate(ctx, token.Request{Token: id, Catalog: true, AccessRulesVersion: accessRulesVersion})
	if err != nil {
		ae := apierror.As(err)
		if ae.Code >= 500 {
			return nil, ae
		}
		out := apierror.New(http.StatusUnauthorized, apierror.MsgUnauthorized)
		out.Cause = fmt.Errorf("issue: minted token refused by validation: %w", err)
		return nil, out
	}
	return &Issued{ID: id, Token: t}, nil
}

// mint seals p: a JWS token signed by the private key when a Signer is
// set, else a Fernet token of the primary key.
func (i *Issuer) mint(p *payload.Payload, now time.Time) (string, error) {
	if i.Signer != nil {
		id, err := i.Signer.Sign(p, now)
		if err != nil {
			return "", fmt.Errorf("issue: sign: %w", err)
		}
		return id, nil
	}
	plain, err := i.Codec.Encode(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidGrant, err)
	}
	id, err := i.Keys.Encrypt(plain, now)
	if err != nil {
		return "", fmt.Errorf("issue: encrypt: %w", err)
	}
	return id, nil
}
