package loginclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestExchangeForm(t *testing.T) {
	f, err := ExchangeForm(&Restriction{Subject: "tok", Roles: []string{"reader", "r2"},
		AccessRules: []string{"compute:get:/v2.1/servers", "object-store:PUT:/v1/AUTH_x/c:o/**"}, Lifetime: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || f.Get("subject_token") != "tok" ||
		f.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:access_token" || f.Get("scope") != "role:reader role:r2" ||
		f.Get("expires_in") != "90" ||
		f.Get("authorization_details") != `[{"type":"openstack_access_rule","service":"compute","method":"GET","path":"/v2.1/servers"},`+
			`{"type":"openstack_access_rule","service":"object-store","method":"PUT","path":"/v1/AUTH_x/c:o/**"}]` {
		t.Fatalf("form %v", f)
	}
	if f, err := ExchangeForm(&Restriction{Subject: "tok"}); err != nil || f.Has("scope") || f.Has("authorization_details") || f.Has("expires_in") {
		t.Fatalf("minimal form %v, %v", f, err)
	}
	for _, bad := range []*Restriction{
		{},
		{Subject: "tok", Roles: []string{"two words"}},
		{Subject: "tok", Roles: []string{""}},
		{Subject: "tok", AccessRules: []string{"compute:GET"}},
		{Subject: "tok", AccessRules: []string{"compute:GET:v2.1"}},
		{Subject: "tok", AccessRules: []string{":GET:/x"}},
		{Subject: "tok", Lifetime: time.Millisecond},
	} {
		if _, err := ExchangeForm(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestExchange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != TokenPath || r.ParseForm() != nil || r.Header.Get("Authorization") != "" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"bad"}`))
			return
		}
		if r.PostForm.Get("scope") == "role:admin" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_scope","error_description":"The subject token does not carry the role \"admin\".\u001b[2J"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "rt-1", "token_type": "Bearer", "expires_in": 600,
			"issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "project:p1 role:reader"})
	}))
	defer srv.Close()
	c := &Client{AuthURL: srv.URL + "/v3"}
	tok, err := c.Exchange(context.Background(), &Restriction{Subject: "tok", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	out := Exports(c.AuthURL, tok)
	for _, want := range []string{"export OS_TOKEN=rt-1\n", "export OS_PROJECT_ID=p1\n", "# expires "} {
		if !strings.Contains(out, want) {
			t.Fatalf("exports lack %q:\n%s", want, out)
		}
	}
	_, err = c.Exchange(context.Background(), &Restriction{Subject: "tok", Roles: []string{"admin"}})
	if err == nil || !strings.Contains(err.Error(), "invalid_scope") || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("refusal: %v", err)
	}
}
