package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// opProvider is panva's oidc-provider (npm, OpenID-certified), run by
// testdata/oidc-provider/provider.mjs as its own Node.js process.
type opProvider struct {
	issuer string
	mu     sync.Mutex
	log    strings.Builder
}

func (p *opProvider) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// nodeTool finds node or npm; missing, it skips the test, or fails it under
// CI=true.
func nodeTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (Debian: apt-get install nodejs npm)", name)
	}
	t.Skipf("%s not found (Debian: apt-get install nodejs npm)", name)
	return ""
}

// startNodeOIDCProvider runs testdata/oidc-provider/provider.mjs on
// 127.0.0.1 with one confidential client, after `npm ci` when its
// node_modules is missing. It is killed (with its process group) when the
// test ends; its output goes to t.Log when the test failed.
func startNodeOIDCProvider(t *testing.T, clientID, clientSecret string, redirectURIs ...string) *opProvider {
	t.Helper()
	node, npm := nodeTool(t, "node"), nodeTool(t, "npm")
	dir, err := filepath.Abs(filepath.Join("testdata", "oidc-provider"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	port := freePort(t)
	p := &opProvider{issuer: fmt.Sprintf("http://127.0.0.1:%d", port)}
	cmd := exec.Command(node, "provider.mjs", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"OP_CLIENT_ID="+clientID, "OP_CLIENT_SECRET="+clientSecret,
		"OP_REDIRECT_URIS="+strings.Join(redirectURIs, " "), "NODE_ENV=development")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one pipe, in order
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node provider.mjs: %v", err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if !signalled && line == "oidc-provider ready "+p.issuer {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("---- oidc-provider output ----\n%s---- end of oidc-provider output ----", p.logText())
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("oidc-provider exited during startup:\n%s", p.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("oidc-provider printed no readiness line within 60s:\n%s", p.logText())
	}
	t.Logf("oidc-provider (node, pid %d) serving %s", cmd.Process.Pid, p.issuer)
	return p
}

// TestInteropV4OIDCBrowser: a real browser login through an OpenID provider
// nobody here wrote, run as its own process (panva's oidc-provider on
// Node.js), driven end to end in headless Chromium: keystone-ng's /v4/login
// page, the IdP's own login form and consent page, keystone-ng's callback
// (which requires the __Host-ksng-login cookie the login set: Chromium
// keeps Secure cookies from http://localhost), the token on the login page
// (accepted with the page's one-time nonce). Python validates the token
// (same answer as keystone-ng) and rescopes it. Then a second login from a
// trusted dashboard (?origin=) ends on a page naming the user, and the
// token reaches the dashboard only after a click. Then the attacks of
// issue 14, finding 5, in a second browser profile: a crafted
// /v4/login#token= link leaves the page signed out, and a callback URL of a
// login started elsewhere gets 401 and consumes the login.
// Screenshots of each step go to test-output/v4-oidc-browser-<db>/.
func TestInteropV4OIDCBrowser(t *testing.T) {
	env := loadEnv(t)
	ctx := browser(t)
	shotDir := outputDir(t, "v4-oidc-browser-"+env.DB)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	sysTok := py.issue(t, auth(passwordByName(env.AdminUser, "default", env.AdminPassword), scopeSystem())).Token
	sfx := randSuffix(t)

	project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "oidcb-app-" + sfx, "domain_id": "default"}))

	// The dashboard a login may hand its token to ([federation]
	// trusted_dashboard, as Horizon's /auth/websso/).
	dashTokens := make(chan string, 4)
	dash := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/auth/websso/" {
			http.NotFound(w, r)
			return
		}
		tok := r.PostFormValue("token")
		select {
		case dashTokens <- tok:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Dashboard</title></head><body><h1>Dashboard</h1><p id=\"got\">received a token of %d characters</p></body></html>",
			len(tok))
	}))
	t.Cleanup(dash.Close)
	dashboard := dash.URL + "/auth/websso/"

	ng := startSidecarWith(t, env, loopbackIdPs, passkeyConf+"\n[federation]\ntrusted_dashboard = "+dashboard+"\n")
	chk := pair{py: py, ng: ng}
	port := ng.base[strings.LastIndex(ng.base, ":")+1:]
	origin := "http://localhost:" + port
	callback := origin + "/v4/federation/oidc/callback"

	clientID, clientSecret := "ks-"+sfx, "secret-"+sfx+"-"+randSuffix(t)+randSuffix(t)
	op := startNodeOIDCProvider(t, clientID, clientSecret, callback)

	// The IdP and its mapping, created through keystone-ng's API by a
	// system administrator.
	login := "oidcb-" + sfx
	idp := "oidcb-" + sfx
	idpName := "Node OP " + sfx
	r := ng.do(t, "POST", "/v4/federation/identity_providers", map[string]any{"identity_provider": map[string]any{
		"id": idp, "name": idpName, "domain_id": "default", "issuer": op.issuer,
		"client_id": clientID, "client_secret": clientSecret,
		"redirect_uris": []string{callback}, "default_mapping": "login"}},
		"X-Auth-Token", sysTok)
	if r.Status != http.StatusCreated {
		t.Fatalf("create IdP: %d %s", r.Status, r.Body)
	}
	t.Cleanup(func() { ng.do(t, "DELETE", "/v4/federation/identity_providers/"+idp, nil, "X-Auth-Token", sysTok) })
	r = ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/mappings", map[string]any{"mapping": map[string]any{"name": "login",
		"rules": json.RawMessage(`[{"match": [{"claim": "email", "equals": "` + login + `@example.org"}],
		"user": {"name": "{preferred_username}", "unique_id": "{sub}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "` + project + `"}}],
		"scope": {"project": {"id": "` + project + `"}}}]`)}}, "X-Auth-Token", sysTok)
	if r.Status != http.StatusCreated {
		t.Fatalf("create mapping: %d %s", r.Status, r.Body)
	}

	shots := &screenshots{dir: shotDir}
	shot := func(name string) { t.Helper(); shots.take(t, ctx, name) }
	location := func() string {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(c, chromedp.Location())
		return loc
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			loc := location()
			shot("failed-" + strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v (at %s)", what, err, loc)
		}
	}
	// present reports whether the current page has an element matching css.
	present := func(css string) bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", css)))
		return err == nil && ok
	}
	// This test's IdP (the page may list others of the domain).
	idpLink := chromedp.CSS(`#idp-list a[href*="/identity_providers/` + idp + `/login"]`)

	// 1. keystone-ng's login page lists the IdP.
	// The IdP belongs to the Default domain: the login page lists it when
	// opened for that domain (the cloud-wide page lists global IdPs only).
	run("open the login page", chromedp.Navigate(origin+"/v4/login?domain_id=default"), chromedp.WaitVisible(idpLink))
	shot("login-page")
	if txt, _ := chromedp.Run(ctx, chromedp.Text(idpLink)); strings.TrimSpace(txt) != idpName {
		t.Fatalf("the login page lists %q, want %q", txt, idpName)
	}

	// 2. The IdP's own login form.
	run("follow the identity provider's link", chromedp.Click(idpLink), chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)))
	if loc := location(); !strings.HasPrefix(loc, op.issuer+"/") {
		t.Fatalf("the IdP link led to %s, not to %s", loc, op.issuer)
	}
	shot("idp-login-form")
	run("fill in the IdP's login form",
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), login),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "any-password-"+sfx))
	shot("idp-login-filled")
	run("submit the IdP's login form", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	// 3. The IdP's consent page (oidc-provider asks once per client), then
	// keystone-ng's callback and the login page with the token.
	token := ""
	consented := false
	waitFor(t, 90*time.Second, "the token on keystone-ng's login page", func() bool {
		loc := location()
		switch {
		case strings.HasPrefix(loc, op.issuer+"/") && !consented && present(`input[name="prompt"][value="consent"]`):
			shot("idp-consent")
			run("consent at the IdP", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
			consented = true
		case strings.HasPrefix(loc, origin+"/v4/login") && present(`#token-output`):
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			v, err := chromedp.Run(c, chromedp.Value(chromedp.ID("token-output")))
			cancel()
			token = strings.TrimSpace(v)
			return err == nil && token != ""
		}
		return false
	})
	run("wait for the session", chromedp.WaitVisible(chromedp.ID("session-section")))
	shot("signed-in-with-idp")
	if loc := location(); strings.Contains(loc, "token=") {
		t.Errorf("the token stays in the page's URL: %s", loc)
	}
	exports, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("openstack-exports")))
	if !strings.Contains(exports, "OS_TOKEN="+token) {
		t.Errorf("exports do not carry the token:\n%s", exports)
	}

	// 4. Python validates the token exactly as keystone-ng does, and
	// rescopes it.
	if st := chk.compare(t, admin, token, ""); st != http.StatusOK {
		t.Fatalf("Python validates the browser OIDC token with %d", st)
	}
	runChecks(t, chk, []checkCase{{label: "oidc-browser/federated-self", authToken: token, subject: token, wantPy: http.StatusOK}})
	body := validate(t, py, "GET", admin, token, "").json(t)["token"].(map[string]any)
	u := body["user"].(map[string]any)
	if u["name"] != login || u["OS-FEDERATION"] == nil {
		t.Fatalf("token user %s, want the federated %s", mustJSON(u), login)
	}
	if p, _ := body["project"].(map[string]any); p == nil || p["id"] != project {
		t.Fatalf("token scope %v, want project %s", body["project"], project)
	}
	rescoped := py.issue(t, auth(tokenIdentity(token), scopeProject(project)))
	if ru := rescoped.Body["token"].(map[string]any)["user"].(map[string]any); ru["OS-FEDERATION"] == nil {
		t.Fatalf("Python's rescoped token is not federated: %v", ru)
	}
	runChecks(t, chk, []checkCase{{label: "oidc-browser/python-rescoped", authToken: admin, subject: rescoped.Token, wantPy: http.StatusOK}})

	// 5. From a trusted dashboard: the IdP remembers the session and the
	// consent, and keystone-ng posts the token to the dashboard.
	run("open the login page for the dashboard", chromedp.Navigate(origin+"/v4/login?domain_id=default&origin="+url.QueryEscape(dashboard)), chromedp.WaitVisible(idpLink))
	shot("login-page-for-dashboard")
	href, _ := chromedp.Run(ctx, chromedp.AttributeValue(idpLink, "href"))
	if hu, err := url.Parse(href.Value); err != nil || hu.Query().Get("origin") != dashboard {
		t.Fatalf("the IdP link does not carry the dashboard origin: %q", href.Value)
	}
	run("follow the identity provider's link to the dashboard", chromedp.Click(idpLink))
	var dashTok string
	continueButton := chromedp.ID("dashboard-continue")
	waitFor(t, 90*time.Second, "keystone-ng's page before the dashboard", func() bool {
		select {
		case dashTok = <-dashTokens:
			t.Fatalf("the token reached the dashboard without a click")
		default:
		}
		if loc := location(); strings.HasPrefix(loc, origin+"/v4/federation/oidc/callback") && present("#dashboard-continue") {
			return true
		}
		// The IdP may ask again (a new interaction): answer it.
		if loc := location(); strings.HasPrefix(loc, op.issuer+"/") {
			if present(`input[name="login"]`) {
				shot("idp-login-form-again")
				run("sign in at the IdP again",
					chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), login),
					chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "any-password-"+sfx),
					chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
			} else if present(`input[name="prompt"][value="consent"]`) {
				shot("idp-consent-again")
				run("consent at the IdP again", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
			}
		}
		return false
	})
	shot("continue-to-dashboard")
	who, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("whoami-user")))
	button, _ := chromedp.Run(ctx, chromedp.Text(continueButton))
	if strings.TrimSpace(who) != login || strings.TrimSpace(button) != "Continue to "+dash.URL {
		t.Fatalf("the page before the dashboard names %q with button %q", who, button)
	}
	time.Sleep(time.Second) // nothing is posted while nobody clicks
	select {
	case tok := <-dashTokens:
		t.Fatalf("the dashboard received a token (%d characters) without a click", len(tok))
	default:
	}
	run("continue to the dashboard", chromedp.Click(continueButton))
	waitFor(t, 30*time.Second, "the token posted to the dashboard", func() bool {
		select {
		case dashTok = <-dashTokens:
			return true
		default:
			return false
		}
	})
	run("wait for the dashboard", chromedp.WaitVisible(chromedp.ID("got")))
	shot("dashboard-received-token")
	if loc := location(); !strings.HasPrefix(loc, dashboard) {
		t.Errorf("the browser ended at %s, not at the dashboard", loc)
	}
	if dashTok == "" || dashTok == token {
		t.Fatalf("the dashboard received %q (first login's token %q)", dashTok, token)
	}
	if st := chk.compare(t, admin, dashTok, ""); st != http.StatusOK {
		t.Fatalf("Python validates the dashboard's token with %d", st)
	}

	// The login page opened for the dashboard: a sign-in there (here with
	// the first token) shows the same button and posts nothing by itself.
	run("sign in on the login page for the dashboard",
		chromedp.Navigate(origin+"/v4/login?domain_id=default&origin="+url.QueryEscape(dashboard)), chromedp.WaitVisible(idpLink),
		chromedp.SendKeys(chromedp.ID("token-input"), token), chromedp.Click(chromedp.ID("use-token")),
		chromedp.WaitVisible(continueButton))
	shot("login-page-continue-to-dashboard")
	time.Sleep(time.Second)
	select {
	case tok := <-dashTokens:
		t.Fatalf("the login page posted a token (%d characters) to the dashboard without a click", len(tok))
	default:
	}
	if button, _ := chromedp.Run(ctx, chromedp.Text(continueButton)); strings.TrimSpace(button) != "Continue to "+dash.URL {
		t.Fatalf("the login page's dashboard button reads %q", button)
	}
	run("continue from the login page to the dashboard", chromedp.Click(continueButton))
	waitFor(t, 30*time.Second, "the login page's token posted to the dashboard", func() bool {
		select {
		case tok := <-dashTokens:
			if tok != token {
				t.Fatalf("the dashboard received another token than the one signed in with")
			}
			return true
		default:
			return false
		}
	})

	// 6. Token injection: a crafted link carrying someone's valid token
	// (here the first login's), opened in a fresh browser, leaves the
	// login page signed out and drops the fragment.
	victim := browser(t)
	vrun := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(victim, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	vshot := func(name string) { t.Helper(); shots.take(t, victim, name) }
	veval := func(js string) string {
		t.Helper()
		c, cancel := context.WithTimeout(victim, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	for i, frag := range []string{
		"token=" + url.QueryEscape(token),
		"token=" + url.QueryEscape(token) + "&nonce=" + randSuffix(t) + randSuffix(t) + randSuffix(t),
	} {
		// From a blank page: each link is a fresh load of the login page.
		vrun("open a crafted login link", chromedp.Navigate("about:blank"), chromedp.Navigate(origin+"/v4/login?domain_id=default#"+frag), chromedp.WaitVisible(idpLink))
		// Give a token the page would use the time to reach whoami.
		waitFor(t, 10*time.Second, "the login page's status", func() bool {
			return veval(`document.getElementById("status").textContent`) != ""
		})
		vshot(fmt.Sprintf("crafted-link-%d", i+1))
		if got := veval(`JSON.stringify([document.getElementById("session-section").hidden, document.getElementById("whoami").textContent, document.getElementById("token-output").value, location.hash])`); got != `[true,"","",""]` {
			t.Fatalf("a crafted link signed the page in or kept the fragment: [session hidden, whoami, token, hash] = %s", got)
		}
	}

	// 7. Login CSRF: a login started elsewhere (the attacker's tool, with
	// its own cookie) whose callback comes back in the victim's browser
	// (no cookie) is refused: 401 in Keystone's shape, and the login is
	// consumed, so the attacker cannot finish it either.
	attacker := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := attacker.Get(origin + "/v4/federation/identity_providers/" + idp + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var attackerCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-ksng-login" {
			attackerCookie = c
		}
	}
	if resp.StatusCode != http.StatusFound || attackerCookie == nil || !attackerCookie.Secure || !attackerCookie.HttpOnly || attackerCookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("login start: %d, cookie %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	vrun("open the attacker's authorization URL", chromedp.Navigate(resp.Header.Get("Location")))
	vlocation := func() string {
		c, cancel := context.WithTimeout(victim, 10*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(c, chromedp.Location())
		return loc
	}
	vpresent := func(css string) bool {
		c, cancel := context.WithTimeout(victim, 10*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", css)))
		return err == nil && ok
	}
	callbackURL := ""
	waitFor(t, 90*time.Second, "the callback in the victim's browser", func() bool {
		loc := vlocation()
		switch {
		case strings.HasPrefix(loc, origin+"/v4/federation/oidc/callback"):
			callbackURL = loc
			return true
		case strings.HasPrefix(loc, op.issuer+"/") && vpresent(`input[name="login"]`):
			vrun("sign in at the IdP in the victim's browser",
				chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), login),
				chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "any-password-"+sfx),
				chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		case strings.HasPrefix(loc, op.issuer+"/") && vpresent(`input[name="prompt"][value="consent"]`):
			vrun("consent at the IdP in the victim's browser", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		}
		return false
	})
	vshot("callback-without-cookie")
	var refusal struct {
		Error struct {
			Code    int    `json:"code"`
			Title   string `json:"title"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if body := veval(`document.body.innerText`); json.Unmarshal([]byte(body), &refusal) != nil || refusal.Error.Code != http.StatusUnauthorized ||
		refusal.Error.Title != "Unauthorized" || refusal.Error.Message != "The request you have made requires authentication." {
		t.Fatalf("the callback without the login's cookie answered %s", body)
	}
	// The attacker, with the right cookie, now finds the login consumed.
	req, _ := http.NewRequest("GET", callbackURL, nil)
	req.AddCookie(&http.Cookie{Name: attackerCookie.Name, Value: attackerCookie.Value})
	resp, err = attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Subject-Token") != "" {
		t.Fatalf("the refused callback replayed with the right cookie: %d", resp.StatusCode)
	}
}
