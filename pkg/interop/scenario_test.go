package interop

import (
	"flag"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPythonScenario runs the whole scenario against Python Keystone alone and
// checks Python's status codes against what the scenario expects. It needs no
// keystone-ng binary, so it verifies the dataset, the token kinds and the
// state-change steps (and documents Python's behaviour) on its own:
//
//	KSNG_INTEROP_ENV=... go test -count=1 -v -run TestPython ./pkg/interop/
//
// TestInteropScenario checks the same expectations, so to save CI time this
// test runs only when asked for by name (-run with "TestPython" in it) or with
// KSNG_INTEROP_PYTHON=1.
func TestPythonScenario(t *testing.T) {
	env := loadEnv(t)
	if f := flag.Lookup("test.run"); os.Getenv("KSNG_INTEROP_PYTHON") != "1" && (f == nil || !strings.Contains(f.Value.String(), "TestPython")) {
		t.Skip("Python-only run of the scenario; TestInteropScenario covers it (select it with -run TestPython or KSNG_INTEROP_PYTHON=1)")
	}
	py := newClient("python", env.BaseURL)
	runScenario(t, env, pyOnly{py: py}, nil)
}

// TestInteropScenario runs the same scenario with keystone-ng beside Python:
// after every step both must answer every validation request alike.
func TestInteropScenario(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	runScenario(t, env, pair{py: py, ng: ng}, ng)
}

// matrix validates every token of the set with authToken: GET for all, plus
// HEAD for the tokens named in withHead (those the step changed), for each
// query (default ""). want holds Python's expected status per token.
func matrix(t *testing.T, chk checker, step, authToken string, ts *tokenSet, want map[string]int, withHead []string, queries ...string) {
	t.Helper()
	if len(queries) == 0 {
		queries = []string{""}
	}
	head := map[string]bool{}
	for _, n := range withHead {
		head[n] = true
	}
	var cases []checkCase
	for _, name := range ts.names {
		methods := []string{"GET"}
		if head[name] || head["*"] {
			methods = append(methods, "HEAD")
		}
		for _, q := range queries {
			cases = append(cases, checkCase{label: step + "/" + name, authToken: authToken, subject: ts.tokens[name],
				query: q, methods: methods, wantPy: want[name]})
		}
	}
	runChecks(t, chk, cases)
}

func one(label, authToken, subject, query string, wantPy int) checkCase {
	return checkCase{label: label, authToken: authToken, subject: subject, query: query, wantPy: wantPy}
}

func runScenario(t *testing.T, env *pyEnv, chk checker, ng *sidecar) {
	py := chk.python()
	start := time.Now()
	ds := buildDataset(t, py, env)
	ts := issueAll(t, py, env, ds)
	t.Logf("dataset and %d tokens ready after %s", len(ts.names), time.Since(start).Round(time.Millisecond))
	admin := ds.adminToken

	want := map[string]int{}
	for _, n := range ts.names {
		want[n] = http.StatusOK
	}
	// a token from an application credential with access rules is "not found"
	// unless the caller announces access-rules support (keystonemiddleware
	// sends OpenStack-Identity-Access-Rules: 1)
	want["app-cred-access-rules"] = http.StatusNotFound
	step := func(name string, f func(t *testing.T)) {
		t0 := time.Now()
		t.Run(name, f)
		t.Logf("step %s took %s", name, time.Since(t0).Round(time.Millisecond))
	}

	step("baseline", func(t *testing.T) {
		matrix(t, chk, "baseline", admin, ts, want, []string{"*"}, "")
		matrix(t, chk, "baseline", admin, ts, want, nil, "?nocatalog", "?allow_expired=1")
		aProj := ts.get(t, "a-project")
		runChecks(t, chk, []checkCase{
			one("baseline/a-project", admin, aProj, "?nocatalog=0", http.StatusOK),
			one("baseline/a-project", admin, aProj, "?allow_expired=true", http.StatusOK),
			one("baseline/a-project", admin, aProj, "?nocatalog&allow_expired=yes", http.StatusOK),
			// the same token validated by a system-scoped admin and by a system reader
			one("system-admin-validates", ts.get(t, "admin-system"), aProj, "", http.StatusOK),
			one("system-reader-validates-other", ts.get(t, "a-system"), ts.get(t, "e-project"), "", http.StatusOK),
		})
		rules := ts.get(t, "app-cred-access-rules")
		var cases []checkCase
		for _, v := range []string{"1", "1.0", "0.9", "2"} {
			c := one("access-rules-header-"+v, admin, rules, "", 0)
			c.headers = []string{"OpenStack-Identity-Access-Rules", v}
			cases = append(cases, c)
		}
		cases[0].wantPy = http.StatusOK
		runChecks(t, chk, cases)
		nonNumericAccessRulesHeader(t, chk, admin, rules)
	})

	step("policy-and-errors", func(t *testing.T) {
		aProj, aUnscoped := ts.get(t, "a-project"), ts.get(t, "a-unscoped")
		runChecks(t, chk, []checkCase{
			one("self-validate", aProj, aUnscoped, "", http.StatusOK),
			one("self-validate-same-token", aProj, aProj, "", http.StatusOK),
			one("member-validates-own", ts.get(t, "b-group-only"), ts.get(t, "b-group-only"), "", http.StatusOK),
			one("member-validates-other-user", ts.get(t, "c-projq"), aProj, "", http.StatusForbidden),
			one("app-cred-validates-own", ts.get(t, "app-cred"), ts.get(t, "app-cred"), "", http.StatusOK),
			one("trustee-validates-trust-token", ts.get(t, "trust-plain"), ts.get(t, "trust-plain"), "", http.StatusOK),
			one("no-auth-token", "", aProj, "", http.StatusUnauthorized),
			one("garbage-auth-token", "not-a-token", aProj, "", http.StatusUnauthorized),
			one("garbage-subject", admin, "not-a-token", "", http.StatusNotFound),
			one("missing-subject", admin, "", "", http.StatusNotFound),
			one("truncated-subject", admin, aProj[:len(aProj)-8], "", http.StatusNotFound),
			one("tampered-subject", admin, flipChar(aProj, len(aProj)/2), "", http.StatusNotFound),
			one("padded-subject", admin, aProj+"==", "", 0),
			// subject errors come before the policy decision
			one("forbidden-caller-garbage-subject", ts.get(t, "c-projq"), "gAAAAAgarbage", "", http.StatusNotFound),
		})
	})

	step("revoke-token", func(t *testing.T) {
		py.revoke(t, admin, ts.get(t, "a-to-revoke"))
		want["a-to-revoke"] = http.StatusNotFound
		matrix(t, chk, "revoked", admin, ts, want, []string{"a-to-revoke"})
		runChecks(t, chk, []checkCase{one("revoked/allow_expired", admin, ts.get(t, "a-to-revoke"), "?allow_expired=1", http.StatusNotFound)})
	})

	step("remove-assignment", func(t *testing.T) {
		// userC loses its only role on projQ: the token has no roles left
		py.del(t, admin, "/v3/projects/"+ds.projQ+"/users/"+ds.userC+"/roles/"+ds.roles["member"])
		want["c-projq"] = http.StatusNotFound
		// userA loses the direct observer role on proj: its project tokens lose
		// observer (reader stays, it is assigned directly too), and the trust
		// that delegates observer can no longer be honoured (403 in Python)
		py.del(t, admin, "/v3/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+ds.roles["observer"])
		want["trust-plain"] = http.StatusForbidden
		matrix(t, chk, "assignment-removed", admin, ts, want, []string{"c-projq", "trust-plain", "a-project"})
	})

	step("leave-group", func(t *testing.T) {
		// userB held roles on proj only through the group, and keystone-ng
		// has validated its token before, so its assignment hint still
		// names the group. The membership goes away in the database, as
		// it does when an LDAP group changes: Python's
		// DELETE /v3/groups/{g}/users/{u} would also write a revocation
		// event for the user, which would refuse the token by itself.
		// Here only the group's rows no longer counting refuses it.
		directSQL(t, env)(t, "DELETE FROM user_group_membership WHERE user_id = ? AND group_id = ?", ds.userB, ds.group)
		want["b-group-only"] = http.StatusNotFound
		matrix(t, chk, "group-left", admin, ts, want, []string{"b-group-only", "a-project"})
	})

	step("delete-app-cred", func(t *testing.T) {
		py.del(t, admin, "/v3/users/"+ds.userA+"/application_credentials/"+ds.appCred)
		want["app-cred"] = http.StatusNotFound
		matrix(t, chk, "app-cred-deleted", admin, ts, want, []string{"app-cred"})
	})

	step("disable-project", func(t *testing.T) {
		py.patch(t, admin, "/v3/projects/"+ds.projOff, "project", map[string]any{"enabled": false})
		want["d-projoff"] = http.StatusNotFound
		matrix(t, chk, "project-disabled", admin, ts, want, []string{"d-projoff"})
	})

	step("disable-user", func(t *testing.T) {
		py.patch(t, admin, "/v3/users/"+ds.userE, "user", map[string]any{"enabled": false})
		want["e-project"] = http.StatusNotFound
		matrix(t, chk, "user-disabled", admin, ts, want, []string{"e-project"})
	})

	step("disable-domain", func(t *testing.T) {
		py.patch(t, admin, "/v3/domains/"+ds.dom2, "domain", map[string]any{"enabled": false})
		want["f-domain2"] = http.StatusNotFound
		want["f-project2"] = http.StatusNotFound
		matrix(t, chk, "domain-disabled", admin, ts, want, []string{"f-domain2", "f-project2"})
	})

	step("delete-trust", func(t *testing.T) {
		py.del(t, admin, "/v3/OS-TRUST/trusts/"+ds.trustImp)
		want["trust-impersonation"] = http.StatusNotFound
		matrix(t, chk, "trust-deleted", admin, ts, want, []string{"trust-impersonation"})
	})

	step("token-expiry", func(t *testing.T) {
		// Tokens from an application credential are capped at its expires_at,
		// which gives a token that expires within seconds without touching
		// [token] expiration (Python keeps microseconds out of expires_at).
		// 15 s: issuing, creating the credential and one comparison took
		// up to 6 s on a loaded two-core machine, and a comparison that
		// crosses the expiry instant compares two clocks, not two answers.
		expires := time.Now().UTC().Add(15 * time.Second).Truncate(time.Second)
		aTok := py.issue(t, auth(passwordIdentity(ds.userA, ds.password), scopeProject(ds.proj))).Token
		ac := py.create(t, aTok, "/v3/users/"+ds.userA+"/application_credentials", "application_credential", map[string]any{
			"name": "ng-appcred-short-" + ds.sfx, "expires_at": expires.Format("2006-01-02T15:04:05.000000Z")})
		short := py.issue(t, auth(appCredIdentity(idOf(ac), ac["secret"].(string)), nil))
		exp, _ := short.Body["token"].(map[string]any)["expires_at"].(string)
		t.Logf("short-lived token expires_at %s", exp)
		ts.add("app-cred-short", short.Token)
		want["app-cred-short"] = http.StatusOK
		if left := time.Until(expires); left < 2*time.Second {
			t.Fatalf("only %s left before the short token expires: too little to compare before expiry", left)
		}
		runChecks(t, chk, []checkCase{one("before-expiry/app-cred-short", admin, short.Token, "", http.StatusOK)})
		if wait := time.Until(expires) + 1500*time.Millisecond; wait > 0 {
			t.Logf("waiting %s for it to expire", wait.Round(time.Millisecond))
			time.Sleep(wait)
		}
		want["app-cred-short"] = http.StatusNotFound
		matrix(t, chk, "expired", admin, ts, want, []string{"app-cred-short"})
		var cases []checkCase
		for _, q := range []string{"?allow_expired=1", "?allow_expired=True", "?allow_expired=0", "?allow_expired=bogus", "?nocatalog&allow_expired=1"} {
			cases = append(cases, one("expired/app-cred-short", admin, short.Token, q, 0))
		}
		runChecks(t, chk, cases)
	})

	step(env.TokenProvider+"-rotate", func(t *testing.T) {
		rotateKeys(t, env)
		t.Logf("after the first rotation the key repository holds %v", keyFiles(env))
		newAdmin := adminLogin(t, py, env).Token // encrypted with the new primary key
		if ng != nil {
			waitAgree(t, py, ng.ksClient, newAdmin, newAdmin, 3*time.Second)
		}
		matrix(t, chk, "rotated-once", admin, ts, want, nil)
		runChecks(t, chk, []checkCase{
			one("rotated-once/new-token", admin, newAdmin, "", http.StatusOK),
			one("rotated-once/new-auth", newAdmin, ts.get(t, "a-project"), "", http.StatusOK),
		})

		rotateKeys(t, env)
		t.Logf("after the second rotation the key repository holds %v", keyFiles(env))
		// every token minted before the first rotation used a key that is gone now
		if ng != nil {
			waitAgree(t, py, ng.ksClient, newAdmin, ts.get(t, "a-project"), 3*time.Second)
		}
		for _, n := range ts.names {
			want[n] = http.StatusNotFound
		}
		matrix(t, chk, "rotated-twice", newAdmin, ts, want, []string{"a-project"})
		fresh := py.issue(t, auth(passwordIdentity(ds.userA, ds.password), scopeProject(ds.proj))).Token
		runChecks(t, chk, []checkCase{
			one("rotated-twice/new-token", newAdmin, newAdmin, "", http.StatusOK),
			one("rotated-twice/old-auth-token", admin, newAdmin, "", http.StatusUnauthorized),
			one("rotated-twice/fresh", newAdmin, fresh, "", http.StatusOK),
			one("rotated-twice/fresh-nocatalog", newAdmin, fresh, "?nocatalog", http.StatusOK),
		})
	})
}

// flipChar changes one character of a token (stays in the base64 alphabet).
func flipChar(s string, i int) string {
	c := s[i]
	r := byte('A')
	if c == 'A' {
		r = 'B'
	}
	return s[:i] + string(r) + s[i+1:]
}

// TestPythonEnv is a quick sanity check of the env file and Python's API.
func TestPythonEnv(t *testing.T) {
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	r := py.do(t, "GET", "/v3", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"v3.`) {
		t.Fatalf("GET %s/v3: status %d\n%s", env.BaseURL, r.Status, r.Body)
	}
	admin := adminLogin(t, py, env)
	v := validate(t, py, "GET", admin.Token, admin.Token, "")
	if v.Status != http.StatusOK {
		t.Fatalf("self-validation of the admin token: %d\n%s", v.Status, v.Body)
	}
	t.Logf("Python Keystone at %s (db %s, %s) validates its own tokens", env.URL, env.DB, env.DBURL)
}

// nonNumericAccessRulesHeader: Python Keystone 22 calls float() on the
// OpenStack-Identity-Access-Rules header of a request whose subject token
// comes from an application credential with access rules; a non-number raises
// an unhandled ValueError and uWSGI closes the connection without any HTTP
// response. There is nothing to compare, so this case is checked on its own:
// Python drops the connection, keystone-ng must at least not accept the token
// (any status >= 400; it is logged for the record).
func nonNumericAccessRulesHeader(t *testing.T, chk checker, admin, subject string) {
	t.Helper()
	hdr := []string{"OpenStack-Identity-Access-Rules", "bogus"}
	if r, err := validateE(chk.python(), "GET", admin, subject, "", hdr...); err == nil {
		t.Logf("note: python now answers a non-numeric OpenStack-Identity-Access-Rules with %d (it used to drop the connection)", r.Status)
	}
	p, ok := chk.(pair)
	if !ok {
		return
	}
	r, err := validateE(p.ng.ksClient, "GET", admin, subject, "", hdr...)
	if err != nil {
		t.Errorf("keystone-ng, non-numeric OpenStack-Identity-Access-Rules: %v", err)
		return
	}
	t.Logf("keystone-ng answers a non-numeric OpenStack-Identity-Access-Rules with %d: %s", r.Status, r.Body)
	if r.Status < 400 {
		t.Errorf("keystone-ng accepted an access-rules token with OpenStack-Identity-Access-Rules: bogus (status %d)", r.Status)
	}
}
