package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzAssertion feeds arbitrary strings to the assertion parser and
// verifier: they must never panic and never accept anything but a JWT
// signed by the account's key (which the fuzzer cannot forge).
func FuzzAssertion(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := ParsePublicKey(mustJSONString(f, ec))
	if err != nil {
		f.Fatal(err)
	}
	keys := []*Credential{{ID: "k1", UserID: "sa1", Algorithm: pub.Algorithm, PublicJWK: pub.JWK}}
	now := time.Now()
	for _, seed := range []string{
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJzYTEifQ.AAAA",
		"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJzYTEiLCJzdWIiOiJzYTEifQ.c2ln",
		`{"payload":"e30","signatures":[]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, _, err := UnverifiedSubject(raw)
		if err != nil {
			return
		}
		if k, _, err := VerifyAssertion(tok, "sa1", "https://x/v4/oauth2/token", keys, now); err == nil {
			t.Fatalf("fuzzed assertion accepted with key %s: %q", k.ID, raw)
		}
	})
}

func mustJSONString(f *testing.F, k *ecdsa.PrivateKey) []byte {
	b, err := (&jose.JSONWebKey{Key: &k.PublicKey}).MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	return b
}
