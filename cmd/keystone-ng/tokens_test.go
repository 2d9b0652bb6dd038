package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// TestTokenKeysJWS: with [token] provider = jws the public key repository
// is required, private.pem only for /v4, and check describes both.
func TestTokenKeysJWS(t *testing.T) {
	dir := t.TempDir()
	pub, priv := filepath.Join(dir, "public"), filepath.Join(dir, "private")
	for _, d := range []string{pub, priv} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Defaults()
	cfg.Token.Provider = "jws"
	cfg.JWTTokens = config.JWTTokensSection{JWSPublicKeyRepository: pub, JWSPrivateKeyRepository: priv}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	if _, err := openTokenKeys(cfg, log); err == nil || !strings.Contains(err.Error(), "[jwt_tokens] jws_public_key_repository") {
		t.Fatalf("empty public key repository: %v", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err := os.WriteFile(filepath.Join(pub, "public.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := openTokenKeys(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d := keys.describe()
	for _, want := range []string{"token provider: jws", "jws public keys: 1 usable in " + pub + " (public.pem)", "jws private key: unusable, /v4 logins are off"} {
		if !strings.Contains(d, want) {
			t.Errorf("describe lacks %q:\n%s", want, d)
		}
	}
	v := &token.Validator{}
	keys.validator(v)
	if v.Opener == nil || v.Keys != nil {
		t.Fatal("the validator does not open JWS tokens")
	}
	if err := keys.issuer(&issue.Issuer{}); err == nil {
		t.Fatal("an issuer without private.pem")
	}

	pk, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := os.WriteFile(filepath.Join(priv, "private.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err = openTokenKeys(cfg, log); err != nil {
		t.Fatal(err)
	}
	if d := keys.describe(); !strings.Contains(d, "jws private key: private.pem in "+priv) {
		t.Errorf("describe:\n%s", d)
	}
	is := &issue.Issuer{}
	if err := keys.issuer(is); err != nil || is.Signer == nil || is.Keys != nil {
		t.Fatalf("issuer: %v", err)
	}
	if keys.count() != 1 {
		t.Fatalf("count %d", keys.count())
	}
}
