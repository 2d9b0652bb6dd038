package jws

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// TestParseClaimsMapping: each token kind's claims map to the payload the
// Fernet path would decode for the same token (the fields pkg/token reads).
func TestParseClaimsMapping(t *testing.T) {
	const head = `{"sub":"u","iat":1700000000,"exp":1900000000,"openstack_methods":["password","token"],"openstack_audit_ids":["a1"]`
	now := time.Unix(1800000000, 0)
	cases := []struct {
		name   string
		claims string
		want   payload.Payload
	}{
		{"unscoped", head + `}`, payload.Payload{Version: 0}},
		{"project", head + `,"openstack_project_id":"p"}`, payload.Payload{Version: 2, ProjectID: "p"}},
		{"domain", head + `,"openstack_domain_id":"d"}`, payload.Payload{Version: 1, DomainID: "d"}},
		{"system", head + `,"openstack_system":"all"}`, payload.Payload{Version: 8, System: "all"}},
		{"trust", head + `,"openstack_project_id":"p","openstack_trust_id":"t"}`, payload.Payload{Version: 3, ProjectID: "p", TrustID: "t"}},
		{"federated unscoped", head + `,"openstack_group_ids":[{"id":"g1"},{"id":"g2"}],"openstack_idp_id":"i","openstack_protocol_id":"oidc"}`,
			payload.Payload{Version: 4, Federated: true, FederatedGroupIDs: []string{"g1", "g2"}, IdentityProviderID: "i", ProtocolID: "oidc"}},
		{"federated project, no groups", head + `,"openstack_project_id":"p","openstack_group_ids":[],"openstack_idp_id":"i","openstack_protocol_id":"oidc"}`,
			payload.Payload{Version: 5, ProjectID: "p", Federated: true, FederatedGroupIDs: []string{}, IdentityProviderID: "i", ProtocolID: "oidc"}},
		{"federated domain", head + `,"openstack_domain_id":"d","openstack_group_ids":[{"id":"g"}],"openstack_idp_id":"i","openstack_protocol_id":"saml2"}`,
			payload.Payload{Version: 6, DomainID: "d", Federated: true, FederatedGroupIDs: []string{"g"}, IdentityProviderID: "i", ProtocolID: "saml2"}},
		{"idp without groups is not federated", head + `,"openstack_idp_id":"i","openstack_protocol_id":"oidc"}`, payload.Payload{Version: 0}},
		{"null group ids is not federated", head + `,"openstack_group_ids":null}`, payload.Payload{Version: 0}},
		{"oauth1", head + `,"openstack_project_id":"p","openstack_access_token_id":"at"}`, payload.Payload{Version: 7, ProjectID: "p", AccessTokenID: "at"}},
		{"application credential", head + `,"openstack_project_id":"p","openstack_app_cred_id":"ac"}`, payload.Payload{Version: 9, ProjectID: "p", AppCredID: "ac"}},
		{"oauth2 thumbprint (Keystone 23+)", head + `,"openstack_project_id":"p","openstack_thumbprint":"tp"}`, payload.Payload{Version: 10, ProjectID: "p", Thumbprint: "tp"}},
		{"null claims are absent", head + `,"openstack_project_id":null,"openstack_trust_id":null}`, payload.Payload{Version: 0}},
		{"unknown claims ignored", head + `,"jti":"x","openstack_future":1}`, payload.Payload{Version: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, iat, err := ParseClaims([]byte(c.claims), now)
			if err != nil {
				t.Fatal(err)
			}
			w := c.want
			w.UserID, w.Methods, w.AuditIDs = "u", []string{"password", "token"}, []string{"a1"}
			w.ExpiresAt = time.Unix(1900000000, 0).UTC()
			if iat.Unix() != 1700000000 {
				t.Errorf("iat %v", iat)
			}
			if p.Version != w.Version || p.UserID != w.UserID || !slices.Equal(p.Methods, w.Methods) ||
				!slices.Equal(p.AuditIDs, w.AuditIDs) || p.ProjectID != w.ProjectID || p.DomainID != w.DomainID ||
				p.System != w.System || p.TrustID != w.TrustID || p.Federated != w.Federated ||
				!slices.Equal(p.FederatedGroupIDs, w.FederatedGroupIDs) || p.IdentityProviderID != w.IdentityProviderID ||
				p.ProtocolID != w.ProtocolID || p.AccessTokenID != w.AccessTokenID || p.AppCredID != w.AppCredID || p.Thumbprint != w.Thumbprint ||
				!p.ExpiresAt.Equal(w.ExpiresAt) {
				t.Errorf("got  %+v\nwant %+v", *p, w)
			}
			if w.Federated && p.FederatedGroupIDs == nil {
				t.Error("federated groups nil, want a list")
			}
		})
	}
}

// TestParseClaimsAuditIDs: Python pops the parent, then its own id, from
// the end of the list (token/provider.py _validate_token).
func TestParseClaimsAuditIDs(t *testing.T) {
	for _, c := range []struct {
		ids  string
		want []string
		err  error
	}{
		{`["a"]`, []string{"a"}, nil},
		{`["a","b"]`, []string{"a", "b"}, nil},
		{`["a","b","c"]`, []string{"b", "c"}, nil},
		{`[]`, nil, ErrUnexpected},
		{`"ab"`, nil, ErrUnexpected},
		{`null`, nil, ErrUnexpected},
	} {
		claims := `{"sub":"u","iat":1,"exp":2,"openstack_methods":[],"openstack_audit_ids":` + c.ids + `}`
		p, _, err := ParseClaims([]byte(claims), time.Unix(10, 0))
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v, want %v", c.ids, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(p.AuditIDs, c.want) {
			t.Errorf("%s: %v %v, want %v", c.ids, p, err, c.want)
		}
	}
}

// TestParseClaimsTimes: fractional and boundary times.
func TestParseClaimsTimes(t *testing.T) {
	for _, c := range []struct {
		exp  string
		want string
		err  error
	}{
		{`1900000000`, "2030-03-17T17:46:40.000000Z", nil},
		{`1900000000.75`, "2030-03-17T17:46:40.000000Z", nil},
		{`1e9`, "2001-09-09T01:46:40.000000Z", nil},
		{`"1900000000"`, "", ErrUnexpected},
		{`null`, "", ErrUnexpected},
		{`1e300`, "", ErrUnexpected},
	} {
		claims := `{"sub":"u","iat":1,"exp":` + c.exp + `,"openstack_methods":[],"openstack_audit_ids":["a"]}`
		p, _, err := ParseClaims([]byte(claims), time.Unix(10, 0))
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("exp %s: err %v, want %v", c.exp, err, c.err)
			}
			continue
		}
		if err != nil || payload.FormatTime(p.Expiry()) != c.want {
			t.Errorf("exp %s: %v %v, want %s", c.exp, p, err, c.want)
		}
	}
}

// FuzzParseClaims: the claims parser never panics, and whatever it
// accepts re-encodes to claims it reads back the same.
func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(goodClaims))
	f.Add([]byte(`{"sub":"u","iat":1,"exp":2,"openstack_methods":["mapped"],"openstack_audit_ids":["a","b","c"],"openstack_group_ids":[{"id":"g"}],"openstack_idp_id":"i","openstack_protocol_id":"p","openstack_domain_id":"d"}`))
	f.Add([]byte(`{"sub":"u","iat":1.5,"exp":1e10,"nbf":"3","aud":"","openstack_methods":[],"openstack_audit_ids":["a"],"openstack_system":"all"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"sub":"\u00e9","iat":true,"exp":2,"openstack_methods":[],"openstack_audit_ids":["a"]} `))
	now := time.Unix(1800000000, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, iat, err := ParseClaims(b, now)
		if err != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnexpected) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		enc, err := EncodeClaims(p, iat)
		if err != nil {
			t.Fatalf("accepted claims do not re-encode: %v", err)
		}
		q, iat2, err := ParseClaims(enc, now)
		if err != nil {
			t.Fatalf("re-encoded claims %s refused: %v", enc, err)
		}
		if q.UserID != p.UserID || q.Version != p.Version || !slices.Equal(q.AuditIDs, p.AuditIDs) ||
			!slices.Equal(q.Methods, p.Methods) || q.ProjectID != p.ProjectID || q.DomainID != p.DomainID ||
			q.Federated != p.Federated || !slices.Equal(q.FederatedGroupIDs, p.FederatedGroupIDs) ||
			q.Expiry().Unix() != p.ExpiresAt.Truncate(time.Second).Unix() || iat2.Unix() != iat.Truncate(time.Second).Unix() {
			t.Fatalf("round trip changed the token:\n%+v\n%+v", p, q)
		}
	})
}
