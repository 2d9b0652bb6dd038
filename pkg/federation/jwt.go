package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Algorithms is the allow-list of JWS algorithms: asymmetric only, never
// "none", never HMAC (an HS256 JWT "signed" with a public key is refused
// before any key is looked at).
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// maxDocBytes bounds a discovery document or a JWKS.
const maxDocBytes = 1 << 20

type jwksEntry struct {
	mu      sync.Mutex
	url     string // the source the keys came from
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

type jwksCache struct {
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time
	mu         sync.Mutex
	entries    map[string]*jwksEntry // by IdP id
}

func (c *jwksCache) entry(idpID string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[idpID]
	if e == nil {
		e = &jwksEntry{}
		c.entries[idpID] = e
	}
	return e
}

// forget drops an IdP's cached keys (its configuration changed).
func (c *jwksCache) forget(idpID string) {
	c.mu.Lock()
	delete(c.entries, idpID)
	c.mu.Unlock()
}

func (c *jwksCache) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxDocBytes {
		return fmt.Errorf("GET %s: document larger than %d bytes", url, maxDocBytes)
	}
	return json.Unmarshal(b, v)
}

// source is where the IdP's keys are: jwks_url, else the discovery
// document's jwks_uri (whose issuer must be the IdP's).
func (c *jwksCache) source(ctx context.Context, p *IdP) (string, error) {
	if p.JWKSURL != nil {
		return *p.JWKSURL, nil
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := c.getJSON(ctx, p.DiscoveryURL, &doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != p.Issuer {
		return "", fmt.Errorf("discovery: issuer %q is not the identity provider's %q", doc.Issuer, p.Issuer)
	}
	if err := checkURL("jwks_uri", doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri %q: not an https URL", doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// keys returns the IdP's keys with the kid (all keys when kid is ""): from
// the cache while fresh; fetched again when stale, or when the kid is
// unknown and the last fetch is older than minRefresh.
func (c *jwksCache) keys(ctx context.Context, p *IdP, kid string) ([]jose.JSONWebKey, error) {
	e := c.entry(p.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	pick := func() []jose.JSONWebKey {
		if e.keys == nil {
			return nil
		}
		if kid == "" {
			return e.keys.Keys
		}
		return e.keys.Key(kid)
	}
	fresh := e.keys != nil && now.Sub(e.fetched) < c.ttl
	if fresh {
		if k := pick(); len(k) > 0 {
			return k, nil
		}
		if now.Sub(e.fetched) < c.minRefresh {
			return nil, fmt.Errorf("no key with kid %q (JWKS fetched %s ago)", kid, now.Sub(e.fetched).Round(time.Millisecond))
		}
	}
	src, err := c.source(ctx, p)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := c.getJSON(ctx, src, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	e.url, e.keys, e.fetched = src, &set, now
	if k := pick(); len(k) > 0 {
		return k, nil
	}
	return nil, fmt.Errorf("no key with kid %q in the JWKS at %s", kid, src)
}

// Verified is a verified JWT.
type Verified struct {
	Claims map[string]any
	JTI    string
	Expiry time.Time
}

// VerifyJWT checks raw against the IdP: algorithm allow-list, signature by
// a key of the IdP's JWKS, issuer (exact), audience (mandatory, one of
// the IdP's audiences), exp (required), nbf and iat within the leeway.
func (s *Service) VerifyJWT(ctx context.Context, p *IdP, raw string) (*Verified, error) {
	if len(p.Audiences) == 0 {
		return nil, errors.New("identity provider has no audiences: JWT login is off")
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("exactly one signature is required")
	}
	h := tok.Headers[0]
	keys, err := s.jwks.keys(ctx, p, h.KeyID)
	if err != nil {
		return nil, err
	}
	var (
		std    jwt.Claims
		claims map[string]any
		ok     bool
	)
	for _, k := range keys {
		if _, sym := k.Key.([]byte); sym || k.Key == nil {
			continue // a symmetric key in a JWKS is never used
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		var payload json.RawMessage
		if err := tok.Claims(k.Public().Key, &std, &payload); err != nil {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&claims); err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
		ok = true
		break
	}
	if !ok {
		return nil, fmt.Errorf("signature does not verify with any key (kid %q, alg %s)", h.KeyID, h.Algorithm)
	}
	if std.Issuer != p.Issuer {
		return nil, fmt.Errorf("issuer %q is not %q", std.Issuer, p.Issuer)
	}
	if std.Expiry == nil {
		return nil, errors.New("exp is required")
	}
	if len(std.Audience) == 0 {
		return nil, errors.New("aud is required")
	}
	audOK := false
	for _, a := range p.Audiences {
		if std.Audience.Contains(a) {
			audOK = true
			break
		}
	}
	if !audOK {
		return nil, fmt.Errorf("audience %v is not one of the identity provider's", []string(std.Audience))
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: s.opt.Now()}, s.opt.Leeway); err != nil {
		return nil, err
	}
	return &Verified{Claims: claims, JTI: std.ID, Expiry: std.Expiry.Time()}, nil
}
