package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientAddr: whatever X-Forwarded-For says, the client is the peer or
// an address written in the header, and a peer that is not a trusted
// proxy is always the client.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"", "203.0.113.7", "1.2.3.4, 127.0.0.1", "garbage, 10.0.0.1", "[2001:db8::1]:443", "unknown", " , ,", "::ffff:1.2.3.4"} {
		f.Add(s, true)
	}
	trusted, err := ParseProxies([]string{"127.0.0.1/32", "::1/128", "10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff string, fromProxy bool) {
		peer := netip.MustParseAddr("198.51.100.9")
		if fromProxy {
			peer = netip.MustParseAddr("127.0.0.1")
		}
		got := ClientAddr(peer, []string{xff}, trusted)
		if !got.IsValid() {
			t.Fatalf("ClientAddr(%q) is not an address", xff)
		}
		if !fromProxy && got != peer {
			t.Fatalf("an untrusted peer's header was believed: %q -> %v", xff, got)
		}
		if got != peer && !strings.Contains(xff, strings.TrimPrefix(got.String(), "::ffff:")) && !containsAddr(xff, got) {
			t.Fatalf("client %v is neither the peer nor in %q", got, xff)
		}
		_ = Key(got)
	})
}

// containsAddr reports whether some comma-separated entry of xff parses to a.
func containsAddr(xff string, a netip.Addr) bool {
	for _, raw := range strings.Split(xff, ",") {
		raw = strings.TrimSpace(raw)
		if p, err := netip.ParseAddr(strings.Trim(raw, "[]")); err == nil && p.Unmap() == a {
			return true
		}
		// The port form keeps its brackets: "[2001:db8::1]:443".
		if ap, err := netip.ParseAddrPort(raw); err == nil && ap.Addr().Unmap() == a {
			return true
		}
	}
	// Entries may carry brackets and ports in forms the parser accepts;
	// a substring check on the canonical text covers the rest.
	return strings.Contains(strings.ToLower(xff), strings.ToLower(a.String()))
}
