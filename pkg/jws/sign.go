package jws

import (
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// Sign mints the JWS token Python's JWSFormatter.create_token would mint
// for p issued at issuedAt: PyJWT's header {"alg":"ES256","typ":"JWT"}
// (sorted keys, compact separators; go-jose writes the same bytes), the
// claims of EncodeClaims, and an ES256 signature by the private key.
func (k *PrivateKey) Sign(p *payload.Payload, issuedAt time.Time) (string, error) {
	claims, err := EncodeClaims(p, issuedAt)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("jws: signer: %w", err)
	}
	obj, err := signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("jws: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// Sign signs with the private key in use (the issue.Signer of a JWS
// deployment).
func (r *PrivateRepository) Sign(p *payload.Payload, issuedAt time.Time) (string, error) {
	return r.Current().Sign(p, issuedAt)
}
