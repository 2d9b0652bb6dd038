package ratelimit

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func mustProxies(t *testing.T, list ...string) Proxies {
	t.Helper()
	p, err := ParseProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProxies(t *testing.T) {
	if _, err := ParseProxies([]string{"10.0.0.0/8", "::1", ""}); err != nil {
		t.Fatalf("valid list refused: %v", err)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("a bad network was accepted")
	}
}

func TestClientAddr(t *testing.T) {
	trusted := mustProxies(t, "127.0.0.1/32", "::1/128", "10.0.0.0/8")
	for _, tc := range []struct {
		name    string
		peer    string
		xff     []string
		proxies Proxies
		want    string
	}{
		{"no header", "203.0.113.7", nil, trusted, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7", []string{"198.51.100.1"}, trusted, "203.0.113.7"},
		{"no trusted proxies configured: header ignored", "127.0.0.1", []string{"198.51.100.1"}, Proxies{}, "127.0.0.1"},
		{"trusted peer, one hop", "127.0.0.1", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"spoofed leftmost entry is not the client", "127.0.0.1", []string{"192.0.2.66, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"chain of trusted hops skipped", "127.0.0.1", []string{"192.0.2.66, 198.51.100.1, 10.1.2.3, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"several header lines are one list", "127.0.0.1", []string{"192.0.2.66", "198.51.100.1, 10.1.2.3"}, trusted, "198.51.100.1"},
		{"client claiming to be a trusted proxy", "127.0.0.1", []string{"10.0.0.1, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"every hop trusted: leftmost", "127.0.0.1", []string{"10.0.0.1, 10.0.0.2"}, trusted, "10.0.0.1"},
		{"trusted peer, empty header", "127.0.0.1", []string{""}, trusted, "127.0.0.1"},
		{"garbage rightmost: the proxy itself", "127.0.0.1", []string{"198.51.100.1, garbage"}, trusted, "127.0.0.1"},
		{"garbage behind trusted hop: that hop", "127.0.0.1", []string{"unknown, 10.1.2.3"}, trusted, "10.1.2.3"},
		{"garbage left of the client does not matter", "127.0.0.1", []string{"<script>, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"entry with port", "127.0.0.1", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6 entry with port", "::1", []string{"[2001:db8::5]:4711"}, trusted, "2001:db8::5"},
		{"bracketed IPv6 entry", "::1", []string{"[2001:db8::5]"}, trusted, "2001:db8::5"},
		{"IPv6 proxy and client", "::1", []string{"2001:db8::5"}, trusted, "2001:db8::5"},
		{"IPv4-mapped peer is the IPv4 proxy", "::ffff:127.0.0.1", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"zoned entry is garbage", "127.0.0.1", []string{"fe80::1%eth0"}, trusted, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClientAddr(netip.MustParseAddr(tc.peer), tc.xff, tc.proxies)
			if got != netip.MustParseAddr(tc.want) {
				t.Errorf("ClientAddr(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientOf(t *testing.T) {
	trusted := mustProxies(t, "127.0.0.1/32", "::1/128")
	for _, tc := range []struct {
		remote string
		xff    string
		want   netip.Addr
	}{
		{"192.0.2.1:1234", "", netip.MustParseAddr("192.0.2.1")},
		{"127.0.0.1:1234", "198.51.100.9", netip.MustParseAddr("198.51.100.9")},
		{"[::1]:1234", "198.51.100.9", netip.MustParseAddr("198.51.100.9")},
		{"[fe80::1%eth0]:1234", "198.51.100.9", netip.MustParseAddr("fe80::1")},
		{"not an address", "198.51.100.9", netip.Addr{}},
	} {
		r := httptest.NewRequest("POST", "/v4/auth/passkey/start", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := trusted.ClientOf(r); got != tc.want {
			t.Errorf("ClientOf(%s, XFF %q) = %v, want %v", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	} {
		if got := Key(netip.MustParseAddr(tc.addr)); got != netip.MustParsePrefix(tc.want) {
			t.Errorf("Key(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := Key(netip.Addr{}); got.IsValid() {
		t.Errorf("Key(invalid) = %s, want the zero prefix", got)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func key(s string) netip.Prefix { return Key(netip.MustParseAddr(s)) }

func TestLimiterBurstThenRate(t *testing.T) {
	l := New(30, 10, 0) // one token every 2s, 10 at once
	a, b := key("192.0.2.1"), key("192.0.2.2")
	for i := range 10 {
		if ok, _ := l.Allow(a, t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(a, t0)
	if ok || wait != 2*time.Second {
		t.Fatalf("11th request: ok=%v wait=%v, want refused with 2s", ok, wait)
	}
	// Another client is unaffected.
	if ok, _ := l.Allow(b, t0); !ok {
		t.Fatal("another client was refused")
	}
	// Half a token later: still refused, the wait shrinks.
	if ok, wait := l.Allow(a, t0.Add(time.Second)); ok || wait != time.Second {
		t.Fatalf("after 1s: ok=%v wait=%v, want refused with 1s", ok, wait)
	}
	// A token later: one request, then refused again.
	if ok, _ := l.Allow(a, t0.Add(2*time.Second)); !ok {
		t.Fatal("after 2s the refilled token was refused")
	}
	if ok, _ := l.Allow(a, t0.Add(2*time.Second)); ok {
		t.Fatal("a second request after one refill was allowed")
	}
	// Refusals take no token: a client hammering at the limit gets the
	// steady rate, not less.
	for range 100 {
		l.Allow(a, t0.Add(3*time.Second))
	}
	if ok, _ := l.Allow(a, t0.Add(4*time.Second)); !ok {
		t.Fatal("refused requests consumed tokens")
	}
}

func TestLimiterOffWhenZero(t *testing.T) {
	if l := New(0, 10, 0); l != nil {
		t.Fatalf("New(0, ...) = %v, want nil (no limit)", l)
	}
}

func TestLimiterIPv6GroupedBy64(t *testing.T) {
	l := New(60, 2, 0)
	if ok, _ := l.Allow(key("2001:db8:0:1::1"), t0); !ok {
		t.Fatal("first refused")
	}
	if ok, _ := l.Allow(key("2001:db8:0:1::2"), t0); !ok {
		t.Fatal("second refused")
	}
	if ok, _ := l.Allow(key("2001:db8:0:1:ffff::9"), t0); ok {
		t.Fatal("a third address of the same /64 was not counted with the others")
	}
	if ok, _ := l.Allow(key("2001:db8:0:2::1"), t0); !ok {
		t.Fatal("another /64 was refused")
	}
}

func TestLimiterEvictsIdleAndBoundsMemory(t *testing.T) {
	l := New(60, 2, 3) // refills in 2s; 3 clients at most
	for i, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if ok, _ := l.Allow(key(a), t0); !ok {
			t.Fatalf("client %d refused", i)
		}
	}
	if n := l.Tracked(); n != 3 {
		t.Fatalf("tracked %d, want 3", n)
	}
	// The table is full of active clients: newcomers share one overflow
	// bucket (burst 2), the table does not grow.
	if ok, _ := l.Allow(key("198.51.100.1"), t0); !ok {
		t.Fatal("first overflow request refused")
	}
	if ok, _ := l.Allow(key("198.51.100.2"), t0); !ok {
		t.Fatal("second overflow request refused")
	}
	if ok, _ := l.Allow(key("198.51.100.3"), t0); ok {
		t.Fatal("overflow bucket did not limit the newcomers together")
	}
	if n := l.Tracked(); n != 3 {
		t.Fatalf("tracked %d after overflow, want 3", n)
	}
	// A tracked client still has its own bucket.
	if ok, _ := l.Allow(key("192.0.2.1"), t0); !ok {
		t.Fatal("tracked client lost its bucket")
	}
	// Once the buckets have refilled they are dropped and newcomers get
	// their own again.
	later := t0.Add(3 * time.Second)
	if ok, _ := l.Allow(key("198.51.100.4"), later); !ok {
		t.Fatal("newcomer refused after idle buckets expired")
	}
	if n := l.Tracked(); n != 1 {
		t.Fatalf("tracked %d after the sweep, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {2 * time.Second, 2}, {90 * time.Second, 90}} {
		if got := RetryAfter(tc.d); got != tc.want {
			t.Errorf("RetryAfter(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
