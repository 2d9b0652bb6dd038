// Package fernet reads Keystone's Fernet key repository and seals/opens the
// Fernet envelope of Keystone tokens, byte-compatible with Python Keystone
// (keystone/common/fernet_utils.py, keystone/token/token_formatters.py and
// cryptography's Fernet/MultiFernet). See docs/python-compat.md §1.1-§1.2
// and docs/design.md §6 and §9.
//
// The envelope is implemented here with crypto/aes and crypto/hmac rather
// than with github.com/fernet/fernet-go because keystone needs the token's
// timestamp (it is the token's issued_at), never applies a TTL, and the hot
// path must not allocate per key tried; fernet-go is used by the tests as an
// independent reference implementation.
package fernet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"sync"
	"time"
)

const (
	// MaxTokenLength bounds the token strings Decrypt looks at. Keystone's
	// own tokens are 160-400 characters (docs/python-compat.md §1.1); even a federated token
	// with hundreds of group ids stays far below 8 KiB, which is also a
	// common header size limit. Longer input is rejected before any work.
	MaxTokenLength = 8192

	version      = 0x80
	headerLen    = 1 + 8 + aes.BlockSize // version, timestamp, IV
	macLen       = sha256.Size
	minTokenData = headerLen + aes.BlockSize + macLen
)

// ErrInvalidToken is the only error Decrypt returns to callers, whatever
// step failed (base64, version byte, HMAC, padding): like Python's
// "Could not recognize Fernet token" it must not tell an attacker which
// check failed. The wrapped reason (see errors.Unwrap and Error) is for logs.
var ErrInvalidToken = errors.New("fernet: could not recognize Fernet token")

// invalid wraps ErrInvalidToken with a reason for logs. The reasons are
// fixed strings so that building them does not allocate per request.
type invalid struct{ reason string }

func (e *invalid) Error() string { return ErrInvalidToken.Error() + ": " + e.reason }
func (e *invalid) Unwrap() error { return ErrInvalidToken }

var (
	errTooLong   = &invalid{"token too long"}
	errEncoding  = &invalid{"bad base64"}
	errShort     = &invalid{"too short"}
	errVersion   = &invalid{"bad version byte"}
	errNoKey     = &invalid{"no key matches the HMAC"}
	errPadding   = &invalid{"bad PKCS7 padding"}
	errTimestamp = &invalid{"timestamp out of range"}
	errNoKeys    = errors.New("fernet: key set is empty")
)

// key is one decoded Fernet key: first 16 bytes sign, last 16 encrypt.
type key struct {
	id    int64 // file number in the repository (NewKeySet: position)
	block cipher.Block
	macs  sync.Pool // of *macState for the signing key
}

// macState is a reusable HMAC-SHA256 with room for its sum, pooled per key
// so that validating a token does not allocate a hash.
type macState struct {
	h   hash.Hash
	sum [macLen]byte
	tmp [aes.BlockSize]byte // CBC scratch block
}

func newKey(id int64, raw []byte) (*key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("fernet: key is %d bytes, want 32", len(raw))
	}
	block, err := aes.NewCipher(raw[16:])
	if err != nil {
		return nil, err
	}
	sign := append([]byte(nil), raw[:16]...)
	k := &key{id: id, block: block}
	k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, sign)} }
	return k, nil
}

// KeySet is an immutable, ordered set of Fernet keys: index 0 is the primary
// (encrypting) key, then the secondaries, the staged key 0 last — the order
// of fernet_utils.py load_keys (numeric descending). Safe for concurrent use.
type KeySet struct {
	keys []*key
}

// NewKeySet builds a KeySet from URL-safe base64 key strings, primary first
// (the form keystone-manage writes into key files). Useful for tests and
// for repositories kept elsewhere. Key ids are the positions, descending.
func NewKeySet(keys ...string) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errNoKeys
	}
	ks := &KeySet{}
	for i, s := range keys {
		raw, err := DecodeURLSafeBase64(s)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("fernet: key %d: %w", i, ErrMalformedKey)
		}
		k, err := newKey(int64(len(keys)-1-i), raw)
		if err != nil {
			return nil, err
		}
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// Len returns the number of keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

// IDs returns the key file numbers in decryption order (primary first).
func (ks *KeySet) IDs() []int64 {
	ids := make([]int64, len(ks.keys))
	for i, k := range ks.keys {
		ids[i] = k.id
	}
	return ids
}

// String describes the set without key material (keys are never logged,
// docs/design.md §9).
func (ks *KeySet) String() string {
	s := "fernet.KeySet{"
	for i, k := range ks.keys {
		if i > 0 {
			s += ","
		}
		s += strconv.FormatInt(k.id, 10)
	}
	return s + "}"
}

// Decrypt opens a keystone token: it restores the base64 padding, decodes,
// and tries every key primary first (cryptography's MultiFernet.decrypt),
// checking the HMAC in constant time before decrypting. No TTL or clock
// skew check is applied (keystone calls decrypt without ttl, docs/python-compat.md §1.1):
// expiry lives in the payload. issuedAt is the envelope's timestamp, which
// keystone reports as the token's issued_at. Every failure is
// ErrInvalidToken.
func (ks *KeySet) Decrypt(token string) (plaintext []byte, issuedAt time.Time, err error) {
	if len(token) > MaxTokenLength {
		return nil, time.Time{}, errTooLong
	}
	if len(ks.keys) == 0 {
		return nil, time.Time{}, errNoKey
	}
	// One allocation: the decoded blob, decrypted in place; the
	// plaintext returned is a slice of it.
	buf := make([]byte, (len(token)+3)/4*3+3)
	data, ok := decodeTokenBase64(buf, token)
	if !ok {
		return nil, time.Time{}, errEncoding
	}
	// cryptography checks the version byte and a 9-byte minimum first,
	// then each key fails on the HMAC or the padding of a short input.
	if len(data) == 0 || data[0] != version {
		return nil, time.Time{}, errVersion
	}
	if len(data) < minTokenData || (len(data)-headerLen-macLen)%aes.BlockSize != 0 {
		return nil, time.Time{}, errShort
	}
	ts := binary.BigEndian.Uint64(data[1:9])
	signed, tag := data[:len(data)-macLen], data[len(data)-macLen:]
	for _, k := range ks.keys {
		m := k.macs.Get().(*macState)
		m.h.Reset()
		m.h.Write(signed)
		if !hmac.Equal(m.h.Sum(m.sum[:0]), tag) {
			k.macs.Put(m)
			continue
		}
		out := data[headerLen : len(data)-macLen]
		cbcDecryptInPlace(k.block, data[9:headerLen], out, &m.tmp)
		k.macs.Put(m)
		n, ok := unpad(out)
		if !ok {
			// MultiFernet would try the remaining keys, whose HMAC
			// cannot match as well; the outcome is the same.
			return nil, time.Time{}, errPadding
		}
		if ts > math.MaxInt64 {
			return nil, time.Time{}, errTimestamp
		}
		return out[:n:n], time.Unix(int64(ts), 0).UTC(), nil
	}
	return nil, time.Time{}, errNoKey
}

// cbcDecryptInPlace decrypts AES-CBC in place, last block first so that
// each block's predecessor is still ciphertext when it is needed. It
// avoids cipher.NewCBCDecrypter, which copies the expanded key schedule
// into a new ~500-byte object per call.
func cbcDecryptInPlace(b cipher.Block, iv, buf []byte, tmp *[aes.BlockSize]byte) {
	for i := len(buf) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		blk := buf[i : i+aes.BlockSize]
		b.Decrypt(tmp[:], blk)
		prev := iv
		if i > 0 {
			prev = buf[i-aes.BlockSize : i]
		}
		for j := range tmp {
			blk[j] = tmp[j] ^ prev[j]
		}
	}
}

// unpad checks PKCS7 padding in constant time with respect to the padding
// content (as cryptography's PKCS7 unpadder does) and returns the data length.
func unpad(b []byte) (int, bool) {
	n := len(b)
	if n == 0 || n%aes.BlockSize != 0 {
		return 0, false
	}
	p := b[n-1]
	bad := byte(0)
	if p == 0 || int(p) > aes.BlockSize {
		return 0, false
	}
	for i := n - aes.BlockSize; i < n; i++ {
		// only the last p bytes must equal p
		inPad := byte(0)
		if n-i <= int(p) {
			inPad = 0xff
		}
		bad |= (b[i] ^ p) & inPad
	}
	if bad != 0 {
		return 0, false
	}
	return n - int(p), true
}

// Encrypt seals plaintext with the primary key at time now (seconds, the
// way cryptography's encrypt uses int(time.time())) with a random IV, and
// returns the URL-safe base64 string with every trailing "=" stripped
// (token_formatters.py TokenFormatter.pack).
func (ks *KeySet) Encrypt(plaintext []byte, now time.Time) (string, error) {
	if len(ks.keys) == 0 {
		return "", errNoKeys
	}
	var iv [aes.BlockSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return "", err
	}
	return ks.encryptIV(plaintext, now, iv)
}

func (ks *KeySet) encryptIV(plaintext []byte, now time.Time, iv [aes.BlockSize]byte) (string, error) {
	sec := now.Unix()
	if sec < 0 {
		return "", errors.New("fernet: time before the Unix epoch")
	}
	k := ks.keys[0]
	padLen := aes.BlockSize - len(plaintext)%aes.BlockSize
	total := headerLen + len(plaintext) + padLen + macLen
	buf := make([]byte, total, total)
	buf[0] = version
	binary.BigEndian.PutUint64(buf[1:9], uint64(sec))
	copy(buf[9:headerLen], iv[:])
	body := buf[headerLen : total-macLen]
	copy(body, plaintext)
	for i := len(plaintext); i < len(body); i++ {
		body[i] = byte(padLen)
	}
	cipher.NewCBCEncrypter(k.block, iv[:]).CryptBlocks(body, body)
	m := k.macs.Get().(*macState)
	m.h.Reset()
	m.h.Write(buf[:total-macLen])
	m.h.Sum(buf[:total-macLen])
	k.macs.Put(m)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}
