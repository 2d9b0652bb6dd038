package tokenexchange

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

func code(err error) string {
	var e *oauth2.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestParse(t *testing.T) {
	ok := func(mod func(r *Request)) *Request {
		r := &Request{SubjectToken: "tok", SubjectTokenType: TokenTypeAccessToken}
		if mod != nil {
			mod(r)
		}
		return r
	}
	rule := `[{"type":"openstack_access_rule","service":"compute","method":"GET","path":"/v2.1/servers"}]`
	for _, tc := range []struct {
		name string
		r    *Request
		code string
		want *Restriction
	}{
		{"minimal", ok(nil), "", &Restriction{}},
		{"roles project lifetime rules", ok(func(r *Request) {
			r.Scope, r.ExpiresIn, r.AuthorizationDetails = "role:reader  project:p1 role:r2", "600", rule
		}), "", &Restriction{ProjectID: "p1", Roles: []string{"reader", "r2"}, Lifetime: 600 * time.Second,
			AccessRules: []keystone.AccessRule{{Service: "compute", Method: "GET", Path: "/v2.1/servers"}}}},
		{"requested type access token", ok(func(r *Request) { r.RequestedTokenType = TokenTypeAccessToken }), "", &Restriction{}},
		{"no subject", ok(func(r *Request) { r.SubjectToken = "" }), "invalid_request", nil},
		{"huge subject", ok(func(r *Request) { r.SubjectToken = strings.Repeat("a", maxSubjectToken+1) }), "invalid_request", nil},
		{"no subject type", ok(func(r *Request) { r.SubjectTokenType = "" }), "invalid_request", nil},
		{"id token subject", ok(func(r *Request) { r.SubjectTokenType = "urn:ietf:params:oauth:token-type:id_token" }), "invalid_request", nil},
		{"refresh token requested", ok(func(r *Request) { r.RequestedTokenType = "urn:ietf:params:oauth:token-type:refresh_token" }), "invalid_request", nil},
		{"actor token", ok(func(r *Request) { r.Unsupported = []string{"actor_token"} }), "invalid_request", nil},
		{"two projects", ok(func(r *Request) { r.Scope = "project:a project:b" }), "invalid_scope", nil},
		{"role twice", ok(func(r *Request) { r.Scope = "role:a role:a" }), "invalid_scope", nil},
		{"domain scope", ok(func(r *Request) { r.Scope = "domain:d" }), "invalid_scope", nil},
		{"bare word", ok(func(r *Request) { r.Scope = "admin" }), "invalid_scope", nil},
		{"empty role", ok(func(r *Request) { r.Scope = "role:" }), "invalid_scope", nil},
		{"too many roles", ok(func(r *Request) {
			for i := 0; i <= maxRoles; i++ {
				r.Scope += " role:r" + strings.Repeat("x", i)
			}
		}), "invalid_scope", nil},
		{"zero lifetime", ok(func(r *Request) { r.ExpiresIn = "0" }), "invalid_request", nil},
		{"negative lifetime", ok(func(r *Request) { r.ExpiresIn = "-5" }), "invalid_request", nil},
		{"plus lifetime", ok(func(r *Request) { r.ExpiresIn = "+5" }), "invalid_request", nil},
		{"fraction lifetime", ok(func(r *Request) { r.ExpiresIn = "1.5" }), "invalid_request", nil},
		{"huge lifetime", ok(func(r *Request) { r.ExpiresIn = "99999999999999999999" }), "invalid_request", nil},
		{"rules not json", ok(func(r *Request) { r.AuthorizationDetails = "{" }), "invalid_authorization_details", nil},
		{"rules object", ok(func(r *Request) { r.AuthorizationDetails = `{"type":"openstack_access_rule"}` }), "invalid_authorization_details", nil},
		{"rules empty array", ok(func(r *Request) { r.AuthorizationDetails = `[]` }), "invalid_authorization_details", nil},
		{"rules trailing", ok(func(r *Request) { r.AuthorizationDetails = rule + rule }), "invalid_authorization_details", nil},
		{"rule other type", ok(func(r *Request) {
			r.AuthorizationDetails = strings.Replace(rule, "openstack_access_rule", "payment", 1)
		}), "invalid_authorization_details", nil},
		{"rule unknown field", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, `"path"`, `"id":"x","path"`, 1) }), "invalid_authorization_details", nil},
		{"rule bad method", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, "GET", "TRACE", 1) }), "invalid_authorization_details", nil},
		{"rule lower method", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, "GET", "get", 1) }), "invalid_authorization_details", nil},
		{"rule relative path", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, "/v2.1", "v2.1", 1) }), "invalid_authorization_details", nil},
		{"rule long path", ok(func(r *Request) {
			r.AuthorizationDetails = strings.Replace(rule, "/v2.1/servers", "/"+strings.Repeat("a", maxPathLength), 1)
		}), "invalid_authorization_details", nil},
		{"rule newline path", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, "/servers", `/s\nx`, 1) }), "invalid_authorization_details", nil},
		{"rule service with slash", ok(func(r *Request) { r.AuthorizationDetails = strings.Replace(rule, "compute", "com/pute", 1) }), "invalid_authorization_details", nil},
		{"rule twice", ok(func(r *Request) {
			r.AuthorizationDetails = "[" + strings.Trim(rule, "[]") + "," + strings.Trim(rule, "[]") + "]"
		}), "invalid_authorization_details", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.r)
			if c := code(err); c != tc.code {
				t.Fatalf("code %q, want %q", c, tc.code)
			}
			if tc.want == nil {
				return
			}
			if got.ProjectID != tc.want.ProjectID || strings.Join(got.Roles, ",") != strings.Join(tc.want.Roles, ",") ||
				got.Lifetime != tc.want.Lifetime || len(got.AccessRules) != len(tc.want.AccessRules) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got.AccessRules {
				if got.AccessRules[i] != tc.want.AccessRules[i] {
					t.Fatalf("rule %d: %+v", i, got.AccessRules[i])
				}
			}
		})
	}
}

func primary() map[string]bool {
	m := map[string]bool{}
	for _, x := range PrimaryMethods {
		m[x] = true
	}
	return m
}

func TestCheckSubject(t *testing.T) {
	tok := func(mod func(p *payload.Payload, t *token.Token)) *token.Token {
		t := &token.Token{Payload: &payload.Payload{UserID: "u", ProjectID: "p", Methods: []string{"password"}}}
		if mod != nil {
			mod(t.Payload, t)
		}
		return t
	}
	for _, tc := range []struct {
		name string
		t    *token.Token
		ok   bool
	}{
		{"password", tok(nil), true},
		{"passkey (external)", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = []string{"external"} }), true},
		{"federated (mapped)", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = []string{"mapped"} }), true},
		{"password and totp", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = []string{"password", "totp"} }), true},
		{"trust", tok(func(p *payload.Payload, _ *token.Token) { p.TrustID = "tr" }), false},
		{"oauth1", tok(func(p *payload.Payload, _ *token.Token) { p.AccessTokenID = "at"; p.Methods = []string{"oauth1"} }), false},
		{"restricted application credential", tok(func(p *payload.Payload, t *token.Token) {
			p.AppCredID, p.Methods = "ac", []string{"application_credential"}
			t.AppCred = &keystone.AppCred{ID: "ac"}
		}), false},
		{"application credential unread", tok(func(p *payload.Payload, _ *token.Token) { p.AppCredID = "ac" }), false},
		{"unrestricted application credential", tok(func(p *payload.Payload, t *token.Token) {
			p.AppCredID, p.Methods = "ac", []string{"application_credential"}
			t.AppCred = &keystone.AppCred{ID: "ac", Unrestricted: true}
		}), true},
		{"ec2 method", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = []string{"ec2credential"} }), false},
		{"password and a delegated method", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = []string{"password", "oauth2_credential"} }), false},
		{"no methods", tok(func(p *payload.Payload, _ *token.Token) { p.Methods = nil }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSubject(tc.t, primary())
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err != nil && code(err) != "invalid_request" {
				t.Fatalf("code %q", code(err))
			}
		})
	}
	// [auth] additional_primary_auth_methods makes a site's own method
	// primary, as in Python.
	p := primary()
	p["sso"] = true
	if err := CheckSubject(tok(func(pl *payload.Payload, _ *token.Token) { pl.Methods = []string{"sso"} }), p); err != nil {
		t.Fatalf("additional primary method refused: %v", err)
	}
}

func TestNarrow(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	roles := []token.RoleRef{{ID: "r1", Name: "member"}, {ID: "r2", Name: "reader"}, {ID: "r3", Name: "manager"}}
	rule := keystone.AccessRule{Service: "compute", Method: "GET", Path: "/v2.1/servers"}
	other := keystone.AccessRule{Service: "image", Method: "GET", Path: "/v2/images"}
	subject := func(mod func(t *token.Token)) *token.Token {
		t := &token.Token{Payload: &payload.Payload{UserID: "u", ProjectID: "p", ExpiresAt: now.Add(time.Hour),
			AuditIDs: []string{"new", "chain"}}, Roles: roles}
		if mod != nil {
			mod(t)
		}
		return t
	}
	withRules := func(t *token.Token) {
		t.AppCred = &keystone.AppCred{ID: "ac", Unrestricted: true, AccessRules: []keystone.AccessRule{{ID: "x", Service: rule.Service, Method: rule.Method, Path: rule.Path}}}
	}
	for _, tc := range []struct {
		name      string
		t         *token.Token
		r         Restriction
		maxLife   time.Duration
		code      string
		roles     string
		rules     int
		expiresIn time.Duration
	}{
		{name: "all roles by default", t: subject(nil), roles: "r1,r2,r3", expiresIn: time.Hour},
		{name: "by name and id", t: subject(nil), r: Restriction{Roles: []string{"reader", "r1"}}, roles: "r2,r1", expiresIn: time.Hour},
		{name: "same role twice by name and id", t: subject(nil), r: Restriction{Roles: []string{"reader", "r2"}}, roles: "r2", expiresIn: time.Hour},
		{name: "role the token lacks", t: subject(nil), r: Restriction{Roles: []string{"admin"}}, code: "invalid_scope"},
		{name: "a name two roles share", t: subject(func(t *token.Token) {
			t.Roles = append(t.Roles, token.RoleRef{ID: "r4", Name: "reader", DomainID: "d"})
		}),
			r: Restriction{Roles: []string{"reader"}}, code: "invalid_scope"},
		{name: "a shared name given by id", t: subject(func(t *token.Token) {
			t.Roles = append(t.Roles, token.RoleRef{ID: "r4", Name: "reader", DomainID: "d"})
		}),
			r: Restriction{Roles: []string{"r4"}}, roles: "r4", expiresIn: time.Hour},
		{name: "same project named", t: subject(nil), r: Restriction{ProjectID: "p"}, roles: "r1,r2,r3", expiresIn: time.Hour},
		{name: "other project", t: subject(nil), r: Restriction{ProjectID: "q"}, code: "invalid_scope"},
		{name: "domain token", t: subject(func(t *token.Token) { t.Payload.ProjectID, t.Payload.DomainID = "", "d" }), code: "invalid_request"},
		{name: "no roles", t: subject(func(t *token.Token) { t.Roles = nil }), code: "invalid_request"},
		{name: "shorter lifetime", t: subject(nil), r: Restriction{Lifetime: 10 * time.Minute}, roles: "r1,r2,r3", expiresIn: 10 * time.Minute},
		{name: "longer lifetime capped by the source", t: subject(nil), r: Restriction{Lifetime: 5 * time.Hour}, roles: "r1,r2,r3", expiresIn: time.Hour},
		{name: "token expiration caps", t: subject(nil), maxLife: 20 * time.Minute, roles: "r1,r2,r3", expiresIn: 20 * time.Minute},
		{name: "source about to expire", t: subject(func(t *token.Token) { t.Payload.ExpiresAt = now.Add(time.Second) }), code: "invalid_request"},
		{name: "rules on a subject without rules", t: subject(nil), r: Restriction{AccessRules: []keystone.AccessRule{rule, other}}, roles: "r1,r2,r3", rules: 2, expiresIn: time.Hour},
		{name: "subject's rules kept", t: subject(withRules), roles: "r1,r2,r3", rules: 1, expiresIn: time.Hour},
		{name: "subset of subject's rules", t: subject(withRules), r: Restriction{AccessRules: []keystone.AccessRule{rule}}, roles: "r1,r2,r3", rules: 1, expiresIn: time.Hour},
		{name: "rule outside subject's", t: subject(withRules), r: Restriction{AccessRules: []keystone.AccessRule{other}}, code: "invalid_authorization_details"},
		{name: "wildcard is not narrower", t: subject(withRules), r: Restriction{AccessRules: []keystone.AccessRule{{Service: "compute", Method: "GET", Path: "/v2.1/**"}}}, code: "invalid_authorization_details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Narrow(tc.t, &tc.r, now, tc.maxLife)
			if c := code(err); c != tc.code {
				t.Fatalf("code %q, want %q", c, tc.code)
			}
			if tc.code != "" {
				return
			}
			var ids []string
			for _, r := range p.Roles {
				ids = append(ids, r.ID)
			}
			if strings.Join(ids, ",") != tc.roles || len(p.AccessRules) != tc.rules || p.ExpiresAt.Sub(now) != tc.expiresIn ||
				p.SourceAuditID != "chain" || p.ProjectID != "p" || p.UserID != "u" {
				t.Fatalf("plan %+v", p)
			}
		})
	}
}

func TestMissingRoles(t *testing.T) {
	plan := []token.RoleRef{{ID: "r1", Name: "member"}, {ID: "r2", Name: "reader"}}
	if m := MissingRoles(plan, []token.RoleRef{{ID: "r2"}, {ID: "r1"}}); len(m) != 0 {
		t.Fatalf("missing %v", m)
	}
	if m := MissingRoles(plan, []token.RoleRef{{ID: "r2"}}); len(m) != 1 || m[0] != "member" {
		t.Fatalf("missing %v", m)
	}
}

func TestCredentialFor(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	p := &Plan{UserID: "u", ProjectID: "p", Roles: []token.RoleRef{{ID: "r1"}}, SourceAuditID: "chain", ExpiresAt: now.Add(time.Hour),
		AccessRules: []keystone.AccessRule{{Service: "compute", Method: "GET", Path: "/"}}}
	a, err := credentialFor(p, now, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := credentialFor(p, now, -1)
	if len(a.ID) != 32 || a.ID == b.ID || a.Name != "restricted-"+a.ID || a.SecretHash == b.SecretHash {
		t.Fatalf("ids/names/hashes not fresh: %+v %+v", a, b)
	}
	if !strings.HasPrefix(a.SecretHash, "$2a$04$") {
		t.Fatalf("hash %q is not a bcrypt hash of the lowest cost", a.SecretHash)
	}
	if len(a.AccessRules) != 1 || len(a.AccessRules[0].ID) != 32 || a.RoleIDs[0] != "r1" || !a.ExpiresAt.Equal(p.ExpiresAt) || a.UserLimit != -1 {
		t.Fatalf("credential %+v", a)
	}
}

// FuzzParseAccessRules: any authorization_details is refused with RFC
// 9396's error or yields rules that pass the checks again.
func FuzzParseAccessRules(f *testing.F) {
	f.Add(`[{"type":"openstack_access_rule","service":"compute","method":"GET","path":"/v2.1/servers"}]`)
	f.Add(`[{"type":"openstack_access_rule","service":"a","method":"PUT","path":"/"},{"type":"openstack_access_rule","service":"b","method":"PUT","path":"/"}]`)
	f.Add(`{}`)
	f.Add(`[null]`)
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := ParseAccessRules(in)
		if err != nil {
			if code(err) != "invalid_authorization_details" {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, r := range rules {
			if !methods[r.Method] || !strings.HasPrefix(r.Path, "/") || len(r.Path) > maxPathLength || !idString.MatchString(r.Service) {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}

// fakeValidator answers one token.
type fakeValidator struct {
	tok *token.Token
	err error
}

func (f fakeValidator) Validate(context.Context, token.Request) (*token.Token, error) {
	return f.tok, f.err
}

// fakeStore records what would be written.
type fakeStore struct{ created []*store.RestrictedCredential }

func (f *fakeStore) Create(_ context.Context, c *store.RestrictedCredential) (*store.Undo, error) {
	f.created = append(f.created, c)
	return nil, nil
}

func (f *fakeStore) PurgeExpired(context.Context, time.Time, int) (int, error) { return 0, nil }

// TestAuthenticate: the exchange's decisions before anything is written:
// an invalid subject is invalid_request and its validation message (which
// on Queens names the token) stays out of the error's text; access rules
// on a schema without them are refused; a good request says what to write
// and mints an application credential's token capped by the source.
func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	subject := &token.Token{Payload: &payload.Payload{UserID: "u", ProjectID: "p", Methods: []string{"password"},
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"a1"}}, Roles: []token.RoleRef{{ID: "r1", Name: "member"}}}
	rules := `[{"type":"openstack_access_rule","service":"compute","method":"GET","path":"/v2.1/servers"}]`
	req := func(mod func(r *Request)) *Request {
		r := &Request{SubjectToken: "tok", SubjectTokenType: TokenTypeAccessToken}
		if mod != nil {
			mod(r)
		}
		return r
	}
	for _, tc := range []struct {
		name        string
		v           fakeValidator
		accessRules bool
		r           *Request
		code        string
	}{
		{"invalid subject", fakeValidator{err: &apierror.Error{Code: 404, Title: "Not Found", Message: "This is not a recognized Fernet token tok",
			LogMessage: "This is not a recognized Fernet token (left out)"}}, true, req(nil), "invalid_request"},
		{"access rules before Train", fakeValidator{tok: subject}, false, req(func(r *Request) { r.AuthorizationDetails = rules }), "invalid_authorization_details"},
		{"roles only before Train", fakeValidator{tok: subject}, false, req(nil), ""},
		{"rules on Train and later", fakeValidator{tok: subject}, true, req(func(r *Request) { r.AuthorizationDetails = rules; r.ExpiresIn = "60" }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{}
			s := New(tc.v, st, Options{Expiration: 2 * time.Hour, UserLimit: -1, AccessRules: tc.accessRules, Now: func() time.Time { return now }}, nil)
			att, err := s.Exchange(tc.r).Authenticate(context.Background())
			if c := code(err); c != tc.code {
				t.Fatalf("code %q, want %q (%v)", c, tc.code, err)
			}
			if err != nil {
				if strings.Contains(err.Error(), "Fernet token tok") {
					t.Fatalf("the error's text names the subject token: %v", err)
				}
				return
			}
			g := att.Grant
			if att.UserID != "u" || att.Kind != "token_exchange" || g.Scope.ProjectID != "p" || g.ApplicationCredentialID == "" ||
				strings.Join(g.Methods, ",") != MethodApplicationCredential || g.ParentAuditID != "a1" || g.NotAfter.After(subject.Payload.ExpiresAt) {
				t.Fatalf("attempt %+v", att)
			}
			if _, _, err := att.Provision(context.Background()); err != nil || len(st.created) != 1 || st.created[0].ID != g.ApplicationCredentialID ||
				!st.created[0].ExpiresAt.Equal(g.NotAfter) {
				t.Fatalf("provisioned %+v, %v", st.created, err)
			}
		})
	}
}
