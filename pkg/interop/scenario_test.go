package interop

import (
	"net/http"
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
func TestPythonScenario(t *testing.T) {
	env := loadEnv(t)
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

// matrix validates every token of the set with authToken and checks the
// expected Python status of each (0 = no expectation).
func matrix(t *testing.T, chk checker, step, authToken string, ts *tokenSet, want map[string]int, queries ...string) {
	t.Helper()
	if len(queries) == 0 {
		queries = []string{""}
	}
	for _, name := range ts.names {
		for _, q := range queries {
			chk.check(t, step+"/"+name, authToken, ts.tokens[name], q, want[name])
		}
	}
}

func runScenario(t *testing.T, env *pyEnv, chk checker, ng *sidecar) {
	py := chk.python()
	ds := buildDataset(t, py, env)
	ts := issueAll(t, py, env, ds)
	admin := ds.adminToken

	want := map[string]int{}
	for _, n := range ts.names {
		want[n] = http.StatusOK
	}

	t.Run("baseline", func(t *testing.T) {
		matrix(t, chk, "baseline", admin, ts, want, "", "?nocatalog", "?allow_expired=1")
		for _, q := range []string{"?nocatalog=0", "?allow_expired=true", "?allow_expired=0", "?nocatalog&allow_expired=yes"} {
			chk.check(t, "baseline/a-project", admin, ts.get(t, "a-project"), q, http.StatusOK)
		}
		// the same token validated by a system-scoped admin and by a system reader
		chk.check(t, "system-admin-validates", ts.get(t, "admin-system"), ts.get(t, "a-project"), "", http.StatusOK)
		chk.check(t, "system-reader-validates-other", ts.get(t, "a-system"), ts.get(t, "e-project"), "", http.StatusOK)
	})

	t.Run("policy-and-errors", func(t *testing.T) {
		aProj, aUnscoped := ts.get(t, "a-project"), ts.get(t, "a-unscoped")
		chk.check(t, "self-validate", aProj, aUnscoped, "", http.StatusOK)
		chk.check(t, "self-validate-same-token", aProj, aProj, "", http.StatusOK)
		chk.check(t, "member-validates-own", ts.get(t, "b-group-only"), ts.get(t, "b-group-only"), "", http.StatusOK)
		chk.check(t, "member-validates-other-user", ts.get(t, "c-projq"), aProj, "", http.StatusForbidden)
		chk.check(t, "app-cred-validates-own", ts.get(t, "app-cred"), ts.get(t, "app-cred"), "", http.StatusOK)
		chk.check(t, "trustee-validates-trust-token", ts.get(t, "trust-plain"), ts.get(t, "trust-plain"), "", http.StatusOK)
		chk.check(t, "no-auth-token", "", aProj, "", http.StatusUnauthorized)
		chk.check(t, "garbage-auth-token", "not-a-token", aProj, "", http.StatusUnauthorized)
		chk.check(t, "garbage-subject", admin, "not-a-token", "", http.StatusNotFound)
		chk.check(t, "missing-subject", admin, "", "", http.StatusNotFound)
		chk.check(t, "truncated-subject", admin, aProj[:len(aProj)-8], "", http.StatusNotFound)
		chk.check(t, "tampered-subject", admin, flipChar(aProj, len(aProj)/2), "", http.StatusNotFound)
		chk.check(t, "forbidden-before-garbage-subject", ts.get(t, "c-projq"), "gAAAAAgarbage", "", http.StatusNotFound)
	})

	t.Run("revoke-token", func(t *testing.T) {
		py.revoke(t, admin, ts.get(t, "a-to-revoke"))
		want["a-to-revoke"] = http.StatusNotFound
		matrix(t, chk, "revoked", admin, ts, want)
		chk.check(t, "revoked/allow_expired", admin, ts.get(t, "a-to-revoke"), "?allow_expired=1", http.StatusNotFound)
	})

	t.Run("remove-assignment", func(t *testing.T) {
		// userC loses its only role on projQ: the token has no roles left
		py.del(t, admin, "/v3/projects/"+ds.projQ+"/users/"+ds.userC+"/roles/"+ds.roles["member"])
		want["c-projq"] = http.StatusNotFound
		// userA loses the direct observer role on proj: its project tokens lose
		// observer (reader stays, it is assigned directly too), and the trust
		// that delegates observer can no longer be honoured
		py.del(t, admin, "/v3/projects/"+ds.proj+"/users/"+ds.userA+"/roles/"+ds.roles["observer"])
		want["trust-plain"] = http.StatusForbidden
		matrix(t, chk, "assignment-removed", admin, ts, want)
	})

	t.Run("delete-app-cred", func(t *testing.T) {
		py.del(t, admin, "/v3/users/"+ds.userA+"/application_credentials/"+ds.appCred)
		want["app-cred"] = http.StatusNotFound
		matrix(t, chk, "app-cred-deleted", admin, ts, want)
	})

	t.Run("disable-project", func(t *testing.T) {
		py.patch(t, admin, "/v3/projects/"+ds.projOff, "project", map[string]any{"enabled": false})
		want["d-projoff"] = http.StatusNotFound
		matrix(t, chk, "project-disabled", admin, ts, want)
	})

	t.Run("disable-user", func(t *testing.T) {
		py.patch(t, admin, "/v3/users/"+ds.userE, "user", map[string]any{"enabled": false})
		want["e-project"] = http.StatusNotFound
		matrix(t, chk, "user-disabled", admin, ts, want)
	})

	t.Run("disable-domain", func(t *testing.T) {
		py.patch(t, admin, "/v3/domains/"+ds.dom2, "domain", map[string]any{"enabled": false})
		want["f-domain2"] = http.StatusNotFound
		want["f-project2"] = http.StatusNotFound
		matrix(t, chk, "domain-disabled", admin, ts, want)
	})

	t.Run("delete-trust", func(t *testing.T) {
		py.del(t, admin, "/v3/OS-TRUST/trusts/"+ds.trustImp)
		want["trust-impersonation"] = http.StatusNotFound
		matrix(t, chk, "trust-deleted", admin, ts, want)
	})

	t.Run("token-expiry", func(t *testing.T) {
		// app-cred-short was capped at the application credential's expiry
		wait := time.Until(ds.appCredShortExpires) + 1500*time.Millisecond
		if wait > 0 {
			t.Logf("waiting %s for app-cred-short to expire", wait.Round(time.Millisecond))
			time.Sleep(wait)
		}
		want["app-cred-short"] = http.StatusNotFound
		matrix(t, chk, "expired", admin, ts, want)
		for _, q := range []string{"?allow_expired=1", "?allow_expired=True", "?allow_expired=0", "?allow_expired=bogus"} {
			chk.check(t, "expired/app-cred-short", admin, ts.get(t, "app-cred-short"), q, 0)
		}
	})

	t.Run("fernet-rotate", func(t *testing.T) {
		fernetRotate(t, env)
		t.Logf("after the first rotation the key repository holds %v", keyFiles(env))
		newAdmin := adminLogin(t, py, env).Token // encrypted with the new primary key
		if ng != nil {
			waitAgree(t, py, ng.ksClient, newAdmin, newAdmin, 3*time.Second)
		}
		matrix(t, chk, "rotated-once", admin, ts, want)
		chk.check(t, "rotated-once/new-token", admin, newAdmin, "", http.StatusOK)
		chk.check(t, "rotated-once/new-auth", newAdmin, ts.get(t, "a-project"), "", http.StatusOK)

		fernetRotate(t, env)
		t.Logf("after the second rotation the key repository holds %v", keyFiles(env))
		// every token minted before the first rotation used a key that is gone now
		if ng != nil {
			waitAgree(t, py, ng.ksClient, newAdmin, ts.get(t, "a-project"), 3*time.Second)
		}
		for _, n := range ts.names {
			want[n] = http.StatusNotFound
		}
		matrix(t, chk, "rotated-twice", newAdmin, ts, want)
		chk.check(t, "rotated-twice/new-token", newAdmin, newAdmin, "", http.StatusOK)
		chk.check(t, "rotated-twice/old-auth-token", admin, newAdmin, "", http.StatusUnauthorized)
		fresh := py.issue(t, auth(passwordIdentity(ds.userA, ds.password), scopeProject(ds.proj))).Token
		chk.check(t, "rotated-twice/fresh", newAdmin, fresh, "", http.StatusOK)
		chk.check(t, "rotated-twice/fresh-nocatalog", newAdmin, fresh, "?nocatalog", http.StatusOK)
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
