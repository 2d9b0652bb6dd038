package loginclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
