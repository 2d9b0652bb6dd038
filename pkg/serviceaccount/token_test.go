package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var testNow = time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)

const testURL = "https://cloud.example.com/v4/oauth2/token"

func pemOf(t *testing.T, typ string, der []byte) json.RawMessage {
	t.Helper()
	b, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	return b
}

func spkiPEM(t *testing.T, pub crypto.PublicKey) json.RawMessage {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PUBLIC KEY", der)
}

func jwkOf(t *testing.T, key any, alg string) json.RawMessage {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: key, Algorithm: alg}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePublicKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(ec)
	for _, tc := range []struct {
		name string
		in   json.RawMessage
		alg  string // "" when refused
		bad  string
	}{
		{name: "EC P-256 PEM", in: spkiPEM(t, &ec.PublicKey), alg: AlgES256},
		{name: "RSA 2048 PEM", in: spkiPEM(t, &rsa2048.PublicKey), alg: AlgRS256},
		{name: "RSA PKCS #1 PEM", in: pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)), alg: AlgRS256},
		{name: "Ed25519 PEM", in: spkiPEM(t, edPub), alg: AlgEdDSA},
		{name: "EC JWK", in: jwkOf(t, &ec.PublicKey, ""), alg: AlgES256},
		{name: "EC JWK with its alg", in: jwkOf(t, &ec.PublicKey, "ES256"), alg: AlgES256},
		{name: "Ed25519 JWK", in: jwkOf(t, edPub, ""), alg: AlgEdDSA},
		{name: "RSA 1024 refused", in: spkiPEM(t, &rsa1024.PublicKey), bad: "2048"},
		{name: "P-384 refused", in: spkiPEM(t, &ec384.PublicKey), bad: "P-256"},
		{name: "private PEM refused", in: pemOf(t, "PRIVATE KEY", ecPriv), bad: "private"},
		{name: "private JWK refused", in: jwkOf(t, ec, ""), bad: "private"},
		{name: "private Ed25519 JWK refused", in: jwkOf(t, edPriv, ""), bad: "private"},
		{name: "JWK alg that does not fit", in: jwkOf(t, &ec.PublicKey, "RS256"), bad: "does not fit"},
		{name: "HMAC JWK refused", in: json.RawMessage(`{"kty":"oct","k":"c2VjcmV0"}`), bad: ""},
		{name: "garbage string", in: json.RawMessage(`"hello"`), bad: "neither"},
		{name: "two PEM blocks", in: json.RawMessage(strings.Replace(string(spkiPEM(t, &ec.PublicKey)), `\n"`, `\n`+strings.Trim(string(spkiPEM(t, edPub)), `"`)+`"`, 1)), bad: "exactly one"},
		{name: "number", in: json.RawMessage(`42`), bad: "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.in)
			if tc.alg == "" {
				var ke *errKey
				if !errors.As(err, &ke) || !strings.Contains(ke.msg, tc.bad) {
					t.Fatalf("got %v, %v; want a key error mentioning %q", k, err, tc.bad)
				}
				return
			}
			if err != nil || k.Algorithm != tc.alg || k.Thumbprint == "" || strings.Contains(k.JWK, `"d"`) {
				t.Fatalf("got %+v, %v; want %s", k, err, tc.alg)
			}
			// The stored JWK reads back to the same public key.
			back, err := LoadJWK(k.JWK)
			if err != nil || back.Algorithm != tc.alg {
				t.Fatalf("LoadJWK: %+v, %v", back, err)
			}
		})
	}
	// One key, one thumbprint, however it is sent.
	a, _ := ParsePublicKey(spkiPEM(t, &ec.PublicKey))
	b, _ := ParsePublicKey(jwkOf(t, &ec.PublicKey, ""))
	if a.Thumbprint != b.Thumbprint {
		t.Fatalf("PEM and JWK of one key: thumbprints %s and %s", a.Thumbprint, b.Thumbprint)
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range []string{"", AlgES256, AlgEdDSA, AlgRS256} {
		pub, priv, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		want := alg
		if want == "" {
			want = AlgES256
		}
		block, _ := pem.Decode([]byte(priv))
		if pub.Algorithm != want || block == nil || block.Type != "PRIVATE KEY" || strings.Contains(pub.JWK, `"d"`) {
			t.Fatalf("GenerateKey(%q): %+v", alg, pub)
		}
	}
	if _, _, err := GenerateKey("HS256"); err == nil {
		t.Fatal("GenerateKey(HS256) succeeded")
	}
}

func TestSecrets(t *testing.T) {
	secret, hash, err := newSecret("abc123", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if SecretID(secret) != "abc123" || strings.Contains(hash, secret) || !strings.HasPrefix(hash, "pbkdf2-sha256$1000$") {
		t.Fatalf("secret %q hash %q", secret, hash)
	}
	for _, tc := range []struct {
		name, hash, secret string
		ok                 bool
	}{
		{"right secret", hash, secret, true},
		{"wrong secret", hash, secret + "x", false},
		{"other id, same random part", hash, "abc124" + secret[6:], false},
		{"empty", hash, "", false},
		{"malformed hash", "pbkdf2-sha256$x$y$z", secret, false},
		{"other scheme", strings.Replace(hash, "pbkdf2-sha256", "md5", 1), secret, false},
		{"absurd cost refused", strings.Replace(hash, "$1000$", "$999999999$", 1), secret, false},
	} {
		if got := verifySecret(tc.hash, tc.secret); got != tc.ok {
			t.Errorf("%s: verify = %v", tc.name, got)
		}
	}
	for in, want := range map[string]string{"id.rest": "id", "norest": "", ".x": "", strings.Repeat("a", 65) + ".x": ""} {
		if got := SecretID(in); got != want {
			t.Errorf("SecretID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckTokenRequest(t *testing.T) {
	jwtReq := TokenRequest{GrantType: GrantClientCredentials, AssertionType: AssertionTypeJWT, Assertion: "a.b.c"}
	basic := TokenRequest{GrantType: GrantClientCredentials, Basic: true, BasicID: "sa1", BasicSecret: "s"}
	mod := func(r TokenRequest, f func(*TokenRequest)) *TokenRequest { f(&r); return &r }
	for _, tc := range []struct {
		name string
		req  *TokenRequest
		code string // "" when accepted
	}{
		{"assertion", &jwtReq, ""},
		{"basic", &basic, ""},
		{"basic with the same client_id", mod(basic, func(r *TokenRequest) { r.ClientID = "sa1" }), ""},
		{"no grant type", mod(jwtReq, func(r *TokenRequest) { r.GrantType = "" }), "invalid_request"},
		{"password grant", mod(jwtReq, func(r *TokenRequest) { r.GrantType = "password" }), "unsupported_grant_type"},
		{"token exchange (not offered yet)", mod(jwtReq, func(r *TokenRequest) { r.GrantType = "urn:ietf:params:oauth:grant-type:token-exchange" }), "unsupported_grant_type"},
		{"both methods", mod(jwtReq, func(r *TokenRequest) { r.Basic = true }), "invalid_request"},
		{"wrong assertion type", mod(jwtReq, func(r *TokenRequest) { r.AssertionType = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer" }), "invalid_request"},
		{"assertion type without assertion", mod(jwtReq, func(r *TokenRequest) { r.Assertion = "" }), "invalid_request"},
		{"no authentication", &TokenRequest{GrantType: GrantClientCredentials}, "invalid_client"},
		{"basic with another client_id", mod(basic, func(r *TokenRequest) { r.ClientID = "sa2" }), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTokenRequest(tc.req)
			var oe *OAuthError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (!errors.As(err, &oe) || oe.Code != tc.code):
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in, project, domain string
		bad                 bool
	}{
		{in: ""},
		{in: "project:p1", project: "p1"},
		{in: " domain:d1 ", domain: "d1"},
		{in: "project:", bad: true},
		{in: "system:all", bad: true},
		{in: "project:p1 domain:d1", bad: true},
		{in: "p1", bad: true},
		{in: "project:" + strings.Repeat("p", 65), bad: true},
	} {
		r, err := ParseScope(tc.in)
		var oe *OAuthError
		switch {
		case tc.bad:
			if !errors.As(err, &oe) || oe.Code != "invalid_scope" || oe.Status != 400 {
				t.Errorf("ParseScope(%q) = %v, %v; want invalid_scope", tc.in, r, err)
			}
		case err != nil:
			t.Errorf("ParseScope(%q): %v", tc.in, err)
		case tc.project == "" && tc.domain == "" && r != nil,
			tc.project != "" && (r == nil || r.Project == nil || r.Project.ID != tc.project),
			tc.domain != "" && (r == nil || r.Domain == nil || r.Domain.ID != tc.domain):
			t.Errorf("ParseScope(%q) = %+v", tc.in, r)
		}
	}
}

// signed signs claims with key under alg and kid.
func signed(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := sig.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func TestVerifyAssertion(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	cred := func(id string, pub crypto.PublicKey, exp *time.Time) *Credential {
		k, err := ParsePublicKey(spkiPEM(t, pub))
		if err != nil {
			t.Fatal(err)
		}
		return &Credential{ID: id, UserID: "sa1", Algorithm: k.Algorithm, PublicJWK: k.JWK, ExpiresAt: exp}
	}
	past := testNow.Add(-time.Second)
	keys := []*Credential{cred("k-old", &other.PublicKey, &past), cred("k1", &ec.PublicKey, nil), cred("k-ed", ed.Public(), nil)}
	claims := func(f func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "sa1", "sub": "sa1", "aud": testURL, "exp": testNow.Add(time.Minute).Unix(), "iat": testNow.Unix(), "jti": "j1"}
		if f != nil {
			f(c)
		}
		return c
	}
	hmacKey := []byte(keys[1].PublicJWK)
	for _, tc := range []struct {
		name, raw string
		key       string // the key used; "" when refused
	}{
		{"ES256 with the account's key", signed(t, ec, jose.ES256, "", claims(nil)), "k1"},
		{"EdDSA with kid", signed(t, ed, jose.EdDSA, "k-ed", claims(nil)), "k-ed"},
		{"aud as a list", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["aud"] = []string{"x", testURL} })), "k1"},
		{"within the leeway after exp", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["exp"] = testNow.Add(-10 * time.Second).Unix() })), "k1"},
		{"expired key", signed(t, other, jose.ES256, "", claims(nil)), ""},
		{"another key", signed(t, func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }(), jose.ES256, "", claims(nil)), ""},
		{"kid of another key", signed(t, ec, jose.ES256, "k-ed", claims(nil)), ""},
		{"wrong aud", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["aud"] = "https://other/token" })), ""},
		{"no aud", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { delete(c, "aud") })), ""},
		{"sub is someone else", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["sub"] = "admin" })), ""},
		{"iss is someone else", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["iss"] = "sa2" })), ""},
		{"no exp", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { delete(c, "exp") })), ""},
		{"expired", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Minute).Unix() })), ""},
		{"exp an hour away", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["exp"] = testNow.Add(time.Hour).Unix() })), ""},
		{"lifetime over 5 min", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["iat"] = testNow.Add(-10 * time.Minute).Unix() })), ""},
		{"not yet valid", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["nbf"] = testNow.Add(2 * time.Minute).Unix() })), ""},
		{"issued in the future", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["iat"] = testNow.Add(2 * time.Minute).Unix() })), ""},
		{"no jti", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { delete(c, "jti") })), ""},
		{"jti too long", signed(t, ec, jose.ES256, "", claims(func(c map[string]any) { c["jti"] = strings.Repeat("j", 256) })), ""},
		{"HMAC keyed with the public JWK", signed(t, hmacKey, jose.HS256, "", claims(nil)), ""},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(must(json.Marshal(claims(nil)))) + ".", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, iss, err := UnverifiedSubject(tc.raw)
			var used *Credential
			if err == nil {
				if iss != "sa1" && tc.key != "" {
					t.Fatalf("iss %q", iss)
				}
				used, _, err = VerifyAssertion(tok, "sa1", testURL, keys, testNow)
			}
			if tc.key == "" {
				if err == nil {
					t.Fatalf("accepted with key %s", used.ID)
				}
				return
			}
			if err != nil || used.ID != tc.key {
				t.Fatalf("got %v, %v; want key %s", used, err, tc.key)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
