package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/keystone-ng/keystone-ng/pkg/outbound/outboundtest"
)

// loopbackClient is the outbound client of a test whose IdPs are served on
// loopback: [keystone_ng] outbound_allowed_networks = 127.0.0.0/8,::1/128.
func loopbackClient() *http.Client {
	return outbound.New(outbound.Options{Timeout: 5 * time.Second, AllowedNetworks: outboundtest.LoopbackNetworks})
}

// TestIdPURLRules: issuer, discovery_url and jwks_url follow the outbound
// rule at write time (400); redirect_uris keep theirs (https or loopback
// http: the browser goes there, keystone-ng does not).
func TestIdPURLRules(t *testing.T) {
	strict := New(Options{})
	loop := New(Options{HTTPClient: loopbackClient()})
	ok := "https://idp.example.com"
	for _, tc := range []struct {
		name  string
		svc   *Service
		field string // issuer, discovery_url, jwks_url, redirect_uri
		url   string
		want  bool
	}{
		{"https name", strict, "issuer", "https://idp.example.com", true},
		{"https name resolving to loopback: checked at dial time", strict, "issuer", "https://localhost:8443", true},
		{"metadata issuer", strict, "issuer", "https://169.254.169.254", false},
		{"metadata discovery", strict, "discovery_url", "http://169.254.169.254/latest/meta-data/", false},
		{"metadata jwks", strict, "jwks_url", "https://169.254.169.254/jwks", false},
		{"private jwks", strict, "jwks_url", "https://10.0.0.1/jwks", false},
		{"private issuer", strict, "issuer", "https://10.0.0.1", false},
		{"loopback v6 postgres", strict, "jwks_url", "http://[::1]:5432", false},
		{"loopback http", strict, "discovery_url", "http://127.0.0.1:8080/.well-known/openid-configuration", false},
		{"loopback https", strict, "jwks_url", "https://127.0.0.1:8443/jwks", false},
		{"localhost http", strict, "issuer", "http://localhost:8080", false},
		{"plain http name", strict, "issuer", "http://idp.example.com", false},
		{"mapped v6 private", strict, "jwks_url", "https://[::ffff:10.0.0.1]/", false},
		{"loopback allowed", loop, "issuer", "http://127.0.0.1:8080", true},
		{"loopback allowed, jwks", loop, "jwks_url", "http://127.0.0.1:8080/jwks", true},
		{"loopback allowed, private still refused", loop, "jwks_url", "https://10.0.0.1/jwks", false},
		{"redirect uri loopback http", strict, "redirect_uri", "http://127.0.0.1:9999/callback", true},
		{"redirect uri localhost http", strict, "redirect_uri", "http://localhost/callback", true},
		{"redirect uri https", strict, "redirect_uri", "https://dash.example.com/cb", true},
		{"redirect uri plain http", strict, "redirect_uri", "http://dash.example.com/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, name, issuer := "x", "x", ok
			f := &IdPFields{ID: &id, Name: &name, Issuer: &issuer}
			switch tc.field {
			case "issuer":
				f.Issuer = &tc.url
			case "discovery_url":
				f.DiscoveryURL = &tc.url
			case "jwks_url":
				f.JWKSURL = &tc.url
			case "redirect_uri":
				f.RedirectURIs = &[]string{tc.url}
			}
			err := tc.svc.apply(&IdP{ID: id}, f, true)
			if tc.want {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ae := apierror.As(err)
			if ae == nil || ae.Code != http.StatusBadRequest {
				t.Fatalf("want 400, got %v", err)
			}
			field := tc.field
			if field == "redirect_uri" {
				field = "redirect_uris[0]"
			}
			if !strings.HasPrefix(ae.Message, "identity_provider."+field+": ") {
				t.Fatalf("message %q does not name the field", ae.Message)
			}
			t.Logf("%s", ae.Message)
		})
	}
}

// TestJWKSNeverReachesRefusedAddresses: a discovery document (on an
// allowed network) whose jwks_uri points inside, a redirect to loopback,
// and a name resolving to loopback: the JWT is refused and the internal
// listener sees no connection.
func TestJWKSNeverReachesRefusedAddresses(t *testing.T) {
	target := outboundtest.Listen(t, "127.0.0.1:0")
	port := target.Port()
	kit := newIssuerKit(t)
	var base string
	var served atomic.Int64
	base = outboundtest.Serve(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		jwksURI := map[string]string{
			"/inside-ip":   "http://127.0.0.1:" + port + "/jwks",
			"/inside-name": "https://localhost:" + port + "/jwks",
			"/inside-v6":   "http://[::1]:" + port + "/jwks",
			"/metadata":    "http://169.254.169.254/jwks",
			"/redirect":    base + "/302",
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			iss := base + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
			fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, iss, jwksURI[strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")])
		case r.URL.Path == "/302":
			http.Redirect(w, r, "http://127.0.0.1:"+port+"/jwks", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	only2 := outbound.New(outbound.Options{Timeout: 5 * time.Second, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	now := time.Now()
	svc := New(Options{HTTPClient: only2, Now: func() time.Time { return now }})
	for _, path := range []string{"/inside-ip", "/inside-name", "/inside-v6", "/metadata", "/redirect"} {
		iss := base + path
		p := &IdP{ID: path, Issuer: iss, DiscoveryURL: iss + "/.well-known/openid-configuration", Audiences: []string{"ks"}}
		raw := kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": iss, "aud": "ks", "exp": now.Add(time.Hour).Unix()})
		_, err := svc.VerifyJWT(context.Background(), p, raw)
		var r *outbound.RefusedError
		if !errors.As(err, &r) {
			t.Errorf("%s: want an outbound refusal, got %v", path, err)
		}
		t.Logf("%s: %v", path, err)
	}
	// A jwks_url written before this rule (or by a direct database edit)
	// is refused at dial time all the same.
	inside := "http://127.0.0.1:" + port + "/jwks"
	p := &IdP{ID: "direct", Issuer: "https://idp.example.com", JWKSURL: &inside, Audiences: []string{"ks"}}
	if _, err := svc.VerifyJWT(context.Background(), p, kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": p.Issuer, "aud": "ks", "exp": now.Add(time.Hour).Unix()})); err == nil {
		t.Error("jwks_url on loopback: verified")
	}
	if n := target.Connections(t); n != 0 {
		t.Errorf("the internal listener saw %d connections; want 0", n)
	}
	if served.Load() < 5 {
		t.Errorf("the allowed IdP served %d requests; the refusals must come after discovery", served.Load())
	}
	if kit.fetches.Load() != 0 {
		t.Errorf("the real JWKS was fetched %d times", kit.fetches.Load())
	}
}

// flakyJWKS serves the issuer kit's JWKS, or 503 while down.
func flakyJWKS(t *testing.T, kit *issuerKit, down *atomic.Bool, fetches *atomic.Int64) string {
	return outboundtest.Serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		kit.srv.Config.Handler.ServeHTTP(w, r)
	}))
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestJWKSFailingFetchIsNotRepeated: 50 concurrent logins against a
// failing JWKS cause one fetch; logins during the backoff cause none; the
// backoff doubles.
func TestJWKSFailingFetchIsNotRepeated(t *testing.T) {
	kit := newIssuerKit(t)
	var down atomic.Bool
	var fetches atomic.Int64
	down.Store(true)
	jwks := flakyJWKS(t, kit, &down, &fetches)
	clock := &fakeClock{t: time.Now()}
	svc := New(Options{HTTPClient: loopbackClient(), Now: clock.now})
	svc.jwks.now = clock.now
	p := &IdP{ID: "flaky", Issuer: "https://idp.example.com", JWKSURL: &jwks, Audiences: []string{"ks"}}
	raw := kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": p.Issuer, "aud": "ks", "exp": clock.now().Add(time.Hour).Unix()})

	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.VerifyJWT(context.Background(), p, raw); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 50 {
		t.Fatalf("%d of 50 logins failed; want all", failed.Load())
	}
	// Logins that overlapped the fetch waited for its result; logins
	// after it fell in its backoff (the clock stands still).
	if n := fetches.Load(); n != 1 {
		t.Fatalf("50 logins against a failing JWKS made %d fetches; want 1", n)
	}
	// Within the backoff (1s): no fetch.
	clock.add(900 * time.Millisecond)
	if _, err := svc.VerifyJWT(context.Background(), p, raw); err == nil || !strings.Contains(err.Error(), "next attempt in") {
		t.Fatalf("during the backoff: %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("a login during the backoff fetched (%d fetches)", n)
	}
	// After it: one more fetch, then a 2s backoff.
	clock.add(200 * time.Millisecond)
	svc.VerifyJWT(context.Background(), p, raw)
	clock.add(1500 * time.Millisecond)
	svc.VerifyJWT(context.Background(), p, raw)
	if n := fetches.Load(); n != 2 {
		t.Fatalf("after 1.1s and 2.6s: %d fetches; want 2 (backoff 1s, then 2s)", n)
	}
	// The IdP is back: after the backoff the next login fetches and works.
	down.Store(false)
	clock.add(time.Second)
	if _, err := svc.VerifyJWT(context.Background(), p, raw); err != nil {
		t.Fatalf("IdP back: %v", err)
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches; want 3", n)
	}
}

// TestJWKSStaleKeys: after the cache TTL, while the IdP is down, the last
// good keys verify for jwks_stale_ttl, and not after.
func TestJWKSStaleKeys(t *testing.T) {
	kit := newIssuerKit(t)
	var down atomic.Bool
	var fetches atomic.Int64
	jwks := flakyJWKS(t, kit, &down, &fetches)
	clock := &fakeClock{t: time.Now()}
	for _, tc := range []struct {
		name     string
		staleTTL time.Duration
		at       time.Duration // after the first fetch
		ok       bool
	}{
		{"fresh", time.Hour, 5 * time.Minute, true},
		{"just past the TTL", time.Hour, 11 * time.Minute, true},
		{"within the stale TTL", time.Hour, 69 * time.Minute, true},
		{"past the stale TTL", time.Hour, 71 * time.Minute, false},
		{"stale keys off", -1, 11 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down.Store(false)
			svc := New(Options{HTTPClient: loopbackClient(), Now: clock.now, JWKSCacheTTL: 10 * time.Minute, JWKSStaleTTL: tc.staleTTL})
			svc.jwks.now = clock.now
			p := &IdP{ID: "idp", Issuer: "https://idp.example.com", JWKSURL: &jwks, Audiences: []string{"ks"}}
			sign := func() string {
				return kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": p.Issuer, "aud": "ks", "exp": clock.now().Add(time.Hour).Unix()})
			}
			if _, err := svc.VerifyJWT(context.Background(), p, sign()); err != nil {
				t.Fatal(err)
			}
			down.Store(true)
			clock.add(tc.at)
			before := fetches.Load()
			// Twice: the second is in the backoff of the first's failure.
			for i := range 2 {
				_, err := svc.VerifyJWT(context.Background(), p, sign())
				if (err == nil) != tc.ok {
					t.Fatalf("login %d at +%s (stale TTL %s): %v; want ok=%v", i, tc.at, tc.staleTTL, err, tc.ok)
				}
			}
			wantFetches := int64(1)
			if tc.at < 10*time.Minute {
				wantFetches = 0
			}
			if n := fetches.Load() - before; n != wantFetches {
				t.Fatalf("%d fetches; want %d", n, wantFetches)
			}
			// A kid the stale keys lack is refused, not looked up again.
			if tc.ok && tc.at > 10*time.Minute {
				other := kit.sign(t, jose.ES256, kit.ec, "unknown", map[string]any{"iss": p.Issuer, "aud": "ks", "exp": clock.now().Add(time.Hour).Unix()})
				if _, err := svc.VerifyJWT(context.Background(), p, other); err == nil {
					t.Fatal("unknown kid verified with stale keys")
				}
			}
		})
	}
}
