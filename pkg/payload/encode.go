package payload

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/keystone-ng/keystone-ng/pkg/fernet"
)

// writer appends msgpack exactly as msgpack-python >= 1.0 packs keystone's
// tuples (Packer with use_bin_type=True): minimal integers, float64 always,
// str8 allowed, bytes as bin, tuples as arrays (docs/python-compat.md §1.3).
type writer struct {
	b   []byte
	err error
}

func (w *writer) failf(format string, a ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
}

func (w *writer) arrayHeader(n int) {
	switch {
	case n <= 0x0f:
		w.b = append(w.b, 0x90|byte(n))
	case n <= 0xffff:
		w.b = append(w.b, 0xdc, byte(n>>8), byte(n))
	default:
		w.b = append(w.b, 0xdd)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	}
}

func (w *writer) int(v int64) {
	switch {
	case v >= 0 && v <= 0x7f:
		w.b = append(w.b, byte(v))
	case v >= 0 && v <= 0xff:
		w.b = append(w.b, 0xcc, byte(v))
	case v >= 0 && v <= 0xffff:
		w.b = append(w.b, 0xcd, byte(v>>8), byte(v))
	case v >= 0 && v <= 0xffffffff:
		w.b = append(w.b, 0xce)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
	case v >= 0:
		w.b = append(w.b, 0xcf)
		w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
	case v >= -32:
		w.b = append(w.b, byte(int8(v)))
	case v >= math.MinInt8:
		w.b = append(w.b, 0xd0, byte(int8(v)))
	case v >= math.MinInt16:
		w.b = append(w.b, 0xd1)
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(int16(v)))
	case v >= math.MinInt32:
		w.b = append(w.b, 0xd2)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(int32(v)))
	default:
		w.b = append(w.b, 0xd3)
		w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
	}
}

func (w *writer) str(s string) {
	if !utf8.ValidString(s) {
		w.failf("invalid UTF-8 in %q", s)
		return
	}
	n := len(s)
	switch {
	case n <= 31:
		w.b = append(w.b, 0xa0|byte(n))
	case n <= 0xff:
		w.b = append(w.b, 0xd9, byte(n))
	case n <= 0xffff:
		w.b = append(w.b, 0xda, byte(n>>8), byte(n))
	default:
		w.b = append(w.b, 0xdb)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	}
	w.b = append(w.b, s...)
}

func (w *writer) bin(b []byte) {
	n := len(b)
	switch {
	case n <= 0xff:
		w.b = append(w.b, 0xc4, byte(n))
	case n <= 0xffff:
		w.b = append(w.b, 0xc5, byte(n>>8), byte(n))
	default:
		w.b = append(w.b, 0xc6)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	}
	w.b = append(w.b, b...)
}

// optStr packs a bare string field, "" as None.
func (w *writer) optStr(s string) {
	if s == "" {
		w.b = append(w.b, 0xc0)
		return
	}
	w.str(s)
}

// maybeUUID is attempt_convert_uuid_hex_to_bytes: [true, 16 bytes] when
// Python's uuid.UUID(s) accepts s, else [false, s]; "" is None.
func (w *writer) maybeUUID(s string) {
	if s == "" {
		w.b = append(w.b, 0x92, 0xc2, 0xc0)
		return
	}
	if u, ok := parsePyUUID(s); ok {
		w.b = append(w.b, 0x92, 0xc3)
		w.bin(u[:])
		return
	}
	w.b = append(w.b, 0x92, 0xc2)
	w.str(s)
}

// expiry is _convert_time_string_to_float: (t - epoch).total_seconds(),
// i.e. whole microseconds divided by 10**6, correctly rounded (Go's float64
// division of two exactly representable values rounds the same way).
func (w *writer) expiry(t time.Time) {
	if t.IsZero() {
		w.failf("expires_at is not set")
		return
	}
	us := t.UnixMicro()
	f := float64(us) / 1e6
	w.b = append(w.b, 0xcb)
	w.b = binary.BigEndian.AppendUint64(w.b, math.Float64bits(f))
}

// auditIDs is random_urlsafe_str_to_bytes on each id:
// base64.urlsafe_b64decode(s + '==') with Python's lenient decoder.
func (w *writer) auditIDs(ids []string) {
	w.arrayHeader(len(ids))
	for _, id := range ids {
		if len(id) == 22 {
			var raw [16]byte
			if n, err := rawURL.Decode(raw[:], []byte(id)); err == nil && n == 16 {
				w.bin(raw[:])
				continue
			}
		}
		for i := 0; i < len(id); i++ {
			if id[i] >= 0x80 {
				// urlsafe_b64decode(str) requires ASCII
				w.failf("audit id %q is not ASCII", id)
				return
			}
		}
		raw, err := fernet.DecodeURLSafeBase64(id + "==")
		if err != nil {
			w.failf("audit id %q is not base64", id)
			return
		}
		w.bin(raw)
	}
}

// Encode packs p as keystone's create_token does for payload class
// p.Version (msgpack.packb((version,) + payload_class.assemble(...)),
// docs/python-compat.md §1.5); the result is byte-identical to Python's for the same values.
// The v1 domain must be a UUID or the default domain and the v3 trust id a
// UUID, as in Python (which would fail with HTTP 500). Errors match
// ErrInvalid.
func (c *Codec) Encode(p *Payload) ([]byte, error) {
	if p.Version < 0 || p.Version >= len(arity) {
		return nil, fmt.Errorf("%w: unknown version %d", ErrInvalid, p.Version)
	}
	w := writer{b: make([]byte, 0, 128)}
	w.arrayHeader(arity[p.Version])
	w.int(int64(p.Version))
	w.maybeUUID(p.UserID)
	w.int(c.MethodsToInt(p.Methods))
	switch p.Version {
	case VersionDomainScoped:
		if u, ok := parsePyUUID(p.DomainID); ok {
			w.bin(u[:])
		} else if p.DomainID == c.defaultDomain() {
			w.str(p.DomainID)
		} else {
			w.failf("domain id %q is neither a UUID nor the default domain", p.DomainID)
		}
	case VersionProjectScoped, VersionTrustScoped, VersionAppCredScoped:
		w.maybeUUID(p.ProjectID)
	case VersionFederatedUnscoped, VersionFederatedProject, VersionFederatedDomain:
		if p.Version != VersionFederatedUnscoped {
			scope := p.ProjectID // Python: project_id or domain_id
			if scope == "" {
				scope = p.DomainID
			}
			w.maybeUUID(scope)
		}
		w.arrayHeader(len(p.FederatedGroupIDs))
		for _, g := range p.FederatedGroupIDs {
			w.maybeUUID(g)
		}
		w.maybeUUID(p.IdentityProviderID)
		w.optStr(p.ProtocolID)
	case VersionOAuth1Scoped:
		w.maybeUUID(p.ProjectID)
		w.maybeUUID(p.AccessTokenID)
	case VersionSystemScoped:
		w.optStr(p.System)
	case VersionOAuth2CredentialScope:
		w.maybeUUID(p.ProjectID)
		w.maybeUUID(p.DomainID)
	}
	w.expiry(p.ExpiresAt)
	w.auditIDs(p.AuditIDs)
	switch p.Version {
	case VersionTrustScoped:
		u, ok := parsePyUUID(p.TrustID)
		if !ok {
			w.failf("trust id %q is not a UUID", p.TrustID)
		}
		w.bin(u[:])
	case VersionAppCredScoped:
		w.maybeUUID(p.AppCredID)
	case VersionOAuth2CredentialScope:
		// (False, thumbprint) always, never converted
		w.b = append(w.b, 0x92, 0xc2)
		w.optStr(p.Thumbprint)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

var rawURL = base64.RawURLEncoding.Strict()
