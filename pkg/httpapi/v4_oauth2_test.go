package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/ratelimit"
	"github.com/keystone-ng/keystone-ng/pkg/tokenexchange"
)

func TestParseBasic(t *testing.T) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, header, id, secret string
		present, bad             bool
	}{
		{name: "absent"},
		{name: "bearer is not basic", header: "Bearer x"},
		{name: "plain", header: enc("sa1:abc.def"), id: "sa1", secret: "abc.def", present: true},
		{name: "form-urlencoded parts (RFC 6749 §2.3.1)", header: enc("sa%201:a%3Ab+c"), id: "sa 1", secret: "a:b c", present: true},
		{name: "scheme is case-insensitive", header: "basic " + base64.StdEncoding.EncodeToString([]byte("sa1:s")), id: "sa1", secret: "s", present: true},
		{name: "not base64", header: "Basic !!!", present: true, bad: true},
		{name: "no colon", header: enc("sa1"), present: true, bad: true},
		{name: "empty id", header: enc(":s"), present: true, bad: true},
		{name: "bad escape", header: enc("sa1:%zz"), present: true, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, present, err := parseBasic(tc.header)
			if present != tc.present || (err != nil) != tc.bad || !tc.bad && (id != tc.id || secret != tc.secret) {
				t.Fatalf("got %q %q %v %v", id, secret, present, err)
			}
		})
	}
}

// TestOAuth2TokenRefusalsBeforeLogin: requests refused by their shape get
// RFC 6749's JSON, no-store, WWW-Authenticate after a failed Basic
// authentication, and a metric; none reaches the login pipeline.
func TestOAuth2TokenRefusalsBeforeLogin(t *testing.T) {
	s := &Server{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: NewMetrics(nil),
		V4:      &V4{ServiceAccounts: limitServiceAccounts{}, Logins: &login.Pipeline{}},
	}
	h := s.Echo()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("sa1:s"))
	for _, tc := range []struct {
		name, ctype, body, auth string
		status                  int
		code                    string
	}{
		{"JSON body", "application/json", `{"grant_type":"client_credentials"}`, "", 400, "invalid_request"},
		{"repeated parameter", "application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=client_credentials", basic, 400, "invalid_request"},
		{"client_secret_post not offered", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=sa1&client_secret=s", "", 400, "invalid_request"},
		{"unsupported grant", "application/x-www-form-urlencoded", "grant_type=password&username=a&password=b", basic, 400, "unsupported_grant_type"},
		{"no client authentication", "application/x-www-form-urlencoded", "grant_type=client_credentials", "", 401, "invalid_client"},
		{"malformed Basic", "application/x-www-form-urlencoded", "grant_type=client_credentials", "Basic !!!", 401, "invalid_client"},
		{"both methods", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_assertion_type=" +
			url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") + "&client_assertion=a.b.c", basic, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v4/oauth2/token", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || body["error"] != tc.code || body["error_description"] == "" {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("no Cache-Control: no-store")
			}
			wantBasic := tc.status == 401 && strings.HasPrefix(tc.auth, "Basic")
			if got := strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic"); got != wantBasic {
				t.Fatalf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if n := oauth2Count(t, s.Metrics, "client_credentials", "none", "invalid_client"); n != 1 {
		t.Fatalf("keystone_ng_oauth2_token_requests_total{client_credentials,none,invalid_client} = %v", n)
	}
	if n := oauth2Count(t, s.Metrics, "other", "client_secret_basic", "unsupported_grant_type"); n != 1 {
		t.Fatalf("keystone_ng_oauth2_token_requests_total{other,client_secret_basic,unsupported_grant_type} = %v", n)
	}
}

// oauth2Count reads one series of keystone_ng_oauth2_token_requests_total.
func oauth2Count(t *testing.T, m *Metrics, grant, auth, outcome string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"grant_type": grant, "client_auth": auth, "outcome": outcome}
	for _, mf := range mfs {
		if mf.GetName() != "keystone_ng_oauth2_token_requests_total" {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// TestOAuth2TokenRefusalsOutsideTheHandler: what the middleware refuses
// before the token endpoint runs (an oversized body, the login rate limit,
// a wrong method) is answered in RFC 6749's shape too, keeping its status
// and headers.
func TestOAuth2TokenRefusalsOutsideTheHandler(t *testing.T) {
	s := &Server{
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:      NewMetrics(nil),
		V4:           &V4{ServiceAccounts: limitServiceAccounts{}, Logins: &login.Pipeline{}},
		MaxBodyBytes: 1024,
		LoginLimiter: ratelimit.New(1, 1, 0),
	}
	h := s.Echo()
	call := func(method, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v4/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.7:4000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	check := func(name string, w *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != status || body["error"] != code ||
			body["error_description"] == "" || len(body) != 2 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s, want %d {error: %s}", name, w.Code, w.Body, status, code)
		}
	}
	check("oversized body", call(http.MethodPost, "grant_type=client_credentials&scope="+strings.Repeat("x", 2048)), http.StatusRequestEntityTooLarge, "invalid_request")
	check("wrong method", call(http.MethodGet, ""), http.StatusMethodNotAllowed, "invalid_request")
	// The bucket holds one request (the two refusals above came before
	// the limiter): the first is answered, the second refused.
	check("first request", call(http.MethodPost, "grant_type=client_credentials"), http.StatusUnauthorized, "invalid_client")
	w := call(http.MethodPost, "grant_type=client_credentials")
	check("rate limited", w, http.StatusTooManyRequests, "temporarily_unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("rate limited without Retry-After")
	}
}

// TestTokenExchangeRefusalsBeforeLogin: a token exchange refused by its
// shape (client authentication beside the subject token, an actor, a
// malformed restriction, the grant switched off) gets RFC 6749's JSON
// and never reaches a validator or the database: the exchange service here
// has neither.
func TestTokenExchangeRefusalsBeforeLogin(t *testing.T) {
	exchange := tokenexchange.New(nil, nil, tokenexchange.Options{}, nil)
	s := &Server{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: NewMetrics(nil),
		V4:      &V4{TokenExchange: exchange, Logins: &login.Pipeline{}},
	}
	off := &Server{Log: s.Log, Metrics: NewMetrics(nil), V4: &V4{ServiceAccounts: limitServiceAccounts{}, Logins: &login.Pipeline{}}}
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {"tok"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name, body, auth string
		srv              *Server
		code             string
	}{
		{"Basic beside the subject token", form(), "Basic " + base64.StdEncoding.EncodeToString([]byte("sa1:s")), s, "invalid_request"},
		{"client secret in the body", form("client_secret", "s"), "", s, "invalid_request"},
		{"client assertion", form("client_assertion", "a.b.c"), "", s, "invalid_request"},
		{"actor token", form("actor_token", "x", "actor_token_type", "urn:ietf:params:oauth:token-type:access_token"), "", s, "invalid_request"},
		{"audience", form("audience", "compute"), "", s, "invalid_request"},
		{"id token subject", form("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), "", s, "invalid_request"},
		{"domain scope", form("scope", "domain:d"), "", s, "invalid_scope"},
		{"rules not an array", form("authorization_details", `{"type":"openstack_access_rule"}`), "", s, "invalid_authorization_details"},
		{"lifetime of zero", form("expires_in", "0"), "", s, "invalid_request"},
		{"grant off", form(), "", off, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v4/oauth2/token", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			tc.srv.Echo().ServeHTTP(w, r)
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusBadRequest || body["error"] != tc.code ||
				body["error_description"] == "" || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("WWW-Authenticate") != "" {
				t.Fatalf("%d %s %v, want 400 %s", w.Code, w.Body, w.Header(), tc.code)
			}
		})
	}
}
