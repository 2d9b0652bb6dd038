package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
)

// Algorithms is the allow-list of JWS algorithms: asymmetric only, never
// "none", never HMAC (an HS256 JWT "signed" with a public key is refused
// before any key is looked at).
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// maxDocBytes bounds a discovery document or a JWKS.
const maxDocBytes = 1 << 20

// jwksEntry is one IdP's keys. mu guards every field; a fetch runs with it
// released, announced by inflight, so that one fetch per IdP is under way
// at a time and every other login waits for its result (or uses the keys
// it already has) instead of queueing fetches behind a lock.
type jwksEntry struct {
	mu       sync.Mutex
	url      string // the source the keys came from
	keys     *jose.JSONWebKeySet
	fetched  time.Time // of keys
	inflight *jwksFetch
	// Negative cache: after a failed fetch none is tried before retryAt
	// (backoff doubling per consecutive failure); logins in between get
	// lastErr, or the stale keys.
	failures int
	retryAt  time.Time
	lastErr  error
	// staleLogged is the failure count the stale-keys log line was
	// written for.
	staleLogged int
}

// jwksFetch is a fetch under way; done is closed when err/keys are set.
type jwksFetch struct {
	done chan struct{}
	err  error
}

type jwksCache struct {
	client     *http.Client
	allowed    []netip.Prefix // for the jwks_uri of a discovery document
	log        *slog.Logger
	ttl        time.Duration
	minRefresh time.Duration
	staleTTL   time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	now        func() time.Time
	mu         sync.Mutex
	entries    map[string]*jwksEntry // by IdP id
	fetches    atomic.Int64          // fetch attempts (tests)
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
// document's jwks_uri (whose issuer must be the IdP's, and which passes
// the same outbound rule as the URLs an admin writes).
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
	if err := outbound.CheckURL(doc.JWKSURI, c.allowed); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

// fetch gets the IdP's JWKS (through discovery when there is no jwks_url).
func (c *jwksCache) fetch(ctx context.Context, p *IdP) (string, *jose.JSONWebKeySet, error) {
	c.fetches.Add(1)
	src, err := c.source(ctx, p)
	if err != nil {
		return "", nil, err
	}
	var set jose.JSONWebKeySet
	if err := c.getJSON(ctx, src, &set); err != nil {
		return "", nil, fmt.Errorf("jwks: %w", err)
	}
	return src, &set, nil
}

// backoffAfter is the wait after n consecutive failures: backoff doubling,
// at most maxBackoff.
func (c *jwksCache) backoffAfter(n int) time.Duration {
	d := c.backoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	return min(d, c.maxBackoff)
}

// keys returns the IdP's keys with the kid (all keys when kid is ""): from
// the cache while fresh; fetched again when older than the TTL, or when
// the kid is unknown and the last fetch is older than minRefresh. One
// fetch per IdP runs at a time; a failed one is not retried before its
// backoff; while fetching fails, the last good keys keep verifying until
// staleTTL after their TTL ran out.
func (c *jwksCache) keys(ctx context.Context, p *IdP, kid string) ([]jose.JSONWebKey, error) {
	e := c.entry(p.ID)
	waited := false
	for {
		e.mu.Lock()
		now := c.now()
		k, fresh := e.pick(kid), e.keys != nil && now.Sub(e.fetched) < c.ttl
		switch {
		case fresh && len(k) > 0:
			e.mu.Unlock()
			return k, nil
		case fresh && now.Sub(e.fetched) < c.minRefresh:
			e.mu.Unlock()
			return nil, fmt.Errorf("no key with kid %q (JWKS fetched %s ago)", kid, now.Sub(e.fetched).Round(time.Millisecond))
		case waited || (e.inflight == nil && now.Before(e.retryAt)):
			// The fetch this login waited for is over, or the last one
			// failed and its backoff runs: no fetch now.
			err := e.lastErr
			if err == nil {
				err = fmt.Errorf("no key with kid %q in the JWKS at %s", kid, e.url)
			}
			k, staleFor := c.stale(e, kid, now)
			if !waited {
				err = fmt.Errorf("JWKS fetch failed, next attempt in %s: %w", e.retryAt.Sub(now).Round(time.Millisecond), err)
			}
			// One line per failed fetch, not per login, says stale keys
			// are in use.
			until := e.fetched.Add(c.ttl + c.staleTTL)
			logStale := len(k) > 0 && e.staleLogged != e.failures
			if logStale {
				e.staleLogged = e.failures
			}
			e.mu.Unlock()
			if logStale {
				c.log.Warn("federation: serving stale JWKS keys: the identity provider's JWKS cannot be fetched",
					"identity_provider", p.ID, "stale_for", staleFor.Round(time.Second),
					"stale_until", until.UTC().Format(time.RFC3339), "error", err)
			}
			if len(k) > 0 {
				return k, nil
			}
			return nil, err
		}
		f := e.inflight
		if f == nil {
			f = &jwksFetch{done: make(chan struct{})}
			e.inflight = f
			e.mu.Unlock()
			// The fetch is the IdP's, not this login's: it outlives a
			// caller that gives up (the client's timeout bounds it).
			go c.run(context.WithoutCancel(ctx), e, f, p)
		} else {
			e.mu.Unlock()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		waited = true
		if f.err == nil {
			// Fresh keys: pick from them (an unknown kid is now final).
			e.mu.Lock()
			k := e.pick(kid)
			src := e.url
			e.mu.Unlock()
			if len(k) > 0 {
				return k, nil
			}
			return nil, fmt.Errorf("no key with kid %q in the JWKS at %s", kid, src)
		}
	}
}

// run performs one fetch and records its outcome.
func (c *jwksCache) run(ctx context.Context, e *jwksEntry, f *jwksFetch, p *IdP) {
	src, set, err := c.fetch(ctx, p)
	e.mu.Lock()
	now := c.now()
	if err == nil {
		e.url, e.keys, e.fetched = src, set, now
		e.failures, e.retryAt, e.lastErr = 0, time.Time{}, nil
	} else {
		e.failures++
		e.retryAt = now.Add(c.backoffAfter(e.failures))
		e.lastErr = err
		c.log.Warn("federation: JWKS fetch failed", "identity_provider", p.ID,
			"failures", e.failures, "next_attempt_in", e.retryAt.Sub(now), "error", err)
	}
	f.err = err
	e.inflight = nil
	e.mu.Unlock()
	close(f.done)
}

// stale returns the last good keys with kid while they are within
// staleTTL past their TTL, and how long past their TTL they are.
func (c *jwksCache) stale(e *jwksEntry, kid string, now time.Time) ([]jose.JSONWebKey, time.Duration) {
	if e.keys == nil || c.staleTTL <= 0 {
		return nil, 0
	}
	past := now.Sub(e.fetched) - c.ttl
	if past >= c.staleTTL {
		return nil, past
	}
	return e.pick(kid), max(past, 0)
}

// pick returns the keys with kid (all keys when kid is ""); e.mu held.
func (e *jwksEntry) pick(kid string) []jose.JSONWebKey {
	if e.keys == nil {
		return nil
	}
	if kid == "" {
		return e.keys.Keys
	}
	return e.keys.Key(kid)
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
