// Package jws validates and mints Keystone JWS tokens ([token] provider =
// jws) the way Python Keystone's keystone/token/providers/jws/core.py does
// with PyJWT: ES256 only, every public key of [jwt_tokens]
// jws_public_key_repository tried, private.pem of
// [jwt_tokens] jws_private_key_repository for signing (docs/python-compat.md §1.6).
//
// The claims map into the same payload.Payload the Fernet path decodes,
// so the one validation pipeline of pkg/token serves both formats.
// go-jose parses the compact serialization and checks the signature; this
// package adds only what the library leaves to the caller: Python's
// answer (404 or 500) for each kind of bad token, and the claim set.
package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/keyrepo"
)

// PrivateKeyFile is the one file of the private key repository Python
// signs with (jws/core.py JWSFormatter.private_key).
const PrivateKeyFile = "private.pem"

var (
	// ErrNoKeys means the public key repository holds no key: Python
	// refuses to start then ("must contain at least one public key").
	ErrNoKeys = errors.New("jws: no public key in key repository")
	// ErrBadKey means a key file is not a PEM-encoded ECDSA P-256 key.
	ErrBadKey = errors.New("jws: not a PEM-encoded ECDSA P-256 (ES256) key")
)

// KeyError reports a problem with one key file. It never contains key
// material.
type KeyError struct {
	Dir, File string
	Err       error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("jws key repository %s: file %s: %v", e.Dir, e.File, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// parseKey reads the first PEM block of a key file: a public key
// (SubjectPublicKeyInfo, what keystone-manage create_jws_keypair writes as
// public.pem) or a private key (PKCS#8 or SEC 1), whose public half is
// used. PyJWT's ECAlgorithm.prepare_key accepts both kinds the same way.
// Only P-256 is accepted: ES256 signatures are made on that curve
// (keystone/common/jwt_utils.py creates SECP256R1 keys).
func parseKey(content []byte) (pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey, err error) {
	block, _ := pem.Decode(content)
	if block == nil {
		return nil, nil, ErrBadKey
	}
	var k any
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, nil, ErrBadKey
	}
	if err != nil {
		return nil, nil, ErrBadKey
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		pub = k
	case *ecdsa.PrivateKey:
		pub, priv = &k.PublicKey, k
	default:
		return nil, nil, ErrBadKey
	}
	if pub.Curve != elliptic.P256() {
		return nil, nil, ErrBadKey
	}
	return pub, priv, nil
}

// namedKey is one public key and the file it came from.
type namedKey struct {
	name string
	key  *ecdsa.PublicKey
}

// PublicKeys are the keys of the public key repository, in file name
// order (Python tries them in os.listdir order; the order changes nothing
// but which key's failure is reported first).
type PublicKeys struct {
	keys []namedKey
}

// Len is the number of keys.
func (k *PublicKeys) Len() int { return len(k.keys) }

// String names the key files (no key material).
func (k *PublicKeys) String() string {
	names := make([]string, len(k.keys))
	for i, nk := range k.keys {
		names[i] = nk.name
	}
	return fmt.Sprintf("%d public key(s) [%s]", len(k.keys), strings.Join(names, " "))
}

// Names lists the key files.
func (k *PublicKeys) Names() []string {
	names := make([]string, len(k.keys))
	for i, nk := range k.keys {
		names[i] = nk.name
	}
	return names
}

// NewPublicKeys builds a key set from keys (tests, benchmarks).
func NewPublicKeys(keys ...*ecdsa.PublicKey) *PublicKeys {
	ks := &PublicKeys{}
	for i, k := range keys {
		ks.keys = append(ks.keys, namedKey{name: fmt.Sprintf("key%d", i), key: k})
	}
	return ks
}

// isAnyEntry: Python reads every entry of the public key directory
// (os.listdir), whatever its name.
func isAnyEntry(string) bool { return true }

// LoadPublicKeys reads every regular file of dir (symlinks followed) as a
// key. Python opens every entry of the directory on each validation, so a
// file that is not a key makes it fail every validation with a 500; here
// such a file makes the repository unusable (refused at start, previous
// keys kept on reload). Sub-directories (a Kubernetes secret volume's
// ..data) are skipped: Python would fail on them too, keystone-ng need not.
func LoadPublicKeys(dir string) (*PublicKeys, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ks := &PublicKeys{}
	for _, e := range entries { // sorted by name
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // dangling symlink or removed meanwhile
			}
			return nil, &KeyError{Dir: dir, File: e.Name(), Err: err}
		}
		if !st.Mode().IsRegular() {
			continue
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return nil, &KeyError{Dir: dir, File: e.Name(), Err: err}
		}
		// A private key in the public directory works in Python too:
		// only its public half is kept.
		pub, _, err := parseKey(content)
		clear(content)
		if err != nil {
			return nil, &KeyError{Dir: dir, File: e.Name(), Err: err}
		}
		ks.keys = append(ks.keys, namedKey{name: e.Name(), key: pub})
	}
	if len(ks.keys) == 0 {
		return nil, &KeyError{Dir: dir, File: "", Err: ErrNoKeys}
	}
	return ks, nil
}

// PrivateKey is the signing key, private.pem.
type PrivateKey struct {
	key *ecdsa.PrivateKey
}

// Len is 1: one signing key.
func (k *PrivateKey) Len() int { return 1 }

// String describes the key (no key material).
func (k *PrivateKey) String() string { return PrivateKeyFile + " (ECDSA P-256)" }

// NewPrivateKey wraps key (tests, benchmarks).
func NewPrivateKey(key *ecdsa.PrivateKey) *PrivateKey { return &PrivateKey{key: key} }

// LoadPrivateKey reads dir/private.pem, a PEM-encoded ECDSA P-256 private
// key (PKCS#8, as keystone-manage create_jws_keypair writes it, or SEC 1).
func LoadPrivateKey(dir string) (*PrivateKey, error) {
	content, err := os.ReadFile(filepath.Join(dir, PrivateKeyFile))
	if err != nil {
		return nil, &KeyError{Dir: dir, File: PrivateKeyFile, Err: err}
	}
	_, priv, err := parseKey(content)
	clear(content)
	if err == nil && priv == nil {
		err = ErrBadKey // a public key cannot sign
	}
	if err != nil {
		return nil, &KeyError{Dir: dir, File: PrivateKeyFile, Err: err}
	}
	return &PrivateKey{key: priv}, nil
}

// The two repositories, reloaded by the one rule of pkg/keyrepo.
var (
	publicKind = &keyrepo.Kind[*PublicKeys]{
		Name:  "jws public key repository",
		IsKey: isAnyEntry,
		Load:  LoadPublicKeys,
	}
	privateKind = &keyrepo.Kind[*PrivateKey]{
		Name:  "jws private key repository",
		IsKey: func(name string) bool { return name == PrivateKeyFile },
		Load:  LoadPrivateKey,
	}
)

// PublicRepository is [jwt_tokens] jws_public_key_repository kept current.
type PublicRepository struct {
	*keyrepo.Repository[*PublicKeys]
	cache verifiedCache
}

// OpenPublicRepository loads dir; an error means the service must not
// start (Python refuses to start without a public key too).
func OpenPublicRepository(dir string) (*PublicRepository, error) {
	r, err := keyrepo.Open(publicKind, dir)
	if err != nil {
		return nil, err
	}
	return &PublicRepository{Repository: r}, nil
}

// PrivateRepository is [jwt_tokens] jws_private_key_repository kept
// current (its private.pem).
type PrivateRepository struct {
	*keyrepo.Repository[*PrivateKey]
}

// OpenPrivateRepository loads dir/private.pem.
func OpenPrivateRepository(dir string) (*PrivateRepository, error) {
	r, err := keyrepo.Open(privateKind, dir)
	if err != nil {
		return nil, err
	}
	return &PrivateRepository{Repository: r}, nil
}
