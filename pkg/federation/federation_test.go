package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/mapping"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// pythonTables creates Python's tables (the shared stand-in of
// storetest.PythonTables) and the rows these tests start from.
func pythonTables(t *testing.T, b *storetest.Backend) {
	storetest.CreatePythonTables(t, b)
	group := storetest.QuoteIdent(b.Name, "group")
	for _, s := range []string{
		`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`,
		`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d2', 'other', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`,
		`INSERT INTO project (id, name, extra, enabled, domain_id, parent_id, is_domain) VALUES ('p1', 'app', '{}', TRUE, 'd1', 'd1', FALSE)`,
		`INSERT INTO project (id, name, extra, enabled, domain_id, parent_id, is_domain) VALUES ('p2', 'app', '{}', TRUE, 'd2', 'd2', FALSE)`,
		`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-member', 'member', '{}', '<<null>>')`,
		`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-reader', 'reader', '{}', '<<null>>')`,
		`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g1', 'd1', 'deployers')`,
		`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g2', 'd2', 'others')`,
	} {
		if _, err := b.DB.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

var countedTables = []string{"ng_jwt_jti", "federated_user", "expiring_user_group_membership", "assignment", "ng_federation_grant"}

func counts(t *testing.T, b *storetest.Backend) map[string]int {
	out := map[string]int{}
	for _, tb := range append(countedTables, map[bool]string{true: "`user`", false: `"user"`}[b.Name == "mysql"]) {
		out[tb] = storetest.Count(t, b.DB, tb)
	}
	return out
}

// issuerKit is a JWT issuer with a JWKS served over HTTP.
type issuerKit struct {
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	kid     string
	fetches atomic.Int32
}

func newIssuerKit(t *testing.T) *issuerKit {
	k := &issuerKit{kid: "k1"}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.fetches.Add(1)
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: k.rsa.Public(), KeyID: k.kid, Algorithm: "RS256", Use: "sig"},
			{Key: k.ec.Public(), KeyID: "ec1", Algorithm: "ES256", Use: "sig"},
		}}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *issuerKit) sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

func stdB64(b []byte) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	for i := 0; i < len(b); i += 3 {
		var n uint32
		l := len(b) - i
		if l > 3 {
			l = 3
		}
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < l {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j < 4; j++ {
			if j <= l {
				sb.WriteByte(enc[(n>>(18-6*j))&63])
			} else {
				sb.WriteByte('=')
			}
		}
	}
	return sb.String()
}

// unsigned builds an alg=none JWT.
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return b64(h) + "." + b64(c) + "."
}

func TestJWTLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		pythonTables(t, b)
		ctx := context.Background()
		now := time.Now()
		svc := New(Options{DB: b.DB, HTTPClient: loopbackClient(), Leeway: 30 * time.Second, Now: func() time.Time { return now }, JWKSMinRefresh: time.Nanosecond})
		kit := newIssuerKit(t)
		jwks := kit.srv.URL + "/jwks"

		mk := func(id, issuer, domain string) *IdP {
			f := &IdPFields{ID: &id, Name: &id, Issuer: &issuer, JWKSURL: &jwks, Audiences: &[]string{"https://keystone.example.com"}}
			if domain != "" {
				f.DomainID = &domain
			}
			p, err := svc.CreateIdP(ctx, f)
			if err != nil {
				t.Fatalf("create idp %s: %v", id, err)
			}
			return p
		}
		gh := mk("github", "https://token.actions.githubusercontent.com", "d1")
		gl := mk("gitlab", "https://gitlab.example.com", "d1")
		k8s := mk("k8s", "https://kubernetes.default.svc", "")
		if k8s.ShadowDomainID == "" || k8s.DomainID != nil {
			t.Fatalf("global IdP: %+v", k8s)
		}
		// Another domain may have its own IdP for the same issuer. Neither
		// claims the issuer in Python's idp_remote_ids: only global IdPs do.
		gh2 := mk("github-d2", "https://token.actions.githubusercontent.com", "d2")
		var remote int
		if err := b.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_remote_ids WHERE remote_id = ?`, gh2.Issuer).Scan(&remote); err != nil || remote != 0 {
			t.Fatalf("idp_remote_ids rows for the shared issuer: %d, %v", remote, err)
		}
		if err := svc.DeleteIdP(ctx, gh2); err != nil {
			t.Fatalf("delete second IdP: %v", err)
		}
		rules := func(s string) json.RawMessage { return json.RawMessage(s) }
		if _, err := svc.CreateMapping(ctx, gh, "deploy", rules(`[{"match": [{"claim": "repository", "equals": "acme/app"}, {"claim": "ref", "equals": "refs/heads/main"}],
			"user": {"name": "gh-{repository}", "unique_id": "{repository_id}"}, "groups": [{"name": "deployers", "domain": {"name": "ci"}}],
			"grants": [{"role": {"name": "member"}, "project": {"name": "app", "domain": {"id": "d1"}}}],
			"scope": {"project": {"id": "p1"}}, "max_token_lifetime": 600}]`)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateMapping(ctx, gl, "ci", rules(`[{"match": [{"claim": "namespace_path", "equals": "infra"}, {"claim": "ref", "glob": "release/*"}],
			"user": {"name": "gl-{project_path}"}, "scope": {"domain": {"id": "d1"}}}]`)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateMapping(ctx, k8s, "sa", rules(`[{"match": [{"claim": ["kubernetes.io", "namespace"], "equals": "prod"}, {"claim": "kubernetes\\.io.serviceaccount.name", "equals": "deployer"}],
			"user": {"name": "k8s-{sub}"}, "grants": [{"role": {"id": "r-reader"}, "project": {"id": "p2"}}]}]`)); err != nil {
			t.Fatal(err)
		}
		// Domain bounds: a d1 IdP cannot grant on d2.
		_, err := svc.CreateMapping(ctx, gh, "escape", rules(`[{"match": [{"claim": "repository", "equals": "x"}], "user": {"name": "x"}, "grants": [{"role": {"name": "member"}, "project": {"id": "p2"}}]}]`))
		if ae := apierror.As(err); ae.Code != 400 || !strings.Contains(ae.Message, "rules[0].grants[0].project") {
			t.Fatalf("escape mapping: %v", err)
		}
		_, err = svc.CreateMapping(ctx, gh, "badre", rules(`[{"match": [{"claim": "repository", "regex": "("}], "user": {"name": "x"}}]`))
		if ae := apierror.As(err); ae.Code != 400 || !strings.HasPrefix(ae.Message, "mapping.rules[0].match[0].regex: invalid regular expression") {
			t.Fatalf("bad regex: %v", err)
		}

		base := func(iss string) map[string]any {
			return map[string]any{"iss": iss, "aud": "https://keystone.example.com", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
		}
		with := func(m map[string]any, kv ...any) map[string]any {
			out := map[string]any{}
			for k, v := range m {
				out[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(out, kv[i].(string))
				} else {
					out[kv[i].(string)] = kv[i+1]
				}
			}
			return out
		}
		ghClaims := with(base(gh.Issuer), "sub", "repo:acme/app:ref:refs/heads/main", "repository", "acme/app", "repository_id", "4242",
			"repository_owner", "acme", "ref", "refs/heads/main", "jti", "gh-1")
		glClaims := with(base(gl.Issuer), "project_path", "infra/net", "namespace_path", "infra", "ref", "release/1", "jti", "gl-1")
		k8sClaims := with(base(k8s.Issuer), "sub", "system:serviceaccount:prod:deployer",
			"kubernetes.io", map[string]any{"namespace": "prod", "serviceaccount": map[string]any{"name": "deployer", "uid": "u"}})
		pubDER, _ := x509.MarshalPKIXPublicKey(kit.rsa.Public())

		type okCase struct {
			name, idp, mapping, raw string
			check                   func(t *testing.T, l *Login)
		}
		for _, tc := range []okCase{
			{"github actions", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", ghClaims), func(t *testing.T, l *Login) {
				if l.UserID != ShadowUserID("d1", "4242") || l.Scope.ProjectID != "p1" || l.MaxLifetime != 10*time.Minute || len(l.GroupIDs) != 1 || l.GroupIDs[0] != "g1" {
					t.Fatalf("%+v", l)
				}
				if n := storetest.Count(t, b.DB, "assignment WHERE actor_id = '"+l.UserID+"' AND target_id = 'p1'"); n != 1 {
					t.Fatalf("grant rows %d", n)
				}
			}},
			{"gitlab ci (ES256)", "gitlab", "ci", kit.sign(t, jose.ES256, kit.ec, "ec1", glClaims), func(t *testing.T, l *Login) {
				if l.Scope.DomainID != "d1" || l.UserID != ShadowUserID("d1", "gl-infra/net") {
					t.Fatalf("%+v", l)
				}
			}},
			{"kubernetes (no jti, global idp)", "k8s", "sa", kit.sign(t, jose.RS256, kit.rsa, "k1", k8sClaims), func(t *testing.T, l *Login) {
				if l.UserID != ShadowUserID(k8s.ShadowDomainID, "k8s-system:serviceaccount:prod:deployer") || !l.Scope.Unscoped() {
					t.Fatalf("%+v", l)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, err := svc.JWTLogin(ctx, tc.idp, tc.raw, tc.mapping)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, l)
			})
		}
		// Second login of the same user reuses the shadow user.
		l2, err := svc.JWTLogin(ctx, "k8s", kit.sign(t, jose.RS256, kit.rsa, "k1", k8sClaims), "sa")
		if err != nil || storetest.Count(t, b.DB, "federated_user WHERE idp_id = 'k8s'") != 1 {
			t.Fatalf("second login: %v", err)
		}
		_ = l2

		// The same unique id through a second IdP of the same domain names
		// the same user id (Python's id generator): 409, nothing written,
		// the first IdP's user untouched.
		otherIss := "https://other-ci.example.com"
		other2 := mk("other-ci", otherIss, "d1")
		if _, err := svc.CreateMapping(ctx, other2, "same-id", rules(`[{"match": [{"claim": "repository", "equals": "acme/app"}],
			"user": {"name": "other-{repository}", "unique_id": "{repository_id}"}}]`)); err != nil {
			t.Fatal(err)
		}
		before := counts(t, b)
		_, err = svc.JWTLogin(ctx, "other-ci", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "iss", otherIss, "jti", "o1")), "same-id")
		if ae := apierror.As(err); ae.Code != 409 || !strings.Contains(ae.Message, ShadowUserID("d1", "4242")) {
			t.Fatalf("same unique id through a second IdP: %v", err)
		}
		if after := counts(t, b); !equalCounts(before, after) {
			t.Fatalf("database changed: %v -> %v", before, after)
		}
		if err := svc.DeleteIdP(ctx, other2); err != nil {
			t.Fatal(err)
		}

		hs := func() string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := jwt.Signed(s).Claims(with(ghClaims, "jti", "hs")).Serialize()
			return raw
		}()
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		refusals := []struct{ name, idp, mapping, raw string }{
			{"wrong audience", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "aud", "https://other", "jti", "a1"))},
			{"no audience", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "aud", nil, "jti", "a2"))},
			{"wrong issuer", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "iss", "https://evil.example.com", "jti", "a3"))},
			{"expired", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "exp", now.Add(-time.Minute).Unix(), "jti", "a4"))},
			{"no exp", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "exp", nil, "jti", "a5"))},
			{"not yet valid", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "nbf", now.Add(5*time.Minute).Unix(), "jti", "a6"))},
			{"alg none", "github", "deploy", unsigned(with(ghClaims, "jti", "a7"))},
			{"HS256 with the RSA public key", "github", "deploy", hs},
			{"unknown kid", "github", "deploy", kit.sign(t, jose.RS256, other, "k9", with(ghClaims, "jti", "a8"))},
			{"known kid, wrong key", "github", "deploy", kit.sign(t, jose.RS256, other, "k1", with(ghClaims, "jti", "a9"))},
			{"replayed jti", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", ghClaims)},
			{"no matching binding", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "repository", "evil/app", "jti", "b1"))},
			{"fork branch", "github", "deploy", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "ref", "refs/heads/evil", "jti", "b2"))},
			{"unknown mapping", "github", "nope", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "b3"))},
			{"no mapping and no default", "github", "", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "b4"))},
			{"token of another idp", "gitlab", "ci", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "b5"))},
			{"garbage", "github", "deploy", "not.a.jwt"},
		}
		for _, tc := range refusals {
			t.Run("refuse/"+tc.name, func(t *testing.T) {
				before := counts(t, b)
				fetches := kit.fetches.Load()
				_, err := svc.JWTLogin(ctx, tc.idp, tc.raw, tc.mapping)
				var ae *apierror.Error
				if !errors.As(err, &ae) || ae.Code != 401 || ae.Message != apierror.MsgUnauthorized {
					t.Fatalf("want generic 401, got %v", err)
				}
				t.Logf("cause: %v", ae.Cause)
				if strings.HasPrefix(tc.name, "unknown kid") && kit.fetches.Load() != fetches+1 {
					t.Fatalf("unknown kid: want one JWKS refresh, got %d", kit.fetches.Load()-fetches)
				}
				if after := counts(t, b); !equalCounts(before, after) {
					t.Fatalf("database changed: %v -> %v", before, after)
				}
			})
		}
		if _, err := svc.JWTLogin(ctx, "nope", "x", ""); apierror.As(err).Code != 404 {
			t.Fatalf("unknown idp: %v", err)
		}

		// Removing the grant from the mapping removes it at the next login;
		// an admin's identical grant is never removed.
		uid := ShadowUserID("d1", "4242")
		if _, err := b.DB.ExecContext(ctx, `INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', ?, 'p1', 'r-reader', ?)`, uid, false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateMapping(ctx, gh, "deploy", rules(`[{"match": [{"claim": "repository", "equals": "acme/app"}], "user": {"name": "gh-{repository}", "unique_id": "{repository_id}"},
			"grants": [{"role": {"name": "reader"}, "project": {"id": "p1"}}]}]`)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.JWTLogin(ctx, "github", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "c1")), "deploy"); err != nil {
			t.Fatal(err)
		}
		if n := storetest.Count(t, b.DB, "assignment WHERE actor_id = '"+uid+"' AND role_id = 'r-member'"); n != 0 {
			t.Fatalf("member grant not removed")
		}
		if _, err := svc.UpdateMapping(ctx, gh, "deploy", rules(`[{"match": [{"claim": "repository", "equals": "acme/app"}], "user": {"name": "gh-{repository}", "unique_id": "{repository_id}"}}]`)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.JWTLogin(ctx, "github", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "c2")), "deploy"); err != nil {
			t.Fatal(err)
		}
		if n := storetest.Count(t, b.DB, "assignment WHERE actor_id = '"+uid+"' AND role_id = 'r-reader'"); n != 1 {
			t.Fatalf("admin's reader grant removed")
		}

		// Disabled IdP: 401, nothing written.
		off := false
		if _, err := svc.UpdateIdP(ctx, gh, &IdPFields{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.JWTLogin(ctx, "github", kit.sign(t, jose.RS256, kit.rsa, "k1", with(ghClaims, "jti", "c3")), "deploy"); apierror.As(err).Code != 401 {
			t.Fatalf("disabled idp: %v", err)
		}

		// Purge and delete.
		if n, err := (JTIPurger{S: svc}).Purge(ctx, now.Add(time.Hour)); err != nil || n == 0 {
			t.Fatalf("purge: %d %v", n, err)
		}
		for _, p := range []*IdP{gh, gl, k8s} {
			if err := svc.DeleteIdP(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, tb := range []string{"identity_provider", "idp_remote_ids", "federation_protocol", "mapping", "federated_user", "expiring_user_group_membership", "ng_identity_provider", "ng_mapping", "ng_federation_grant"} {
			if n := storetest.Count(t, b.DB, tb); n != 0 {
				t.Fatalf("%s: %d rows left", tb, n)
			}
		}
		if n := storetest.Count(t, b.DB, "assignment WHERE actor_id = '"+uid+"'"); n != 1 {
			t.Fatalf("admin's grant must survive the IdP: %d", n)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// BenchmarkJWTLogin measures the CPU part of a JWT login: signature
// verification against a cached JWKS, claim checks and mapping evaluation.
func BenchmarkJWTLogin(b *testing.B) {
	t := &testing.T{}
	kit := newIssuerKit(t)
	defer kit.srv.Close()
	now := time.Now()
	svc := New(Options{HTTPClient: loopbackClient(), Now: func() time.Time { return now }})
	jwks := kit.srv.URL
	p := &IdP{ID: "gh", Issuer: "https://token.actions.githubusercontent.com", JWKSURL: &jwks, Audiences: []string{"ks"}}
	m, err := mappingParse(`{"rules": [{"match": [{"claim": "repository", "equals": "acme/app"}, {"claim": "ref", "glob": "refs/heads/*"}], "user": {"name": "gh-{repository}"}}]}`)
	if err != nil {
		b.Fatal(err)
	}
	raw := kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": p.Issuer, "aud": "ks", "exp": now.Add(time.Hour).Unix(),
		"repository": "acme/app", "ref": "refs/heads/main", "jti": "x"})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := svc.VerifyJWT(ctx, p, raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Evaluate(v.Claims); err != nil {
			b.Fatal(err)
		}
	}
}

func mappingParse(s string) (*mapping.Mapping, error) { return mapping.Parse([]byte(s)) }
