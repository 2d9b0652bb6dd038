package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// The client credentials grant (RFC 6749 §4.4) of POST /v4/oauth2/token,
// with client authentication by private_key_jwt (RFC 7523 §2.2, as
// OpenID Connect Core §9 names it) or client_secret_basic (RFC 6749
// §2.3.1). The service account is the client: its id is the client_id.

// Grant types and the assertion type.
const (
	GrantClientCredentials = oauth2.GrantClientCredentials
	AssertionTypeJWT       = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// MaxAssertionLifetime bounds exp - now (and exp - iat): an assertion is
// minted for one request, so a long-lived one is refused rather than kept
// replayable.
const MaxAssertionLifetime = 5 * time.Minute

// AssertionLeeway is the clock skew allowed on exp, nbf and iat.
const AssertionLeeway = 30 * time.Second

// TokenMethods are the [auth] methods a service account's token carries.
// Python's own "external" method is in every release's defaults; Python
// validates and rescopes such a token like any other.
var TokenMethods = []string{"external"}

// OAuthError is an RFC 6749 §5.2 error answer (pkg/oauth2's, shared by
// every grant of the token endpoint).
type OAuthError = oauth2.Error

func oauthErr(code string, status int, desc string, cause error) *OAuthError {
	return oauth2.New(code, status, desc, cause)
}

// InvalidClient is every failed client authentication: one answer
// whatever failed (unknown account, wrong secret, bad signature, replayed
// jti), so that a caller learns nothing about which accounts or keys exist.
func InvalidClient(cause error) *OAuthError {
	return oauthErr("invalid_client", http.StatusUnauthorized, "Client authentication failed.", cause)
}

// InvalidRequest is a malformed request (RFC 6749 §5.2).
func InvalidRequest(desc string) *OAuthError { return oauth2.InvalidRequest(desc) }

// TokenRequest is a parsed POST /v4/oauth2/token.
type TokenRequest struct {
	GrantType     string
	Scope         string
	ClientID      string
	AssertionType string
	Assertion     string
	// Basic is set when an Authorization: Basic header was sent.
	Basic                bool
	BasicID, BasicSecret string
	TokenURL             string
}

// CheckTokenRequest applies RFC 6749's request rules that need no
// database: the grant type, exactly one client authentication method
// (§2.3: "MUST NOT use more than one"), the assertion type.
func CheckTokenRequest(r *TokenRequest) error {
	switch r.GrantType {
	case GrantClientCredentials:
	case "":
		return InvalidRequest("grant_type is required.")
	default:
		return oauth2.UnsupportedGrantType()
	}
	assertion := r.Assertion != "" || r.AssertionType != ""
	switch {
	case r.Basic && assertion:
		return InvalidRequest("Use one client authentication method, not both.")
	case assertion && r.AssertionType != AssertionTypeJWT:
		return InvalidRequest("client_assertion_type must be " + AssertionTypeJWT + ".")
	case assertion && r.Assertion == "":
		return InvalidRequest("client_assertion is required with client_assertion_type.")
	case !r.Basic && !assertion:
		return InvalidClient(errors.New("no client authentication"))
	case r.Basic && r.ClientID != "" && r.ClientID != r.BasicID:
		return InvalidRequest("client_id does not match the authenticated client.")
	}
	return nil
}

// ParseScope reads the scope parameter: "project:<id>" or "domain:<id>"
// (one of them), or empty for the account's default.
func ParseScope(s string) (*issue.ScopeRequest, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.ContainsAny(s, " \t") {
		return nil, oauthErr("invalid_scope", http.StatusBadRequest, "Request one scope: project:<id> or domain:<id>.", nil)
	}
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" || len(id) > maxID {
		return nil, oauthErr("invalid_scope", http.StatusBadRequest, "The scope must be project:<id> or domain:<id>.", nil)
	}
	switch kind {
	case "project":
		return &issue.ScopeRequest{Project: &issue.NamedRef{ID: id}}, nil
	case "domain":
		return &issue.ScopeRequest{Domain: &issue.NamedRef{ID: id}}, nil
	}
	return nil, oauthErr("invalid_scope", http.StatusBadRequest, "The scope must be project:<id> or domain:<id>.", nil)
}

// ScopeString is the answer's scope for a minted token.
func ScopeString(sc issue.Scope) string {
	switch {
	case sc.ProjectID != "":
		return "project:" + sc.ProjectID
	case sc.DomainID != "":
		return "domain:" + sc.DomainID
	}
	return ""
}

// assertionClaims are the claims RFC 7523 §3 requires, and jti.
type assertionClaims struct {
	jwt.Claims
}

// UnverifiedSubject returns the iss of an assertion before its signature
// is checked (to find the account whose keys verify it), refusing any
// algorithm outside Algorithms at parse time (no "none", no HMAC).
func UnverifiedSubject(raw string) (*jwt.JSONWebToken, string, error) {
	if len(raw) > 8192 {
		return nil, "", errors.New("assertion longer than 8192 bytes")
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return nil, "", fmt.Errorf("assertion: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, "", errors.New("assertion: exactly one signature expected")
	}
	var c assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, "", fmt.Errorf("assertion claims: %w", err)
	}
	if c.Issuer == "" || len(c.Issuer) > maxID {
		return nil, "", errors.New("assertion: no iss")
	}
	return tok, c.Issuer, nil
}

// VerifyAssertion checks an assertion against the account's keys (those
// not expired at now) and RFC 7523 §3's claims: iss = sub = the account,
// aud holds the token endpoint URL, exp present and at most
// MaxAssertionLifetime away, nbf and iat not in the future, a jti. It
// returns the key used and the claims.
func VerifyAssertion(tok *jwt.JSONWebToken, accountID, tokenURL string, keys []*Credential, now time.Time) (*Credential, *jwt.Claims, error) {
	h := tok.Headers[0]
	var (
		c    assertionClaims
		used *Credential
	)
	for _, k := range keys {
		if !usable(k, now) || (h.KeyID != "" && h.KeyID != k.ID) || k.Algorithm != h.Algorithm {
			continue
		}
		jwk, err := LoadJWK(k.PublicJWK)
		if err != nil {
			continue
		}
		if err := tok.Claims(jwk.Key, &c); err == nil {
			used = k
			break
		}
	}
	if used == nil {
		return nil, nil, errors.New("assertion: no valid key of the account verifies the signature")
	}
	switch {
	case c.Issuer != accountID || c.Subject != accountID:
		return nil, nil, errors.New("assertion: iss and sub must both be the service account id")
	case c.Expiry == nil:
		return nil, nil, errors.New("assertion: no exp")
	case c.ID == "" || len(c.ID) > 255:
		return nil, nil, errors.New("assertion: jti missing or longer than 255 bytes")
	}
	exp := c.Expiry.Time()
	if exp.After(now.Add(MaxAssertionLifetime + AssertionLeeway)) {
		return nil, nil, fmt.Errorf("assertion: exp more than %s away", MaxAssertionLifetime)
	}
	if c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time()) > MaxAssertionLifetime {
		return nil, nil, fmt.Errorf("assertion: lifetime (exp - iat) over %s", MaxAssertionLifetime)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: accountID, Subject: accountID, AnyAudience: jwt.Audience{tokenURL}, Time: now}, AssertionLeeway); err != nil {
		return nil, nil, fmt.Errorf("assertion: %w", err)
	}
	return used, &c.Claims, nil
}

// Bounds reads what the domain_grantable_roles rule judges
// (*store.Federation).
type Bounds = federation.RoleGraphReader

// LoginDeps are what a client credentials login needs beyond the
// service.
type LoginDeps struct {
	Scopes issue.ScopeLookup
	Bounds Bounds
	// GrantableRoles is [keystone_ng] domain_grantable_roles.
	GrantableRoles []string
}

// ClientLogin is the login.Authenticator of one token request. After the
// pipeline ran, Stage says how far it got (for the RFC 6749 error).
type ClientLogin struct {
	s    *Service
	deps LoginDeps
	req  *TokenRequest
	// Admitted is set once the account passed the usability rule, and
	// Method is the client authentication used ("private_key_jwt",
	// "client_secret_basic").
	Admitted bool
	Method   string
}

var _ login.Authenticator = (*ClientLogin)(nil)

// ClientCredentials returns the authenticator of a checked request.
func (s *Service) ClientCredentials(req *TokenRequest, deps LoginDeps) *ClientLogin {
	return &ClientLogin{s: s, deps: deps, req: req}
}

// Authenticate authenticates the client, then resolves the scope.
func (l *ClientLogin) Authenticate(ctx context.Context) (*login.Attempt, error) {
	now := l.s.now()
	var (
		acct   *Account
		record func(ctx context.Context) error
		err    error
	)
	if l.req.Basic {
		l.Method = "client_secret_basic"
		acct, record, err = l.secret(ctx, now)
	} else {
		l.Method = "private_key_jwt"
		acct, record, err = l.assertion(ctx, now)
	}
	if err != nil {
		return nil, err
	}
	sc, err := l.scope(ctx, acct)
	if err != nil {
		return nil, err
	}
	if acct.Bounded {
		why, err := federation.UserOutOfBounds(ctx, l.deps.Bounds, acct.DomainID, l.deps.GrantableRoles, acct.ID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if why != "" {
			return nil, oauthErr("invalid_grant", http.StatusBadRequest,
				"The service account holds a role its domain may not grant ([keystone_ng] domain_grantable_roles); ask a system admin.",
				fmt.Errorf("service account %s %s", acct.ID, why))
		}
	}
	return &login.Attempt{
		Kind:    "service_account",
		UserID:  acct.ID,
		Grant:   issue.Grant{Methods: TokenMethods, Scope: sc},
		Confirm: func(context.Context, *keystone.User) error { l.Admitted = true; return nil },
		Record:  func(ctx context.Context, _ *issue.Issued) error { return record(ctx) },
	}, nil
}

// scope resolves the requested scope, or the account's default project
// (unscoped when it has none): unknown or disabled is invalid_scope.
func (l *ClientLogin) scope(ctx context.Context, acct *Account) (issue.Scope, error) {
	req, err := ParseScope(l.req.Scope)
	if err != nil {
		return issue.Scope{}, err
	}
	if req == nil && acct.DefaultProjectID != "" {
		req = &issue.ScopeRequest{Project: &issue.NamedRef{ID: acct.DefaultProjectID}}
	}
	sc, err := issue.Resolve(ctx, l.deps.Scopes, req)
	if err != nil {
		if apierror.As(err).Code >= 500 {
			return issue.Scope{}, err
		}
		return issue.Scope{}, oauthErr("invalid_scope", http.StatusBadRequest, "The requested scope is unknown or disabled.", err)
	}
	return sc, nil
}

// account reads the account a credential names; absence is invalid_client.
func (l *ClientLogin) account(ctx context.Context, id string) (*Account, error) {
	acct, err := l.s.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, InvalidClient(fmt.Errorf("no service account %q", id))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return acct, nil
}

// secret authenticates client_secret_basic: the secret's id names its
// hash, which must belong to the account named by the client id, be
// unexpired and match.
func (l *ClientLogin) secret(ctx context.Context, now time.Time) (*Account, func(context.Context) error, error) {
	id := SecretID(l.req.BasicSecret)
	if id == "" {
		return nil, nil, InvalidClient(errors.New("malformed client secret"))
	}
	row, err := l.s.creds().Secret(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, InvalidClient(fmt.Errorf("no secret %s", id))
	}
	if err != nil {
		return nil, nil, apierror.Internal(err)
	}
	switch {
	case row.UserID != l.req.BasicID:
		return nil, nil, InvalidClient(fmt.Errorf("secret %s belongs to another account", id))
	case !usable(row, now):
		return nil, nil, InvalidClient(fmt.Errorf("secret %s expired", id))
	case !verifySecret(row.SecretHash, l.req.BasicSecret):
		return nil, nil, InvalidClient(fmt.Errorf("secret %s does not match", id))
	}
	acct, err := l.account(ctx, row.UserID)
	if err != nil {
		return nil, nil, err
	}
	return acct, func(ctx context.Context) error {
		if err := l.s.creds().TouchSecret(ctx, row.ID, now); err != nil {
			return apierror.Internal(err)
		}
		return nil
	}, nil
}

// assertion authenticates private_key_jwt. The jti is recorded when the
// token is minted (the login's Record), so a refused login leaves no row;
// two concurrent uses of one assertion meet at the primary key and only
// one gets a token.
func (l *ClientLogin) assertion(ctx context.Context, now time.Time) (*Account, func(context.Context) error, error) {
	tok, iss, err := UnverifiedSubject(l.req.Assertion)
	if err != nil {
		return nil, nil, InvalidClient(err)
	}
	if l.req.ClientID != "" && l.req.ClientID != iss {
		return nil, nil, InvalidClient(errors.New("client_id is not the assertion's iss"))
	}
	acct, err := l.account(ctx, iss)
	if err != nil {
		return nil, nil, err
	}
	keys, err := l.s.creds().Keys(ctx, acct.ID)
	if err != nil {
		return nil, nil, apierror.Internal(err)
	}
	key, claims, err := VerifyAssertion(tok, acct.ID, l.req.TokenURL, keys, now)
	if err != nil {
		return nil, nil, InvalidClient(err)
	}
	return acct, func(ctx context.Context) error {
		switch err := l.s.creds().UseJTI(ctx, acct.ID, claims.ID, claims.Expiry.Time().Add(AssertionLeeway)); {
		case errors.Is(err, store.ErrReplayedJTI):
			return InvalidClient(fmt.Errorf("replayed jti %q", claims.ID))
		case err != nil:
			return apierror.Internal(err)
		}
		if err := l.s.creds().TouchKey(ctx, key.ID, now); err != nil {
			_ = l.s.creds().ForgetJTI(ctx, acct.ID, claims.ID)
			return apierror.Internal(err)
		}
		return nil
	}, nil
}
