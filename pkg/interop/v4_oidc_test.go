package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/loginclient"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// opUserStore is the test provider's user store: one user.
type opUserStore struct{ u *storage.User }

func (s opUserStore) GetUserByID(id string) *storage.User {
	if id == s.u.ID {
		return s.u
	}
	return nil
}

func (s opUserStore) GetUserByUsername(name string) *storage.User {
	if name == s.u.Username {
		return s.u
	}
	return nil
}

func (opUserStore) ExampleClientID() string { return "service" }

// startOIDCProvider runs zitadel/oidc's example OpenID provider on
// 127.0.0.1 in the test process.
func startOIDCProvider(t *testing.T, user *storage.User, clients map[string]*storage.Client) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	h := exampleop.SetupServer(issuer, storage.NewStorageWithClients(opUserStore{user}, clients), slog.New(slog.DiscardHandler), false)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// TestInteropV4OIDC: a domain admin configures an OpenID provider (the
// zitadel example op, here on 127.0.0.1) and a mapping through
// keystone-ng; `keystone-ng login` (the CLI, a subprocess) logs a user in
// with the authorization code flow and a loopback redirect, the op's login
// form driven by an HTTP client; Python validates the token exactly as
// keystone-ng does and rescopes it.
func TestInteropV4OIDC(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)

	dom := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "oidc-" + sfx}))
	project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "oidc-app-" + sfx, "domain_id": dom}))
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=admin", admin, nil)["roles"].([]any)
	adminRole := idOf(roles[0].(map[string]any))
	pw := "Oidc-" + sfx + "-secret!"
	dadmin := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "oidc-dadmin-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, admin, "/v3/domains/"+dom+"/users/"+dadmin+"/roles/"+adminRole)
	dadminTok := py.issue(t, auth(passwordIdentity(dadmin, pw), scopeDomain(dom))).Token

	ng := startSidecarWith(t, env, noLoginLimit+loopbackIdPs, "")
	chk := pair{py: py, ng: ng}
	loopPort := freePort(t)
	loopback := fmt.Sprintf("http://127.0.0.1:%d/callback", loopPort)
	user := &storage.User{ID: "alice-" + sfx, Username: "alice", Password: pw, FirstName: "Alice", LastName: "L",
		Email: "alice-" + sfx + "@example.org", EmailVerified: true, PreferredLanguage: language.English}
	issuer := startOIDCProvider(t, user, map[string]*storage.Client{
		"ks-" + sfx: storage.WebClient("ks-"+sfx, "secret-"+sfx, ng.base+"/v4/federation/oidc/callback", loopback),
	})

	idp := "oidc-" + sfx
	r := ng.do(t, "POST", "/v4/federation/identity_providers", map[string]any{"identity_provider": map[string]any{
		"id": idp, "name": "op-" + sfx, "domain_id": dom, "issuer": issuer, "client_id": "ks-" + sfx, "client_secret": "secret-" + sfx,
		"redirect_uris": []string{ng.base + "/v4/federation/oidc/callback", "http://127.0.0.1/callback"}, "default_mapping": "login"}},
		"X-Auth-Token", dadminTok)
	if r.Status != http.StatusCreated {
		t.Fatalf("create IdP: %d %s", r.Status, r.Body)
	}
	r = ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/mappings", map[string]any{"mapping": map[string]any{"name": "login",
		"rules": json.RawMessage(`[{"match": [{"claim": "sub", "equals": "` + user.ID + `"}],
		"user": {"name": "{preferred_username}-` + sfx + `", "unique_id": "{sub}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "` + project + `"}}],
		"scope": {"project": {"id": "` + project + `"}}}]`)}}, "X-Auth-Token", dadminTok)
	if r.Status != http.StatusCreated {
		t.Fatalf("create mapping: %d %s", r.Status, r.Body)
	}

	// The CLI, as a user runs it; the browser is an HTTP client.
	var lastAuthURL string
	cliLogin := func(extra ...string) string {
		t.Helper()
		out, au := oidcCLILogin(t, ng, issuer, idp, "alice", pw, loopPort, extra...)
		lastAuthURL = au
		return out
	}
	osToken := func(out string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^export OS_TOKEN=(\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no OS_TOKEN in the CLI's output:\n%s", out)
		}
		return m[1]
	}
	out := cliLogin()
	tok := osToken(out)
	if !strings.Contains(out, "export OS_PROJECT_ID="+project) {
		t.Fatalf("CLI output lacks the mapping's project:\n%s", out)
	}
	// A scope asked for by name overrides the mapping's (here: the same
	// project, named): keystone-ng resolves it as Python does.
	out = cliLogin("--project", "oidc-app-"+sfx, "--project-domain", "oidc-"+sfx)
	named := osToken(out)
	if !strings.Contains(out, "export OS_PROJECT_ID="+project) {
		t.Fatalf("CLI output lacks the requested project:\n%s", out)
	}
	runChecks(t, chk, []checkCase{{label: "oidc-login/cli-named-scope", authToken: admin, subject: named, wantPy: http.StatusOK}})
	// A scope the user has no role on is refused.
	_, challenge := loginclient.NewPKCE()
	r = ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/auth", map[string]any{"redirect_uri": loopback,
		"code_challenge": challenge, "code_challenge_method": "S256",
		"scope": map[string]any{"domain": map[string]any{"id": "no-such-domain-" + sfx}}})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("auth with an unknown domain scope: %d %s", r.Status, r.Body)
	}
	// The API flow needs the client's own PKCE challenge (issue 14,
	// finding 5).
	r = ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/auth", map[string]any{"redirect_uri": loopback})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("auth without code_challenge: %d %s", r.Status, r.Body)
	}

	// Python validates it (same answer as keystone-ng) and rescopes it.
	if st := chk.compare(t, admin, tok, ""); st != http.StatusOK {
		t.Fatalf("Python validates the OIDC token with %d", st)
	}
	runChecks(t, chk, []checkCase{{label: "oidc-login/federated-self", authToken: tok, subject: tok, wantPy: http.StatusOK}})
	rescoped := py.issue(t, auth(tokenIdentity(tok), scopeProject(project)))
	if u := rescoped.Body["token"].(map[string]any)["user"].(map[string]any); u["OS-FEDERATION"] == nil {
		t.Fatalf("Python's rescoped token is not federated: %v", u)
	}
	runChecks(t, chk, []checkCase{{label: "oidc-login/python-rescoped", authToken: admin, subject: rescoped.Token, wantPy: http.StatusOK}})

	// Replaying the loopback callback's state is refused.
	r = ng.do(t, "POST", "/v4/federation/oidc/callback", map[string]any{"state": mustParse(t, lastAuthURL).Query().Get("state"), "code": "x"})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("replayed state: %d %s", r.Status, r.Body)
	}
}

// oidcCLILogin runs `keystone-ng login --idp idp` (the CLI, a subprocess)
// as a user runs it: the authorization code flow with a loopback redirect
// on loopPort, the provider's login form (the zitadel example op's)
// filled in by an HTTP client. It returns the CLI's output and the
// authorization URL it printed.
func oidcCLILogin(t *testing.T, ng *sidecar, issuer, idp, username, password string, loopPort int, extra ...string) (string, string) {
	t.Helper()
	loopback := fmt.Sprintf("http://127.0.0.1:%d/callback", loopPort)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"login", "--os-auth-url", ng.base + "/v3", "--idp", idp, "--listen", fmt.Sprintf("127.0.0.1:%d", loopPort)}, extra...)
	cmd := exec.CommandContext(ctx, sidecarBinary(t), args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errLog strings.Builder
	authURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			errLog.WriteString(line + "\n")
			if u := strings.TrimSpace(line); strings.HasPrefix(u, issuer+"/") {
				select {
				case authURL <- u:
				default:
				}
			}
		}
		close(authURL)
	}()
	var au string
	select {
	case au = <-authURL:
	case <-ctx.Done():
	}
	if au == "" {
		_ = cmd.Wait()
		t.Fatalf("the CLI printed no authorization URL:\n%s", errLog.String())
	}
	if q := mustParse(t, au).Query(); q.Get("redirect_uri") != loopback || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization URL %s", au)
	}
	// The op's login form, then the redirect to the CLI's loopback
	// listener.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 20 * time.Second, Jar: jar}
	resp, err := browser.Get(au)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	reqID := resp.Request.URL.Query().Get("authRequestID")
	if reqID == "" {
		t.Fatalf("no login form: %s %s", resp.Status, resp.Request.URL)
	}
	resp, err = browser.PostForm(issuer+"/login/username", url.Values{"username": {username}, "password": {password}, "id": {reqID}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), loopback) {
		t.Fatalf("the login did not end at the loopback listener: %s %s %s", resp.Status, resp.Request.URL, page)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("keystone-ng login: %v\n%s", err, errLog.String())
	}
	return stdout.String(), au
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
