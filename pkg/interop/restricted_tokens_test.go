package interop

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

const accessRulesHeader = "OpenStack-Identity-Access-Rules"

// TestInteropRestrictedTokens: RFC 8693 token exchange on
// /v4/oauth2/token against the real Python Keystone's database
// (docs/restricted-tokens.md).
//
//   - A user's password token (issued by Python) is exchanged for one
//     that keeps only reader, one access rule and ten minutes. Python and
//     keystone-ng validate it with the same JSON: reader alone, the
//     application credential restricted, its access rule, the source's
//     audit chain; both refuse it to a validator that does not announce
//     access rules.
//   - Python's own rules hold for a restricted token: it cannot create an
//     application credential or a trust, nor be rescoped; keystone-ng's
//     /v4 refuses it passkeys and service accounts, and a second exchange.
//   - Every refusal of the issue (a role the token lacks, another project,
//     an invalid subject, a restricted subject, malformed access rules,
//     client authentication, an actor) answers RFC 6749's JSON with the
//     database unchanged.
//   - `keystone-ng restrict` (the CLI) makes the same kind of token from
//     OS_TOKEN.
//   - Expired restricted tokens' credentials are deleted after a later
//     exchange; the user's own application credentials are not.
//   - Removing the user's role refuses a token that kept only it;
//     disabling the user refuses every restricted token, in both
//     validators at once.
func TestInteropRestrictedTokens(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	ng := startSidecarWith(t, env, noLoginLimit, passkeyConf)
	rc := newRowCounter(t, env)
	chk := pair{py: py, ng: ng}
	sfx := randSuffix(t)
	member, reader := roleIDByName(t, py, admin, "member"), roleIDByName(t, py, admin, "reader")
	proj := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "rt-" + sfx, "domain_id": "default"}))
	other := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "rt-other-" + sfx, "domain_id": "default"}))
	pw := "rt-" + sfx + "-Secret!"
	user := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "rt-" + sfx, "domain_id": "default", "password": pw}))
	py.put(t, admin, "/v3/projects/"+proj+"/users/"+user+"/roles/"+member)
	py.put(t, admin, "/v3/projects/"+proj+"/users/"+user+"/roles/"+reader)
	py.put(t, admin, "/v3/projects/"+other+"/users/"+user+"/roles/"+member)
	srcIssued := py.issue(t, auth(passwordIdentity(user, pw), scopeProject(proj)))
	src := srcIssued.Token
	srcView := validate(t, py, "GET", admin, src, "?nocatalog").json(t)["token"].(map[string]any)
	srcAudit := srcView["audit_ids"].([]any)[0].(string)
	srcExpires, _ := time.Parse(time.RFC3339Nano, srcView["expires_at"].(string))

	rule := `[{"type":"openstack_access_rule","service":"identity","method":"GET","path":"/v3/users/` + user + `"}]`
	exch := func(extra url.Values) *response {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
		for k, v := range extra {
			form[k] = v
		}
		return oauthToken(t, ng, form, "", "")
	}

	// The restricted token: reader, one access rule, ten minutes.
	r := exch(url.Values{"subject_token": {src}, "scope": {"role:reader"}, "authorization_details": {rule}, "expires_in": {"600"}})
	m := r.json(t)
	if r.Status != http.StatusOK || m["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || m["token_type"] != "Bearer" ||
		m["scope"] != "project:"+proj+" role:reader" || m["expires_in"].(float64) > 600 || m["expires_in"].(float64) < 590 ||
		r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token exchange: %d %s", r.Status, r.Body)
	}
	var wantDetails any
	_ = json.Unmarshal([]byte(rule), &wantDetails)
	if d, w := mustJSON(m["authorization_details"]), mustJSON(wantDetails); d != w {
		t.Fatalf("authorization_details answered %s, want %s", d, w)
	}
	rtok := m["access_token"].(string)
	chk.check(t, checkCase{label: "restricted token", authToken: admin, subject: rtok, methods: []string{"GET", "HEAD"},
		headers: []string{accessRulesHeader, "1.0"}, wantPy: http.StatusOK})
	chk.check(t, checkCase{label: "restricted token, no catalog", authToken: admin, subject: rtok, query: "?nocatalog", methods: []string{"GET"},
		headers: []string{accessRulesHeader, "1.0"}, wantPy: http.StatusOK})
	pr, _ := validateE(py, "GET", admin, rtok, "?nocatalog", accessRulesHeader, "1.0")
	v := pr.json(t)["token"].(map[string]any)
	ac, _ := v["application_credential"].(map[string]any)
	rules, _ := ac["access_rules"].([]any)
	exp, _ := time.Parse(time.RFC3339Nano, v["expires_at"].(string))
	if names := roleNames(v); names != "reader" || ac == nil || ac["restricted"] != true || len(rules) != 1 ||
		rules[0].(map[string]any)["path"] != "/v3/users/"+user || v["user"].(map[string]any)["id"] != user ||
		v["project"].(map[string]any)["id"] != proj || strings.Join(methodsOf(v), ",") != "application_credential" {
		t.Fatalf("Python's view of the restricted token: %s", pr.Body)
	}
	if ids := v["audit_ids"].([]any); len(ids) != 2 || ids[1] != srcAudit {
		t.Fatalf("audit ids %v, want the source's %s second", ids, srcAudit)
	}
	if exp.After(srcExpires) || time.Until(exp) > 601*time.Second {
		t.Fatalf("expires %v (source %v)", exp, srcExpires)
	}
	// Nobody holds the credential's secret, and Python reads its hash:
	// a guessed secret is an ordinary refusal (401), not a failure.
	rc.unchanged(t, "Python login with a guessed secret of the restricted credential", func() {
		if got := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(appCredIdentity(ac["id"].(string), "guess"), nil)}); got.Status != http.StatusUnauthorized {
			t.Fatalf("application credential login with a guessed secret: %d %s", got.Status, got.Body)
		}
	})
	// A validator that does not announce access rules: refused by both.
	if st := chk.compare(t, admin, rtok, ""); st != http.StatusNotFound {
		t.Fatalf("restricted token without %s: status %d, want 404 in both", accessRulesHeader, st)
	}

	// The CLI: `keystone-ng restrict` reads the token from OS_TOKEN and
	// prints the exports of the login kinds; its token keeps reader and
	// the rule, in both validators.
	cmd := exec.Command(sidecarBinary(t), "restrict", "--os-auth-url", ngBaseURL(t, ng)+"/v3", "--role", "reader",
		"--access-rule", "identity:GET:/v3/users/"+user, "--expires-in", "5m")
	cmd.Env = append(os.Environ(), "OS_TOKEN="+src)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "export OS_AUTH_TYPE=token\n") || !strings.Contains(string(out), "export OS_PROJECT_ID="+proj+"\n") {
		t.Fatalf("keystone-ng restrict: %v\n%s", err, out)
	}
	i := strings.Index(string(out), "export OS_TOKEN=")
	cliTok := strings.TrimSpace(strings.SplitN(string(out)[i+len("export OS_TOKEN="):], "\n", 2)[0])
	chk.check(t, checkCase{label: "restricted token from the CLI", authToken: admin, subject: cliTok, methods: []string{"GET"},
		headers: []string{accessRulesHeader, "1.0"}, wantPy: http.StatusOK})
	cv, _ := validateE(py, "GET", admin, cliTok, "?nocatalog", accessRulesHeader, "1.0")
	if v := cv.json(t)["token"].(map[string]any); roleNames(v) != "reader" || v["application_credential"].(map[string]any)["restricted"] != true {
		t.Fatalf("Python's view of the CLI's restricted token: %s", cv.Body)
	}

	// A restricted token of roles only (no access rules), to use on APIs.
	r = exch(url.Values{"subject_token": {src}, "scope": {"role:member project:" + proj}})
	if r.Status != http.StatusOK {
		t.Fatalf("second exchange: %d %s", r.Status, r.Body)
	}
	mtok := r.json(t)["access_token"].(string)
	if st := chk.compare(t, admin, mtok, ""); st != http.StatusOK {
		t.Fatalf("member-only restricted token: status %d, want 200 in both", st)
	}
	mv := validate(t, py, "GET", admin, mtok, "?nocatalog").json(t)["token"].(map[string]any)
	if roleNames(mv) != "member" {
		t.Fatalf("member-only token's roles: %v", mv["roles"])
	}

	// It cannot mint further credentials, in Python or keystone-ng.
	for _, tc := range []struct {
		name         string
		c            *ksClient
		method, path string
		body         any
		want         int
	}{
		{"Python: application credential", py, "POST", "/v3/users/" + user + "/application_credentials",
			map[string]any{"application_credential": map[string]any{"name": "rt-ac-" + sfx}}, http.StatusForbidden},
		{"Python: trust", py, "POST", "/v3/OS-TRUST/trusts", map[string]any{"trust": map[string]any{"trustor_user_id": user,
			"trustee_user_id": tokenUser(t, py, admin, admin), "project_id": proj, "impersonation": false, "roles": []any{map[string]any{"name": "member"}}}}, http.StatusForbidden},
		{"keystone-ng: passkey", ng.ksClient, "POST", "/v4/users/" + user + "/passkeys/register/start", map[string]any{}, http.StatusForbidden},
		{"keystone-ng: service account", ng.ksClient, "POST", "/v4/service_accounts",
			map[string]any{"service_account": map[string]any{"name": "rt-sa-" + sfx, "domain_id": "default"}}, http.StatusForbidden},
	} {
		rc.unchanged(t, tc.name, func() {
			got := tc.c.do(t, tc.method, tc.path, tc.body, "X-Auth-Token", mtok)
			if got.Status != tc.want {
				t.Fatalf("%s with a restricted token: %d %s", tc.name, got.Status, got.Body)
			}
		}, "revocation_event")
	}
	rc.unchanged(t, "Python rescoping a restricted token", func() {
		if got := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(tokenIdentity(mtok), scopeProject(proj))}); got.Status != http.StatusForbidden {
			t.Fatalf("Python rescoped a restricted token: %d %s", got.Status, got.Body)
		}
	})

	// A restricted application credential made with Python's own API.
	pyAC := py.create(t, src, "/v3/users/"+user+"/application_credentials", "application_credential",
		map[string]any{"name": "rt-own-" + sfx, "roles": []any{map[string]any{"name": "reader"}}})
	acTok := py.issue(t, auth(appCredIdentity(idOf(pyAC), pyAC["secret"].(string)), nil)).Token

	// Refusals: RFC 6749's JSON, nothing written.
	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  bool
		status int
		code   string
	}{
		{"role the token lacks", url.Values{"subject_token": {src}, "scope": {"role:admin"}}, false, 400, "invalid_scope"},
		{"another project", url.Values{"subject_token": {src}, "scope": {"project:" + other}}, false, 400, "invalid_scope"},
		{"invalid subject", url.Values{"subject_token": {src + "x"}}, false, 400, "invalid_request"},
		{"revoked subject", nil, false, 400, "invalid_request"},
		{"restricted subject", url.Values{"subject_token": {mtok}, "scope": {"role:member"}}, false, 400, "invalid_request"},
		{"Python's restricted application credential", url.Values{"subject_token": {acTok}}, false, 400, "invalid_request"},
		{"malformed access rules", url.Values{"subject_token": {src}, "authorization_details": {`[{"type":"openstack_access_rule","method":"GET"}]`}}, false, 400, "invalid_authorization_details"},
		{"no subject token type", url.Values{"subject_token": {src}, "subject_token_type": {""}}, false, 400, "invalid_request"},
		{"actor token", url.Values{"subject_token": {src}, "actor_token": {src}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, false, 400, "invalid_request"},
		{"client authentication", url.Values{"subject_token": {src}}, true, 400, "invalid_request"},
		{"lifetime of zero", url.Values{"subject_token": {src}, "expires_in": {"0"}}, false, 400, "invalid_request"},
	} {
		t.Run("exchange/"+tc.name, func(t *testing.T) {
			form := tc.form
			if tc.name == "revoked subject" {
				gone := py.issue(t, auth(passwordIdentity(user, pw), scopeProject(proj))).Token
				py.revoke(t, admin, gone)
				form = url.Values{"subject_token": {gone}}
			}
			rc.unchanged(t, tc.name, func() {
				full := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
					"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
				for k, v := range form {
					full[k] = v
				}
				user := ""
				if tc.basic {
					user = "someone"
				}
				got := oauthToken(t, ng, full, user, "pw")
				gm := got.json(t)
				if got.Status != tc.status || gm["error"] != tc.code || gm["error_description"] == "" {
					t.Fatalf("status %d %s, want %d %s", got.Status, got.Body, tc.status, tc.code)
				}
			})
		})
	}

	// Expired restricted tokens' credentials are deleted by a later
	// exchange; the user's own credential stays.
	r = exch(url.Values{"subject_token": {src}, "expires_in": {"6"}})
	if r.Status != http.StatusOK {
		t.Fatalf("short exchange: %d %s", r.Status, r.Body)
	}
	short := r.json(t)["access_token"].(string)
	shortAC := validate(t, py, "GET", admin, short, "?nocatalog").json(t)["token"].(map[string]any)["application_credential"].(map[string]any)["id"].(string)
	time.Sleep(6500 * time.Millisecond)
	if st := chk.compare(t, admin, short, ""); st != http.StatusNotFound {
		t.Fatalf("expired restricted token: status %d, want 404 in both", st)
	}
	if r = exch(url.Values{"subject_token": {src}}); r.Status != http.StatusOK {
		t.Fatalf("exchange after expiry: %d %s", r.Status, r.Body)
	}
	listed := py.must(t, http.StatusOK, "GET", "/v3/users/"+user+"/application_credentials", src, nil)["application_credentials"].([]any)
	ids := map[string]bool{}
	for _, a := range listed {
		ids[idOf(a.(map[string]any))] = true
	}
	if ids[shortAC] || !ids[idOf(pyAC)] || len(listed) != 5 {
		t.Fatalf("after the purge the user holds %v (expired %s, own %s)", ids, shortAC, idOf(pyAC))
	}

	// Role removed (on the other project): the restricted token holding it
	// loses its only role, and both refuse it.
	otherSrc := py.issue(t, auth(passwordIdentity(user, pw), scopeProject(other))).Token
	r = exch(url.Values{"subject_token": {otherSrc}, "scope": {"role:member"}})
	if r.Status != http.StatusOK {
		t.Fatalf("exchange on the other project: %d %s", r.Status, r.Body)
	}
	otok := r.json(t)["access_token"].(string)
	if st := chk.compare(t, admin, otok, ""); st != http.StatusOK {
		t.Fatalf("restricted token on the other project: status %d, want 200 in both", st)
	}
	py.del(t, admin, "/v3/projects/"+other+"/users/"+user+"/roles/"+member)
	if st := chk.compare(t, admin, otok, ""); st != http.StatusNotFound {
		t.Fatalf("restricted token after its role was removed: status %d, want 404 in both", st)
	}

	// Disabled user: refused by both at once.
	py.patch(t, admin, "/v3/users/"+user, "user", map[string]any{"enabled": false})
	if st := chk.compare(t, admin, mtok, ""); st != http.StatusNotFound {
		t.Fatalf("restricted token of a disabled user: status %d, want 404 in both", st)
	}
	rc.unchanged(t, "exchange of a disabled user's token", func() {
		if got := exch(url.Values{"subject_token": {src}}); got.Status != 400 || got.json(t)["error"] != "invalid_request" {
			t.Fatalf("disabled user's exchange: %d %s", got.Status, got.Body)
		}
	})
}

// roleNames are a validated token's role names, sorted and joined.
func roleNames(tok map[string]any) string {
	var out []string
	rs, _ := tok["roles"].([]any)
	for _, r := range rs {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// methodsOf are a validated token's methods.
func methodsOf(tok map[string]any) []string {
	var out []string
	ms, _ := tok["methods"].([]any)
	for _, m := range ms {
		out = append(out, m.(string))
	}
	return out
}
