package oidcflow_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/keystone-ng/keystone-ng/pkg/outbound/outboundtest"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// loopbackClient is the outbound client of a test whose providers run on
// loopback: [keystone_ng] outbound_allowed_networks = 127.0.0.0/8,::1/128.
func loopbackClient() *http.Client {
	return outbound.New(outbound.Options{Timeout: 5 * time.Second, AllowedNetworks: outboundtest.LoopbackNetworks})
}

// TestDiscoveryEndpointsFollowTheOutboundRule: a provider on an allowed
// network (127.0.0.2) whose discovery document names an endpoint inside
// (loopback 127.0.0.1, metadata, plain http) fails the login with
// ErrProviderUnavailable (502) before anything is sent to the endpoint;
// the listener standing for the internal service sees no connection.
func TestDiscoveryEndpointsFollowTheOutboundRule(t *testing.T) {
	inside := outboundtest.Listen(t, "127.0.0.1:0")
	in := inside.Addr()

	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	base := "http://" + l.Addr().String()
	bad := map[string]map[string]string{
		"good":                   {},
		"token-inside":           {"token_endpoint": "http://" + in + "/token"},
		"token-metadata":         {"token_endpoint": "http://169.254.169.254/token"},
		"token-private":          {"token_endpoint": "https://10.0.0.1/token"},
		"jwks-inside":            {"jwks_uri": "http://" + in + "/jwks"},
		"jwks-v6-loopback":       {"jwks_uri": "http://[::1]:5432/jwks"},
		"userinfo-inside":        {"userinfo_endpoint": "http://" + in + "/userinfo"},
		"device-inside":          {"device_authorization_endpoint": "http://" + in + "/device"},
		"authorization-http":     {"authorization_endpoint": "http://login.example.com/authorize"},
		"authorization-metadata": {"authorization_endpoint": "https://169.254.169.254/authorize"},
		"no-jwks":                {"jwks_uri": ""},
		// A device endpoint on a name resolving to loopback passes the URL
		// rule (names are checked at dial time) and is refused when dialled.
		"device-name": {"device_authorization_endpoint": "https://localhost:" + strings.Split(in, ":")[1] + "/device"},
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/.well-known/openid-configuration")
		over, known := bad[name]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		iss := base + "/" + name
		doc := map[string]string{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "userinfo_endpoint": iss + "/userinfo", "device_authorization_endpoint": iss + "/device",
		}
		for k, v := range over {
			doc[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{")
		sep := ""
		for k, v := range doc {
			fmt.Fprintf(w, "%s%q: %q", sep, k, v)
			sep = ", "
		}
		fmt.Fprint(w, "}")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	b := storetest.Open(t, "sqlite")
	f, err := oidcflow.New(oidcflow.Config{
		Store: sqlstore.New(b.DB),
		HTTPClient: outbound.New(outbound.Options{Timeout: 5 * time.Second,
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name := range bad {
		if name == "device-name" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			p := oidcflow.Provider{IdPID: name, Issuer: base + "/" + name, ClientID: "c", RedirectURIs: []string{callback}}
			_, _, err := f.Start(ctx, p, callback, nil)
			if name == "good" {
				if err != nil {
					t.Fatalf("good provider: %v", err)
				}
				return
			}
			if !errors.Is(err, oidcflow.ErrProviderUnavailable) || oidcflow.StatusCode(err) != http.StatusBadGateway {
				t.Fatalf("want ErrProviderUnavailable (502), got %v", err)
			}
			var r *outbound.RefusedError
			if name != "no-jwks" && !errors.As(err, &r) {
				t.Fatalf("want an outbound refusal in %v", err)
			}
			t.Logf("%v", err)
			if _, err := f.StartDevice(ctx, p, nil); !errors.Is(err, oidcflow.ErrProviderUnavailable) {
				t.Fatalf("device login: want ErrProviderUnavailable, got %v", err)
			}
		})
	}
	p := oidcflow.Provider{IdPID: "device-name", Issuer: base + "/device-name", ClientID: "c"}
	var r *outbound.RefusedError
	if _, err := f.StartDevice(ctx, p, nil); !errors.As(err, &r) {
		t.Fatalf("device endpoint resolving to loopback: want an outbound refusal, got %v", err)
	}

	if n := inside.Connections(t); n != 0 {
		t.Fatalf("the internal listener saw %d connections; want 0", n)
	}
}

// TestDiscoveryOnRefusedAddress: with no allowed network, a provider on
// loopback is not even discovered.
func TestDiscoveryOnRefusedAddress(t *testing.T) {
	f, err := oidcflow.New(oidcflow.Config{Store: nopStore{}, HTTPClient: outbound.New(outbound.Options{Timeout: 5 * time.Second})})
	if err != nil {
		t.Fatal(err)
	}
	for _, iss := range []string{"http://127.0.0.1:9", "https://localhost:9", "https://169.254.169.254", "http://[::1]:5432"} {
		p := oidcflow.Provider{IdPID: "x", Issuer: iss, ClientID: "c", RedirectURIs: []string{callback}}
		_, _, err := f.Start(context.Background(), p, callback, nil)
		var r *outbound.RefusedError
		if !errors.Is(err, oidcflow.ErrProviderUnavailable) || !errors.As(err, &r) {
			t.Errorf("%s: want ErrProviderUnavailable with an outbound refusal, got %v", iss, err)
		}
	}
}
