package oidcflow_test

// ID-token checks and RFC 8628 error mapping against a scripted provider
// whose token endpoint returns crafted responses.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

const clientSecret = "a-client-secret-long-enough-for-hs256!!"

// scripted is a minimal OpenID provider: discovery, JWKS, a device
// authorization endpoint and a token endpoint answering what the test
// script says.
type scripted struct {
	srv *httptest.Server
	mu  sync.Mutex
	// keys published at jwks_uri
	keys []jose.JSONWebKey
	// token answers the token endpoint: status and JSON body.
	token      func(form url.Values) (int, any)
	forms      []url.Values
	basicAuth  []string
	jwksFetchs int
}

func newScripted(t *testing.T) *scripted {
	s := &scripted{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := s.srv.URL
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
			"jwks_uri": u + "/keys", "device_authorization_endpoint": u + "/device",
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.jwksFetchs++
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	})
	mux.HandleFunc("/device", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"device_code": "idp-device-code", "user_code": "ABCD-EFGH",
			"verification_uri": s.srv.URL + "/activate", "expires_in": 600, "interval": 5})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		s.forms = append(s.forms, r.PostForm)
		user, pass, _ := r.BasicAuth()
		s.basicAuth = append(s.basicAuth, user+":"+pass)
		f := s.token
		s.mu.Unlock()
		status, body := f(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

type signingKey struct {
	alg jose.SignatureAlgorithm
	kid string
	key any // private key, or []byte for HS256
}

func (k signingKey) public() jose.JSONWebKey {
	var pub any
	switch p := k.key.(type) {
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

func sign(t *testing.T, k signingKey, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	if k.alg == "none" {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return h + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	var key any = jose.JSONWebKey{Key: k.key, KeyID: k.kid}
	if b, ok := k.key.([]byte); ok {
		key = b
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func atHash(at string) string {
	h := sha256.Sum256([]byte(at))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func TestIDTokenChecks(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaKey2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1 := signingKey{jose.RS256, "k1", rsaKey}
	kEC := signingKey{jose.ES256, "ec1", ecKey}
	kRotated := signingKey{jose.RS256, "k2", rsaKey2}
	kForged := signingKey{jose.RS256, "k1", rsaKey2} // known kid, wrong key
	kHS := signingKey{jose.HS256, "", []byte(clientSecret)}
	kNone := signingKey{alg: "none"}

	type tc struct {
		name  string
		key   signingKey
		algs  []string
		hs256 bool
		edit  func(c map[string]any)
		// rotate publishes the rotated key only after the provider is cached.
		rotate bool
		noID   bool
		want   []error
	}
	cases := []tc{
		{name: "valid RS256", key: k1},
		{name: "valid ES256", key: kEC},
		{name: "key rotation: unknown kid refreshes the JWKS", key: kRotated, rotate: true},
		{name: "wrong audience", key: k1, edit: func(c map[string]any) { c["aud"] = []string{"someone-else"} }, want: []error{oidc.ErrAudience}},
		{name: "several audiences without azp", key: k1, edit: func(c map[string]any) { c["aud"] = []string{"client", "other"} }, want: []error{oidc.ErrAzpMissing}},
		{name: "several audiences, azp is us", key: k1, edit: func(c map[string]any) { c["aud"] = []string{"client", "other"}; c["azp"] = "client" }},
		{name: "azp another client", key: k1, edit: func(c map[string]any) { c["azp"] = "other" }, want: []error{oidc.ErrAzpInvalid}},
		{name: "wrong issuer", key: k1, edit: func(c map[string]any) { c["iss"] = "https://evil.example" }, want: []error{oidc.ErrIssuerInvalid}},
		{name: "issuer with trailing slash", key: k1, edit: func(c map[string]any) { c["iss"] = c["iss"].(string) + "/" }, want: []error{oidc.ErrIssuerInvalid}},
		{name: "expired", key: k1, edit: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, want: []error{oidc.ErrExpired}},
		{name: "expires within the leeway", key: k1, edit: func(c map[string]any) { c["exp"] = time.Now().Add(5 * time.Second).Unix() }, want: []error{oidc.ErrExpired}},
		{name: "iat in the future beyond leeway", key: k1, edit: func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }, want: []error{oidc.ErrIatInFuture}},
		{name: "iat in the future within leeway", key: k1, edit: func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Second).Unix() }},
		{name: "iat too old", key: k1, edit: func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }, want: []error{oidc.ErrIatToOld}},
		{name: "no iat", key: k1, edit: func(c map[string]any) { delete(c, "iat") }, want: []error{oidc.ErrIatMissing}},
		{name: "no sub", key: k1, edit: func(c map[string]any) { delete(c, "sub") }, want: []error{oidc.ErrSubjectMissing}},
		{name: "nonce mismatch", key: k1, edit: func(c map[string]any) { c["nonce"] = "another" }, want: []error{oidc.ErrNonceInvalid}},
		{name: "nonce missing", key: k1, edit: func(c map[string]any) { delete(c, "nonce") }, want: []error{oidc.ErrNonceInvalid}},
		{name: "at_hash mismatch", key: k1, edit: func(c map[string]any) { c["at_hash"] = atHash("other") }, want: []error{oidc.ErrAtHash}},
		{name: "signature by another key with a known kid", key: kForged, want: []error{oidc.ErrSignatureInvalid}},
		{name: "alg none", key: kNone, want: []error{oidc.ErrSignatureUnsupportedAlg}},
		{name: "HS256 by default", key: kHS, want: []error{oidc.ErrSignatureUnsupportedAlg}},
		{name: "HS256 allowed for this provider", key: kHS, hs256: true},
		{name: "HS256 allowed, wrong secret", key: signingKey{jose.HS256, "", []byte("a-different-secret-of-enough-length!!!!")}, hs256: true, want: []error{oidc.ErrSignatureInvalid}},
		{name: "HS256 allowed, at_hash mismatch", key: kHS, hs256: true, edit: func(c map[string]any) { c["at_hash"] = atHash("other") }, want: []error{oidc.ErrAtHash}},
		{name: "RS256 outside the allow-list", key: k1, algs: []string{"ES256"}, want: []error{oidc.ErrSignatureUnsupportedAlg}},
		{name: "no id_token", key: k1, noID: true, want: []error{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScripted(t)
			s.keys = []jose.JSONWebKey{k1.public(), kEC.public()}
			e := newEnv(t, func(cfg *oidcflow.Config) { cfg.Algorithms = c.algs; cfg.Userinfo = false })
			p := oidcflow.Provider{IdPID: "idp", Issuer: s.srv.URL, ClientID: "client", ClientSecret: clientSecret, RedirectURIs: []string{callback}, AllowHS256: c.hs256}
			if c.rotate {
				// First login caches the provider and its JWKS.
				finishWith(t, e, s, p, k1, nil, false)
				s.mu.Lock()
				s.keys = []jose.JSONWebKey{kRotated.public()}
				s.mu.Unlock()
			}
			res, err := finishWith(t, e, s, p, c.key, c.edit, c.noID)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Claims["sub"] != "user-1" || res.Claims["groups"] == nil {
					t.Fatalf("claims %v", res.Claims)
				}
			} else {
				if !errors.Is(err, oidcflow.ErrIDToken) {
					t.Fatalf("error %v, want ErrIDToken", err)
				}
				for _, w := range c.want {
					if !errors.Is(err, w) {
						t.Fatalf("error %v, want %v", err, w)
					}
				}
			}
			if e.rows(t) != 0 {
				t.Fatal("state left behind")
			}
		})
	}
}

// finishWith runs Start, has the scripted token endpoint answer with an
// ID token signed by k (claims edited by edit), and runs Finish.
func finishWith(t *testing.T, e *env, s *scripted, p oidcflow.Provider, k signingKey, edit func(map[string]any), noID bool) (*oidcflow.Result, error) {
	t.Helper()
	ctx := context.Background()
	authURL, state, err := e.flow.Start(ctx, p, callback, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(authURL)
	nonce, challenge := q.Query().Get("nonce"), q.Query().Get("code_challenge")
	s.mu.Lock()
	s.token = func(form url.Values) (int, any) {
		// PKCE: the verifier matches the challenge of the authorization URL.
		h := sha256.Sum256([]byte(form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(h[:]) != challenge || form.Get("redirect_uri") != callback || form.Get("code") != "the-code" {
			return 400, map[string]any{"error": "invalid_grant"}
		}
		now := time.Now()
		claims := map[string]any{
			"iss": s.srv.URL, "sub": "user-1", "aud": "client", "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "nonce": nonce, "at_hash": atHash("the-access-token"), "groups": []string{"g1"},
		}
		if edit != nil {
			edit(claims)
		}
		body := map[string]any{"access_token": "the-access-token", "token_type": "Bearer", "expires_in": 300}
		if !noID {
			body["id_token"] = sign(t, k, claims)
		}
		return 200, body
	}
	s.mu.Unlock()
	res, err := e.flow.Finish(ctx, state, "the-code", lookupOf(p))
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.basicAuth[len(s.basicAuth)-1]; last != "client:"+url.QueryEscape(clientSecret) {
		t.Fatalf("token endpoint client authentication %q, want client_secret_basic", last)
	}
	if s.forms[len(s.forms)-1].Get("client_secret") != "" {
		t.Fatal("client secret sent in the form too")
	}
	return res, err
}

func TestDevicePollMapping(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	k1 := signingKey{jose.RS256, "k1", rsaKey}
	ctx := context.Background()
	cases := []struct {
		name     string
		status   int
		body     any
		want     error
		interval int  // for PollError
		gone     bool // state deleted
	}{
		{"authorization_pending", 400, map[string]any{"error": "authorization_pending"}, oidcflow.ErrAuthorizationPending, 5, false},
		{"slow_down", 400, map[string]any{"error": "slow_down"}, oidcflow.ErrSlowDown, 10, false},
		{"expired_token", 400, map[string]any{"error": "expired_token"}, oidcflow.ErrExpired, 0, true},
		{"access_denied", 400, map[string]any{"error": "access_denied"}, oidcflow.ErrAccessDenied, 0, true},
		{"invalid_grant", 400, map[string]any{"error": "invalid_grant"}, oidcflow.ErrTokenExchange, 0, true},
		{"server down", 502, "bad gateway", oidcflow.ErrProviderUnavailable, 0, false},
		{"granted with a nonce-less ID token", 200, nil, nil, 0, true},
		{"granted without an ID token", 200, map[string]any{"access_token": "at", "token_type": "Bearer"}, oidcflow.ErrIDToken, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScripted(t)
			s.keys = []jose.JSONWebKey{k1.public()}
			e := newEnv(t, func(cfg *oidcflow.Config) { cfg.Userinfo = false })
			p := oidcflow.Provider{IdPID: "idp", Issuer: s.srv.URL, ClientID: "client"} // public client
			ds, err := e.flow.StartDevice(ctx, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.token = func(form url.Values) (int, any) {
				if form.Get("device_code") != "idp-device-code" || form.Get("grant_type") != string(oidc.GrantTypeDeviceCode) || form.Get("client_id") != "client" {
					return 400, map[string]any{"error": "invalid_request"}
				}
				if c.body == nil {
					now := time.Now()
					return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": sign(t, k1, map[string]any{
						"iss": s.srv.URL, "sub": "dev-user", "aud": "client", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})}
				}
				return c.status, c.body
			}
			res, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookupOf(p))
			if c.want == nil {
				if err != nil || res.Claims["sub"] != "dev-user" {
					t.Fatalf("PollDevice: %v, %v", res, err)
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("PollDevice: %v, want %v", err, c.want)
			}
			var pe *oidcflow.PollError
			if c.interval > 0 && (!errors.As(err, &pe) || pe.Interval != c.interval) {
				t.Fatalf("PollError %v, want interval %d", err, c.interval)
			}
			if got := e.rows(t) == 0; got != c.gone {
				t.Fatalf("state deleted = %v, want %v", got, c.gone)
			}
			if !c.gone {
				// Polling again before the interval does not reach the provider.
				n := len(s.forms)
				if _, err := e.flow.PollDevice(ctx, ds.DeviceCode, lookupOf(p)); !errors.Is(err, oidcflow.ErrAuthorizationPending) {
					t.Fatalf("early poll: %v", err)
				}
				if len(s.forms) != n {
					t.Fatal("early poll reached the provider")
				}
			}
		})
	}
}

func TestNewRefusesWeakAlgorithms(t *testing.T) {
	for _, algs := range [][]string{{"none"}, {"HS256"}, {"RS256", "HS512"}, {"rs256"}, {"XX"}} {
		if _, err := oidcflow.New(oidcflow.Config{Store: nopStore{}, Algorithms: algs}); err == nil {
			t.Fatalf("New accepted algorithms %v", algs)
		}
	}
	if _, err := oidcflow.New(oidcflow.Config{Store: nopStore{}, HTTPClient: &http.Client{}}); err == nil {
		t.Fatal("New accepted an HTTP client without a timeout")
	}
	if _, err := oidcflow.New(oidcflow.Config{}); err == nil {
		t.Fatal("New accepted no store")
	}
}

type nopStore struct{ oidcflow.StateStore }

func TestStatusCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{oidcflow.ErrRedirectURINotAllowed, 400},
		{&oidcflow.PollError{Reason: oidcflow.ErrSlowDown, Interval: 10}, 202},
		{oidcflow.ErrStateNotFound, 400},
		{oidcflow.ErrIDToken, 401},
		{oidcflow.ErrProviderUnavailable, 502},
		{errors.New("other"), 0},
	}
	for _, c := range cases {
		if got := oidcflow.StatusCode(c.err); got != c.want {
			t.Errorf("StatusCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("A", 42) + "B", "", "x' OR 1=1 --", strings.Repeat("A", 42) + "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !oidcflow.ValidID(s) {
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("ValidID(%q) but it is not 32 bytes base64url", s)
		}
	})
}
