package loginclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
)

func TestParsePrivateKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	spki, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for _, tc := range []struct {
		name string
		in   []byte
		alg  jose.SignatureAlgorithm // "" when refused
	}{
		{"PKCS #8 EC", p8(ec), jose.ES256},
		{"PKCS #8 RSA", p8(rk), jose.RS256},
		{"PKCS #8 Ed25519", p8(ed), jose.EdDSA},
		{"SEC 1 EC", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), jose.ES256},
		{"PKCS #1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), jose.RS256},
		{"a public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), ""},
		{"not PEM", []byte("secret"), ""},
	} {
		k, err := ParsePrivateKey(tc.in)
		if tc.alg == "" {
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if alg, err := serviceaccount.AlgorithmOf(k.Public()); alg != string(tc.alg) || err != nil {
			t.Errorf("%s: algorithm %s, %v", tc.name, alg, err)
		}
	}
}

// TestServiceAccountLogin runs both client authentications against a
// stand-in token endpoint that checks what keystone-ng checks, and the
// exports of the answer.
func TestServiceAccountLogin(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != TokenPath || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			http.Error(w, "bad request", 400)
			return
		}
		ok := false
		if id, secret, basic := r.BasicAuth(); basic {
			// RFC 6749 §2.3.1: both parts are form-urlencoded.
			secret, _ = url.QueryUnescape(secret)
			ok = id == "sa1" && secret == "sid.s%cret"
		} else if a := r.PostForm.Get("client_assertion"); r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES256})
			var c jwt.Claims
			ok = err == nil && tok.Claims(&key.PublicKey, &c) == nil && c.Issuer == "sa1" && c.Subject == "sa1" && c.ID != "" &&
				c.Validate(jwt.Expected{AnyAudience: jwt.Audience{srv.URL + TokenPath}, Time: time.Now()}) == nil &&
				c.Expiry.Time().Sub(time.Now()) <= 5*time.Minute
		}
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600, "scope": r.PostForm.Get("scope")})
	}))
	defer srv.Close()
	c := &Client{AuthURL: srv.URL + "/v3"}
	ctx := context.Background()

	tok, err := c.ServiceAccount(ctx, &ServiceAccountLogin{AccountID: "sa1", Key: key, Scope: "project:p1"})
	if err != nil {
		t.Fatal(err)
	}
	out := Exports(c.AuthURL, tok)
	for _, want := range []string{"export OS_AUTH_TYPE=token\n", "export OS_TOKEN=tok-1\n", "export OS_PROJECT_ID=p1\n", "# expires "} {
		if !strings.Contains(out, want) {
			t.Fatalf("exports lack %q:\n%s", want, out)
		}
	}
	tok, err = c.ServiceAccount(ctx, &ServiceAccountLogin{AccountID: "sa1", Secret: "sid.s%cret", Scope: "domain:d1"})
	if err != nil || !strings.Contains(Exports(c.AuthURL, tok), "export OS_DOMAIN_ID=d1\n") {
		t.Fatalf("secret login: %v", err)
	}
	_, err = c.ServiceAccount(ctx, &ServiceAccountLogin{AccountID: "sa1", Secret: "wrong"})
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || e.Title != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := c.ServiceAccount(ctx, &ServiceAccountLogin{AccountID: "sa1"}); err == nil {
		t.Fatal("login without key or secret sent")
	}
}
