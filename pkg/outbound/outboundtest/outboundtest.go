// Package outboundtest holds what the tests of the outbound rule share
// (pkg/outbound, pkg/federation, pkg/oidcflow, pkg/interop): a listener
// standing for an internal service, which counts the connections it
// accepts (each must stay at zero), and the networks a test whose identity
// providers run on loopback allows explicitly.
package outboundtest

import (
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// LoopbackNetworks is [keystone_ng] outbound_allowed_networks =
// 127.0.0.0/8,::1/128: what a test with identity providers on this machine
// turns on, as an operator must.
var LoopbackNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Listener accepts TCP connections and counts them.
type Listener struct {
	l net.Listener
	n atomic.Int64
}

// Listen starts a Listener on addr (such as "127.0.0.1:0"), closed when
// the test ends.
func Listen(t testing.TB, addr string) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &Listener{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	return c
}

// Addr is the listener's host:port.
func (c *Listener) Addr() string { return c.l.Addr().String() }

// Port is the listener's port.
func (c *Listener) Port() string {
	_, p, _ := net.SplitHostPort(c.Addr())
	return p
}

// Connections returns how many connections others made. It first connects
// once itself and waits until the accept loop counted that probe, so every
// earlier connection attempt has been counted too; the probe is not.
func (c *Listener) Connections(t testing.TB) int64 {
	t.Helper()
	before := c.n.Load()
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for deadline := time.Now().Add(5 * time.Second); c.n.Load() == before && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	c.n.Add(-1) // the probe itself
	return c.n.Load()
}

// Serve serves h on addr (such as "127.0.0.2:0") until the test ends and
// returns its base URL. A machine that cannot bind addr (no 127.0.0.2)
// skips the test.
func Serve(t testing.TB, addr string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
