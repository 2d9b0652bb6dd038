// Package oidcflow is keystone-ng's OpenID Connect relying party: the
// protocol half of federated login (pkg/federation owns the identity
// provider configuration and the claim mappings, and calls this package).
//
// Code flow: Start builds the authorization URL (PKCE S256, state, nonce)
// and persists the login state; Finish consumes the state (single use),
// exchanges the code and verifies the ID token. Device flow (RFC 8628):
// StartDevice and PollDevice. Login state lives in a StateStore shared by
// every keystone-ng instance, so a login may start on one instance and
// finish on another (docs/design.md §1, §9). See docs/oidc-login.md.
package oidcflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Config configures a Flow. Zero values take the defaults noted.
type Config struct {
	Store StateStore // required
	// HTTPClient makes every call to identity providers. It must have a
	// Timeout; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time // default time.Now
	// StateTTL bounds a code-flow login (default 10 min, at most 1 h).
	StateTTL time.Duration
	// Algorithms is the ID-token signature allow-list (default RS256,
	// PS256, ES256). Asymmetric algorithms only: "none" and HMAC are
	// refused here (HS256 is Provider.AllowHS256).
	Algorithms []string
	// Leeway is the clock skew tolerated on iat (default 10 s, at most
	// 2 min). exp is checked with the same offset, never loosened.
	Leeway time.Duration
	// MaxTokenAge refuses ID tokens issued longer ago (default 10 min).
	MaxTokenAge time.Duration
	// CacheTTL is how long a provider's discovery document and JWKS are
	// reused (default 1 h); an unknown kid refreshes the JWKS at once.
	CacheTTL time.Duration
	// Userinfo merges the userinfo endpoint's claims into the result
	// (ID-token claims win on conflict; sub must match).
	Userinfo bool
}

// Flow runs OpenID Connect logins. It is safe for concurrent use.
type Flow struct {
	store       StateStore
	http        *http.Client
	now         func() time.Time
	ttl         time.Duration
	algs        []string
	leeway      time.Duration
	maxTokenAge time.Duration
	userinfo    bool
	parties     partyCache
}

// Result is a completed login: the verified identity, for the mapping.
type Result struct {
	IdPID string
	// Claims are the verified ID token's claims, plus the userinfo
	// endpoint's when enabled.
	Claims map[string]any
	// Extra is what Start (or StartDevice) was given, untouched.
	Extra json.RawMessage
	// RedirectURI is the redirect URI of the login (code flow).
	RedirectURI string
}

const (
	maxExtra      = 16 << 10
	maxStateTTL   = time.Hour
	maxLeeway     = 2 * time.Minute
	maxDeviceTTL  = 30 * time.Minute
	minPollPeriod = 5 // seconds, RFC 8628 §3.2 default
)

// New checks cfg and returns a Flow.
func New(cfg Config) (*Flow, error) {
	if cfg.Store == nil {
		return nil, errors.New("oidcflow: no state store")
	}
	algs, err := checkAlgs(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	f := &Flow{
		store:       cfg.Store,
		http:        cfg.HTTPClient,
		now:         cfg.Now,
		ttl:         cfg.StateTTL,
		algs:        algs,
		leeway:      cfg.Leeway,
		maxTokenAge: cfg.MaxTokenAge,
		userinfo:    cfg.Userinfo,
	}
	if f.http == nil {
		f.http = outbound.New(outbound.Options{Timeout: 10 * time.Second})
	}
	if f.http.Timeout <= 0 {
		return nil, errors.New("oidcflow: the HTTP client must have a timeout")
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.ttl <= 0 {
		f.ttl = 10 * time.Minute
	}
	f.ttl = min(f.ttl, maxStateTTL)
	if f.leeway <= 0 {
		f.leeway = 10 * time.Second
	}
	f.leeway = min(f.leeway, maxLeeway)
	if f.maxTokenAge <= 0 {
		f.maxTokenAge = 10 * time.Minute
	}
	f.parties.ttl = cfg.CacheTTL
	if f.parties.ttl <= 0 {
		f.parties.ttl = time.Hour
	}
	f.parties.max = maxCachedParties
	return f, nil
}

// RandomID is 32 bytes of crypto/rand, base64url without padding (43
// characters): the shape ValidID accepts. Login state ids, nonces and
// verifiers, and httpapi's login cookie, are made with it.
func RandomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an id this package issues
// (43 base64url characters), so that garbage never reaches the database.
func ValidID(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

func checkExtra(extra json.RawMessage) (json.RawMessage, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	if len(extra) > maxExtra {
		return nil, fmt.Errorf("%w: extra larger than %d bytes", ErrInvalidRequest, maxExtra)
	}
	if !json.Valid(extra) {
		return nil, fmt.Errorf("%w: extra is not JSON", ErrInvalidRequest)
	}
	return slices.Clone(extra), nil
}

// Start begins an authorization code login with PKCE S256: it returns the
// URL to send the browser to and the state id (also the URL's state
// parameter). redirectURI must be one of p.RedirectURIs exactly.
func (f *Flow) Start(ctx context.Context, p Provider, redirectURI string, extra json.RawMessage) (authorizationURL string, stateID string, err error) {
	if err := p.validate(); err != nil {
		return "", "", err
	}
	if !RedirectAllowed(p.RedirectURIs, redirectURI) {
		return "", "", fmt.Errorf("%w: %q", ErrRedirectURINotAllowed, redirectURI)
	}
	extra, err = checkExtra(extra)
	if err != nil {
		return "", "", err
	}
	party, err := f.party(ctx, p)
	if err != nil {
		return "", "", err
	}
	now := f.now().UTC()
	st := &LoginState{
		ID:           RandomID(),
		Kind:         KindCode,
		IdPID:        p.IdPID,
		RedirectURI:  redirectURI,
		Nonce:        RandomID(),
		PKCEVerifier: RandomID(),
		Extra:        extra,
		CreatedAt:    now,
		ExpiresAt:    now.Add(f.ttl),
	}
	u := rp.AuthURL(st.ID, party.rp,
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(st.PKCEVerifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", st.Nonce)),
		rp.AuthURLOpt(rp.WithURLParam("redirect_uri", redirectURI)),
	)
	if err := f.store.Put(ctx, st); err != nil {
		return "", "", fmt.Errorf("oidcflow: store login state: %w", err)
	}
	return u, st.ID, nil
}

// Check inspects a login's Extra (what Start was given) when the login
// finishes, before anything is sent to the identity provider; an error
// refuses the login with ErrLoginBinding. The HTTP layer uses it to bind
// a login to the client that started it (the browser's cookie, the CLI's
// PKCE code_verifier) so that a stolen (state, code) pair is useless.
type Check func(extra json.RawMessage) error

// Finish completes a code-flow login from the redirect's state and code.
// The state is consumed whatever the outcome; lookup returns the
// provider's current configuration (a change since Start applies). Each
// check runs after the state is taken and before the code is exchanged:
// a refused check leaves the code unused at the identity provider.
func (f *Flow) Finish(ctx context.Context, state, code string, lookup func(ctx context.Context, idpID string) (Provider, error), checks ...Check) (*Result, error) {
	if !ValidID(state) {
		return nil, ErrStateNotFound
	}
	st, err := f.store.Take(ctx, state)
	if err != nil {
		return nil, err
	}
	if st.Kind != KindCode {
		return nil, ErrStateNotFound
	}
	if !f.now().Before(st.ExpiresAt) {
		return nil, ErrStateExpired
	}
	for _, check := range checks {
		if check == nil {
			continue
		}
		if err := check(slices.Clone(st.Extra)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoginBinding, err)
		}
	}
	if code == "" {
		return nil, fmt.Errorf("%w: no authorization code", ErrInvalidRequest)
	}
	p, err := f.lookup(ctx, lookup, st.IdPID)
	if err != nil {
		return nil, err
	}
	if !RedirectAllowed(p.RedirectURIs, st.RedirectURI) {
		return nil, fmt.Errorf("%w: %q is no longer registered", ErrRedirectURINotAllowed, st.RedirectURI)
	}
	party, err := f.party(ctx, p)
	if err != nil {
		return nil, err
	}
	// The token request: code, code_verifier, the same redirect_uri;
	// client_secret_basic or, for a public client, client_id alone.
	xctx := context.WithValue(ctx, oauth2.HTTPClient, f.http)
	tok, err := party.rp.OAuthConfig().Exchange(xctx, code,
		oauth2.SetAuthURLParam("code_verifier", st.PKCEVerifier),
		oauth2.SetAuthURLParam("redirect_uri", st.RedirectURI),
	)
	if err != nil {
		if unavailable(err) {
			return nil, fmt.Errorf("%w: %s: token endpoint: %w", ErrProviderUnavailable, p.IdPID, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrTokenExchange, err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	claims, err := f.verify(withNonce(ctx, st.Nonce), party, tok.AccessToken, idToken)
	if err != nil {
		return nil, err
	}
	if err := f.mergeUserinfo(ctx, party, tok.AccessToken, tok.Type(), claims); err != nil {
		return nil, err
	}
	return &Result{IdPID: st.IdPID, Claims: claims, Extra: st.Extra, RedirectURI: st.RedirectURI}, nil
}

func (f *Flow) lookup(ctx context.Context, lookup func(context.Context, string) (Provider, error), idpID string) (Provider, error) {
	if lookup == nil {
		return Provider{}, fmt.Errorf("%w: no provider lookup", ErrInvalidProvider)
	}
	p, err := lookup(ctx, idpID)
	if err != nil {
		return Provider{}, fmt.Errorf("oidcflow: identity provider %s: %w", idpID, err)
	}
	if p.IdPID == "" {
		p.IdPID = idpID
	}
	if p.IdPID != idpID {
		return Provider{}, fmt.Errorf("%w: lookup of %s returned %s", ErrInvalidProvider, idpID, p.IdPID)
	}
	if err := p.validate(); err != nil {
		return Provider{}, err
	}
	return p, nil
}

// verify checks the ID token (signature against the JWKS, alg allow-list,
// iss, aud, azp, exp, iat, nonce, at_hash) and returns all its claims.
func (f *Flow) verify(ctx context.Context, party *party, accessToken, idToken string) (map[string]any, error) {
	if idToken == "" {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, rp.ErrMissingIDToken)
	}
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, idToken, party.verifier)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	if err := checkAtHash(accessToken, claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	out := make(map[string]any, len(claims.Claims))
	for k, v := range claims.Claims {
		out[k] = v
	}
	return out, nil
}

// checkAtHash is rp.VerifyAccessToken, plus HS256 (SHA-256, OIDC Core
// §3.1.3.6), which zitadel/oidc's ClaimHash does not know.
func checkAtHash(accessToken string, claims *oidc.IDTokenClaims) error {
	want := claims.GetAccessTokenHash()
	if want == "" || claims.GetSignatureAlgorithm() != jose.HS256 {
		return rp.VerifyAccessToken(accessToken, want, claims.GetSignatureAlgorithm())
	}
	h := sha256.Sum256([]byte(accessToken))
	if base64.RawURLEncoding.EncodeToString(h[:len(h)/2]) != want {
		return oidc.ErrAtHash
	}
	return nil
}

// userinfoClaims decodes a userinfo response into a plain claim map.
type userinfoClaims map[string]any

func (u userinfoClaims) GetSubject() string {
	s, _ := u["sub"].(string)
	return s
}

func (f *Flow) mergeUserinfo(ctx context.Context, party *party, accessToken, tokenType string, claims map[string]any) error {
	if !f.userinfo || party.rp.UserinfoEndpoint() == "" || accessToken == "" {
		return nil
	}
	sub, _ := claims["sub"].(string)
	info, err := rp.Userinfo[userinfoClaims](ctx, accessToken, tokenType, sub, party.rp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUserinfo, err)
	}
	for k, v := range info {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}
