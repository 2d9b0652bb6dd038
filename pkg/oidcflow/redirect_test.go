package oidcflow

import "testing"

func TestRedirectAllowed(t *testing.T) {
	reg := []string{
		"https://keystone.example/v4/federation/oidc/callback",
		"http://127.0.0.1/callback",
		"http://[::1]/callback",
		"http://localhost/cb?x=1",
		"http://127.0.0.1:8080/fixed",
	}
	cases := []struct {
		uri  string
		want bool
	}{
		{"https://keystone.example/v4/federation/oidc/callback", true},
		{"https://keystone.example/v4/federation/oidc/callback/", false},
		{"https://KEYSTONE.example/v4/federation/oidc/callback", false},
		{"https://keystone.example:8443/v4/federation/oidc/callback", false},
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:54321/callback", true},
		{"http://127.0.0.1:1/callback", true},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:0054321/callback", false},
		{"http://127.0.0.1:/callback", false},
		{"http://127.0.0.1:54321/callback2", false},
		{"http://127.0.0.1:54321/callback?a=b", false},
		{"http://127.0.0.1:54321/callback#f", false},
		{"https://127.0.0.1:54321/callback", false},
		{"http://127.0.0.2:54321/callback", false},
		{"http://127.0.0.1.evil.example:54321/callback", false},
		{"http://evil@127.0.0.1:54321/callback", false},
		{"http://[::1]:4000/callback", true},
		{"http://[::1]:4000/other", false},
		{"http://localhost:4000/cb?x=1", true},
		{"http://localhost:4000/cb", false},
		{"http://localhost:4000/callback", false}, // not registered for localhost
		{"http://127.0.0.1:9090/fixed", false},    // registered with a port: exact only
		{"http://127.0.0.1:8080/fixed", true},
		{"", false},
	}
	for _, c := range cases {
		if got := RedirectAllowed(reg, c.uri); got != c.want {
			t.Errorf("RedirectAllowed(%q) = %v, want %v", c.uri, got, c.want)
		}
	}
	if RedirectAllowed(nil, "http://127.0.0.1:5000/callback") {
		t.Error("empty list allows")
	}
}
