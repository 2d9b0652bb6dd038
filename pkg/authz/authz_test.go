package authz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	sysAdmin    = Caller{UserID: "u-sys", UserDomainID: "default", Roles: []string{"admin", "member", "reader"}, ScopeType: "system", ScopeID: "all"}
	sysReader   = Caller{UserID: "u-sysr", UserDomainID: "default", Roles: []string{"reader"}, ScopeType: "system", ScopeID: "all"}
	domAdminA   = Caller{UserID: "u-da", UserDomainID: "dom-a", Roles: []string{"admin", "member", "reader"}, ScopeType: "domain", ScopeID: "dom-a", ScopeDomainID: "dom-a"}
	domMgrA     = Caller{UserID: "u-dm", UserDomainID: "dom-a", Roles: []string{"manager"}, ScopeType: "domain", ScopeID: "dom-a", ScopeDomainID: "dom-a"}
	domReaderA  = Caller{UserID: "u-dr", UserDomainID: "dom-a", Roles: []string{"reader"}, ScopeType: "domain", ScopeID: "dom-a", ScopeDomainID: "dom-a"}
	domAdminB   = Caller{UserID: "u-db", UserDomainID: "dom-b", Roles: []string{"admin"}, ScopeType: "domain", ScopeID: "dom-b", ScopeDomainID: "dom-b"}
	projAdminA  = Caller{UserID: "u-pa", UserDomainID: "dom-a", Roles: []string{"admin", "member", "reader"}, ScopeType: "project", ScopeID: "p-1", ScopeDomainID: "dom-a"}
	projMemberA = Caller{UserID: "u-pm", UserDomainID: "dom-a", Roles: []string{"member", "reader"}, ScopeType: "project", ScopeID: "p-1", ScopeDomainID: "dom-a"}
	unscopedPM  = Caller{UserID: "u-pm", UserDomainID: "dom-a", ScopeType: "unscoped"} // nil Roles on purpose
)

func newEngine(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{OverrideDir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestAuthorize(t *testing.T) {
	e := newEngine(t, "")
	domA := map[string]any{"domain_id": "dom-a"}
	global := map[string]any{"domain_id": nil}
	pmKey := map[string]any{"user_id": "u-pm", "domain_id": "dom-a"}

	stale := func(c Caller) Caller { c.TokenAgeSeconds = 601; return c }
	with := func(c Caller, f func(*Caller)) Caller { f(&c); return c }
	cases := []struct {
		name      string
		action    string
		caller    Caller
		target    map[string]any
		allow     bool
		reasonHas string
	}{
		{"system admin creates global idp", "identity_provider:create", sysAdmin, global, true, ""},
		{"system admin creates idp with nil target", "identity_provider:create", sysAdmin, nil, true, ""},
		{"system admin updates domain mapping", "mapping:update", sysAdmin, domA, true, ""},
		{"domain admin creates idp in own domain", "identity_provider:create", domAdminA, domA, true, ""},
		{"domain manager deletes mapping in own domain", "mapping:delete", domMgrA, domA, true, ""},
		{"domain admin of other domain denied", "identity_provider:update", domAdminB, domA, false, "domain admin of the identity provider's domain or system admin required"},
		{"domain admin cannot create global idp", "identity_provider:create", domAdminA, global, false, "system admin required for a global identity provider"},
		{"domain admin cannot create idp with empty domain", "identity_provider:create", domAdminA, map[string]any{"domain_id": ""}, false, "system admin"},
		{"project admin denied idp create", "identity_provider:create", projAdminA, domA, false, "domain admin"},
		{"project member denied mapping get", "mapping:get", projMemberA, domA, false, "reader of the mapping's domain"},
		{"system reader gets idp", "identity_provider:get", sysReader, domA, true, ""},
		{"system reader lists all idps", "identity_provider:list", sysReader, global, true, ""},
		{"system reader cannot create", "identity_provider:create", sysReader, global, false, "system admin required"},
		{"domain reader lists own domain idps", "identity_provider:list", domReaderA, domA, true, ""},
		{"domain reader cannot list all idps", "identity_provider:list", domReaderA, global, false, "filter by your domain"},
		{"domain reader cannot update mapping", "mapping:update", domReaderA, domA, false, "domain admin"},
		{"self passkey register unscoped", "passkey:register", unscopedPM, pmKey, true, ""},
		{"self passkey delete project scope", "passkey:delete", projMemberA, pmKey, true, ""},
		{"other user's passkey denied", "passkey:delete", projAdminA, pmKey, false, "passkey owner"},
		{"domain admin deletes passkey in own domain", "passkey:delete", domAdminA, pmKey, true, ""},
		{"domain admin of other domain denied passkey", "passkey:update", domAdminB, pmKey, false, "passkey owner"},
		{"system reader lists passkeys", "passkey:list", sysReader, pmKey, true, ""},
		{"system reader cannot delete passkey", "passkey:delete", sysReader, pmKey, false, "system admin"},
		{"domain reader gets passkey", "passkey:get", domReaderA, pmKey, true, ""},
		{"system admin updates passkey", "passkey:update", sysAdmin, pmKey, true, ""},
		{"stale token cannot register a passkey", "passkey:register", stale(unscopedPM), pmKey, false, "re-authentication required"},
		{"stale token still lists passkeys", "passkey:list", stale(unscopedPM), pmKey, true, ""},
		{"application credential token cannot register a passkey", "passkey:register", with(unscopedPM, func(c *Caller) { c.ApplicationCredentialID = "ac" }), pmKey, false, "application credential token"},
		{"workload token cannot list passkeys", "passkey:list", with(unscopedPM, func(c *Caller) { c.Workload = true }), pmKey, false, "workload"},
		{"unknown action denied", "project:create", sysAdmin, domA, false, "unknown action"},
		{"empty action denied", "", sysAdmin, nil, false, "unknown action"},
		{"unconvertible target denied", "identity_provider:create", domAdminA, map[string]any{"domain_id": make(chan int)}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Authorize(context.Background(), Input{Action: tc.action, Caller: tc.caller, Target: tc.target, Settings: Settings{ReauthenticationWindowSeconds: 600}})
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d.Allow != tc.allow {
				t.Fatalf("Allow = %v, want %v (reason %q)", d.Allow, tc.allow, d.Reason)
			}
			if d.Allow && d.Reason != "" {
				t.Errorf("allowed with reason %q", d.Reason)
			}
			if !d.Allow && tc.reasonHas != "" && !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tc.reasonHas)
			}
		})
	}
}

func TestAuthorizeConcurrent(t *testing.T) {
	e := newEngine(t, "")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				c, want := domAdminA, true
				if (i+j)%2 == 1 {
					c, want = domAdminB, false
				}
				d, err := e.Authorize(context.Background(), Input{Action: "mapping:create", Caller: c, Target: map[string]any{"domain_id": "dom-a"}})
				if err != nil || d.Allow != want {
					t.Errorf("got %+v, %v; want allow=%v", d, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAuthorizeEvalErrorNeverAllows(t *testing.T) {
	dir := t.TempDir()
	// An operator rule that errors at evaluation time (conflicting values for a complete rule).
	writeFile(t, dir, "broken_eval.rego", `package keystone_ng.authz
allow := true if input.action == "x:y"
allow := false if input.action == "x:y"
`)
	// The default rule of common.rego would conflict with these; replace it.
	writeFile(t, dir, "common.rego", strings.Replace(Modules()["common.rego"], "default allow := false\n", "", 1))
	e := newEngine(t, dir)
	d, err := e.Authorize(context.Background(), Input{Action: "x:y", Caller: sysAdmin})
	if err == nil {
		t.Fatalf("want evaluation error, got %+v", d)
	}
	if d.Allow {
		t.Fatal("allowed on error")
	}
}

func TestAuthorizeNonBooleanAllowIsError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "common.rego", strings.Replace(Modules()["common.rego"], "default allow := false", `default allow := "yes"`, 1))
	e := newEngine(t, dir)
	d, err := e.Authorize(context.Background(), Input{Action: "unknown:x", Caller: sysAdmin})
	if err == nil || d.Allow {
		t.Fatalf("want error and deny, got %+v, %v", d, err)
	}
}

func TestAuthorizeUndefinedAllowDenies(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "common.rego", strings.Replace(Modules()["common.rego"], "default allow := false\n", "", 1))
	e := newEngine(t, dir)
	d, err := e.Authorize(context.Background(), Input{Action: "unknown:x", Caller: sysAdmin})
	if err != nil || d.Allow {
		t.Fatalf("got %+v, %v; want a plain deny", d, err)
	}
	mustAllow(t, e, Input{Action: "mapping:create", Caller: sysAdmin}, true)
}

func TestModules(t *testing.T) {
	m := Modules()
	for _, f := range []string{"common.rego", "federation.rego", "passkeys.rego", "service_accounts.rego", "common_test.rego", "federation_test.rego", "passkeys_test.rego", "service_accounts_test.rego"} {
		if !strings.Contains(m[f], "package keystone_ng.authz") {
			t.Errorf("Modules()[%q] missing or not in package keystone_ng.authz", f)
		}
	}
}

func writeFile(t testing.TB, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAllow(t *testing.T, e *Engine, in Input, want bool) {
	t.Helper()
	d, err := e.Authorize(context.Background(), in)
	if err != nil {
		t.Fatalf("Authorize(%s): %v", in.Action, err)
	}
	if d.Allow != want {
		t.Fatalf("Authorize(%s) as %s = %v (%q), want %v", in.Action, in.Caller.UserID, d.Allow, d.Reason, want)
	}
}

// An override of federation.rego that lets only system admins write.
const strictFederation = `package keystone_ng.authz

actions contains a if some a in {"identity_provider:create", "identity_provider:get"}

allow if {
	input.action in {"identity_provider:create", "identity_provider:get"}
	is_system_admin
}
`

const extraAction = `package keystone_ng.authz

actions contains "widget:create"

allow if {
	input.action == "widget:create"
	is_domain_admin(input.target.domain_id)
}
`

func TestOverrideDir(t *testing.T) {
	ctx := context.Background()
	domA := map[string]any{"domain_id": "dom-a"}
	idpCreateByDomAdmin := Input{Action: "identity_provider:create", Caller: domAdminA, Target: domA}
	widgetCreate := Input{Action: "widget:create", Caller: domAdminA, Target: domA}

	t.Run("replace shipped file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "federation.rego", strictFederation)
		e := newEngine(t, dir)
		mustAllow(t, e, idpCreateByDomAdmin, false)
		mustAllow(t, e, Input{Action: "identity_provider:create", Caller: sysAdmin, Target: domA}, true)
		// mapping:* came only from the replaced file: now unknown, hence denied.
		d, err := e.Authorize(ctx, Input{Action: "mapping:create", Caller: sysAdmin, Target: domA})
		if err != nil || d.Allow || !strings.Contains(d.Reason, "unknown action") {
			t.Fatalf("mapping:create after replacement = %+v, %v", d, err)
		}
		// Untouched shipped files still apply.
		mustAllow(t, e, Input{Action: "passkey:get", Caller: projMemberA, Target: map[string]any{"user_id": "u-pm", "domain_id": "dom-a"}}, true)
	})

	t.Run("add file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "widgets.rego", extraAction)
		e := newEngine(t, dir)
		mustAllow(t, e, widgetCreate, true)
		mustAllow(t, e, Input{Action: "widget:create", Caller: domAdminB, Target: domA}, false)
		mustAllow(t, e, idpCreateByDomAdmin, true) // shipped federation still there
	})

	t.Run("test files and other files ignored", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "federation_test.rego", "this is not rego")
		writeFile(t, dir, "README.md", "not rego either")
		if err := os.Mkdir(filepath.Join(dir, "sub.rego"), 0o755); err != nil {
			t.Fatal(err)
		}
		e := newEngine(t, dir)
		mustAllow(t, e, idpCreateByDomAdmin, true)
	})

	t.Run("bad rego names the file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "oops.rego", "package keystone_ng.authz\n\nallow if {\n")
		_, err := New(ctx, Options{OverrideDir: dir})
		if err == nil {
			t.Fatal("New succeeded with bad Rego")
		}
		want := filepath.Join(dir, "oops.rego") + ":"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	})

	t.Run("compile error names file and line", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "undefined.rego", "package keystone_ng.authz\n\nallow if {\n\tno_such_function(1)\n}\n")
		_, err := New(ctx, Options{OverrideDir: dir})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "undefined.rego")+":4") {
			t.Fatalf("want error naming undefined.rego:4, got %v", err)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		_, err := New(ctx, Options{OverrideDir: filepath.Join(t.TempDir(), "nope")})
		if err == nil {
			t.Fatal("New succeeded with a missing policy directory")
		}
	})

	t.Run("reload keeps old policy on error", func(t *testing.T) {
		dir := t.TempDir()
		e := newEngine(t, dir)
		mustAllow(t, e, widgetCreate, false)

		writeFile(t, dir, "widgets.rego", extraAction)
		if err := e.Reload(ctx); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		mustAllow(t, e, widgetCreate, true)

		writeFile(t, dir, "widgets.rego", "package keystone_ng.authz\nallow if {")
		err := e.Reload(ctx)
		if err == nil || !strings.Contains(err.Error(), "widgets.rego") {
			t.Fatalf("Reload error = %v, want one naming widgets.rego", err)
		}
		mustAllow(t, e, widgetCreate, true) // old policy still in force
	})
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	e, err := New(context.Background(), Options{OverrideDir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	widgetCreate := Input{Action: "widget:create", Caller: domAdminA, Target: map[string]any{"domain_id": "dom-a"}}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs:\n%s", what, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	allowed := func() bool {
		d, err := e.Authorize(context.Background(), widgetCreate)
		return err == nil && d.Allow
	}

	mustAllow(t, e, widgetCreate, false)
	writeFile(t, dir, "widgets.rego", extraAction)
	waitFor("added file to take effect", allowed)

	// A broken edit is logged and the previous policy stays.
	writeFile(t, dir, "widgets.rego", "package keystone_ng.authz\nallow if {"+strings.Repeat(" ", 10))
	waitFor("reload failure to be logged", func() bool { return strings.Contains(logs.String(), "v4 policy reload failed") })
	mustAllow(t, e, widgetCreate, true)

	// Removing the file is a change too.
	if err := os.Remove(filepath.Join(dir, "widgets.rego")); err != nil {
		t.Fatal(err)
	}
	waitFor("removed file to take effect", func() bool { return !allowed() })
}

func TestWatchWithoutDirReturns(t *testing.T) {
	e := newEngine(t, "")
	done := make(chan struct{})
	go func() { e.Watch(context.Background(), time.Millisecond); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch without OverrideDir did not return")
	}
}

func BenchmarkAuthorize(b *testing.B) {
	e := newEngine(b, "")
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		in   Input
	}{
		{"allow", Input{Action: "identity_provider:create", Caller: domAdminA, Target: map[string]any{"domain_id": "dom-a"}}},
		{"deny", Input{Action: "identity_provider:create", Caller: domAdminB, Target: map[string]any{"domain_id": "dom-a"}}},
		{"passkey_self", Input{Action: "passkey:register", Caller: unscopedPM, Target: map[string]any{"user_id": "u-pm", "domain_id": "dom-a"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Authorize(ctx, bc.in); err != nil {
						panic(fmt.Sprint(err))
					}
				}
			})
		})
	}
}
