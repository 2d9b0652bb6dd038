package httpapi

import (
	"context"
	"encoding/json"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
	"github.com/keystone-ng/keystone-ng/pkg/ratelimit"
)

// limitPasskeys counts the login starts that reached the service (a
// refused request must not).
type limitPasskeys struct {
	PasskeyService
	begins atomic.Int32
}

func (p *limitPasskeys) BeginLogin(context.Context, *passkey.UserRef) (*passkey.Begun, error) {
	p.begins.Add(1)
	return &passkey.Begun{CeremonyID: "c", Options: map[string]any{}}, nil
}

// limitFederation has every route registered (OIDC too) and counts the
// JWT logins that reached it.
type limitFederation struct {
	FederationService
	jwts atomic.Int32
}

// refusedLogin is an authenticator that refuses.
type refusedLogin struct{}

func (refusedLogin) Authenticate(context.Context) (*login.Attempt, error) {
	return nil, apierror.Unauthorized()
}

func (f *limitFederation) JWT(string, string, string) login.Authenticator {
	f.jwts.Add(1)
	return refusedLogin{}
}
func (f *limitFederation) ListIdPs(context.Context, federation.IdPFilter) ([]*federation.IdP, error) {
	return nil, nil
}
func (f *limitFederation) OIDCProvider(context.Context, string) (oidcflow.Provider, error) {
	return oidcflow.Provider{}, apierror.NotFound("no such identity provider")
}

type noStates struct{ oidcflow.StateStore }

// limitServiceAccounts registers the service account routes; no handler
// runs in these tests.
type limitServiceAccounts struct{ ServiceAccountService }

func limitServer(t *testing.T, perMinute, burst int, proxies ...string) (*Server, *limitPasskeys, *limitFederation) {
	t.Helper()
	flow, err := oidcflow.New(oidcflow.Config{Store: noStates{}})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ratelimit.ParseProxies(proxies)
	if err != nil {
		t.Fatal(err)
	}
	pk, fed := &limitPasskeys{}, &limitFederation{}
	s := &Server{
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:        NewMetrics(nil),
		V4:             &V4{Passkeys: pk, Federation: fed, ServiceAccounts: limitServiceAccounts{}, OIDC: flow, Logins: &login.Pipeline{}},
		TrustedProxies: tp,
		LoginLimiter:   ratelimit.New(perMinute, burst, 0),
	}
	return s, pk, fed
}

func limitCall(t *testing.T, h http.Handler, method, path, peer, xff string) *httptest.ResponseRecorder {
	t.Helper()
	body := ""
	if method == http.MethodPost {
		body = "{}"
	}
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = peer
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Every route of the limited table is a route the router really has (a
// renamed route would silently lose its limit), and it is unauthenticated.
func TestRateLimitedRoutesExist(t *testing.T) {
	s, _, _ := limitServer(t, 30, 10)
	have := map[string]bool{}
	for _, r := range s.Echo().Routes() {
		have[r.Method+" "+r.Path] = true
	}
	for k := range rateLimitedRoutes {
		if !have[k] {
			t.Errorf("limited route %q is not registered", k)
		}
	}
	for _, tc := range []struct {
		method, route string
		want          bool
	}{
		{"POST", "/v4/auth/passkey/start", true},
		{"GET", "/v4/auth/passkey/start", false},
		{"POST", "/v4/federation/identity_providers/:idp_id/jwt", true},
		{"GET", "/v4/federation/oidc/callback", true},
		{"GET", "/v4/login/identity_providers", false},
		{"POST", "/v4/users/:user_id/passkeys/register/start", false},
		{"GET", "/v3/auth/tokens", false},
	} {
		if got := rateLimited(tc.method, tc.route); got != tc.want {
			t.Errorf("rateLimited(%s %s) = %v, want %v", tc.method, tc.route, got, tc.want)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	s, pk, fed := limitServer(t, 30, 30, "127.0.0.1/32")
	h := s.Echo()
	const client = "192.0.2.10:40000"
	for i := range 30 {
		if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", client, ""); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	// The 31st and later: 429 in Keystone's shape with Retry-After, and
	// the handler does not run.
	for i := 31; i <= 35; i++ {
		w := limitCall(t, h, "POST", "/v4/auth/passkey/start", client, "")
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("request %d: %d, want 429", i, w.Code)
		}
		if ra := w.Header().Get("Retry-After"); ra != "2" && ra != "1" {
			t.Fatalf("Retry-After %q, want 1 or 2 (one token every 2s)", ra)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %s: %v", w.Body, err)
		}
		keystoneError(t, m, http.StatusTooManyRequests, "Too many login requests from this client; retry after the time given in Retry-After.")
	}
	if n := pk.begins.Load(); n != 30 {
		t.Fatalf("%d login starts reached the service, want 30", n)
	}
	// One bucket for all login routes of the client: JWT login refused
	// too, without reaching the service.
	if w := limitCall(t, h, "POST", "/v4/federation/identity_providers/x/jwt", client, ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("JWT login: %d, want 429", w.Code)
	}
	if fed.jwts.Load() != 0 {
		t.Fatal("a refused JWT login reached the service")
	}
	// Non-limited routes are unaffected.
	if w := limitCall(t, h, "GET", "/v4/login/identity_providers", client, ""); w.Code != http.StatusOK {
		t.Fatalf("public IdP list: %d", w.Code)
	}
	if w := limitCall(t, h, "GET", "/healthz", client, ""); w.Code != http.StatusOK {
		t.Fatalf("healthz: %d", w.Code)
	}
	// Other clients are unaffected...
	if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", "192.0.2.11:40000", ""); w.Code != http.StatusOK {
		t.Fatalf("another client: %d", w.Code)
	}
	// ...even when the limited one sends X-Forwarded-For directly (it is
	// not a trusted proxy, so the header is ignored)...
	if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", client, "198.51.100.77"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", w.Code)
	}
	// ...and clients behind the trusted proxy are told apart by it.
	for i := range 30 {
		if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", "127.0.0.1:5000", "198.51.100.1"); w.Code != http.StatusOK {
			t.Fatalf("proxied client A request %d: %d", i+1, w.Code)
		}
	}
	if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", "127.0.0.1:5000", "198.51.100.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("proxied client A over the limit: %d", w.Code)
	}
	if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", "127.0.0.1:5000", "198.51.100.2"); w.Code != http.StatusOK {
		t.Fatalf("proxied client B: %d", w.Code)
	}
	// Refusals are counted per route.
	if got := rateLimitedCount(t, s.Metrics, "/v4/auth/passkey/start"); got != 7 {
		t.Fatalf("keystone_ng_rate_limited_total{route=passkey start} = %v, want 7", got)
	}
	if got := rateLimitedCount(t, s.Metrics, "/v4/federation/identity_providers/:idp_id/jwt"); got != 1 {
		t.Fatalf("keystone_ng_rate_limited_total{route=jwt} = %v, want 1", got)
	}
}

func TestLoginRateLimitOff(t *testing.T) {
	s, pk, _ := limitServer(t, 0, 10)
	h := s.Echo()
	for i := range 100 {
		if w := limitCall(t, h, "POST", "/v4/auth/passkey/start", "192.0.2.10:1", ""); w.Code != http.StatusOK {
			t.Fatalf("request %d with login_rate_limit = 0: %d", i+1, w.Code)
		}
	}
	if pk.begins.Load() != 100 {
		t.Fatalf("%d starts reached the service", pk.begins.Load())
	}
}

// rateLimitedCount reads keystone_ng_rate_limited_total{route} from the
// registry, as /metrics exports it.
func rateLimitedCount(t *testing.T, m *Metrics, route string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "keystone_ng_rate_limited_total" {
			continue
		}
		for _, x := range mf.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					return x.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
