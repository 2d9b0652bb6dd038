package serviceaccount

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// A client secret is "<secret id>.<32 random bytes, base64url>". Its id
// names the one stored hash to check, so a login costs one slow hash
// whatever the number of secrets, and a wrong secret id costs none.
//
// Only a PBKDF2-HMAC-SHA256 hash is stored (RFC 8018 §5.2), as
// "pbkdf2-sha256$<iterations>$<salt>$<hash>" so that the cost can be
// raised later without invalidating stored secrets.

// SecretIterations is the PBKDF2 cost of new secrets. The secret has 256
// random bits, so the hash's slowness only guards a stolen database
// against cheap offline checks; this keeps a login near 30 ms of CPU.
const SecretIterations = 60000

const secretHashPrefix = "pbkdf2-sha256"

// newSecret returns a secret for id and its stored hash.
func newSecret(id string, iterations int) (secret, hash string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	secret = id + "." + base64.RawURLEncoding.EncodeToString(raw[:])
	hash, err = hashSecret(secret, iterations)
	return secret, hash, err
}

func hashSecret(secret string, iterations int) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", err
	}
	dk, err := pbkdf2.Key(sha256.New, secret, salt[:], iterations, 32)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s$%d$%s$%s", secretHashPrefix, iterations, base64.RawStdEncoding.EncodeToString(salt[:]),
		base64.RawStdEncoding.EncodeToString(dk)), nil
}

// SecretID returns the id part of a presented secret ("" when it has
// none).
func SecretID(secret string) string {
	id, _, ok := strings.Cut(secret, ".")
	if !ok || id == "" || len(id) > maxID {
		return ""
	}
	return id
}

// verifySecret checks secret against a stored hash in constant time.
func verifySecret(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != secretHashPrefix {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
