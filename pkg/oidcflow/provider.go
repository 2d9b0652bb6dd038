package oidcflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Provider is an OpenID provider as keystone-ng's federation configuration
// holds it (pkg/federation builds it from its storage).
type Provider struct {
	IdPID        string // keystone identity provider id
	Issuer       string
	DiscoveryURL string // "" = Issuer + "/.well-known/openid-configuration"
	ClientID     string
	ClientSecret string   // plaintext here; may be "" for public clients
	Scopes       []string // default openid profile email
	RedirectURIs []string // allowed redirect URIs (exact match)
	// AllowHS256 accepts ID tokens MACed with the client secret (HS256).
	// Off by default; refused without a ClientSecret.
	AllowHS256 bool
}

// DefaultScopes are requested when Provider.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}

func (p Provider) validate() error {
	switch {
	case p.IdPID == "":
		return fmt.Errorf("%w: no identity provider id", ErrInvalidProvider)
	case p.Issuer == "":
		return fmt.Errorf("%w: %s: no issuer", ErrInvalidProvider, p.IdPID)
	case p.ClientID == "":
		return fmt.Errorf("%w: %s: no client id", ErrInvalidProvider, p.IdPID)
	case p.AllowHS256 && p.ClientSecret == "":
		return fmt.Errorf("%w: %s: HS256 needs a client secret", ErrInvalidProvider, p.IdPID)
	}
	return nil
}

// scopes returns the scopes to request, always including openid.
func (p Provider) scopes() []string {
	s := p.Scopes
	if len(s) == 0 {
		s = DefaultScopes
	}
	if !slices.Contains(s, oidc.ScopeOpenID) {
		s = append([]string{oidc.ScopeOpenID}, s...)
	}
	return slices.Clone(s)
}

// cacheKey hashes everything a relying party is built from, so that a
// configuration change gets a fresh one on the next login.
func (p Provider) cacheKey() [32]byte {
	b, _ := json.Marshal([]any{p.Issuer, p.DiscoveryURL, p.ClientID, p.ClientSecret, p.scopes(), p.AllowHS256})
	return sha256.Sum256(b)
}

// party is a zitadel relying party for one provider configuration, with
// its discovery document and JWKS (cached inside its key set, refreshed on
// an unknown kid).
type party struct {
	rp       rp.RelyingParty
	verifier *rp.IDTokenVerifier
	created  time.Time
}

type partyCache struct {
	mu      sync.Mutex
	entries map[[32]byte]*party
	ttl     time.Duration
	max     int
}

const maxCachedParties = 256

type nonceKey struct{}

func withNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey{}, nonce)
}

// nonceFrom gives the verifier the nonce of the login being finished; the
// device flow has none, and then the ID token must carry none.
func nonceFrom(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// party returns the cached relying party for p, discovering it (with the
// flow's HTTP client and its timeout) when absent or older than the TTL.
func (f *Flow) party(ctx context.Context, p Provider) (*party, error) {
	key := p.cacheKey()
	now := f.now()
	c := &f.parties
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now.Sub(e.created) < c.ttl && !now.Before(e.created) {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()

	e, err := f.newParty(ctx, p)
	if err != nil {
		return nil, err
	}
	e.created = now
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[32]byte]*party{}
	}
	if len(c.entries) >= c.max {
		for k, old := range c.entries {
			if now.Sub(old.created) >= c.ttl || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = e
	return e, nil
}

func (f *Flow) newParty(ctx context.Context, p Provider) (*party, error) {
	algs := slices.Clone(f.algs)
	if p.AllowHS256 {
		algs = append(algs, string(jose.HS256))
	}
	style := oauth2.AuthStyleInParams // public client: client_id in the form
	if p.ClientSecret != "" {
		style = oauth2.AuthStyleInHeader // client_secret_basic
	}
	// Discovery is fetched here, not by zitadel, so that every endpoint
	// the document names is checked before anything is sent to it; the
	// relying party is then built from this very document (served to it
	// from memory, see pinnedDiscovery): what was checked is what is used.
	discoveryURL := p.DiscoveryURL
	if discoveryURL == "" {
		discoveryURL = strings.TrimSuffix(p.Issuer, "/") + oidc.DiscoveryEndpoint
	}
	doc, err := client.Discover(ctx, p.Issuer, f.http, discoveryURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: discovery: %w", ErrProviderUnavailable, p.IdPID, err)
	}
	if allowed, guarded := outbound.AllowedNetworks(f.http); guarded {
		if err := checkEndpoints(doc, allowed); err != nil {
			return nil, fmt.Errorf("%w: %s: discovery document: %w", ErrProviderUnavailable, p.IdPID, err)
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: discovery document: %w", ErrProviderUnavailable, p.IdPID, err)
	}
	hc, err := pinnedDiscovery(f.http, discoveryURL, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: discovery: %w", ErrProviderUnavailable, p.IdPID, err)
	}
	opts := []rp.Option{
		// zitadel makes every call with this client: discovery (pinned),
		// token, userinfo, device authorization and the remote key set of
		// the ID-token verifier (rp.NewRemoteKeySet(rp.httpClient, ...)).
		rp.WithHTTPClient(hc),
		rp.WithCustomDiscoveryUrl(discoveryURL),
		rp.WithAuthStyle(style),
		rp.WithVerifierOpts(
			rp.WithNonce(nonceFrom),
			rp.WithIssuedAtOffset(f.leeway),
			rp.WithIssuedAtMaxAge(f.maxTokenAge),
			rp.WithSupportedSigningAlgorithms(algs...),
		),
	}
	// The redirect URI is per login: it is passed with each request, not
	// fixed in the relying party.
	relying, err := rp.NewRelyingPartyOIDC(ctx, p.Issuer, p.ClientID, p.ClientSecret, "", p.scopes(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: discovery: %w", ErrProviderUnavailable, p.IdPID, err)
	}
	if relying.OAuthConfig().Endpoint.TokenURL == "" {
		return nil, fmt.Errorf("%w: %s: discovery document has no token_endpoint", ErrProviderUnavailable, p.IdPID)
	}
	v := *relying.IDTokenVerifier() // a copy: the relying party's own stays untouched
	if p.AllowHS256 {
		v.KeySet = hmacKeySet{secret: []byte(p.ClientSecret), next: v.KeySet}
	}
	return &party{rp: relying, verifier: &v}, nil
}

// checkEndpoints applies the outbound rule (outbound.CheckURL) to every
// endpoint of a discovery document keystone-ng uses: token, userinfo,
// JWKS and device authorization are fetched by keystone-ng (a POST with a
// body of the provider's choosing at the token and device endpoints is the
// worst of SSRF); the authorization endpoint is where the browser is sent,
// https as well. jwks_uri and token_endpoint are required (OpenID Connect
// Discovery 1.0 §3). A refusal fails the login as ErrProviderUnavailable
// (502): the provider's document is unusable, the request is not at fault.
func checkEndpoints(doc *oidc.DiscoveryConfiguration, allowed []netip.Prefix) error {
	for _, e := range []struct {
		name, url string
		required  bool
	}{
		{"authorization_endpoint", doc.AuthorizationEndpoint, false},
		{"token_endpoint", doc.TokenEndpoint, true},
		{"jwks_uri", doc.JwksURI, true},
		{"userinfo_endpoint", doc.UserinfoEndpoint, false},
		{"device_authorization_endpoint", doc.DeviceAuthorizationEndpoint, false},
	} {
		if e.url == "" {
			if e.required {
				return fmt.Errorf("no %s", e.name)
			}
			continue
		}
		if err := outbound.CheckURL(e.url, allowed); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return nil
}

// pinnedDiscovery returns a copy of c whose first GET of discoveryURL is
// answered with body (the document already fetched and checked) and
// whose every other request goes through c's transport.
func pinnedDiscovery(c *http.Client, discoveryURL string, body []byte) (*http.Client, error) {
	u, err := url.Parse(discoveryURL)
	if err != nil {
		return nil, err
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp := *c
	cp.Transport = &pinnedTransport{url: u.String(), body: body, next: next}
	return &cp, nil
}

type pinnedTransport struct {
	url  string
	body []byte
	used atomic.Bool
	next http.RoundTripper
}

func (t *pinnedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.String() == t.url && t.used.CompareAndSwap(false, true) {
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json"}},
			Body:          io.NopCloser(bytes.NewReader(t.body)),
			ContentLength: int64(len(t.body)),
			Request:       r,
		}, nil
	}
	return t.next.RoundTrip(r)
}

// hmacKeySet verifies HS256 with the client secret (OIDC Core §10.1) and
// hands every other algorithm to the provider's JWKS.
type hmacKeySet struct {
	secret []byte
	next   oidc.KeySet
}

func (h hmacKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) == 1 && jws.Signatures[0].Header.Algorithm == string(jose.HS256) {
		return jws.Verify(h.secret)
	}
	return h.next.VerifySignature(ctx, jws)
}

// asymmetricAlgs are the ID-token algorithms an allow-list may name.
var asymmetricAlgs = []string{
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.EdDSA),
}

// DefaultAlgorithms is the default ID-token algorithm allow-list.
var DefaultAlgorithms = []string{string(jose.RS256), string(jose.PS256), string(jose.ES256)}

func checkAlgs(algs []string) ([]string, error) {
	if len(algs) == 0 {
		return slices.Clone(DefaultAlgorithms), nil
	}
	out := make([]string, 0, len(algs))
	for _, a := range algs {
		a = strings.TrimSpace(a)
		if !slices.Contains(asymmetricAlgs, a) {
			return nil, fmt.Errorf("oidcflow: ID token algorithm %q is not allowed (asymmetric only: %s; HS256 is a per-provider option)", a, strings.Join(asymmetricAlgs, ", "))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// unavailable reports whether err is a transport failure rather than an
// answer from the identity provider.
func unavailable(err error) bool {
	var oe *oidc.Error
	var re *oauth2.RetrieveError
	return !errors.As(err, &oe) && !errors.As(err, &re)
}
