// Package outbound is the one HTTP client keystone-ng uses for requests it
// makes on behalf of an identity provider's owner (OIDC discovery, JWKS,
// token, userinfo and device endpoints). Whoever configures an identity
// provider chooses those URLs, and a domain admin may configure one, so
// each request is a request a tenant makes from inside the cloud's
// network (server-side request forgery, OWASP SSRF Prevention Cheat
// Sheet). The client therefore:
//
//   - refuses loopback, private (RFC 1918), link-local, CGNAT, unique-local,
//     multicast, unspecified, reserved and documentation addresses, unless
//     the operator allowed the network ([keystone_ng]
//     outbound_allowed_networks);
//   - checks the address at dial time, after name resolution, on the very
//     address the socket connects to (net.Dialer.ControlContext), so a name
//     that resolves to 127.0.0.1, or that changes its answer between a check
//     and the connection (DNS rebinding), gets nowhere;
//   - follows no redirect (a 3xx is an error) and takes no proxy from the
//     environment (HTTP(S)_PROXY would connect to the proxy, not to the
//     checked address);
//   - keeps a timeout and bounds every response body.
//
// CheckURL is the write-time rule for a URL an API caller submits: it gives
// a friendly 400 early; the dial-time check is what holds.
package outbound

import (
	"fmt"
	"net/netip"
)

// RefusedError is a request the outbound rule refuses: an address in a
// refused range, a URL of the wrong form, or a redirect. Reason is safe to
// show to the API caller that configured the URL (it names the URL or
// address they gave, nothing else).
type RefusedError struct {
	URL    string     // the URL refused, when known
	Addr   netip.Addr // the address refused, when the refusal is about one
	Reason string
}

func (e *RefusedError) Error() string {
	switch {
	case e.Addr.IsValid() && e.URL != "":
		return fmt.Sprintf("outbound request to %s refused: address %s: %s", e.URL, e.Addr, e.Reason)
	case e.Addr.IsValid():
		return fmt.Sprintf("outbound request refused: address %s: %s", e.Addr, e.Reason)
	case e.URL != "":
		return fmt.Sprintf("outbound request to %s refused: %s", e.URL, e.Reason)
	}
	return "outbound request refused: " + e.Reason
}

type refusedRange struct {
	prefix netip.Prefix
	reason string
}

// refused are the ranges no identity provider may be reached at unless an
// allowed network contains the address. Sources: RFC 6890 (special-purpose
// registries), RFC 1918, RFC 6598, RFC 3927, RFC 4193, RFC 4291, RFC 5737,
// RFC 3849, RFC 6052/8215 (NAT64), RFC 3056 (6to4), RFC 4380 (Teredo).
var refused = func() []refusedRange {
	l := []struct{ p, r string }{
		{"0.0.0.0/8", "unspecified (\"this network\", RFC 6890)"},
		{"10.0.0.0/8", "private network (RFC 1918)"},
		{"100.64.0.0/10", "carrier-grade NAT (RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (RFC 3927; cloud metadata services live here)"},
		{"172.16.0.0/12", "private network (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments (RFC 6890)"},
		{"192.0.2.0/24", "documentation (RFC 5737)"},
		{"192.88.99.0/24", "6to4 relay anycast (RFC 7526)"},
		{"192.168.0.0/16", "private network (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking (RFC 2544)"},
		{"198.51.100.0/24", "documentation (RFC 5737)"},
		{"203.0.113.0/24", "documentation (RFC 5737)"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (RFC 1112), including broadcast 255.255.255.255"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible IPv6 (deprecated, RFC 4291)"},
		{"64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"},
		{"100::/64", "discard-only (RFC 6666)"},
		{"2001::/32", "Teredo tunnel (RFC 4380)"},
		{"2001:db8::/32", "documentation (RFC 3849)"},
		{"fc00::/7", "unique-local (RFC 4193)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated, RFC 3879)"},
		{"ff00::/8", "multicast"},
	}
	out := make([]refusedRange, len(l))
	for i, e := range l {
		out[i] = refusedRange{netip.MustParsePrefix(e.p), e.r}
	}
	return out
}()

var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixTo = netip.MustParsePrefix("2002::/16")    // RFC 3056 6to4
)

// Permitted reports whether keystone-ng may connect to ip on an IdP
// owner's behalf: nil, or a *RefusedError naming the range. An address
// inside one of allowed is permitted whatever its range. IPv4-mapped IPv6
// (::ffff:a.b.c.d) is judged as the IPv4 address; NAT64 (64:ff9b::/96) and
// 6to4 (2002::/16) addresses are judged by the IPv4 address they carry,
// since the gateway connects to that one.
func Permitted(ip netip.Addr, allowed []netip.Prefix) error {
	if !ip.IsValid() {
		return &RefusedError{Reason: "not an IP address"}
	}
	orig := ip
	ip = ip.WithZone("").Unmap()
	if inAny(allowed, ip) || inAny(allowed, orig.WithZone("")) {
		return nil
	}
	if ip.Is6() {
		if inner, ok := embeddedV4(ip); ok {
			if err := Permitted(inner, allowed); err != nil {
				return &RefusedError{Addr: orig, Reason: fmt.Sprintf("carries IPv4 address %s: %s", inner, reason(err))}
			}
		}
	}
	for _, r := range refused {
		if r.prefix.Contains(ip) {
			return &RefusedError{Addr: orig, Reason: r.reason + "; an operator may allow the network in [keystone_ng] outbound_allowed_networks"}
		}
	}
	return nil
}

// embeddedV4 is the IPv4 address a NAT64 or 6to4 address reaches.
func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixTo.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

func inAny(l []netip.Prefix, ip netip.Addr) bool {
	for _, p := range l {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func reason(err error) string {
	if r, ok := err.(*RefusedError); ok {
		return r.Reason
	}
	return err.Error()
}
