package interop

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// noLoginLimit turns the login rate limit off for tests that log in more
// often than [keystone_ng] login_rate_burst (10) at once from 127.0.0.1.
const noLoginLimit = "login_rate_limit = 0\n"

// TestInteropLoginRateLimit: keystone-ng on Python's database with a low
// login limit behind a trusted proxy (127.0.0.1). Passkey login starts
// (which write a ceremony row, a decoy one for an unknown user) are refused
// with 429, Keystone's error JSON and Retry-After once the burst is spent,
// and a refused request writes no row; X-Forwarded-For from the trusted
// peer tells clients apart, and its leftmost entry is not believed.
func TestInteropLoginRateLimit(t *testing.T) {
	env := loadEnv(t)
	migrateOwn(t, env)
	ng := startSidecarWith(t, env, "login_rate_limit = 5\nlogin_rate_burst = 2\ntrusted_proxies = 127.0.0.1/32\n", passkeyConf)
	db, _ := openPythonDB(t, env)
	ceremonies := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM ng_passkey_ceremonies`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	body := map[string]any{"user": map[string]any{"name": "rl-nobody-" + randSuffix(t), "domain": map[string]any{"id": "default"}}}
	start := func(xff string) *response {
		t.Helper()
		return ng.do(t, "POST", "/v4/auth/passkey/start", body, "X-Forwarded-For", xff)
	}
	refused := func(r *response, what string) {
		t.Helper()
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("%s: status %d, want 429\n%s", what, r.Status, r.Body)
		}
		wantKeystoneError(t, r, http.StatusTooManyRequests)
		if e := r.json(t)["error"].(map[string]any); e["title"] != "Too Many Requests" {
			t.Fatalf("%s: title %v", what, e["title"])
		}
		// 5 a minute: a token every 12 s.
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 12 {
			t.Fatalf("%s: Retry-After %q, want 1..12 seconds", what, r.Header.Get("Retry-After"))
		}
	}

	const clientA, clientB = "198.51.100.1", "198.51.100.2"
	before := ceremonies()
	for i := range 2 {
		if r := start(clientA); r.Status != http.StatusOK {
			t.Fatalf("client A start %d (burst): status %d\n%s", i+1, r.Status, r.Body)
		}
	}
	if got := ceremonies(); got != before+2 {
		t.Fatalf("ceremonies %d after two starts, want %d", got, before+2)
	}
	for i := range 3 {
		refused(start(clientA), "client A start "+strconv.Itoa(i+3))
	}
	// A spoofed leftmost entry does not make A another client: the proxy
	// appended A's address, and that is what counts.
	refused(start("203.0.113.9, "+clientA), "client A with a spoofed X-Forwarded-For")
	// One bucket for every login route: A's JWT login is refused too
	// (before the unknown identity provider would be a 404).
	refused(ng.do(t, "POST", "/v4/federation/identity_providers/no-such-idp/jwt", nil, "X-Forwarded-For", clientA, "Authorization", "Bearer x.y.z"), "client A JWT login")
	if got := ceremonies(); got != before+2 {
		t.Fatalf("ceremonies %d after refused starts, want %d (a 429 must write nothing)", got, before+2)
	}
	// Another client behind the same proxy is not affected.
	if r := start(clientB); r.Status != http.StatusOK {
		t.Fatalf("client B: status %d\n%s", r.Status, r.Body)
	}
	if got := ceremonies(); got != before+3 {
		t.Fatalf("ceremonies %d after client B, want %d", got, before+3)
	}
	// Non-login routes are not limited for A.
	if r := ng.do(t, "GET", "/v4/login/identity_providers", nil, "X-Forwarded-For", clientA); r.Status != http.StatusOK {
		t.Fatalf("public IdP list for client A: %d", r.Status)
	}
	// The refusals are counted.
	m := ng.do(t, "GET", "/metrics", nil)
	re := regexp.MustCompile(`(?m)^keystone_ng_rate_limited_total\{route="/v4/auth/passkey/start"\} (\d+)$`)
	if g := re.FindStringSubmatch(string(m.Body)); g == nil || g[1] != "4" {
		t.Fatalf("keystone_ng_rate_limited_total for passkey start: %v, want 4\n%s", g, grepLines(string(m.Body), "rate_limited"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
