package interop

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
)

// advNGConf is the [keystone_ng] part of the suite's sidecar: the test
// IdPs' JWKS are on 127.0.0.1 (allowed explicitly, as operators must),
// no login rate limit (the suite logs in often from one address), and no
// purge during the test (a purge of earlier runs' expired rows between two
// row counts would look like a write).
const advNGConf = loopbackIdPs + noLoginLimit + "purge_interval = 1h\n"

// advWebAuthn turns passkeys on (as v4_passkeys_test.go does) with a 3 s
// re-authentication window.
const advWebAuthn = passkeyConf + "reauthentication_window = 3s\n"

// refusalFor is the status a persona gets for what it may not do: 401
// without a token, 403 with one.
func refusalFor(p string) int {
	if p == anonymous {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

// genericUnauthorized is Keystone's 401 message; logins say nothing more.
const genericUnauthorized = "The request you have made requires authentication."

// advCase is one attempt of the matrix: a persona (or a token of a given
// kind) sends method path body to keystone-ng and must get want. Every
// refusal (want >= 400) must also leave every counted table unchanged.
type advCase struct {
	name         string
	as           string                    // persona; ignored when token is set
	token        func(t *testing.T) string // a token of a particular kind
	method, path string
	body         any
	want         int
}

// run sends every case as its own subtest.
func (w *advWorld) run(t *testing.T, ng *sidecar, cases []advCase) {
	t.Helper()
	for _, c := range cases {
		who := c.as
		if c.token != nil {
			who = "token"
		}
		t.Run(who+"/"+c.name, func(t *testing.T) { w.try(t, ng, c) })
	}
}

// try sends one case and checks the status, Keystone's error JSON for
// any error, and the row counts around a refusal.
func (w *advWorld) try(t *testing.T, ng *sidecar, c advCase) *response {
	t.Helper()
	var tok string
	if c.token != nil {
		tok = c.token(t)
	} else {
		tok = w.token(t, c.as)
	}
	var hdr []string
	if tok != "" {
		hdr = []string{"X-Auth-Token", tok}
	}
	var r *response
	send := func() { r = ng.do(t, c.method, c.path, c.body, hdr...) }
	if c.want >= 400 {
		w.rc.unchanged(t, c.method+" "+c.path, send)
	} else {
		send()
	}
	if r.Status != c.want {
		t.Errorf("%s %s: status %d, want %d\n%s", c.method, c.path, r.Status, c.want, r.Body)
	}
	if r.Status >= 400 {
		wantErrorJSON(t, r)
	}
	return r
}

// wantErrorJSON checks Keystone's error document: {"error": {"code":
// <the status>, "title": "...", "message": "..."}}.
func wantErrorJSON(t *testing.T, r *response) {
	t.Helper()
	var doc struct {
		Error *struct {
			Code    *int    `json:"code"`
			Title   *string `json:"title"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.Error == nil || doc.Error.Code == nil ||
		doc.Error.Title == nil || doc.Error.Message == nil {
		t.Errorf("status %d without Keystone's error JSON: %s", r.Status, r.Body)
		return
	}
	if *doc.Error.Code != r.Status || *doc.Error.Title == "" || *doc.Error.Message == "" {
		t.Errorf("error JSON code %d (status %d), title %q, message %q", *doc.Error.Code, r.Status, *doc.Error.Title, *doc.Error.Message)
	}
}

// wantLoginRefused checks a refused login: 401, Keystone's generic message
// (the reason goes to keystone-ng's log only).
func wantLoginRefused(t *testing.T, r *response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("login: status %d, want 401\n%s", r.Status, r.Body)
		return
	}
	wantErrorJSON(t, r)
	if e, _ := r.json(t)["error"].(map[string]any); e["message"] != genericUnauthorized {
		t.Errorf("login refusal message %q, want Keystone's generic %q", e["message"], genericUnauthorized)
	}
}

// TestInteropAdversarial is issue 14's adversarial suite: the personas
// (system admin, domain admin, domain manager, project member, another
// domain's admin, anonymous) try every self-service escalation path
// against keystone-ng's HTTP API on Python Keystone's database; each gets
// the status and Keystone's error JSON, and every refusal leaves the row
// counts of Python's tables and of the ng_ tables unchanged. Logins are
// real JWT logins against a local IdP, and what a login gave is read back
// through Python's own token validation.
func TestInteropAdversarial(t *testing.T) {
	w := buildAdvWorld(t)
	ji := newJWTIssuer(t)
	ng := startSidecarWith(t, w.env, advNGConf, advWebAuthn)
	origin := "http://localhost:" + ng.base[strings.LastIndex(ng.base, ":")+1:]
	idps := "/v4/federation/identity_providers"

	// D1's IdP, created by its domain admin (an allowed path), and one
	// legal mapping every cross-domain case aims at.
	idpD1 := "adv-d1-" + w.sfx
	w.try(t, ng, advCase{as: domAdmin, method: "POST", path: idps, body: ji.idpBody(idpD1, w.d1), want: http.StatusCreated})
	maps := idps + "/" + idpD1 + "/mappings"
	member := func(name string) map[string]any {
		return mappingBody(name, "acme/"+name, shadowUser("acme/"+name), []any{grantOn("member", "project", w.p1)}, nil,
			map[string]any{"project": map[string]any{"id": w.p1}})
	}
	w.try(t, ng, advCase{as: domAdmin, method: "POST", path: maps, body: member("base"), want: http.StatusCreated})
	// D2's IdP, created by its admin.
	idpD2 := "adv-d2-" + w.sfx
	w.try(t, ng, advCase{as: otherAdmin, method: "POST", path: idps, body: ji.idpBody(idpD2, w.d2), want: http.StatusCreated})

	t.Run("1-role-escalation-on-write", func(t *testing.T) {
		grant := func(name, role, kind, id string) map[string]any {
			return mappingBody(name, "acme/"+name, shadowUser("acme/"+name), []any{grantOn(role, kind, id)}, nil, nil)
		}
		outside := w.globalRole(t, w.name("outside"))
		var cases []advCase
		for _, p := range []string{domManager, domAdmin, sysAdmin} {
			cases = append(cases,
				advCase{name: "grant-admin-on-D1", as: p, method: "POST", path: maps, body: grant("a-d1-"+p, "admin", "domain", w.d1), want: http.StatusForbidden},
				advCase{name: "grant-admin-on-P1", as: p, method: "POST", path: maps, body: grant("a-p1-"+p, "admin", "project", w.p1), want: http.StatusForbidden},
				advCase{name: "grant-non-listed-role", as: p, method: "POST", path: maps, body: grant("x-p1-"+p, w.name("outside"), "project", w.p1), want: http.StatusForbidden},
			)
		}
		cases = append(cases,
			advCase{name: "grant-member-on-P1", as: domManager, method: "POST", path: maps, body: member("m-mgr"), want: http.StatusCreated},
			advCase{name: "grant-member-on-P1", as: domAdmin, method: "POST", path: maps, body: member("m-dadmin"), want: http.StatusCreated},
			advCase{name: "grant-manager-on-D1", as: domManager, method: "POST", path: maps, body: grant("mgr-d1", "manager", "domain", w.d1), want: http.StatusCreated},
			advCase{name: "patch-to-grant-admin", as: domManager, method: "PATCH", path: maps + "/m-mgr", body: grant("", "admin", "project", w.p1), want: http.StatusForbidden},
			advCase{name: "patch-to-grant-admin", as: domAdmin, method: "PATCH", path: maps + "/m-dadmin", body: grant("", "admin", "domain", w.d1), want: http.StatusForbidden},
			// References outside the IdP's domain were refused before issue 14 (400, naming the field).
			advCase{name: "grant-member-on-other-domain-project", as: domAdmin, method: "POST", path: maps, body: grant("m-p2", "member", "project", w.p2), want: http.StatusBadRequest},
			advCase{name: "grant-member-on-other-domain", as: domManager, method: "POST", path: maps, body: grant("m-d2", "member", "domain", w.d2), want: http.StatusBadRequest},
		)
		w.run(t, ng, cases)

		// Groups a domain-owned mapping adds users to.
		gAdmin, gOut, gSys, gOK, gD2 := w.group(t, "g-admin", w.d1), w.group(t, "g-out", w.d1), w.group(t, "g-sys", w.d1), w.group(t, "g-ok", w.d1), w.group(t, "g-d2", w.d2)
		w.py.put(t, w.admin, "/v3/projects/"+w.p1+"/groups/"+gAdmin+"/roles/"+w.roles["admin"])
		w.py.put(t, w.admin, "/v3/projects/"+w.p2+"/groups/"+gOut+"/roles/"+w.roles["member"])
		w.py.put(t, w.admin, "/v3/system/groups/"+gSys+"/roles/"+w.roles["reader"])
		w.py.put(t, w.admin, "/v3/projects/"+w.p1+"/groups/"+gOK+"/roles/"+w.roles["member"])
		inGroup := func(name, g string) map[string]any {
			return mappingBody(name, "acme/"+name, shadowUser("acme/"+name), nil, []any{map[string]any{"id": g}}, nil)
		}
		cases = nil
		for _, p := range []string{domManager, domAdmin} {
			cases = append(cases,
				advCase{name: "group-with-admin-on-P1", as: p, method: "POST", path: maps, body: inGroup("g-admin-"+p, gAdmin), want: http.StatusForbidden},
				advCase{name: "group-with-role-outside-D1", as: p, method: "POST", path: maps, body: inGroup("g-out-"+p, gOut), want: http.StatusForbidden},
				advCase{name: "group-with-system-role", as: p, method: "POST", path: maps, body: inGroup("g-sys-"+p, gSys), want: http.StatusForbidden},
			)
		}
		cases = append(cases,
			advCase{name: "group-of-other-domain", as: domAdmin, method: "POST", path: maps, body: inGroup("g-d2", gD2), want: http.StatusBadRequest},
			advCase{name: "group-with-member-on-P1", as: domManager, method: "POST", path: maps, body: inGroup("g-ok", gOK), want: http.StatusCreated},
		)
		w.run(t, ng, cases)

		// A listed role whose implied closure leaves the list: reader ->
		// outside, for this subtest only.
		impl := "/v3/roles/" + w.roles["reader"] + "/implies/" + outside
		w.py.put(t, w.admin, impl)
		t.Cleanup(func() { w.py.do(t, "DELETE", impl, nil, "X-Auth-Token", w.admin) })
		w.run(t, ng, []advCase{
			{name: "grant-reader-implying-outside-role", as: domManager, method: "POST", path: maps, body: grant("r-impl", "reader", "project", w.p1), want: http.StatusForbidden},
		})
		w.py.del(t, w.admin, impl)

		// Global IdPs: system admins only, and they may grant anything.
		idpG := "adv-global-" + w.sfx
		w.run(t, ng, []advCase{
			{name: "create-global-idp", as: domManager, method: "POST", path: idps, body: ji.idpBody(idpG, nil), want: http.StatusForbidden},
			{name: "create-global-idp", as: domAdmin, method: "POST", path: idps, body: ji.idpBody(idpG, nil), want: http.StatusForbidden},
			{name: "create-global-idp", as: sysAdmin, method: "POST", path: idps, body: ji.idpBody(idpG, nil), want: http.StatusCreated},
			{name: "global-idp-mapping", as: domAdmin, method: "POST", path: idps + "/" + idpG + "/mappings", body: member("g-dadmin"), want: http.StatusForbidden},
			{name: "global-idp-grant-admin-on-P1", as: sysAdmin, method: "POST", path: idps + "/" + idpG + "/mappings", body: grant("g-admin", "admin", "project", w.p1), want: http.StatusCreated},
		})
	})

	t.Run("1-manager-end-to-end", func(t *testing.T) {
		// The manager runs an IdP whose keys they hold and tries to mint
		// admin: refused on write, so no login can ever give it.
		idpM := "adv-mgr-" + w.sfx
		mm := idps + "/" + idpM + "/mappings"
		w.run(t, ng, []advCase{
			{name: "create-idp-own-jwks", as: domManager, method: "POST", path: idps, body: ji.idpBody(idpM, w.d1), want: http.StatusCreated},
			{name: "mapping-grant-admin-on-D1", as: domManager, method: "POST", path: mm, body: mappingBody("escalate", "acme/esc", shadowUser("acme/esc"),
				[]any{grantOn("admin", "domain", w.d1)}, nil, map[string]any{"domain": map[string]any{"id": w.d1}}), want: http.StatusForbidden},
			{name: "mapping-grant-member-on-P1", as: domManager, method: "POST", path: mm, body: member("deploy"), want: http.StatusCreated},
		})
		var r *response
		w.rc.unchanged(t, "JWT login with the refused mapping", func() { r = jwtLogin(t, ng, ji, idpM, "escalate", "acme/esc") })
		wantLoginRefused(t, r)

		r = jwtLogin(t, ng, ji, idpM, "deploy", "acme/deploy")
		if r.Status != http.StatusCreated {
			t.Fatalf("manager's workload login: %d %s", r.Status, r.Body)
		}
		tok := r.Header.Get("X-Subject-Token")
		roles, scope := w.pyRoles(t, tok)
		if want := []string{"member", "reader"}; !reflect.DeepEqual(roles, want) || scope != "project:"+w.p1 {
			t.Errorf("Python validates the workload token with roles %v on %s, want %v on project:%s", roles, scope, want, w.p1)
		}
		// Nor can the workload rescope to the domain through Python.
		if r := w.py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(tokenIdentity(tok), scopeDomain(w.d1))}); r.Status != http.StatusUnauthorized {
			t.Errorf("Python rescoped the workload token to D1: %d %s", r.Status, r.Body)
		}
	})

	t.Run("2-existing-user-on-write", func(t *testing.T) {
		pw := "Adv-" + w.sfx + "-pw!"
		uSys, uOut, uOK, uD2 := w.user(t, "u-sys", w.d1, pw), w.user(t, "u-out", w.d1, pw), w.user(t, "u-ok", w.d1, pw), w.user(t, "u-d2", w.d2, pw)
		w.py.put(t, w.admin, "/v3/system/users/"+uSys+"/roles/"+w.roles["reader"])
		w.py.put(t, w.admin, "/v3/projects/"+w.p2+"/users/"+uOut+"/roles/"+w.roles["member"])
		w.py.put(t, w.admin, "/v3/projects/"+w.p1+"/users/"+uOK+"/roles/"+w.roles["member"])
		asUser := func(name, u string) map[string]any {
			return mappingBody(name, "acme/"+name, map[string]any{"id": u}, nil, nil, nil)
		}
		var cases []advCase
		for _, p := range []string{domManager, domAdmin} {
			cases = append(cases,
				advCase{name: "user-with-system-role", as: p, method: "POST", path: maps, body: asUser("u-sys-"+p, uSys), want: http.StatusForbidden},
				advCase{name: "user-with-role-in-D2", as: p, method: "POST", path: maps, body: asUser("u-out-"+p, uOut), want: http.StatusForbidden},
			)
		}
		cases = append(cases,
			// The manager must not sign in as the domain's admin, nor as a
			// fellow manager's superior: admin is outside the list.
			advCase{name: "manager-maps-onto-the-domain-admin", as: domManager, method: "POST", path: maps,
				body: asUser("u-dadmin", w.personas[domAdmin].userID), want: http.StatusForbidden},
			advCase{name: "user-of-D2", as: domAdmin, method: "POST", path: maps, body: asUser("u-d2", uD2), want: http.StatusBadRequest},
			advCase{name: "user-with-D1-roles-only", as: domAdmin, method: "POST", path: maps, body: asUser("u-ok", uOK), want: http.StatusCreated},
		)
		w.run(t, ng, cases)
	})

	t.Run("1+2-made-illegal-after-write", func(t *testing.T) {
		// Each mapping is legal when written and logs in; then the system
		// admin changes roles through Python and the next login is refused
		// with the generic 401 and writes nothing (ng_jwt_jti included).
		pw := "Adv-" + w.sfx + "-pw!"
		p1Scope := map[string]any{"project": map[string]any{"id": w.p1}}
		outside := w.globalRole(t, w.name("outside"))
		gLate, gLateSys := w.group(t, "g-late", w.d1), w.group(t, "g-late-sys", w.d1)
		uLate, uLateSys := w.user(t, "u-late", w.d1, pw), w.user(t, "u-late-sys", w.d1, pw)
		for _, a := range []string{"/v3/projects/" + w.p1 + "/groups/" + gLate, "/v3/projects/" + w.p1 + "/groups/" + gLateSys,
			"/v3/projects/" + w.p1 + "/users/" + uLate, "/v3/projects/" + w.p1 + "/users/" + uLateSys} {
			w.py.put(t, w.admin, a+"/roles/"+w.roles["member"])
		}
		for _, tc := range []struct {
			name    string
			body    map[string]any
			wantUID string   // the token's user when the mapping names one
			change  []string // Python API paths PUT to make the mapping illegal (DELETEd after)
		}{
			{name: "member-implies-outside-role", body: member("late-implied"), change: []string{"/v3/roles/" + w.roles["member"] + "/implies/" + outside}},
			{name: "group-gets-admin-on-P1", body: mappingBody("late-group", "acme/late-group", shadowUser("acme/late-group"), nil, []any{map[string]any{"id": gLate}}, p1Scope),
				change: []string{"/v3/projects/" + w.p1 + "/groups/" + gLate + "/roles/" + w.roles["admin"]}},
			{name: "group-gets-system-role", body: mappingBody("late-group-sys", "acme/late-group-sys", shadowUser("acme/late-group-sys"), nil, []any{map[string]any{"id": gLateSys}}, p1Scope),
				change: []string{"/v3/system/groups/" + gLateSys + "/roles/" + w.roles["reader"]}},
			{name: "user-gets-role-in-D2", body: mappingBody("late-user", "acme/late-user", map[string]any{"id": uLate}, nil, nil, p1Scope), wantUID: uLate,
				change: []string{"/v3/projects/" + w.p2 + "/users/" + uLate + "/roles/" + w.roles["member"]}},
			{name: "user-gets-system-role", body: mappingBody("late-user-sys", "acme/late-user-sys", map[string]any{"id": uLateSys}, nil, nil, p1Scope), wantUID: uLateSys,
				change: []string{"/v3/system/users/" + uLateSys + "/roles/" + w.roles["reader"]}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := tc.body["mapping"].(map[string]any)
				name := m["name"].(string)
				repo := m["rules"].([]any)[0].(map[string]any)["match"].([]any)[0].(map[string]any)["equals"].(string)
				w.try(t, ng, advCase{as: domManager, method: "POST", path: maps, body: tc.body, want: http.StatusCreated})
				r := jwtLogin(t, ng, ji, idpD1, name, repo)
				if r.Status != http.StatusCreated {
					t.Fatalf("login while the mapping is legal: %d %s", r.Status, r.Body)
				}
				roles, scope := w.pyRoles(t, r.Header.Get("X-Subject-Token"))
				if want := []string{"member", "reader"}; !reflect.DeepEqual(roles, want) || scope != "project:"+w.p1 {
					t.Errorf("Python validates the login's token with roles %v on %s, want %v on project:%s", roles, scope, want, w.p1)
				}
				if tc.wantUID != "" {
					body := validate(t, w.py, "GET", w.admin, r.Header.Get("X-Subject-Token"), "").json(t)["token"].(map[string]any)
					if got := idOf(body["user"].(map[string]any)); got != tc.wantUID {
						t.Errorf("token user %s, want the mapped user %s", got, tc.wantUID)
					}
				}
				for _, p := range tc.change {
					w.py.put(t, w.admin, p)
					t.Cleanup(func() { w.py.do(t, "DELETE", p, nil, "X-Auth-Token", w.admin) })
				}
				w.rc.unchanged(t, "JWT login through a mapping made illegal", func() { r = jwtLogin(t, ng, ji, idpD1, name, repo) })
				wantLoginRefused(t, r)
				for _, p := range tc.change {
					w.py.del(t, w.admin, p)
				}
			})
		}
	})

	t.Run("4-cross-domain-and-anonymous", func(t *testing.T) {
		one := idps + "/" + idpD1
		var cases []advCase
		for _, p := range []string{otherAdmin, projMember, anonymous} {
			want := refusalFor(p)
			cases = append(cases,
				advCase{name: "create-idp-in-D1", as: p, method: "POST", path: idps, body: ji.idpBody("adv-x-"+p+"-"+w.sfx, w.d1), want: want},
				advCase{name: "list-idps-of-D1", as: p, method: "GET", path: idps + "?domain_id=" + w.d1, want: want},
				advCase{name: "get-idp", as: p, method: "GET", path: one, want: want},
				advCase{name: "update-idp", as: p, method: "PATCH", path: one, body: map[string]any{"identity_provider": map[string]any{"enabled": false}}, want: want},
				advCase{name: "delete-idp", as: p, method: "DELETE", path: one, want: want},
				advCase{name: "create-mapping", as: p, method: "POST", path: maps, body: member("x-" + p), want: want},
				advCase{name: "list-mappings", as: p, method: "GET", path: maps, want: want},
				advCase{name: "get-mapping", as: p, method: "GET", path: maps + "/base", want: want},
				advCase{name: "update-mapping", as: p, method: "PATCH", path: maps + "/base", body: member(""), want: want},
				advCase{name: "delete-mapping", as: p, method: "DELETE", path: maps + "/base", want: want},
			)
		}
		// D1's manager and admin on D2's IdP.
		two := idps + "/" + idpD2
		for _, p := range []string{domManager, domAdmin} {
			cases = append(cases,
				advCase{name: "get-D2-idp", as: p, method: "GET", path: two, want: http.StatusForbidden},
				advCase{name: "update-D2-idp", as: p, method: "PATCH", path: two, body: map[string]any{"identity_provider": map[string]any{"enabled": false}}, want: http.StatusForbidden},
				advCase{name: "delete-D2-idp", as: p, method: "DELETE", path: two, want: http.StatusForbidden},
				advCase{name: "create-D2-mapping", as: p, method: "POST", path: two + "/mappings", body: member("x-d2-" + p), want: http.StatusForbidden},
				advCase{name: "create-idp-in-D2", as: p, method: "POST", path: idps, body: ji.idpBody("adv-y-"+p+"-"+w.sfx, w.d2), want: http.StatusForbidden},
			)
		}
		w.run(t, ng, cases)
	})

	// Passkeys: the owner's own fresh password token registers one
	// (software authenticator, real WebAuthn verification). From here on
	// every request gets a token issued just before it.
	w.freshTokens = true
	owner := w.personas[pkOwner].userID
	pks := "/v4/users/" + owner + "/passkeys"
	var pkID string
	// The passkey cases below need this passkey; when -run filters the
	// subtest out they are left out too.
	t.Run("5-own-fresh-token-registers", func(t *testing.T) {
		a := passkeytest.New(origin)
		pkID = registerPasskey(t, ng, w.token(t, pkOwner), w.token(t, pkOwner), owner, a)
	})
	if pkID == "" {
		if !t.Failed() {
			return // the subtest was filtered out by -run: nothing below can run
		}
		t.Fatal("no passkey registered: the delegated-token cases need one")
	}

	t.Run("3-delegated-tokens", func(t *testing.T) {
		ownerScoped := func(t *testing.T) string {
			p := w.personas[pkOwner]
			return w.py.issue(t, auth(passwordIdentity(p.userID, p.password), scopeProject(w.p1))).Token
		}
		ac := w.py.create(t, ownerScoped(t), "/v3/users/"+owner+"/application_credentials", "application_credential",
			map[string]any{"name": w.name("ac"), "roles": []any{map[string]any{"id": w.roles["member"]}}})
		appCred := func(t *testing.T) string {
			return w.py.issue(t, auth(appCredIdentity(idOf(ac), ac["secret"].(string)), nil)).Token
		}
		trustee := w.personas[trusteeUser]
		newTrust := func(imp bool) string {
			return idOf(w.py.create(t, ownerScoped(t), "/v3/OS-TRUST/trusts", "trust", map[string]any{
				"trustor_user_id": owner, "trustee_user_id": trustee.userID, "project_id": w.p1,
				"impersonation": imp, "roles": []any{map[string]any{"name": "member"}}}))
		}
		trustImp, trustPlain := newTrust(true), newTrust(false)
		trustTok := func(id string) func(t *testing.T) string {
			return func(t *testing.T) string {
				return w.py.issue(t, auth(passwordIdentity(trustee.userID, trustee.password), scopeTrust(id))).Token
			}
		}
		oa := w.personas[oauthOwner]
		consumer := w.py.create(t, w.admin, "/v3/OS-OAUTH1/consumers", "consumer", map[string]any{"description": w.name("consumer")})
		grant := oauth1Dance(t, w.py, oauth1Cred{key: idOf(consumer), secret: consumer["secret"].(string)},
			idOf(oa.scope.(map[string]any)["project"].(map[string]any)), w.token(t, oauthOwner), w.roles["member"])
		oauthTok := func(t *testing.T) string { return oauth1Token(t, w.py, grant).Token }
		w.try(t, ng, advCase{as: domManager, method: "POST", path: maps, body: mappingBody("wl", "acme/wl", shadowUser("acme/wl"), nil, nil, nil), want: http.StatusCreated})
		var workloadUser string
		workload := func(t *testing.T) string {
			r := jwtLogin(t, ng, ji, idpD1, "wl", "acme/wl")
			if r.Status != http.StatusCreated {
				t.Fatalf("workload login: %d %s", r.Status, r.Body)
			}
			workloadUser = idOf(r.json(t)["token"].(map[string]any)["user"].(map[string]any))
			return r.Header.Get("X-Subject-Token")
		}
		workload(t) // the shadow user exists from here on
		start := map[string]any{"name": "delegated"}
		one := pks + "/" + pkID
		w.run(t, ng, []advCase{
			{name: "app-cred/register-start", token: appCred, method: "POST", path: pks + "/register/start", body: start, want: http.StatusForbidden},
			{name: "app-cred/list", token: appCred, method: "GET", path: pks, want: http.StatusForbidden},
			{name: "app-cred/get", token: appCred, method: "GET", path: one, want: http.StatusForbidden},
			{name: "app-cred/rename", token: appCred, method: "PATCH", path: one, body: map[string]any{"passkey": map[string]any{"name": "stolen"}}, want: http.StatusForbidden},
			{name: "app-cred/delete", token: appCred, method: "DELETE", path: one, want: http.StatusForbidden},
			{name: "trust-impersonation/register-start", token: trustTok(trustImp), method: "POST", path: pks + "/register/start", body: start, want: http.StatusForbidden},
			{name: "trust/register-start-for-trustee", token: trustTok(trustPlain), method: "POST", path: "/v4/users/" + trustee.userID + "/passkeys/register/start", body: start, want: http.StatusForbidden},
			{name: "oauth1/register-start", token: oauthTok, method: "POST", path: "/v4/users/" + oa.userID + "/passkeys/register/start", body: start, want: http.StatusForbidden},
			{name: "workload-jwt/register-start", token: workload, method: "POST", path: "/v4/users/" + workloadUser + "/passkeys/register/start", body: start, want: http.StatusForbidden},
		})

		// Re-authentication: a token older than the 3 s window is refused,
		// a fresh one of the same user is not.
		stale := w.token(t, pkOwner)
		time.Sleep(4 * time.Second)
		w.run(t, ng, []advCase{
			{name: "stale-password/register-start", token: func(*testing.T) string { return stale }, method: "POST", path: pks + "/register/start", body: start, want: http.StatusForbidden},
			{name: "fresh-password/register-start", as: pkOwner, method: "POST", path: pks + "/register/start", body: start, want: http.StatusOK},
		})
	})

	t.Run("4-cross-domain-passkeys", func(t *testing.T) {
		one := pks + "/" + pkID
		var cases []advCase
		for _, p := range []string{otherAdmin, projMember, anonymous} {
			want := refusalFor(p)
			cases = append(cases,
				advCase{name: "register-start", as: p, method: "POST", path: pks + "/register/start", body: map[string]any{"name": "x"}, want: want},
				advCase{name: "register-finish", as: p, method: "POST", path: pks + "/register/finish", body: map[string]any{"ceremony_id": "x", "credential": map[string]any{}}, want: want},
				advCase{name: "list", as: p, method: "GET", path: pks, want: want},
				advCase{name: "get", as: p, method: "GET", path: one, want: want},
				advCase{name: "rename", as: p, method: "PATCH", path: one, body: map[string]any{"passkey": map[string]any{"name": "stolen"}}, want: want},
				advCase{name: "delete", as: p, method: "DELETE", path: one, want: want},
			)
		}
		w.run(t, ng, cases)
	})

	t.Run("3-federated-user-passkey-follows-idp", func(t *testing.T) {
		// A federated user's passkey: the system admin registers it for
		// the user (a workload's own token may not), then the IdP is
		// disabled and deleted.
		idpF := "adv-fed-" + w.sfx
		w.try(t, ng, advCase{as: domAdmin, method: "POST", path: idps, body: ji.idpBody(idpF, w.d1), want: http.StatusCreated})
		w.try(t, ng, advCase{as: domAdmin, method: "POST", path: idps + "/" + idpF + "/mappings",
			body: mappingBody("fed", "acme/fed", shadowUser("acme/fed"), nil, nil, nil), want: http.StatusCreated})
		r := jwtLogin(t, ng, ji, idpF, "fed", "acme/fed")
		if r.Status != http.StatusCreated {
			t.Fatalf("federated login: %d %s", r.Status, r.Body)
		}
		fedUser := idOf(r.json(t)["token"].(map[string]any)["user"].(map[string]any))
		st := ng.do(t, "POST", "/v4/users/"+fedUser+"/passkeys/register/start", map[string]any{"name": "fed"}, "X-Auth-Token", w.token(t, sysAdmin))
		if st.Status == http.StatusForbidden {
			t.Skipf("a system admin may not register a passkey for a federated user (%s); without an OIDC browser login "+
				"of that user there is no non-workload token to register one with", st.Body)
		}
		a := passkeytest.New(origin)
		registerPasskey(t, ng, w.token(t, sysAdmin), w.token(t, sysAdmin), fedUser, a)
		if r := passkeyLogin(t, ng, a, fedUser, nil); r.Status != http.StatusCreated {
			t.Fatalf("passkey login of the federated user while the IdP is enabled: %d %s", r.Status, r.Body)
		}
		setEnabled := func(on bool) {
			w.try(t, ng, advCase{as: domAdmin, method: "PATCH", path: idps + "/" + idpF,
				body: map[string]any{"identity_provider": map[string]any{"enabled": on}}, want: http.StatusOK})
		}
		setEnabled(false)
		wantLoginRefused(t, passkeyLogin(t, ng, a, fedUser, w.rc))
		setEnabled(true)
		if r := passkeyLogin(t, ng, a, fedUser, nil); r.Status != http.StatusCreated {
			t.Fatalf("passkey login after the IdP is enabled again: %d %s", r.Status, r.Body)
		}
		w.try(t, ng, advCase{as: domAdmin, method: "DELETE", path: idps + "/" + idpF, want: http.StatusNoContent})
		wantLoginRefused(t, passkeyLogin(t, ng, a, fedUser, w.rc))
	})
}

// registerPasskey registers a passkey of userID with the software
// authenticator a: start with tokStart, finish with tokFinish; returns
// the passkey's id.
func registerPasskey(t *testing.T, ng *sidecar, tokStart, tokFinish, userID string, a *passkeytest.Authenticator) string {
	t.Helper()
	base := "/v4/users/" + userID + "/passkeys/register/"
	begun := ng.must(t, http.StatusOK, "POST", base+"start", tokStart, map[string]any{"name": "adv"})
	opts, err := json.Marshal(begun["options"])
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := ng.must(t, http.StatusCreated, "POST", base+"finish", tokFinish, map[string]any{
		"ceremony_id": begun["ceremony_id"], "name": "adv", "credential": cred})
	return idOf(done["passkey"].(map[string]any))
}

// passkeyLogin signs userID in with a's passkey; with rc, the finish is
// checked to write nothing but the consumption of its own ceremony.
func passkeyLogin(t *testing.T, ng *sidecar, a *passkeytest.Authenticator, userID string, rc *rowCounter) *response {
	t.Helper()
	begun := ng.must(t, http.StatusOK, "POST", "/v4/auth/passkey/start", "", map[string]any{"user": map[string]any{"id": userID}})
	opts, err := json.Marshal(begun["options"])
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	var r *response
	finish := func() {
		r = ng.do(t, "POST", "/v4/auth/passkey/finish", map[string]any{"ceremony_id": begun["ceremony_id"], "credential": cred})
	}
	if rc == nil {
		finish()
	} else {
		rc.unchanged(t, "passkey login", finish, "ng_passkey_ceremonies")
	}
	return r
}
