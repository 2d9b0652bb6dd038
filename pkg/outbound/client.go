package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Options configure New.
type Options struct {
	// Timeout bounds each request, body included ([keystone_ng]
	// outbound_timeout; default 10 s).
	Timeout time.Duration
	// AllowedNetworks are networks Permitted accepts whatever their range
	// ([keystone_ng] outbound_allowed_networks; empty by default).
	AllowedNetworks []netip.Prefix
	// MaxBodyBytes bounds every response body (default 1 MiB): reading
	// past it fails with ErrBodyTooLarge.
	MaxBodyBytes int64
}

// DefaultMaxBodyBytes bounds a discovery document, a JWKS, a token or a
// userinfo answer.
const DefaultMaxBodyBytes = 1 << 20

// ErrBodyTooLarge is the read error of a response body past MaxBodyBytes.
var ErrBodyTooLarge = errors.New("outbound: response body too large")

// transport is the guarded client's Transport: it remembers the allowed
// networks (for AllowedNetworks) and bounds response bodies.
type transport struct {
	base    *http.Transport
	allowed []netip.Prefix
	maxBody int64
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.maxBody}
	return resp, nil
}

// limitedBody fails the read that goes past the limit, instead of
// truncating silently (a truncated JWKS would parse as another document).
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// New returns the guarded client. Its Transport connects only to
// addresses Permitted accepts (checked on the resolved address, at dial
// time), uses no proxy, and keeps Go's default TLS configuration; its
// CheckRedirect refuses every redirect, so a 3xx answer is an error.
func New(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	allowed := slices.Clone(o.AllowedNetworks)
	d := &net.Dialer{
		Timeout: o.Timeout,
		// ControlContext runs after name resolution, before connect(2),
		// with the literal address of this attempt: every address of a
		// name (Happy Eyeballs tries several) is checked, and the one
		// checked is the one connected to.
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			return controlAddr(network, address, allowed)
		},
	}
	base := &http.Transport{
		Proxy: nil, // never HTTP(S)_PROXY: the proxy's address would be dialled, not the checked one
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			// An IP-literal host is refused here without creating a socket;
			// names are resolved by the dialer and checked in Control.
			if host, _, err := net.SplitHostPort(address); err == nil {
				if ip, err := netip.ParseAddr(host); err == nil {
					if err := Permitted(ip, allowed); err != nil {
						return nil, err
					}
				}
			}
			return d.DialContext(ctx, network, address)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: &transport{base: base, allowed: allowed, maxBody: o.MaxBodyBytes},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			// Following a redirect would let an allowed server send the
			// request anywhere; identity providers' endpoints are exact.
			return &RefusedError{URL: req.URL.Redacted(), Reason: "redirects are not followed"}
		},
	}
}

func controlAddr(network, address string, allowed []netip.Prefix) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &RefusedError{Reason: fmt.Sprintf("network %q is not allowed", network)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: fmt.Sprintf("dial address %q is not an IP address and port", address)}
	}
	return Permitted(ap.Addr(), allowed)
}

// AllowedNetworks returns the allowed networks of a client New built, and
// whether c is one. Callers that check URLs at write time or in discovery
// documents take them from the client, so the two can never disagree.
func AllowedNetworks(c *http.Client) ([]netip.Prefix, bool) {
	if c == nil {
		return nil, false
	}
	t, ok := c.Transport.(*transport)
	if !ok {
		return nil, false
	}
	return slices.Clone(t.allowed), true
}

// CheckURL is the rule for a URL keystone-ng will fetch (an issuer, a
// discovery or JWKS URL, an endpoint of a discovery document), applied
// when it is written or read from a document, for an early and clear
// refusal:
//   - absolute, with a host, no user info, no fragment;
//   - https; plain http only when the host is an IP literal or "localhost"
//     inside the allowed networks (a test or in-house IdP the operator
//     allowed);
//   - an IP-literal host must be Permitted.
//
// A host name is accepted: what it resolves to is checked at dial time,
// which is the check that holds (names change).
func CheckURL(raw string, allowed []netip.Prefix) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return &RefusedError{URL: raw, Reason: "must be an absolute URL"}
	}
	if u.User != nil || u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return &RefusedError{URL: u.Redacted(), Reason: "must have no user info and no fragment"}
	}
	host := u.Hostname()
	var ip netip.Addr
	if strings.Contains(host, "%") {
		return &RefusedError{URL: raw, Reason: "an IPv6 zone is not allowed"}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		ip = a
		if err := Permitted(ip, allowed); err != nil {
			var r *RefusedError
			if errors.As(err, &r) {
				r.URL = raw
			}
			return err
		}
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip.IsValid() && inAny(allowed, ip.Unmap()) {
			return nil
		}
		if strings.EqualFold(host, "localhost") &&
			(inAny(allowed, netip.MustParseAddr("127.0.0.1")) || inAny(allowed, netip.IPv6Loopback())) {
			return nil
		}
		return &RefusedError{URL: raw, Reason: "must be https (http only to an IP address or localhost inside [keystone_ng] outbound_allowed_networks)"}
	}
	return &RefusedError{URL: raw, Reason: "must be https"}
}
