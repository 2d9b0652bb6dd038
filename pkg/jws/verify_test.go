package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

var b64 = base64.RawURLEncoding

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// craft signs header and claims (raw JSON text) with ES256 by hand, for
// tokens Python's own code would never write.
func craft(t testing.TB, k *ecdsa.PrivateKey, header, claims string) string {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	h := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64.EncodeToString(sig)
}

const goodClaims = `{"sub":"u1","iat":1700000000,"exp":1900000000,"openstack_methods":["password"],"openstack_audit_ids":["AAAAAAAAAAAAAAAAAAAAAA"],"openstack_project_id":"p1"}`

// TestVerifyRefusals: each kind of bad token gets Python's answer, 404
// TokenNotFound or 500 (see Verify's steps and jws/core.py).
func TestVerifyRefusals(t *testing.T) {
	key, other := newKey(t), newKey(t)
	keys := NewPublicKeys(&other.PublicKey, &key.PublicKey) // the right key second
	now := time.Unix(1800000000, 0)
	good := craft(t, key, `{"alg":"ES256","typ":"JWT"}`, goodClaims)
	parts := strings.Split(good, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func() string {
		in := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + parts[1]
		m := hmac.New(sha256.New, pubPEM)
		m.Write([]byte(in))
		return in + "." + b64.EncodeToString(m.Sum(nil))
	}()
	unsigned := func(header string) string {
		return b64.EncodeToString([]byte(header)) + "." + parts[1] + "."
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"good", good, nil},
		{"signature with python-accepted padding", good + "==", nil},
		{"signed by another key", craft(t, newKey(t), `{"alg":"ES256","typ":"JWT"}`, goodClaims), ErrNotFound},
		{"alg none", unsigned(`{"alg":"none","typ":"JWT"}`), ErrUnexpected},
		{"alg none, header only", unsigned(`{"alg":"none"}`), ErrUnexpected},
		{"HS256 with the public key as secret", hs256, ErrUnexpected},
		{"RS256", unsigned(`{"alg":"RS256","typ":"JWT"}`) + parts[2], ErrUnexpected},
		{"alg a substring of ES256", unsigned(`{"alg":"ES2"}`) + parts[2], ErrUnexpected},
		{"no alg", unsigned(`{"typ":"JWT"}`) + parts[2], ErrUnexpected},
		{"alg not a string", unsigned(`{"alg":256}`) + parts[2], ErrUnexpected},
		{"tampered payload", parts[0] + "." + flip(parts[1], 10) + "." + parts[2], ErrNotFound},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 5), ErrNotFound},
		{"tampered header", b64.EncodeToString([]byte(`{"alg":"ES256","typ":"JWS"}`)) + "." + parts[1] + "." + parts[2], ErrNotFound},
		{"tampered header, alg changed", flip(parts[0], 3) + "." + parts[1] + "." + parts[2], ErrUnexpected},
		{"short signature", parts[0] + "." + parts[1] + "." + parts[2][:40], ErrNotFound},
		{"two segments", parts[0] + "." + parts[1], ErrNotFound},
		{"four segments", good + ".x", ErrNotFound},
		{"no dot", "gAAAAABnotajwsatall", ErrNotFound},
		{"empty", "", ErrNotFound},
		{"header not json", b64.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], ErrNotFound},
		{"header a list", b64.EncodeToString([]byte(`["alg"]`)) + "." + parts[1] + "." + parts[2], ErrNotFound},
		{"bad padding in payload", parts[0] + ".a." + parts[2], ErrNotFound},
		{"detached payload", craft(t, key, `{"alg":"ES256","b64":false}`, goodClaims), ErrNotFound},
		// Python ignores crit; go-jose refuses unknown critical headers.
		// Only the private key's holder can sign such a token.
		{"unknown critical header", craft(t, key, `{"alg":"ES256","crit":["exp"],"exp":1}`, goodClaims), ErrNotFound},
		{"payload not json", craft(t, key, `{"alg":"ES256"}`, `not json`), ErrNotFound},
		{"payload a list", craft(t, key, `{"alg":"ES256"}`, `[1]`), ErrNotFound},
		{"iat in the future", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, "1700000000", "1800000001", 1)), ErrUnexpected},
		{"iat now", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, "1700000000", "1800000000", 1)), nil},
		{"aud", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `{`, `{"aud":"x",`, 1)), ErrUnexpected},
		{"empty aud", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `{`, `{"aud":"",`, 1)), nil},
		{"nbf in the future", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `{`, `{"nbf":1800000001,`, 1)), ErrUnexpected},
		{"nbf not an integer", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `{`, `{"nbf":"soon",`, 1)), ErrNotFound},
		{"expired (validation refuses it later)", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, "1900000000", "1700000001", 1)), nil},
		{"no sub", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `"sub":"u1",`, "", 1)), ErrUnexpected},
		{"no audit id", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `"AAAAAAAAAAAAAAAAAAAAAA"`, "", 1)), ErrUnexpected},
		{"project id a number", craft(t, key, `{"alg":"ES256"}`, strings.Replace(goodClaims, `"p1"`, "1", 1)), ErrUnexpected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _, err := keys.Verify(c.token, now)
			if c.want == nil {
				if err != nil || p == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			ae := ClientError(c.token, err)
			wantCode := http.StatusNotFound
			if c.want == ErrUnexpected {
				wantCode = http.StatusInternalServerError
			}
			if ae.Code != wantCode {
				t.Fatalf("code %d, want %d", ae.Code, wantCode)
			}
			if wantCode == http.StatusNotFound && ae.Message != "Could not find token: "+c.token+"." {
				t.Fatalf("message %q", ae.Message)
			}
		})
	}
}

// TestSignMatchesPython: a token keystone-ng mints has PyJWT's header and
// verifies with the public key.
func TestSignMatchesPython(t *testing.T) {
	key := newKey(t)
	p := &payload.Payload{Version: payload.VersionFederatedProject, UserID: "u", Methods: []string{"mapped"},
		ProjectID: "p", Federated: true, FederatedGroupIDs: []string{"g"}, IdentityProviderID: "idp", ProtocolID: "openid",
		ExpiresAt: time.Unix(1900000000, 123456000), AuditIDs: []string{"AAAAAAAAAAAAAAAAAAAAAA"}}
	tok, err := NewPrivateKey(key).Sign(p, time.Unix(1700000000, 999))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if parts[0] != pythonHeader {
		h, _ := b64.DecodeString(parts[0])
		t.Fatalf("header %s", h)
	}
	claims, _ := b64.DecodeString(parts[1])
	want := `{"sub":"u","iat":1700000000,"exp":1900000000,"openstack_methods":["mapped"],"openstack_audit_ids":["AAAAAAAAAAAAAAAAAAAAAA"],"openstack_project_id":"p","openstack_group_ids":[{"id":"g"}],"openstack_idp_id":"idp","openstack_protocol_id":"openid"}`
	if string(claims) != want {
		t.Fatalf("claims\n got %s\nwant %s", claims, want)
	}
	got, iat, err := NewPublicKeys(&key.PublicKey).Verify(tok, time.Unix(1800000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if iat.Unix() != 1700000000 || got.Expiry().Unix() != 1900000000 || got.Version != p.Version {
		t.Fatalf("round trip: %+v iat %v", got, iat)
	}
}

var testPayload = payload.Payload{Version: payload.VersionProjectScoped, UserID: "u", Methods: []string{"password"},
	ProjectID: "p", ExpiresAt: time.Unix(1900000000, 0), AuditIDs: []string{"AAAAAAAAAAAAAAAAAAAAAA"}}

// FuzzVerify: whatever the token, Verify never panics and every refusal
// is one of Python's two answers.
func FuzzVerify(f *testing.F) {
	vs, keys := loadVectors(f)
	for _, v := range vs {
		f.Add(v.Token)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, tok string) {
		_, _, err := keys.Verify(tok, now)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnexpected) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
