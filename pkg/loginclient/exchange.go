package loginclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Restriction is what `keystone-ng restrict` asks a restricted token to be
// limited to (docs/restricted-tokens.md §1).
type Restriction struct {
	// Subject is the token to restrict.
	Subject string
	// Roles to keep (names or ids); empty keeps all.
	Roles []string
	// AccessRules, each "service:METHOD:/path".
	AccessRules []string
	// Lifetime, when set, shortens the token's life.
	Lifetime time.Duration
	Now      func() time.Time
}

// accessRule is one authorization_details entry (RFC 9396).
type accessRule struct {
	Type    string `json:"type"`
	Service string `json:"service"`
	Method  string `json:"method"`
	Path    string `json:"path"`
}

// ParseAccessRule reads "service:METHOD:/path" (the path may hold
// colons). The server checks each part again.
func ParseAccessRule(s string) (service, method, path string, err error) {
	service, rest, ok1 := strings.Cut(s, ":")
	method, path, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || service == "" || method == "" || !strings.HasPrefix(path, "/") {
		return "", "", "", fmt.Errorf("access rule %q: want service:METHOD:/path, e.g. compute:GET:/v2.1/servers", s)
	}
	return service, strings.ToUpper(method), path, nil
}

// ExchangeForm is the token exchange request of r (RFC 8693 §2.1).
func ExchangeForm(r *Restriction) (url.Values, error) {
	if r.Subject == "" {
		return nil, errors.New("no token to restrict")
	}
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {r.Subject},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
	}
	var scope []string
	for _, role := range r.Roles {
		if role == "" || strings.ContainsAny(role, " \t") {
			return nil, fmt.Errorf("role %q: a name or an id, without spaces", role)
		}
		scope = append(scope, "role:"+role)
	}
	if len(scope) > 0 {
		form.Set("scope", strings.Join(scope, " "))
	}
	if len(r.AccessRules) > 0 {
		rules := make([]accessRule, 0, len(r.AccessRules))
		for _, s := range r.AccessRules {
			svc, m, p, err := ParseAccessRule(s)
			if err != nil {
				return nil, err
			}
			rules = append(rules, accessRule{Type: "openstack_access_rule", Service: svc, Method: m, Path: p})
		}
		b, _ := json.Marshal(rules)
		form.Set("authorization_details", string(b))
	}
	if r.Lifetime != 0 {
		secs := int64(r.Lifetime / time.Second)
		if secs < 1 {
			return nil, errors.New("the lifetime must be at least one second")
		}
		form.Set("expires_in", strconv.FormatInt(secs, 10))
	}
	return form, nil
}

// Exchange makes a restricted token, with a Body holding what Exports
// prints (the project and the expiry).
func (c *Client) Exchange(ctx context.Context, r *Restriction) (*Token, error) {
	form, err := ExchangeForm(r)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	out, err := c.postTokenForm(ctx, form, nil)
	if err != nil {
		return nil, err
	}
	return &Token{ID: out.AccessToken, Body: tokenBody(out.Scope, now().Add(time.Duration(out.ExpiresIn)*time.Second))}, nil
}
