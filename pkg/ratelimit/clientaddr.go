// Package ratelimit limits how often one client may call keystone-ng's
// unauthenticated login endpoints (docs/security.md, "Rate limits and
// quotas"). It has two halves: which client a request comes from (the TCP
// peer, or X-Forwarded-For when the peer is a trusted reverse proxy) and a
// token bucket per client.
package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

// Proxies are the networks of the reverse proxies in front of keystone-ng
// ([keystone_ng] trusted_proxies). Only a peer inside one of them may name
// the client with X-Forwarded-For. The zero value trusts nobody.
type Proxies struct{ nets []netip.Prefix }

// ParseProxies reads trusted_proxies (CIDR networks or single addresses).
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := config.ParseNetwork(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted_proxies %q: %w", s, err)
		}
		p.nets = append(p.nets, n)
	}
	return p, nil
}

// Trusted reports whether a is the address of a trusted proxy.
func (p Proxies) Trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientOf is the client address of r: the TCP peer, or, when the peer is a
// trusted proxy, what X-Forwarded-For says (ClientAddr). The zero Addr
// when the peer cannot be read (never with net/http's own server).
func (p Proxies) ClientOf(r *http.Request) netip.Addr {
	return ClientAddr(peerAddr(r.RemoteAddr), r.Header.Values("X-Forwarded-For"), p)
}

// peerAddr reads http.Request.RemoteAddr ("ip:port", "[ipv6]:port").
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

// ClientAddr derives the client from the TCP peer and the X-Forwarded-For
// header lines (in the order received). Every proxy appends the address it
// received the request from, so only the right end of the list is written
// by proxies we trust; the left end is whatever the client sent. The list is
// therefore walked from the right, skipping trusted proxies: the first
// address that is not a trusted proxy is the client (never the leftmost
// blindly). A peer that is not a trusted proxy is the client whatever the
// header says. When the walk meets an entry that is not an address (garbage,
// "unknown", an obfuscated RFC 7239 name), it stops at the last address it
// could read, which is a trusted proxy: the request is then keyed on that
// proxy rather than on anything the client could choose. When every entry is
// a trusted proxy, the leftmost one is the client.
func ClientAddr(peer netip.Addr, xff []string, trusted Proxies) netip.Addr {
	client := peer.Unmap()
	if !trusted.Trusted(client) {
		return client
	}
	hops := splitXFF(xff)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !trusted.Trusted(a) {
			return a
		}
	}
	return client
}

// splitXFF joins several X-Forwarded-For lines into one list (RFC 9110
// §5.3: repeated field lines are one comma-separated list).
func splitXFF(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, h := range strings.Split(l, ",") {
			out = append(out, strings.TrimSpace(h))
		}
	}
	return out
}

// parseHop reads one X-Forwarded-For entry: an address, optionally with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Key is the bucket a client address counts against: the address itself for
// IPv4, its /64 for IPv6 (one subscriber or host usually holds a whole /64,
// so its addresses are one client; RFC 4291 §2.5.4, RFC 6177). An invalid
// address is the zero Prefix: every request whose peer cannot be read
// shares one bucket.
func Key(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.WithZone("").Prefix(64)
	return p
}
