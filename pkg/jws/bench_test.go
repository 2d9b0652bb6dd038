package jws

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkVerifyProjectToken is the JWS counterpart of pkg/payload's
// BenchmarkDecodeProjectToken: a project-scoped token minted by Python
// Keystone 22 (testdata/python-tokens.json "project"), verified (ES256)
// and its claims mapped to the payload model.
func BenchmarkVerifyProjectToken(b *testing.B) {
	vs, keys := loadVectors(b)
	tok := vs["project"].Token
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := keys.Verify(tok, now)
		if err != nil || p.ProjectID == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySecondKey is the same token found by the second of two
// public keys (Python tries every key of the repository in turn).
func BenchmarkVerifySecondKey(b *testing.B) {
	vs, keys := loadVectors(b)
	tok := vs["project"].Token
	both := NewPublicKeys(&newKey(b).PublicKey, keys.keys[0].key)
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := both.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseClaims is the claims mapping alone.
func BenchmarkParseClaims(b *testing.B) {
	claims := []byte(goodClaims)
	now := time.Unix(1800000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseClaims(claims, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is minting (a /v4 login's token).
func BenchmarkSign(b *testing.B) {
	vs, keys := loadVectors(b)
	p, iat, err := keys.Verify(vs["project"].Token, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	k := NewPrivateKey(newKey(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(p, iat); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenCached is a token validated again through the repository:
// the verified-token cache answers (what a client's every call costs
// after its first).
func BenchmarkOpenCached(b *testing.B) {
	vs, _ := loadVectors(b)
	dir := b.TempDir()
	pemBytes, err := os.ReadFile("testdata/public.pem")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public.pem"), pemBytes, 0o600); err != nil {
		b.Fatal(err)
	}
	r, err := OpenPublicRepository(dir)
	if err != nil {
		b.Fatal(err)
	}
	tok := vs["project"].Token
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := r.Open(tok, now)
		if err != nil || p.ProjectID == "" {
			b.Fatal(err)
		}
	}
}
