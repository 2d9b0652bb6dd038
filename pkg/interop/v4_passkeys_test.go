package interop

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyConf turns passkeys on for a sidecar reached at
// http://localhost:<port> (localhost is a secure context, so WebAuthn works
// over plain HTTP there).
const passkeyConf = "[webauthn]\nrelying_party_id = localhost\nrelying_party_origins = http://localhost:{port}\nceremony_timeout = 2m\n"

// TestInteropV4Passkeys drives keystone-ng's /v4/login page in headless
// Chromium with the DevTools virtual authenticator (CTAP2, resident keys,
// user verification): a user signs in with a Python-issued token, registers
// a passkey, signs out, signs in with no username, and gets a token that
// Python validates (same JSON as keystone-ng) and rescopes. Then lockout:
// failed passkey assertions lock the account for Python's password login,
// and failed Python passwords lock passkey login
// ([security_compliance] lockout_failure_attempts from run-interop.sh).
// Screenshots of each step go to test-output/v4-passkeys-<db>/.
func TestInteropV4Passkeys(t *testing.T) {
	env := loadEnv(t)
	ctx := browser(t)
	shotDir := outputDir(t, "v4-passkeys-"+env.DB)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token

	sfx := randSuffix(t)
	password := "pk-" + sfx + "-Secret!"
	user := py.create(t, admin, "/v3/users", "user", map[string]any{"name": "pk-user-" + sfx, "domain_id": "default", "password": password})
	userID := idOf(user)
	project := py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "pk-proj-" + sfx, "domain_id": "default"})
	projectID := idOf(project)
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=member", admin, nil)["roles"].([]any)
	py.put(t, admin, "/v3/projects/"+projectID+"/users/"+userID+"/roles/"+idOf(roles[0].(map[string]any)))

	ng := startSidecarWith(t, env, noLoginLimit, passkeyConf)
	port := ng.base[strings.LastIndex(ng.base, ":")+1:]
	origin := "http://localhost:" + port
	userTok := py.issue(t, auth(passwordIdentity(userID, password), nil)).Token

	shots := &screenshots{dir: shotDir}
	shot := func(name string) { t.Helper(); shots.take(t, ctx, name) }
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
			shot("failed-" + strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v (page status: %q)", what, err, status)
		}
	}
	// The virtual authenticator belongs to the tab: enable it before the
	// page asks for credentials.
	run("add virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
		return err
	}))

	run("open the login page", chromedp.Navigate(origin+"/v4/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	shot("login-page")

	// Sign in with the Python token, then register a passkey.
	run("use a token", chromedp.SetValue(chromedp.ID("token-input"), userTok), chromedp.Click(chromedp.ID("use-token")),
		chromedp.WaitVisible(chromedp.ID("passkey-register")))
	shot("signed-in-with-token")
	run("register a passkey", chromedp.SetValue(chromedp.ID("passkey-name"), "virtual "+sfx), chromedp.Click(chromedp.ID("passkey-register")))
	waitFor(t, 20*time.Second, "the passkey to be stored", func() bool {
		r := ng.do(t, "GET", "/v4/users/"+userID+"/passkeys", nil, "X-Auth-Token", userTok)
		return r.Status == http.StatusOK && strings.Contains(string(r.Body), "virtual "+sfx)
	})
	shot("passkey-registered")
	list := ng.must(t, http.StatusOK, "GET", "/v4/users/"+userID+"/passkeys", userTok, nil)["passkeys"].([]any)
	if len(list) != 1 {
		t.Fatalf("want 1 passkey, got %s", mustJSON(list))
	}
	pk := list[0].(map[string]any)
	for _, k := range []string{"id", "name", "created_at", "last_used_at", "aaguid", "transports", "backup_eligible", "backup_state"} {
		if _, ok := pk[k]; !ok {
			t.Errorf("passkey lacks %q: %s", k, mustJSON(pk))
		}
	}

	// Sign out, then sign in with no username: the resident key names the user.
	run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	shot("signed-out")
	token := passkeySignIn(t, ctx, run)
	shot("signed-in-with-passkey")
	exports, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("openstack-exports")))
	if !strings.Contains(exports, "OS_TOKEN="+token) || !strings.Contains(exports, "OS_AUTH_TYPE=token") {
		t.Errorf("exports do not carry the token:\n%s", exports)
	}

	// Python validates the passkey token like keystone-ng does, and rescopes it.
	chk := pair{py: py, ng: ng}
	if st := chk.compare(t, admin, token, ""); st != http.StatusOK {
		t.Fatalf("Python answered %d for the passkey token", st)
	}
	body := validate(t, py, "GET", admin, token, "").json(t)["token"].(map[string]any)
	if got := body["user"].(map[string]any)["id"]; got != userID {
		t.Fatalf("token user %v, want %s", got, userID)
	}
	scoped := py.issue(t, auth(tokenIdentity(token), scopeProject(projectID)))
	if st := chk.compare(t, admin, scoped.Token, ""); st != http.StatusOK {
		t.Fatalf("Python answered %d for the rescoped token", st)
	}
	after := ng.must(t, http.StatusOK, "GET", "/v4/users/"+userID+"/passkeys", userTok, nil)["passkeys"].([]any)
	if lu := after[0].(map[string]any)["last_used_at"]; lu == nil {
		t.Errorf("last_used_at not set after a sign-in: %s", mustJSON(after))
	}

	// Lockout, passkey failures first: assertions that do not verify (a
	// forged signature for the user's real credential) count as failed
	// authentications; after three, Python refuses the right password.
	credID, _ := pk["credential_id"].(string)
	if credID == "" {
		credID, _ = pk["id"].(string)
	}
	for i := 0; i < 3; i++ {
		start := ng.must(t, http.StatusOK, "POST", "/v4/auth/passkey/start", "", map[string]any{"user": map[string]any{"id": userID}})
		r := ng.do(t, "POST", "/v4/auth/passkey/finish", map[string]any{
			"ceremony_id": start["ceremony_id"],
			"credential":  forgedAssertion(credID, userID),
		})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("forged assertion %d: status %d, want 401\n%s", i+1, r.Status, r.Body)
		}
		wantKeystoneError(t, r, http.StatusUnauthorized)
	}
	if r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(passwordIdentity(userID, password), nil)}); r.Status != http.StatusUnauthorized {
		t.Fatalf("Python password login after 3 failed passkey assertions: status %d, want 401 (locked)", r.Status)
	}
	run("open the login page", chromedp.Navigate(origin+"/v4/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	run("passkey sign-in while locked", chromedp.Click(chromedp.ID("passkey-signin")))
	waitFor(t, 20*time.Second, "the page to report the refusal", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		return strings.Contains(strings.ToLower(s), "authentication") || strings.Contains(strings.ToLower(s), "fail")
	})
	shot("locked-out")

	// The lockout lasts lockout_duration (15 s in run-interop.sh); then
	// failed Python passwords lock passkey sign-in the same way.
	waitFor(t, 40*time.Second, "the lockout to expire", func() bool {
		r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(passwordIdentity(userID, password), nil)})
		return r.Status == http.StatusCreated
	})
	for i := 0; i < 3; i++ {
		r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(passwordIdentity(userID, "wrong-"+sfx), nil)})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d", r.Status)
		}
	}
	run("open the login page", chromedp.Navigate(origin+"/v4/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	run("passkey sign-in after wrong passwords", chromedp.Click(chromedp.ID("passkey-signin")))
	waitFor(t, 20*time.Second, "the page to report the refusal", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		return strings.Contains(strings.ToLower(s), "authentication") || strings.Contains(strings.ToLower(s), "fail")
	})
	if out, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("token-output"))); strings.TrimSpace(out) != "" {
		t.Fatalf("a locked user got a token on the page")
	}
	shot("locked-by-python-passwords")

	// Deleting the user in Python leaves no usable passkey behind.
	waitFor(t, 40*time.Second, "the lockout to expire", func() bool {
		r := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(passwordIdentity(userID, password), nil)})
		return r.Status == http.StatusCreated
	})
	py.del(t, admin, "/v3/users/"+userID)
	run("open the login page", chromedp.Navigate(origin+"/v4/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	run("passkey sign-in of a deleted user", chromedp.Click(chromedp.ID("passkey-signin")))
	waitFor(t, 20*time.Second, "the page to report the refusal", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		return strings.Contains(strings.ToLower(s), "authentication") || strings.Contains(strings.ToLower(s), "fail")
	})
	shot("deleted-user-refused")
}

// passkeySignIn clicks the usernameless sign-in and returns the token the
// page shows.
func passkeySignIn(t *testing.T, ctx context.Context, run func(string, ...chromedp.Action[chromedp.Void])) string {
	t.Helper()
	run("usernameless passkey sign-in", chromedp.Click(chromedp.ID("passkey-signin")))
	var token string
	waitFor(t, 20*time.Second, "a token on the page", func() bool {
		v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("token-output")))
		if err != nil || strings.TrimSpace(v) == "" {
			v, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("token-output")))
		}
		token = strings.TrimSpace(v)
		return err == nil && token != ""
	})
	return token
}

// forgedAssertion is a well-formed assertion for credID whose signature
// cannot verify.
func forgedAssertion(credID, userID string) map[string]any {
	b64 := func(s string) string {
		return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(base64Std(s)), "=")
	}
	return map[string]any{
		"id": credID, "rawId": credID, "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(`{"type":"webauthn.get","challenge":"AAAA","origin":"http://localhost"}`),
			"authenticatorData": b64(strings.Repeat("\x00", 37)),
			"signature":         b64("not a signature"),
			"userHandle":        b64(userID),
		},
		"clientExtensionResults": map[string]any{},
	}
}

// wantKeystoneError checks Keystone's error shape.
func wantKeystoneError(t *testing.T, r *response, code int) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok || e["code"] != float64(code) || e["title"] == nil || e["message"] == nil {
		t.Fatalf("not Keystone's error shape for %d: %s", code, r.Body)
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
