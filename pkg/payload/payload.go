// Package payload encodes and decodes the msgpack payload inside Keystone
// Fernet tokens, versions 0 to 10, byte-compatible with Python Keystone's
// keystone/token/token_formatters.py (docs/python-compat.md §1.3-§1.5).
//
// Decoding is a hand-written reader for the small fixed layouts (the hot
// path of token validation, docs/design.md §6); encoding is a hand-written
// writer producing exactly what msgpack-python >= 1.0 (use_bin_type=True)
// produces for keystone's tuples. github.com/vmihailenco/msgpack/v5 serves
// as the independent reference in the tests.
package payload

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Payload versions (token_formatters.py _PAYLOAD_CLASSES, docs/python-compat.md §1.5).
const (
	VersionUnscoped              = 0  // UnscopedPayload
	VersionDomainScoped          = 1  // DomainScopedPayload
	VersionProjectScoped         = 2  // ProjectScopedPayload
	VersionTrustScoped           = 3  // TrustScopedPayload
	VersionFederatedUnscoped     = 4  // FederatedUnscopedPayload
	VersionFederatedProject      = 5  // FederatedProjectScopedPayload
	VersionFederatedDomain       = 6  // FederatedDomainScopedPayload
	VersionOAuth1Scoped          = 7  // OauthScopedPayload
	VersionSystemScoped          = 8  // SystemScopedPayload
	VersionAppCredScoped         = 9  // ApplicationCredentialScopedPayload
	VersionOAuth2CredentialScope = 10 // Oauth2CredentialsScopedPayload (23.0.0+)
)

// Payload is the content of a keystone token after disassemble(). Empty
// strings stand for Python's None (a "maybe-UUID" field packed as
// [false, nil]); fields a version does not carry are empty.
type Payload struct {
	// Version is the payload layout, 0..10 (docs/python-compat.md §1.5).
	Version int
	// UserID is the user, all versions; UUIDs come back lowercase hex
	// without hyphens whatever form was packed (docs/python-compat.md §1.3).
	UserID string
	// Methods are the authentication method names, decoded from the
	// bitmask in descending bit order (docs/python-compat.md §1.4).
	Methods []string
	// ProjectID is the project scope (v2, v3, v5, v7, v9, v10).
	ProjectID string
	// DomainID is the domain scope (v1, v6) or the OAuth2 client's
	// domain (v10, usually empty).
	DomainID string
	// System is the system scope, "all" (v8).
	System string
	// SystemPackedTrue: the system scope was packed as True, as Queens
	// (13) did; Queens then renders no "system" key (docs/python-compat.md
	// §1.5).
	SystemPackedTrue bool
	// TrustID is the trust in effect (v3), lowercase hex.
	TrustID string
	// Federated marks v4-v6 (even with no group ids).
	Federated bool
	// FederatedGroupIDs are the mapped groups (v4-v6); may be empty.
	FederatedGroupIDs []string
	// IdentityProviderID is the federated IdP (v4-v6).
	IdentityProviderID string
	// ProtocolID is the federated protocol (v4-v6), a bare string.
	ProtocolID string
	// AccessTokenID is the OAuth1 access token (v7).
	AccessTokenID string
	// AppCredID is the application credential (v9).
	AppCredID string
	// Thumbprint is the OAuth2 mTLS certificate thumbprint (v10).
	Thumbprint string
	// ExpiresAt is the expiry with the microsecond precision Python's
	// datetime.fromtimestamp gives the packed float. Python renders and
	// compares it at whole seconds: use Expiry and FormatTime for that;
	// keep ExpiresAt as is to re-encode the same float.
	ExpiresAt time.Time
	// AuditIDs are the 22-character audit ids: [own] or [own, parent]
	// (docs/python-compat.md §1.3).
	AuditIDs []string
}

// Expiry is ExpiresAt with the microseconds dropped: the instant Python
// validates against, because it re-parses the rendered expires_at string
// (keystone/common/utils.py isotime(subsecond=True) zeroes microseconds).
func (p *Payload) Expiry() time.Time { return p.ExpiresAt.Truncate(time.Second) }

// AuditChainID is the audit id of the original token: the last audit id
// (keystone/models/token_model.py parent_audit_id / audit_chain_id).
func (p *Payload) AuditChainID() string {
	if len(p.AuditIDs) == 0 {
		return ""
	}
	return p.AuditIDs[len(p.AuditIDs)-1]
}

// FormatTime renders t the way keystone renders issued_at and expires_at:
// UTC, "YYYY-MM-DDTHH:MM:SS.000000Z", microseconds always zero
// (keystone/common/utils.py isotime(at, subsecond=True)).
func FormatTime(t time.Time) string {
	// ".000000" is a fractional-second verb in Go layouts: truncate first.
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05.000000Z")
}

// DefaultMethods is keystone's default [auth] methods
// (keystone/conf/constants.py), used when Codec.Methods is nil.
var DefaultMethods = []string{"external", "password", "token", "oauth1", "mapped", "application_credential"}

// DefaultDomainID is keystone's default [identity] default_domain_id.
const DefaultDomainID = "default"

// Codec encodes and decodes payloads for one keystone configuration. The
// zero value uses keystone's defaults.
type Codec struct {
	// Methods is [auth] methods in configured order: it defines the
	// method bitmask (docs/python-compat.md §1.4). nil means DefaultMethods.
	Methods []string
	// DefaultDomainID is [identity] default_domain_id, the only non-UUID
	// domain id a v1 payload may carry. Empty means "default".
	DefaultDomainID string
	// LegacyMethodMap drops the fixed ec2credential (1<<32) and
	// oauth2_credential (1<<33) method bits, for a Python keystone without
	// the CVE-2026-80182 fix (see methodAt).
	LegacyMethodMap bool
}

func (c *Codec) methods() []string {
	if c.Methods == nil {
		return DefaultMethods
	}
	return c.Methods
}

func (c *Codec) defaultDomain() string {
	if c.DefaultDomainID == "" {
		return DefaultDomainID
	}
	return c.DefaultDomainID
}

// Pseudo method bits outside [auth] methods: keystone's fix for
// CVE-2026-80182/80184 (shipped by Debian in 22.0.2-0+deb12u4 and later,
// keystone/auth/plugins/core.py _PSEUDO_METHOD_BITS) gives the delegated
// methods fixed bits, added after the configured ones (so they win a clash).
const (
	bitEC2Credential    = 32 // 1 << 32: "ec2credential"
	bitOAuth2Credential = 33 // 1 << 33: "oauth2_credential"
)

// methodAt returns the method name mapped to bit i (1 << i), if any:
// construct_method_map_from_config.
func (c *Codec) methodAt(i int) (string, bool) {
	if !c.LegacyMethodMap {
		switch i {
		case bitEC2Credential:
			return "ec2credential", true
		case bitOAuth2Credential:
			return "oauth2_credential", true
		}
	}
	if conf := c.methods(); i < len(conf) {
		return conf[i], true
	}
	return "", false
}

// topBit is one past the highest mapped bit (at most 63: more than 63
// configured methods are not supported).
func (c *Codec) topBit() int {
	n := len(c.methods())
	if !c.LegacyMethodMap {
		n = max(n, bitOAuth2Credential+1)
	}
	return min(n, 63)
}

// MethodsToInt is keystone/auth/plugins/core.py
// convert_method_list_to_integer: the sum, over the names given
// (duplicates included), of every bit mapped to that name; unknown names
// add nothing.
func (c *Codec) MethodsToInt(methods []string) int64 {
	top := c.topBit()
	var sum int64
	for _, m := range methods {
		for i := 0; i < top; i++ {
			if name, ok := c.methodAt(i); ok && name == m {
				sum += int64(1) << i
			}
		}
	}
	return sum
}

// IntToMethods is convert_integer_to_method_list: walk the mapped bits
// from high to low; when int(v / bit) == 1, emit the name and subtract the
// bit (see appendMethods). A set bit that maps to no method makes every lower quotient >= 2, so
// such values (and negative ones) decode to no method at all, as in Python.
// The result is never nil (JSON renders it as []).
func (c *Codec) IntToMethods(v int64) []string {
	var buf [8]string
	out := c.appendMethods(buf[:0], v)
	return append(make([]string, 0, len(out)), out...)
}

// appendMethods is IntToMethods appending to dst. For v >= 0,
// int(v / 2**i) == 1 exactly when i is v's highest set bit, so Python's
// walk amounts to: take the highest set bit; if it is mapped, emit it and
// clear it; if not, every lower quotient is >= 2 and nothing more matches.
// Negative values never give a quotient of 1.
func (c *Codec) appendMethods(dst []string, v int64) []string {
	top := c.topBit()
	for v > 0 {
		i := bits.Len64(uint64(v)) - 1
		if i >= top {
			break
		}
		name, ok := c.methodAt(i)
		if !ok {
			break
		}
		dst = append(dst, name)
		v &^= int64(1) << i
	}
	return dst
}

// ErrMalformed is matched (errors.Is) by every decoding error: truncated
// or trailing bytes, wrong array lengths, wrong msgpack types, invalid ids.
// Python raises ValidationError or an unpacking error for these; callers
// answer 404 like for any unrecognisable token.
var ErrMalformed = errors.New("payload: malformed token payload")

// ErrUnknownVersion is matched by the error for a version other than 0..10
// ("This is not a recognized Fernet payload version").
var ErrUnknownVersion = errors.New("payload: unknown payload version")

// ErrInvalid is matched by every encoding error: a value Python's
// assemble() would refuse (non-UUID trust id, non-UUID non-default v1
// domain, undecodable audit id, invalid UTF-8, unknown version).
var ErrInvalid = errors.New("payload: cannot encode payload")

// DecodeError describes where and why decoding failed. It wraps
// ErrMalformed or ErrUnknownVersion.
type DecodeError struct {
	Offset int    // byte offset in the plaintext
	Reason string // fixed text, no token data
	kind   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d", e.kind, e.Reason, e.Offset)
}

func (e *DecodeError) Unwrap() error { return e.kind }
