package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/outbound/outboundtest"
)

func prefixes(t *testing.T, l ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range l {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPermitted(t *testing.T) {
	loopback := prefixes(t, "127.0.0.0/8", "::1/128")
	for _, tc := range []struct {
		ip      string
		allowed []netip.Prefix
		ok      bool
	}{
		// public
		{"8.8.8.8", nil, true},
		{"1.1.1.1", nil, true},
		{"2606:4700:4700::1111", nil, true},
		{"64:ff9b::808:808", nil, true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", nil, true},  // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", nil, true},
		// loopback
		{"127.0.0.1", nil, false},
		{"127.1.2.3", nil, false},
		{"::1", nil, false},
		{"::ffff:127.0.0.1", nil, false},
		// RFC 1918
		{"10.0.0.1", nil, false},
		{"10.255.255.255", nil, false},
		{"172.16.0.1", nil, false},
		{"172.31.255.255", nil, false},
		{"172.32.0.1", nil, true},
		{"192.168.1.1", nil, false},
		{"::ffff:10.0.0.1", nil, false},
		{"::ffff:192.168.0.1", nil, false},
		// link-local, metadata
		{"169.254.169.254", nil, false},
		{"::ffff:169.254.169.254", nil, false},
		{"fe80::1", nil, false},
		{"fe80::1%eth0", nil, false},
		// CGNAT
		{"100.64.0.1", nil, false},
		{"100.127.255.255", nil, false},
		{"100.128.0.1", nil, true},
		// unique local, site local
		{"fc00::1", nil, false},
		{"fd12:3456::1", nil, false},
		{"fec0::1", nil, false},
		// multicast, broadcast, reserved
		{"224.0.0.1", nil, false},
		{"239.255.255.250", nil, false},
		{"ff02::1", nil, false},
		{"255.255.255.255", nil, false},
		{"240.0.0.1", nil, false},
		// unspecified, this network
		{"0.0.0.0", nil, false},
		{"0.1.2.3", nil, false},
		{"::", nil, false},
		{"::ffff:0.0.0.0", nil, false},
		// NAT64 / 6to4 / IPv4-compatible wrapping a private v4
		{"64:ff9b::a00:1", nil, false},      // 10.0.0.1
		{"64:ff9b::7f00:1", nil, false},     // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", nil, false},  // 169.254.169.254
		{"64:ff9b:1::a00:1", nil, false},    // local-use NAT64
		{"2002:a00:1::1", nil, false},       // 6to4 of 10.0.0.1
		{"2002:7f00:1::1", nil, false},      // 6to4 of 127.0.0.1
		{"::7f00:1", nil, false},            // IPv4-compatible 127.0.0.1
		{"2001:0:4136:e378::1", nil, false}, // Teredo
		// documentation, benchmarking, IETF
		{"192.0.2.1", nil, false},
		{"198.51.100.1", nil, false},
		{"203.0.113.1", nil, false},
		{"2001:db8::1", nil, false},
		{"198.18.0.1", nil, false},
		{"192.0.0.8", nil, false},
		// allowed networks
		{"127.0.0.1", loopback, true},
		{"::1", loopback, true},
		{"::ffff:127.0.0.1", loopback, true},
		{"127.0.0.2", prefixes(t, "127.0.0.2/32"), true},
		{"127.0.0.1", prefixes(t, "127.0.0.2/32"), false},
		{"10.1.2.3", prefixes(t, "10.1.0.0/16"), true},
		{"10.2.0.1", prefixes(t, "10.1.0.0/16"), false},
		{"64:ff9b::a01:203", prefixes(t, "10.1.0.0/16"), true}, // NAT64 of an allowed 10.1.2.3
		{"169.254.169.254", prefixes(t, "10.0.0.0/8"), false},
		{"fd00::5", prefixes(t, "fd00::/64"), true},
	} {
		err := Permitted(netip.MustParseAddr(tc.ip), tc.allowed)
		if (err == nil) != tc.ok {
			t.Errorf("Permitted(%s, %v) = %v; want ok=%v", tc.ip, tc.allowed, err, tc.ok)
		}
		var r *RefusedError
		if err != nil && !errors.As(err, &r) {
			t.Errorf("Permitted(%s): %T is not a *RefusedError", tc.ip, err)
		}
	}
	if err := Permitted(netip.Addr{}, nil); err == nil {
		t.Error("the zero Addr is permitted")
	}
}

func TestCheckURL(t *testing.T) {
	loopback := prefixes(t, "127.0.0.0/8", "::1/128")
	for _, tc := range []struct {
		url     string
		allowed []netip.Prefix
		ok      bool
	}{
		{"https://idp.example.com", nil, true},
		{"https://idp.example.com/.well-known/openid-configuration", nil, true},
		{"https://idp.example.com:8443/realms/x", nil, true},
		{"https://8.8.8.8/jwks", nil, true},
		{"https://[2606:4700:4700::1111]/jwks", nil, true},
		// names are checked at dial time, not here
		{"https://localhost:8443", nil, true},
		{"https://metadata.internal", nil, true},
		// refused IP literals, whatever the scheme
		{"https://169.254.169.254/latest/meta-data", nil, false},
		{"http://169.254.169.254/latest/meta-data", nil, false},
		{"https://10.0.0.1", nil, false},
		{"http://[::1]:5432", nil, false},
		{"https://[::1]:5432", nil, false},
		{"http://127.0.0.1:8080", nil, false},
		{"https://127.0.0.1:8443", nil, false},
		{"https://[::ffff:10.0.0.1]/", nil, false},
		{"https://[64:ff9b::a9fe:a9fe]/", nil, false},
		{"https://[fe80::1%25eth0]/", nil, false},
		{"https://0.0.0.0/", nil, false},
		// http
		{"http://idp.example.com", nil, false},
		{"http://8.8.8.8/jwks", nil, false}, // public, but not inside an allowed network
		{"http://localhost:8080", nil, false},
		{"http://127.0.0.1:8080", loopback, true},
		{"http://[::1]:8080", loopback, true},
		{"http://localhost:8080", loopback, true},
		{"http://127.0.0.2:8080", prefixes(t, "127.0.0.2/32"), true},
		{"http://localhost:8080", prefixes(t, "127.0.0.2/32"), false},
		{"http://10.1.2.3/", prefixes(t, "10.1.0.0/16"), true},
		{"http://idp.internal/", prefixes(t, "10.0.0.0/8"), false},
		// form
		{"ftp://idp.example.com", nil, false},
		{"file:///etc/passwd", nil, false},
		{"//idp.example.com", nil, false},
		{"idp.example.com", nil, false},
		{"https://", nil, false},
		{"https://user:pw@idp.example.com", nil, false},
		{"https://idp.example.com/#frag", nil, false},
		{"https://idp.example.com/#", nil, false},
		{"", nil, false},
	} {
		err := CheckURL(tc.url, tc.allowed)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %v) = %v; want ok=%v", tc.url, tc.allowed, err, tc.ok)
		}
		var r *RefusedError
		if err != nil && !errors.As(err, &r) {
			t.Errorf("CheckURL(%q): %T is not a *RefusedError", tc.url, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("CheckURL(%q): error shows the password: %v", tc.url, err)
		}
	}
}

func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Errorf("%s: error %v (%T) is not a *RefusedError", what, err, err)
	}
}

func TestClientNeverConnectsToRefusedAddresses(t *testing.T) {
	target := outboundtest.Listen(t, "127.0.0.1:0")
	port := target.Port()

	var redirected atomic.Int64
	redirector := outboundtest.Serve(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		switch r.URL.Path {
		case "/to-ip":
			http.Redirect(w, r, "http://127.0.0.1:"+port+"/", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://localhost:"+port+"/", http.StatusTemporaryRedirect)
		default:
			w.Write([]byte(`{}`))
		}
	}))

	strict := New(Options{Timeout: 5 * time.Second})
	only2 := New(Options{Timeout: 5 * time.Second, AllowedNetworks: prefixes(t, "127.0.0.2/32")})

	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"loopback literal", strict, "http://127.0.0.1:" + port + "/"},
		{"loopback literal, https", strict, "https://127.0.0.1:" + port + "/"},
		{"name resolving to loopback", strict, "http://localhost:" + port + "/"},
		{"name resolving to loopback, other network allowed", only2, "http://localhost:" + port + "/"},
		{"redirect to a loopback literal", only2, redirector + "/to-ip"},
		{"redirect to a loopback name", only2, redirector + "/to-name"},
	} {
		resp, err := tc.client.Get(tc.url)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: GET %s succeeded (%s)", tc.name, tc.url, resp.Status)
			continue
		}
		wantRefused(t, tc.name, err)
	}
	if n := target.Connections(t); n != 0 {
		t.Errorf("the refused target saw %d connections; want 0", n)
	}
	if n := redirected.Load(); n != 2 {
		t.Errorf("the allowed redirecting server saw %d requests; want 2", n)
	}

	// The allowed server itself is reachable: the refusals above are about
	// the target, not a client that reaches nothing.
	resp, err := only2.Get(redirector + "/ok")
	if err != nil {
		t.Fatalf("GET on the allowed network: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET on the allowed network: %s", resp.Status)
	}
}

func TestClientRefusesPrivateAddressesWithoutConnecting(t *testing.T) {
	c := New(Options{Timeout: 30 * time.Second})
	for _, u := range []string{
		"http://10.0.0.1/",
		"https://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00::1]:80/",
		"http://[::ffff:169.254.169.254]/",
		"http://0.0.0.0:80/",
	} {
		start := time.Now()
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", u)
			continue
		}
		wantRefused(t, u, err)
		// A connection attempt to an unrouted 10.x would hang until the
		// timeout; the refusal comes before any.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("GET %s took %s: the refusal should come before any connection attempt", u, d)
		}
	}
}

func TestClientLimitsBodyAndUsesNoProxy(t *testing.T) {
	big := strings.Repeat("x", 2048)
	base := outboundtest.Serve(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(big[:len(r.URL.Path)+1000]))
	}))
	c := New(Options{Timeout: 5 * time.Second, AllowedNetworks: prefixes(t, "127.0.0.2/32"), MaxBodyBytes: 1024})
	for _, tc := range []struct {
		path    string
		tooLong bool
	}{
		{"/" + strings.Repeat("a", 23), false}, // exactly 1024 bytes
		{"/" + strings.Repeat("a", 24), true},  // 1025 bytes
	} {
		resp, err := c.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := errors.Is(err, ErrBodyTooLarge); got != tc.tooLong {
			t.Errorf("body of %d bytes: read error %v; want too large = %v", len(tc.path)+1000, err, tc.tooLong)
		}
	}
	tr := c.Transport.(*transport)
	if tr.base.Proxy != nil {
		t.Error("the transport takes a proxy (from the environment)")
	}
	if tc := tr.base.TLSClientConfig; tc != nil && (tc.InsecureSkipVerify || tc.RootCAs != nil) {
		t.Error("the transport changes Go's default certificate verification")
	}
	if got, ok := AllowedNetworks(c); !ok || len(got) != 1 || got[0].String() != "127.0.0.2/32" {
		t.Errorf("AllowedNetworks = %v, %v", got, ok)
	}
	if _, ok := AllowedNetworks(&http.Client{}); ok {
		t.Error("AllowedNetworks recognises a plain client")
	}
}
