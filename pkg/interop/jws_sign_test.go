package interop

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// ecdsaSign is an ES256 signature (r || s, 32 bytes each) over in, for
// JWS tokens with headers go-jose would not write.
func ecdsaSign(t *testing.T, k *ecdsa.PrivateKey, in []byte) []byte {
	t.Helper()
	h := sha256.Sum256(in)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

func hmacSHA256(key, in []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(in)
	return m.Sum(nil)
}
