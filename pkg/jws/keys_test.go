package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func pubPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func privPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadPublicKeys: what a public key repository may hold.
func TestLoadPublicKeys(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		setup func(dir string)
		keys  int
		err   error
	}{
		{"one key", func(d string) { write(t, d, "public.pem", pubPEM(t, k1)) }, 1, nil},
		{"two keys, a private one among them", func(d string) {
			write(t, d, "a.pem", pubPEM(t, k1))
			write(t, d, "b.pem", privPEM(t, k2))
		}, 2, nil},
		{"sub-directory skipped", func(d string) {
			write(t, d, "public.pem", pubPEM(t, k1))
			_ = os.Mkdir(filepath.Join(d, "..data"), 0o700)
		}, 1, nil},
		{"empty", func(string) {}, 0, ErrNoKeys},
		{"not a key", func(d string) {
			write(t, d, "public.pem", pubPEM(t, k1))
			write(t, d, "README", []byte("keys live here"))
		}, 0, ErrBadKey},
		{"empty file", func(d string) { write(t, d, "public.pem", nil) }, 0, ErrBadKey},
		{"P-384", func(d string) { write(t, d, "public.pem", pubPEM(t, p384)) }, 0, ErrBadKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			ks, err := LoadPublicKeys(dir)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil || ks.Len() != c.keys {
				t.Fatalf("%v keys, err %v; want %d", ks, err, c.keys)
			}
		})
	}
	if _, err := LoadPublicKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing directory accepted")
	}
}

// TestLoadPrivateKey: private.pem must be an ECDSA P-256 private key.
func TestLoadPrivateKey(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	if _, err := LoadPrivateKey(dir); err == nil {
		t.Fatal("missing private.pem accepted")
	}
	write(t, dir, PrivateKeyFile, pubPEM(t, k))
	if _, err := LoadPrivateKey(dir); !errors.Is(err, ErrBadKey) {
		t.Fatalf("a public key as private.pem: %v", err)
	}
	write(t, dir, PrivateKeyFile, privPEM(t, k))
	pk, err := LoadPrivateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pk.Sign(&testPayload, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewPublicKeys(&k.PublicKey).Verify(tok, time.Unix(1800000000, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestPublicRepositoryReload: the repository follows a rotation through
// keyrepo's rule; a broken state keeps the previous keys.
func TestPublicRepositoryReload(t *testing.T) {
	old, next := newKey(t), newKey(t)
	dir := t.TempDir()
	write(t, dir, "public.pem", pubPEM(t, old))
	r, err := OpenPublicRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1800000000, 0)
	oldTok, _ := NewPrivateKey(old).Sign(&testPayload, time.Unix(1700000000, 0))
	newTok, _ := NewPrivateKey(next).Sign(&testPayload, time.Unix(1700000000, 0))
	valid := func(tok string) bool { _, _, err := r.Open(tok, now); return err == nil }
	if !valid(oldTok) || valid(newTok) {
		t.Fatal("before rotation")
	}
	write(t, dir, "rotated-1.pem", pubPEM(t, next))
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if !valid(oldTok) || !valid(newTok) {
		t.Fatal("after adding the new key both must validate")
	}
	write(t, dir, "half-written.pem", []byte("-----BEGIN PUB"))
	if _, err := r.Reload(); err == nil {
		t.Fatal("broken repository accepted")
	}
	if !valid(oldTok) || !valid(newTok) || r.Current().Len() != 2 {
		t.Fatal("a failed reload must keep the previous keys")
	}
	_ = os.Remove(filepath.Join(dir, "half-written.pem"))
	_ = os.Remove(filepath.Join(dir, "public.pem"))
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if valid(oldTok) || !valid(newTok) {
		t.Fatal("after removing the old key only the new token validates")
	}
	if changed, _ := r.Reload(); changed {
		t.Fatal("an unchanged directory was read again")
	}
	if ok, failed := r.Stats(); ok != 2 || failed != 1 {
		t.Fatalf("stats %d ok, %d failed", ok, failed)
	}
}
