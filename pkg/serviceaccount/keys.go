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
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// The JWS algorithms a service account's key may verify: asymmetric only
// (RFC 7523 §3 leaves the choice to the server; "none" and the HMAC family
// would let anyone who read the public key sign).
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// Algorithms are the accepted JWS algorithms, for the parser.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// RSA moduli outside this range are refused: smaller is weak (NIST SP
// 800-131A), larger only makes verification expensive for an attacker to
// exploit.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// PublicKey is a parsed, accepted public key.
type PublicKey struct {
	Key        crypto.PublicKey
	Algorithm  string
	Thumbprint string // RFC 7638, SHA-256, base64url
	JWK        string // the public JWK as stored
}

// errKey is a key the API refuses (400); its text is safe to show.
type errKey struct{ msg string }

func (e *errKey) Error() string { return e.msg }

func keyError(format string, a ...any) error { return &errKey{fmt.Sprintf(format, a...)} }

// AlgorithmOf returns the one algorithm a key verifies; the CLI signs its
// assertions with the algorithm of its key's public half, so both sides
// follow this one rule.
func AlgorithmOf(k crypto.PublicKey) (string, error) {
	switch p := k.(type) {
	case *rsa.PublicKey:
		if n := p.N.BitLen(); n < minRSABits || n > maxRSABits {
			return "", keyError("an RSA key must have %d to %d bits, not %d", minRSABits, maxRSABits, n)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return "", keyError("an EC key must be on P-256 (ES256)")
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", keyError("unsupported key type %T: use RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA)", k)
}

// ParsePublicKey reads a public key given as a PEM string (SubjectPublicKeyInfo
// "PUBLIC KEY", or PKCS #1 "RSA PUBLIC KEY") or as a JWK object. A private
// key is refused, never stored: whoever sent one must treat it as exposed.
func ParsePublicKey(raw json.RawMessage) (*PublicKey, error) {
	var (
		pub     crypto.PublicKey
		wantAlg string
	)
	var s string
	switch {
	case json.Unmarshal(raw, &s) == nil:
		block, rest := pem.Decode([]byte(s))
		if block == nil {
			return nil, keyError("public_key is neither a PEM block nor a JWK object")
		}
		if len(rest) > 0 && len(bytesTrim(rest)) > 0 {
			return nil, keyError("public_key must hold exactly one PEM block")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, keyError("public_key: not a valid SubjectPublicKeyInfo")
			}
			pub = k
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, keyError("public_key: not a valid PKCS #1 RSA public key")
			}
			pub = k
		default:
			return nil, keyError("public_key: a PEM %q block is not a public key (never send a private key)", block.Type)
		}
	default:
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, keyError("public_key is neither a PEM string nor a valid JWK object")
		}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, keyError("public_key: the JWK is not a public key (never send a private key)")
		}
		pub, wantAlg = jwk.Key, jwk.Algorithm
	}
	alg, err := AlgorithmOf(pub)
	if err != nil {
		return nil, err
	}
	if wantAlg != "" && wantAlg != alg {
		return nil, keyError("public_key: the JWK's alg %q does not fit its key (%s)", wantAlg, alg)
	}
	jwk := jose.JSONWebKey{Key: pub, Algorithm: alg, Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, keyError("public_key: %v", err)
	}
	b, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &PublicKey{Key: pub, Algorithm: alg, Thumbprint: base64.RawURLEncoding.EncodeToString(tp), JWK: string(b)}, nil
}

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// LoadJWK reads a stored public JWK back.
func LoadJWK(s string) (*jose.JSONWebKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(s)); err != nil {
		return nil, err
	}
	if !k.IsPublic() {
		return nil, errors.New("stored key is not public")
	}
	return &k, nil
}

// GenerateKey makes a key pair for alg and returns its public half and the
// private key as PKCS #8 PEM (handed to the caller once, never stored).
func GenerateKey(alg string) (*PublicKey, string, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "", AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, "", keyError("algorithm must be ES256, RS256 or EdDSA")
	}
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	spki, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, "", err
	}
	raw, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})))
	pub, err := ParsePublicKey(raw)
	if err != nil {
		return nil, "", err
	}
	return pub, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
