package jws

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// Algorithm is the one signature algorithm of Keystone's JWS tokens
// (jws/core.py JWSFormatter.algorithm).
const Algorithm = jose.ES256

// pyB64 is PyJWT's base64url_decode: pad to a multiple of four, then
// Python's lenient urlsafe_b64decode (pkg/fernet mirrors it exactly).
func pyB64(s string) ([]byte, error) {
	if r := len(s) % 4; r > 0 {
		s += "===="[:4-r]
	}
	return fernet.DecodeURLSafeBase64(s)
}

// Verify checks token with the keys and returns its payload and issue
// time, or an error matching ErrNotFound (Python: 404 TokenNotFound) or
// ErrUnexpected (Python: 500). The checks run in PyJWT's order so that the
// first failing one gives Python's answer:
//
//  1. split at the last dot, then the first ("Not enough segments"), and
//     decode the three segments (404 when any fails);
//  2. a header with "b64": false wants a detached payload (404);
//  3. the header's alg must be exactly "ES256": anything else, "none",
//     HS256 or RS256 included, raises InvalidAlgorithmError, which
//     jws/core.py does not catch (500);
//  4. each public key in turn verifies the signature (none: 404);
//  5. the claims (ParseClaims).
//
// go-jose does steps 4 and the parsing of the header; the canonical
// signature segment is handed to it because PyJWT's base64 decoding is
// lenient (padding and stray characters accepted) and the signing input
// does not cover the signature segment.
func (k *PublicKeys) Verify(token string, now time.Time) (*payload.Payload, time.Time, error) {
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return nil, time.Time{}, notFound("not enough segments")
	}
	signingInput, sigSeg := token[:dot], token[dot+1:]
	hSeg, pSeg, ok := strings.Cut(signingInput, ".")
	if !ok {
		return nil, time.Time{}, notFound("not enough segments")
	}
	hdr, err := pyB64(hSeg)
	if err != nil {
		return nil, time.Time{}, notFound("invalid header padding")
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &header); err != nil || header == nil {
		return nil, time.Time{}, notFound("invalid header string")
	}
	if _, err := pyB64(pSeg); err != nil {
		return nil, time.Time{}, notFound("invalid payload padding")
	}
	sig, err := pyB64(sigSeg)
	if err != nil {
		return nil, time.Time{}, notFound("invalid crypto padding")
	}
	if b64, ok := header["b64"]; ok && string(bytes.TrimSpace(b64)) == "false" {
		return nil, time.Time{}, notFound("detached payload")
	}
	var alg string
	if err := json.Unmarshal(header["alg"], &alg); err != nil || alg != string(Algorithm) {
		return nil, time.Time{}, unexpected("the specified alg value is not allowed")
	}
	obj, err := jose.ParseSignedCompact(signingInput+"."+base64.RawURLEncoding.EncodeToString(sig), []jose.SignatureAlgorithm{Algorithm})
	if err != nil {
		// A header go-jose cannot take (a standard field of the wrong
		// type) or a non-canonical segment: only the private key's
		// holder can sign such a token.
		return nil, time.Time{}, notFound("unparsable token")
	}
	for _, nk := range k.keys {
		// Verify refuses unknown "crit" headers and any key that is not
		// an ECDSA key of the alg's curve.
		body, err := obj.Verify(nk.key)
		if err != nil {
			continue
		}
		return ParseClaims(body, now)
	}
	return nil, time.Time{}, notFound("signature verification failed")
}

// Open is Verify on the keys in use, with Python's error for the client:
// 404 "Could not find token: <token>." or the generic 500. It is the
// token.Opener of a JWS deployment.
// Tokens verified once by the keys in use are remembered (verifiedCache).
func (r *PublicRepository) Open(token string, now time.Time) (*payload.Payload, time.Time, error) {
	keys := r.Current()
	if p, iat, ok := r.cache.get(keys, token); ok {
		return p, iat, nil
	}
	p, iat, err := keys.Verify(token, now)
	if err != nil {
		return nil, time.Time{}, ClientError(token, err)
	}
	r.cache.put(keys, token, p, iat)
	return p, iat, nil
}

// ClientError turns a Verify error into Python's answer.
func ClientError(token string, err error) *apierror.Error {
	if errors.Is(err, ErrNotFound) {
		e := apierror.TokenNotFound(token)
		e.Cause = err
		return e
	}
	return apierror.Internal(err)
}
