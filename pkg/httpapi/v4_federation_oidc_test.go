package httpapi

// End to end: the OIDC login routes against a real OpenID provider
// (zitadel/oidc's example op, in process), the real federation service
// and oidcflow state store on every database backend.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

const opPassword = "verysecure"

type opUsers struct{}

var opAlice = &storage.User{ID: "alice", Username: "alice", Password: opPassword, FirstName: "Alice", LastName: "L",
	Email: "alice@example.org", EmailVerified: true, PreferredLanguage: language.English}

func (opUsers) GetUserByID(id string) *storage.User {
	if id == "alice" {
		return opAlice
	}
	return nil
}
func (opUsers) GetUserByUsername(n string) *storage.User { return opUsers{}.GetUserByID(n) }
func (opUsers) ExampleClientID() string                  { return "service" }

// startTestOP runs the example op; tokenCalls (when non-nil) counts the
// requests to its token endpoint.
func startTestOP(t *testing.T, clients map[string]*storage.Client, tokenCalls *atomic.Int64) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	op := exampleop.SetupServer(issuer, storage.NewStorageWithClients(opUsers{}, clients), slog.New(slog.DiscardHandler), false)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tokenCalls != nil && r.Method == http.MethodPost && r.URL.Path == "/oauth/token" {
			tokenCalls.Add(1)
		}
		op.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// opLogin follows authURL through the op's login form; it returns the
// URL the op redirects to (prefix redirectPrefix) without following it.
func opLogin(t *testing.T, issuer, authURL, redirectPrefix string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var final *url.URL
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectPrefix) {
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
	resp, err = c.PostForm(issuer+"/login/username", url.Values{"username": {"alice"}, "password": {opPassword}, "id": {id}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if final == nil {
		t.Fatalf("login did not redirect back: %s", resp.Status)
	}
	return final
}

// fedPythonTables creates Python's tables (the shared stand-in of
// storetest.PythonTables) and the rows these tests start from.
func fedPythonTables(t *testing.T, b *storetest.Backend) {
	storetest.CreatePythonTables(t, b)
	group := storetest.QuoteIdent(b.Name, "group")
	for _, s := range []string{
		`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`,
		`INSERT INTO project (id, name, extra, enabled, domain_id, parent_id, is_domain) VALUES ('p1', 'app', '{}', TRUE, 'd1', 'd1', FALSE)`,
		`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-member', 'member', '{}', '<<null>>')`,
		`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g1', 'd1', 'deployers')`,
	} {
		if _, err := b.DB.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

var oidcCounted = []string{"federated_user", "expiring_user_group_membership", "assignment", "ng_federation_grant"}

func oidcCounts(t *testing.T, b *storetest.Backend) map[string]int {
	out := map[string]int{}
	for _, tb := range oidcCounted {
		out[tb] = storetest.Count(t, b.DB, tb)
	}
	return out
}

type testClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.d) }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

type oidcEnv struct {
	b       *storetest.Backend
	ng      string // keystone-ng base URL
	op, dop string // code-flow and device issuers
	idp     string
	devIdP  string
	clock   *testClock
	svc     *federation.Service
	// tokenCalls counts the code-flow op's token endpoint requests;
	// logins counts the claims logins that reached the federation
	// service (mapping and provisioning).
	tokenCalls atomic.Int64
	logins     atomic.Int64
}

// countingFederation is the federation service, counting the logins
// that reach the mapping and provisioning.
type countingFederation struct {
	*federation.Service
	logins *atomic.Int64
}

func (f countingFederation) Claims(idpID string, claims map[string]any, mappingName string) login.Authenticator {
	f.logins.Add(1)
	return f.Service.Claims(idpID, claims, mappingName)
}

// pageOnlyPasskeys stands in for the passkey service so that the login
// page (and its fragment hand-over) is served; no passkey route is used.
type pageOnlyPasskeys struct{ PasskeyService }

const dashboard = "https://horizon.example.com/auth/websso/"

func newOIDCEnv(t *testing.T, b *storetest.Backend) *oidcEnv {
	ctx := context.Background()
	fedPythonTables(t, b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := &oidcEnv{b: b, ng: "http://" + l.Addr().String(), clock: &testClock{}}
	env.op = startTestOP(t, map[string]*storage.Client{
		"web": storage.WebClient("web", "web-secret", env.ng+oidcCallbackPath, "http://127.0.0.1:43123/callback"),
	}, &env.tokenCalls)
	env.dop = startTestOP(t, map[string]*storage.Client{"device": storage.DeviceClient("device", "device-secret")}, nil)
	// The test's identity providers listen on loopback: allowed
	// explicitly, as an operator would ([keystone_ng]
	// outbound_allowed_networks).
	hc := outbound.New(outbound.Options{Timeout: 5 * time.Second, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	flow, err := oidcflow.New(oidcflow.Config{Store: sqlstore.New(b.DB), HTTPClient: hc, Now: env.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := fernet.NewKeySet("xKSbOjKeoFqcuDzVmnNOqCNmA9DbYXUIfaSYp3CgxwQ=")
	if err != nil {
		t.Fatal(err)
	}
	svc := federation.New(federation.Options{DB: b.DB, Secrets: ks, HTTPClient: hc})
	env.svc = svc
	str := func(s string) *string { return &s }
	d1 := "d1"
	mk := func(prefix, name, issuer, client, secret string, redirects []string) string {
		p, err := svc.CreateIdP(ctx, &federation.IdPFields{Name: str(name), DomainID: &d1, Issuer: str(issuer), ClientID: str(client),
			ClientSecret: str(secret), RedirectURIs: &redirects, DefaultMapping: str("login")})
		if err != nil {
			t.Fatalf("create IdP: %v", err)
		}
		if _, err := svc.CreateMapping(ctx, p, "login", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "alice"}],
			"user": {"name": "`+prefix+`-{sub}", "unique_id": "`+prefix+`-{sub}"}, "groups": [{"id": "g1"}], "scope": {"project": {"id": "p1"}}}]`)); err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	env.idp = mk("web", "web", env.op, "web", "web-secret", []string{env.ng + oidcCallbackPath, "http://127.0.0.1/callback"})
	env.devIdP = mk("dev", "dev", env.dop, "device", "device-secret", nil)

	mem := &tokentest.MemStore{
		Users:    map[string]*keystone.User{},
		Projects: map[string]*keystone.Project{"d1": {ID: "d1", Name: "ci", Enabled: true, IsDomain: true}, "p1": {ID: "p1", Name: "app", DomainID: "d1", ParentID: "d1", Enabled: true}},
		Grants:   []keystone.Assignment{{Type: "GroupProject", ActorID: "g1", TargetID: "p1", RoleID: "r-member", RoleName: "member"}},
	}
	for _, u := range []string{"web-alice", "dev-alice"} {
		id := federation.ShadowUserID("d1", u)
		mem.Users[id] = &keystone.User{ID: id, Name: u, DomainID: "d1", Enabled: true}
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	codec := &payload.Codec{Methods: []string{"password", "token", "mapped", "external"}}
	v := &token.Validator{Keys: ks, Codec: codec, Store: mem, Now: time.Now, Log: log, Settings: token.Settings{ReturnAllEndpointsIfNoFilter: true}}
	issuer := &issue.Issuer{Keys: ks, Codec: codec, Validator: v, Expiration: time.Hour}
	s := &Server{Validator: v, Log: log, V4: &V4{
		Logins:     &login.Pipeline{Users: &identity.Checker{Dir: store.NewReader(b.DB)}, Issuer: issuer, Log: log},
		Federation: countingFederation{Service: svc, logins: &env.logins}, Passkeys: pageOnlyPasskeys{},
		OIDC: flow, TrustedDashboards: []string{dashboard}}}
	srv := httptest.NewUnstartedServer(s.Echo())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return env
}

var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *oidcEnv) do(t *testing.T, method, path, body string) (*http.Response, map[string]any, string) {
	t.Helper()
	return e.doCookie(t, method, path, body, "")
}

// doCookie is do with a __Host-ksng-login cookie (when not "").
func (e *oidcEnv) doCookie(t *testing.T, method, path, body, cookie string) (*http.Response, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.ng+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: loginCookieName, Value: cookie})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp, m, string(raw)
}

func federatedToken(t *testing.T, resp *http.Response, m map[string]any) {
	t.Helper()
	if resp.StatusCode != 201 || resp.Header.Get("X-Subject-Token") == "" {
		t.Fatalf("want 201 token, got %d %v", resp.StatusCode, m)
	}
	tok := m["token"].(map[string]any)
	user := tok["user"].(map[string]any)
	fed, _ := user["OS-FEDERATION"].(map[string]any)
	if fed == nil || tok["methods"].([]any)[0] != "mapped" || tok["project"].(map[string]any)["id"] != "p1" || tok["catalog"] == nil {
		t.Fatalf("not a federated project token: %v", tok)
	}
}

// browserStart is GET .../login?query as a browser: it checks the login
// cookie's attributes and returns its value and the IdP URL.
func (e *oidcEnv) browserStart(t *testing.T, query string) (cookie, location string) {
	t.Helper()
	resp, _, raw := e.do(t, "GET", "/v4/federation/identity_providers/"+e.idp+"/login"+query, "")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == loginCookieName {
			ck = c
		}
	}
	sc := resp.Header.Get("Set-Cookie")
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode ||
		ck.MaxAge <= 0 || len(ck.Value) != 43 || strings.Contains(strings.ToLower(sc), "domain=") {
		t.Fatalf("login cookie: %q", sc)
	}
	return ck.Value, resp.Header.Get("Location")
}

// browserCallback runs the op's login for a browser login and returns
// the callback's query.
func (e *oidcEnv) browserCallback(t *testing.T, query string) (cookie, callbackQuery string) {
	t.Helper()
	cookie, loc := e.browserStart(t, query)
	return cookie, opLogin(t, e.op, loc, e.ng+oidcCallbackPath).RawQuery
}

// pkcePair is a client's RFC 7636 verifier and S256 challenge.
func pkcePair() (verifier, challenge string) {
	verifier = oidcflow.RandomID() // 43 base64url characters
	return verifier, s256(verifier)
}

// apiCallback starts an API login (POST .../auth with the challenge) and
// returns the (state, code) the op redirects the loopback listener with.
func (e *oidcEnv) apiCallback(t *testing.T, challenge string) (state, code string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"redirect_uri": "http://127.0.0.1:43123/callback", "code_challenge": challenge, "code_challenge_method": "S256"})
	resp, m, raw := e.do(t, "POST", "/v4/federation/identity_providers/"+e.idp+"/auth", string(body))
	if resp.StatusCode != 200 {
		t.Fatalf("auth: %d %s", resp.StatusCode, raw)
	}
	back := opLogin(t, e.op, m["authorization_url"].(string), "http://127.0.0.1:43123/callback")
	return back.Query().Get("state"), back.Query().Get("code")
}

// refusedUntouched checks a refused callback: Keystone's 401, no call to
// the token endpoint, no mapping or provisioning, no rows written, and
// the state consumed (the same callback again is 400).
func (e *oidcEnv) refusedUntouched(t *testing.T, m map[string]any, again func() map[string]any, before map[string]int, calls, logins int64) {
	t.Helper()
	keystoneError(t, m, 401, "The request you have made requires authentication.")
	if n := e.tokenCalls.Load(); n != calls {
		t.Fatalf("the token endpoint was called %d times by a refused callback", n-calls)
	}
	if n := e.logins.Load(); n != logins {
		t.Fatalf("the claims login ran %d times for a refused callback", n-logins)
	}
	if got := oidcCounts(t, e.b); !equalCounts(got, before) {
		t.Fatalf("refused callback wrote rows: %v -> %v", before, got)
	}
	keystoneError(t, again(), 400, "The login is unknown, expired or already completed; start again.")
}

func TestOIDCLoginHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		e := newOIDCEnv(t, b)
		base := "/v4/federation/identity_providers/"

		t.Run("API flow with a loopback redirect", func(t *testing.T) {
			verifier, challenge := pkcePair()
			state, code := e.apiCallback(t, challenge)
			body, _ := json.Marshal(map[string]string{"state": state, "code": code, "code_verifier": verifier})
			resp, m, _ := e.do(t, "POST", oidcCallbackPath, string(body))
			federatedToken(t, resp, m)
			// Replay: the state is gone.
			before := oidcCounts(t, b)
			resp, m, _ = e.do(t, "POST", oidcCallbackPath, string(body))
			keystoneError(t, m, 400, "")
			if got := oidcCounts(t, b); !equalCounts(got, before) {
				t.Fatalf("replay wrote rows: %v -> %v", before, got)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			before := oidcCounts(t, b)
			_, challenge := pkcePair()
			pkce := `, "code_challenge": "` + challenge + `", "code_challenge_method": "S256"}`
			_, m, _ := e.do(t, "POST", base+e.idp+"/auth", `{"redirect_uri": "http://127.0.0.2:43123/callback"`+pkce)
			keystoneError(t, m, 400, "The redirect URI is not registered for this identity provider.")
			_, m, _ = e.do(t, "POST", base+e.idp+"/auth", `{"redirect_uri": "https://evil.example/callback"`+pkce)
			keystoneError(t, m, 400, "")
			_, m, _ = e.do(t, "POST", base+"nope/auth", `{"redirect_uri": "http://127.0.0.1:1/callback"`+pkce)
			keystoneError(t, m, 404, "")
			_, m, _ = e.do(t, "GET", base+e.idp+"/login?origin="+url.QueryEscape("https://evil.example/"), "")
			keystoneError(t, m, 400, "")
			_, m, _ = e.do(t, "GET", base+e.idp+"/login?page_nonce=short", "")
			keystoneError(t, m, 400, "")
			// The identity provider refuses: 401, state consumed.
			cookie, loc := e.browserStart(t, "")
			st := mustURL(t, loc).Query().Get("state")
			_, m, _ = e.doCookie(t, "GET", oidcCallbackPath+"?error=access_denied&state="+st, "", cookie)
			keystoneError(t, m, 401, "The request you have made requires authentication.")
			_, m, _ = e.doCookie(t, "GET", oidcCallbackPath+"?code=x&state="+st, "", cookie)
			keystoneError(t, m, 400, "")
			if got := oidcCounts(t, b); !equalCounts(got, before) {
				t.Fatalf("refusals wrote rows: %v -> %v", before, got)
			}
		})

		t.Run("claims that match no mapping", func(t *testing.T) {
			ctx := context.Background()
			p, err := e.svc.GetIdP(ctx, e.idp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UpdateMapping(ctx, p, "login", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "bob"}], "user": {"name": "x"}}]`)); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := e.svc.UpdateMapping(ctx, p, "login", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "alice"}],
					"user": {"name": "web-{sub}", "unique_id": "web-{sub}"}, "groups": [{"id": "g1"}], "scope": {"project": {"id": "p1"}}}]`)); err != nil {
					t.Fatal(err)
				}
			}()
			before := oidcCounts(t, b)
			cookie, cb := e.browserCallback(t, "")
			_, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", cookie)
			keystoneError(t, m, 401, "The request you have made requires authentication.")
			if got := oidcCounts(t, b); !equalCounts(got, before) {
				t.Fatalf("refused login wrote rows: %v -> %v", before, got)
			}
		})

		t.Run("issuer refuses after provisioning: undone", func(t *testing.T) {
			// A new shadow user mapped with a project scope but no role on
			// it: the mapping provisions, then the issuer refuses the token
			// (Python: no role on the project), and every provisioned row is
			// removed again (issue 14, finding 6).
			ctx := context.Background()
			p, err := e.svc.GetIdP(ctx, e.idp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UpdateMapping(ctx, p, "login", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "alice"}],
				"user": {"name": "roleless-{sub}", "unique_id": "roleless-{sub}"}, "scope": {"project": {"id": "p1"}}}]`)); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := e.svc.UpdateMapping(ctx, p, "login", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "alice"}],
					"user": {"name": "web-{sub}", "unique_id": "web-{sub}"}, "groups": [{"id": "g1"}], "scope": {"project": {"id": "p1"}}}]`)); err != nil {
					t.Fatal(err)
				}
			}()
			before := oidcCounts(t, b)
			users := storetest.Count(t, b.DB, storetest.QuoteIdent(b.Name, "user"))
			cookie, cb := e.browserCallback(t, "")
			resp, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", cookie)
			if resp.StatusCode < 400 {
				t.Fatalf("a token without any role on its project was issued: %d %v", resp.StatusCode, m)
			}
			if got := oidcCounts(t, b); !equalCounts(got, before) {
				t.Fatalf("refused login left rows: %v -> %v", before, got)
			}
			if n := storetest.Count(t, b.DB, storetest.QuoteIdent(b.Name, "user")); n != users {
				t.Fatalf("the shadow user of a refused login was left: %d -> %d users", users, n)
			}
		})

		t.Run("IdP disabled or without client", func(t *testing.T) {
			ctx := context.Background()
			off := false
			p, err := e.svc.GetIdP(ctx, e.devIdP)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UpdateIdP(ctx, p, &federation.IdPFields{Enabled: &off}); err != nil {
				t.Fatal(err)
			}
			_, m, _ := e.do(t, "POST", base+e.devIdP+"/device", `{}`)
			keystoneError(t, m, 401, "")
			_, m, _ = e.do(t, "GET", base+e.devIdP+"/login", "")
			keystoneError(t, m, 401, "")
			on, empty := true, ""
			p, _ = e.svc.GetIdP(ctx, e.devIdP)
			if _, err := e.svc.UpdateIdP(ctx, p, &federation.IdPFields{Enabled: &on, ClientID: &empty, ClientSecret: &empty}); err != nil {
				t.Fatal(err)
			}
			_, ch := pkcePair()
			_, m, _ = e.do(t, "POST", base+e.devIdP+"/auth", `{"redirect_uri": "http://127.0.0.1:1/callback", "code_challenge": "`+ch+`", "code_challenge_method": "S256"}`)
			keystoneError(t, m, 400, "")
			id, sec := "device", "device-secret"
			p, _ = e.svc.GetIdP(ctx, e.devIdP)
			if _, err := e.svc.UpdateIdP(ctx, p, &federation.IdPFields{ClientID: &id, ClientSecret: &sec}); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("browser flow to a trusted dashboard", func(t *testing.T) {
			cookie, loc := e.browserStart(t, "?origin="+url.QueryEscape(dashboard))
			if mustURL(t, loc).Query().Get("redirect_uri") != e.ng+oidcCallbackPath {
				t.Fatalf("redirect_uri of %s", loc)
			}
			back := opLogin(t, e.op, loc, e.ng+oidcCallbackPath)
			resp, _, raw := e.doCookie(t, "GET", oidcCallbackPath+"?"+back.RawQuery, "", cookie)
			if resp.StatusCode != 200 || !strings.Contains(raw, `action="`+dashboard+`"`) || !strings.Contains(raw, `name="token" value="gAAAA`) ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self' https://horizon.example.com") {
				t.Fatalf("dashboard page: %d %v %s", resp.StatusCode, resp.Header, raw)
			}
			// Nothing reaches the dashboard without a click: no script
			// (the CSP allows none inline), a button naming the
			// dashboard, and who signed in.
			for _, want := range []string{`<button type="submit" id="dashboard-continue">Continue to https://horizon.example.com</button>`,
				`<strong id="whoami-user">web-alice</strong>`, `<strong id="whoami-domain">ci</strong>`} {
				if !strings.Contains(raw, want) {
					t.Errorf("dashboard page lacks %s:\n%s", want, raw)
				}
			}
			if strings.Contains(strings.ToLower(raw), "<script") || strings.Contains(raw, "autopost") || strings.Contains(raw, "onload") {
				t.Fatalf("dashboard page may submit by itself:\n%s", raw)
			}
			resp, _, _ = e.do(t, "GET", "/v4/federation/oidc/autopost.js", "")
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("autopost.js still served: %d", resp.StatusCode)
			}
		})

		t.Run("browser flow without dashboard", func(t *testing.T) {
			cookie, cb := e.browserCallback(t, "")
			resp, _, raw := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", cookie)
			if resp.StatusCode != 200 || !strings.Contains(raw, "gAAAA") || resp.Header.Get("Location") != "" {
				t.Fatalf("token page: %d %s", resp.StatusCode, raw)
			}
		})

		// A login started by the login page (with its one-time nonce) goes
		// back to the page with the token and that nonce in the fragment.
		t.Run("browser flow from the login page", func(t *testing.T) {
			nonce := oidcflow.RandomID()
			cookie, cb := e.browserCallback(t, "?page_nonce="+nonce)
			resp, _, raw := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", cookie)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback: %d %s", resp.StatusCode, raw)
			}
			loc := mustURL(t, resp.Header.Get("Location"))
			frag, err := url.ParseQuery(loc.Fragment)
			if err != nil || loc.Path != "/v4/login" || loc.RawQuery != "" || frag.Get("nonce") != nonce || !strings.HasPrefix(frag.Get("token"), "gAAAA") {
				t.Fatalf("callback redirect %s", loc)
			}
		})

		// Login CSRF: a callback brought by a browser that did not start
		// the login (no cookie, another cookie) is refused before the code
		// is exchanged.
		t.Run("browser callback bound to the cookie", func(t *testing.T) {
			for _, c := range []struct{ name, cookie string }{
				{"no cookie", ""},
				{"another browser's cookie", oidcflow.RandomID()},
				{"malformed cookie", "x"},
			} {
				t.Run(c.name, func(t *testing.T) {
					_, cb := e.browserCallback(t, "")
					before, calls, logins := oidcCounts(t, b), e.tokenCalls.Load(), e.logins.Load()
					_, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", c.cookie)
					e.refusedUntouched(t, m, func() map[string]any {
						_, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", c.cookie)
						return m
					}, before, calls, logins)
				})
			}
			// The same browser finishes two logins started in two tabs:
			// the second start reuses the cookie.
			cookie, loc1 := e.browserStart(t, "")
			req, _ := http.NewRequest("GET", e.ng+base+e.idp+"/login", nil)
			req.AddCookie(&http.Cookie{Name: loginCookieName, Value: cookie})
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if cks := resp.Cookies(); len(cks) != 1 || cks[0].Value != cookie {
				t.Fatalf("second login set %v, want the same cookie", cks)
			}
			for _, loc := range []string{resp.Header.Get("Location"), loc1} {
				back := opLogin(t, e.op, loc, e.ng+oidcCallbackPath)
				if resp, _, raw := e.doCookie(t, "GET", oidcCallbackPath+"?"+back.RawQuery, "", cookie); resp.StatusCode != 200 {
					t.Fatalf("callback: %d %s", resp.StatusCode, raw)
				}
			}
		})

		// The CLI holds its PKCE verifier: (state, code) alone is useless.
		t.Run("API callback bound to the code_verifier", func(t *testing.T) {
			for _, c := range []struct {
				name     string
				verifier func(good string) string
			}{
				{"no code_verifier", func(string) string { return "" }},
				{"another code_verifier", func(string) string { v, _ := pkcePair(); return v }},
				{"the challenge as verifier", func(good string) string { return s256(good) }},
				{"too short", func(good string) string { return good[:42] }},
			} {
				t.Run(c.name, func(t *testing.T) {
					verifier, challenge := pkcePair()
					state, code := e.apiCallback(t, challenge)
					body := map[string]string{"state": state, "code": code}
					if v := c.verifier(verifier); v != "" {
						body["code_verifier"] = v
					}
					raw, _ := json.Marshal(body)
					before, calls, logins := oidcCounts(t, b), e.tokenCalls.Load(), e.logins.Load()
					_, m, _ := e.do(t, "POST", oidcCallbackPath, string(raw))
					e.refusedUntouched(t, m, func() map[string]any {
						good, _ := json.Marshal(map[string]string{"state": state, "code": code, "code_verifier": verifier})
						_, m, _ := e.do(t, "POST", oidcCallbackPath, string(good))
						return m
					}, before, calls, logins)
				})
			}
		})

		t.Run("auth requires an S256 code_challenge", func(t *testing.T) {
			_, challenge := pkcePair()
			for _, c := range []struct{ name, body, msg string }{
				{"none", `{"redirect_uri": "http://127.0.0.1:43123/callback"}`, "Expecting to find code_challenge in request body."},
				{"plain", `{"redirect_uri": "http://127.0.0.1:43123/callback", "code_challenge": "` + challenge + `", "code_challenge_method": "plain"}`, "code_challenge_method must be S256."},
				{"no method", `{"redirect_uri": "http://127.0.0.1:43123/callback", "code_challenge": "` + challenge + `"}`, "code_challenge_method must be S256."},
				{"malformed", `{"redirect_uri": "http://127.0.0.1:43123/callback", "code_challenge": "abc", "code_challenge_method": "S256"}`, ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					_, m, _ := e.do(t, "POST", base+e.idp+"/auth", c.body)
					keystoneError(t, m, 400, c.msg)
				})
			}
		})

		// A state started by one flow is refused at the other's callback.
		t.Run("flows do not cross", func(t *testing.T) {
			verifier, challenge := pkcePair()
			state, code := e.apiCallback(t, challenge)
			before, calls, logins := oidcCounts(t, b), e.tokenCalls.Load(), e.logins.Load()
			cookie := oidcflow.RandomID()
			_, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+url.Values{"state": {state}, "code": {code}}.Encode(), "", cookie)
			good, _ := json.Marshal(map[string]string{"state": state, "code": code, "code_verifier": verifier})
			e.refusedUntouched(t, m, func() map[string]any {
				_, m, _ := e.do(t, "POST", oidcCallbackPath, string(good))
				return m
			}, before, calls, logins)

			cookie, cb := e.browserCallback(t, "")
			q, _ := url.ParseQuery(cb)
			// Even with a verifier: a browser login has no challenge.
			raw, _ := json.Marshal(map[string]string{"state": q.Get("state"), "code": q.Get("code"), "code_verifier": verifier})
			before, calls, logins = oidcCounts(t, b), e.tokenCalls.Load(), e.logins.Load()
			_, m, _ = e.do(t, "POST", oidcCallbackPath, string(raw))
			e.refusedUntouched(t, m, func() map[string]any {
				_, m, _ := e.doCookie(t, "GET", oidcCallbackPath+"?"+cb, "", cookie)
				return m
			}, before, calls, logins)
		})

		t.Run("device flow", func(t *testing.T) {
			resp, m, raw := e.do(t, "POST", base+e.devIdP+"/device", `{}`)
			if resp.StatusCode != 200 || m["user_code"] == "" || m["verification_uri"] == "" {
				t.Fatalf("device: %d %s", resp.StatusCode, raw)
			}
			dc, _ := json.Marshal(map[string]any{"device_code": m["device_code"]})
			resp, m, _ = e.do(t, "POST", "/v4/federation/oidc/device/token", string(dc))
			if resp.StatusCode != 202 || m["status"] != "authorization_pending" || m["interval"].(float64) < 5 {
				t.Fatalf("pending: %d %v", resp.StatusCode, m)
			}
			// Approve at the op's device UI.
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			r, err := c.PostForm(e.dop+"/device/login", url.Values{"user_code": {m2s(t, raw, "user_code")}, "username": {"alice"}, "password": {opPassword}})
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r, err = c.Get(e.dop + "/device/confirm?action=allowed"); err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			e.clock.add(6 * time.Second)
			resp, m, _ = e.do(t, "POST", "/v4/federation/oidc/device/token", string(dc))
			federatedToken(t, resp, m)
			_, m, _ = e.do(t, "POST", "/v4/federation/oidc/device/token", string(dc))
			keystoneError(t, m, 400, "")
		})

		t.Run("device flow denied", func(t *testing.T) {
			before := oidcCounts(t, b)
			_, _, raw := e.do(t, "POST", base+e.devIdP+"/device", `{}`)
			dc, _ := json.Marshal(map[string]any{"device_code": m2s(t, raw, "device_code")})
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			r, err := c.PostForm(e.dop+"/device/login", url.Values{"user_code": {m2s(t, raw, "user_code")}, "username": {"alice"}, "password": {opPassword}})
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r, err = c.Get(e.dop + "/device/confirm?action=denied"); err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			_, m, _ := e.do(t, "POST", "/v4/federation/oidc/device/token", string(dc))
			keystoneError(t, m, 401, "The request you have made requires authentication.")
			if got := oidcCounts(t, b); !equalCounts(got, before) {
				t.Fatalf("denied login wrote rows: %v -> %v", before, got)
			}
		})
	})
}

func m2s(t *testing.T, raw, k string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[k].(string)
	return s
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		t.Fatalf("URL %q: %v", s, err)
	}
	return u
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "request refused") || strings.Contains(string(b), "request failed") {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}
