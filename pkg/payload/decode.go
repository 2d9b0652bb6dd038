package payload

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"
	"unicode/utf8"
	"unsafe"
)

// reader walks a msgpack buffer. Every read checks bounds: a lying length
// yields an error, never a panic or a large allocation.
type reader struct {
	b   []byte
	off int
	err *DecodeError
	// arena holds the bytes of every string of the payload: one
	// allocation instead of one per id. Its capacity (2*len(b)) bounds
	// what can be appended (hex doubles, base64 grows by 4/3, text is
	// copied), so it never moves and the strings stay valid.
	arena []byte
	// Legacy (msgpack < 1.0) payloads carry bytes as msgpack str. keystone
	// unpacks with raw=False first and retries with raw=True only on a
	// UnicodeDecodeError, so a str where bytes are required works only if
	// some str in the payload is invalid UTF-8 (vectors.json
	// raw_v0_all_bytes_valid_utf8 shows the failing case).
	strAsBytes bool // a str-typed value sat where bytes are required
	strInvalid bool // some str-typed value is invalid UTF-8
}

func (r *reader) fail(reason string) {
	if r.err == nil {
		r.err = &DecodeError{Offset: r.off, Reason: reason, kind: ErrMalformed}
	}
}

func (r *reader) next() (byte, bool) {
	if r.err != nil || r.off >= len(r.b) {
		r.fail("truncated")
		return 0, false
	}
	c := r.b[r.off]
	r.off++
	return c, true
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("length beyond end of data")
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) uint(n int) uint64 {
	s := r.take(n)
	switch len(s) {
	case 1:
		return uint64(s[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(s))
	case 4:
		return uint64(binary.BigEndian.Uint32(s))
	case 8:
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

// arrayLen reads an array header.
func (r *reader) arrayLen() int {
	c, ok := r.next()
	if !ok {
		return -1
	}
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(r.uint(2))
	case c == 0xdd:
		return int(r.uint(4))
	}
	r.off--
	r.fail("expected an array")
	return -1
}

func (r *reader) expectArray(n int, what string) bool {
	if l := r.arrayLen(); l != n {
		if r.err == nil {
			r.fail(what)
		}
		return false
	}
	return true
}

// int reads any msgpack integer. big reports a uint64 above MaxInt64.
func (r *reader) int() (v int64, big bool, ok bool) {
	c, ok := r.next()
	if !ok {
		return 0, false, false
	}
	switch {
	case c <= 0x7f:
		return int64(c), false, true
	case c >= 0xe0:
		return int64(int8(c)), false, true
	case c == 0xcc:
		return int64(r.uint(1)), false, r.err == nil
	case c == 0xcd:
		return int64(r.uint(2)), false, r.err == nil
	case c == 0xce:
		return int64(r.uint(4)), false, r.err == nil
	case c == 0xcf:
		u := r.uint(8)
		if u > math.MaxInt64 {
			return 0, true, r.err == nil
		}
		return int64(u), false, r.err == nil
	case c == 0xd0:
		return int64(int8(r.uint(1))), false, r.err == nil
	case c == 0xd1:
		return int64(int16(r.uint(2))), false, r.err == nil
	case c == 0xd2:
		return int64(int32(r.uint(4))), false, r.err == nil
	case c == 0xd3:
		return int64(r.uint(8)), false, r.err == nil
	}
	r.off--
	r.fail("expected an integer")
	return 0, false, false
}

// bytes reads a str or bin value: keystone accepts both for every field
// (msgpack < 1.0 packed bytes as raw/str, docs/python-compat.md §1.3). isNil reports nil.
func (r *reader) bytes(allowNil bool) (b []byte, isNil bool) {
	b, _, isNil = r.value(allowNil)
	return b, isNil
}

// rawBytes reads a value Python needs as bytes (UUID bytes, audit ids).
func (r *reader) rawBytes() []byte {
	b, isStr, _ := r.value(false)
	if isStr {
		r.strAsBytes = true
		if !utf8.Valid(b) {
			r.strInvalid = true
		}
	}
	return b
}

func (r *reader) value(allowNil bool) (b []byte, isStr, isNil bool) {
	c, ok := r.next()
	if !ok {
		return nil, false, false
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n, isStr = int(c&0x1f), true
	case c == 0xd9:
		n, isStr = int(r.uint(1)), true
	case c == 0xda:
		n, isStr = int(r.uint(2)), true
	case c == 0xdb:
		n, isStr = int(r.uint(4)), true
	case c == 0xc4:
		n = int(r.uint(1))
	case c == 0xc5:
		n = int(r.uint(2))
	case c == 0xc6:
		n = int(r.uint(4))
	case c == 0xc0 && allowNil:
		return nil, false, true
	default:
		r.off--
		r.fail("expected str or bin")
		return nil, false, false
	}
	return r.take(n), isStr, false
}

// str copies b into the arena and returns it as a string.
func (r *reader) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	return unsafe.String(&r.arena[start], len(b))
}

// hexStr appends the lowercase hex of b to the arena as a string.
func (r *reader) hexStr(b []byte) string {
	start := len(r.arena)
	r.arena = hex.AppendEncode(r.arena, b)
	return unsafe.String(&r.arena[start], len(r.arena)-start)
}

// b64Str appends the URL-safe unpadded base64 of b to the arena.
func (r *reader) b64Str(b []byte) string {
	start := len(r.arena)
	r.arena = base64.RawURLEncoding.AppendEncode(r.arena, b)
	if len(r.arena) == start {
		return ""
	}
	return unsafe.String(&r.arena[start], len(r.arena)-start)
}

// text reads a str/bin (or nil) that Python decodes as UTF-8.
func (r *reader) text(allowNil bool) string {
	b, _ := r.bytes(allowNil)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.fail("invalid UTF-8")
		return ""
	}
	return r.str(b)
}

// uuidHex reads 16 raw bytes and returns uuid.UUID(bytes=...).hex.
func (r *reader) uuidHex() string {
	b := r.rawBytes()
	if r.err != nil {
		return ""
	}
	if len(b) != 16 {
		r.fail("expected 16 UUID bytes")
		return ""
	}
	return r.hexStr(b)
}

// maybeUUID reads keystone's [is_bytes, value] pair (_convert_or_decode):
// true -> 16 bytes rendered as lowercase hex; false -> the text, or "" for
// None. The flag is tested for Python truthiness (`if is_stored_as_bytes`),
// so nil, numbers, str and bin flags work as they do in Python.
func (r *reader) maybeUUID() string {
	if !r.expectArray(2, "expected [bool, id]") {
		return ""
	}
	if r.truthy() {
		return r.uuidHex()
	}
	if r.err != nil {
		return ""
	}
	return r.text(true)
}

// truthy reads any value and returns its Python truth value.
func (r *reader) truthy() bool { return r.skip(0) }

// maxDepth bounds the nesting skip follows (msgpack-python has its own
// limit; keystone never nests beyond 3).
const maxDepth = 32

// skip reads one value of any supported type and returns its Python truth
// value: nil/False/0/empty are false. Maps need str or bin keys
// (msgpack-python's strict_map_key); ext types are refused.
func (r *reader) skip(depth int) bool {
	if depth > maxDepth {
		r.fail("nested too deep")
		return false
	}
	c, ok := r.next()
	if !ok {
		return false
	}
	switch {
	case c == 0xc3:
		return true
	case c == 0xc2 || c == 0xc0:
		return false
	case c == 0xcb:
		return math.Float64frombits(r.uint(8)) != 0
	case c == 0xca:
		return math.Float32frombits(uint32(r.uint(4))) != 0
	case c&0xe0 == 0xa0 || (c >= 0xc4 && c <= 0xc6) || (c >= 0xd9 && c <= 0xdb):
		r.off--
		b, _ := r.bytes(false)
		return len(b) > 0
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		r.off--
		n := r.arrayLen()
		for i := 0; i < n && r.err == nil; i++ {
			r.skip(depth + 1)
		}
		return n > 0
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		var n int
		switch c {
		case 0xde:
			n = int(r.uint(2))
		case 0xdf:
			n = int(r.uint(4))
		default:
			n = int(c & 0x0f)
		}
		for i := 0; i < n && r.err == nil; i++ {
			r.bytes(false) // key
			r.skip(depth + 1)
		}
		return n > 0
	}
	r.off--
	v, big, ok := r.int()
	if !ok {
		r.err = nil
		r.fail("unsupported msgpack type")
		return false
	}
	return big || v != 0
}

// Python's datetime range (years 1..9999) in Unix seconds.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// expiry reads the expires_at number and converts it like
// datetime.datetime.fromtimestamp(f, timezone.utc) (token_formatters.py
// _convert_float_to_time_string): split with modf, round the fraction to
// microseconds half-to-even, carry (CPython _PyTime_DoubleToDenominator).
// Integers are accepted as Python accepts them.
func (r *reader) expiry() time.Time {
	c, ok := r.next()
	if !ok {
		return time.Time{}
	}
	var f float64
	switch c {
	case 0xcb:
		f = math.Float64frombits(r.uint(8))
	case 0xca:
		f = float64(math.Float32frombits(uint32(r.uint(4))))
	default:
		r.off--
		v, big, ok := r.int()
		if !ok || big || v < minUnix || v > maxUnix {
			r.fail("expected a timestamp")
			return time.Time{}
		}
		return time.Unix(v, 0).UTC()
	}
	if r.err != nil {
		return time.Time{}
	}
	t, ok := timeFromFloat(f)
	if !ok {
		r.fail("timestamp out of range")
	}
	return t
}

func timeFromFloat(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < minUnix-1 || f > maxUnix+1 {
		return time.Time{}, false
	}
	ip, fp := math.Modf(f)
	us := math.RoundToEven(fp * 1e6)
	if us >= 1e6 {
		us -= 1e6
		ip++
	} else if us < 0 {
		us += 1e6
		ip--
	}
	sec := int64(ip)
	if sec < minUnix || sec > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(us)*1000).UTC(), true
}

// auditIDs reads the array of audit id bytes and renders each as URL-safe
// base64 without padding (token_formatters.py base64_encode).
func (r *reader) auditIDs(ids []string) []string {
	n := r.arrayLen()
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("array length beyond end of data")
		return nil
	}
	if n > cap(ids) {
		ids = make([]string, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		b := r.rawBytes()
		if r.err != nil {
			break
		}
		ids = append(ids, r.b64Str(b))
	}
	return ids
}

func (r *reader) methods(c *Codec, dst []string) []string {
	c0, ok := r.next()
	if !ok {
		return dst
	}
	switch c0 {
	case 0xc2, 0xc3: // Python: False == 0, True == 1
		return c.appendMethods(dst, int64(c0-0xc2))
	case 0xcb, 0xca:
		var f float64
		if c0 == 0xcb {
			f = math.Float64frombits(r.uint(8))
		} else {
			f = float64(math.Float32frombits(uint32(r.uint(4))))
		}
		return c.appendMethodsFloat(r, dst, f)
	}
	r.off--
	v, big, ok := r.int()
	if !ok || big {
		return dst // big: every quotient >= 2, no method
	}
	return c.appendMethods(dst, v)
}

// appendMethodsFloat is convert_integer_to_method_list given a float (a
// payload keystone never writes, but decodes): int(f / bit) == 1 with float
// arithmetic; NaN and infinities make int() raise.
func (c *Codec) appendMethodsFloat(r *reader, dst []string, f float64) []string {
	if f == 0 {
		return dst
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail("methods is not a finite number")
		return dst
	}
	for i := c.topBit() - 1; i >= 0; i-- {
		name, ok := c.methodAt(i)
		if !ok {
			continue
		}
		bit := float64(int64(1) << i)
		if math.Trunc(f/bit) == 1 {
			dst = append(dst, name)
			f -= bit
		}
	}
	return dst
}

// decoded is a Payload with room for the usual lists, allocated at once.
type decoded struct {
	p       Payload
	methods [4]string
	audit   [2]string
}

// version reads the version. Python compares the first element with
// 0..10 using ==, so False, True and integral floats count as well.
func (r *reader) version() (int64, bool, bool) {
	if r.off < len(r.b) {
		switch c := r.b[r.off]; c {
		case 0xc2, 0xc3:
			r.off++
			return int64(c - 0xc2), false, true
		case 0xca, 0xcb:
			r.off++
			var f float64
			if c == 0xcb {
				f = math.Float64frombits(r.uint(8))
			} else {
				f = float64(math.Float32frombits(uint32(r.uint(4))))
			}
			if r.err != nil || f != math.Trunc(f) || f < 0 || f > 10 {
				return 0, false, false
			}
			return int64(f), false, true
		}
	}
	return r.int()
}

// arity is the number of array elements (version included) per version.
var arity = [...]int{5, 6, 6, 7, 8, 9, 9, 7, 6, 7, 8}

// Decode parses a token payload (TokenFormatter.validate_token and the
// payload classes' disassemble, docs/python-compat.md §1.5) and accepts what keystone
// accepts: str or bin for every field, legacy str-typed bytes only when
// keystone's raw=True retry would happen, Python truthiness for the
// [flag, id] pair, bool/float versions and methods, int or float expiry.
// Differences, all on payloads only a key holder can forge: Go requires
// each version's exact number of fields (Python ignores extra elements),
// refuses maps where Python would iterate a dict's keys, and refuses
// non-text ids that Python would pass on as ints or lists. Trailing bytes
// after the array are an error as in msgpack.unpackb (ExtraData). Checked
// against keystone itself by TestPythonVectorsDecode and, on mutated
// payloads, by the opt-in TestPythonDifferential. Errors match
// ErrMalformed or ErrUnknownVersion; Decode never panics (FuzzDecode).
func (c *Codec) Decode(plaintext []byte) (*Payload, error) {
	r := reader{b: plaintext}
	n := r.arrayLen()
	if r.err != nil {
		return nil, r.err
	}
	if n < 1 {
		r.fail("empty array")
		return nil, r.err
	}
	ver, big, ok := r.version()
	if !ok {
		// Python compares any first element with 0..10 and reports an
		// unrecognised version (vectors.json hand_receipt_shape).
		return nil, &DecodeError{Offset: 1, Reason: "version is not an integer", kind: ErrUnknownVersion}
	}
	if big || ver < 0 || ver >= int64(len(arity)) {
		return nil, &DecodeError{Offset: 1, Reason: "version not 0..10", kind: ErrUnknownVersion}
	}
	if n != arity[ver] {
		r.fail("wrong number of fields for the version")
		return nil, r.err
	}
	r.arena = make([]byte, 0, 2*len(plaintext))
	d := &decoded{}
	p := &d.p
	p.Version = int(ver)
	p.UserID = r.maybeUUID()
	p.Methods = r.methods(c, d.methods[:0:len(d.methods)])
	switch ver {
	case VersionUnscoped:
	case VersionDomainScoped:
		// bare 16 bytes, or the default domain id as text
		b, isStr, _ := r.value(false)
		if r.err != nil {
			break
		}
		if len(b) == 16 {
			if isStr {
				r.strAsBytes = true
				r.strInvalid = r.strInvalid || !utf8.Valid(b)
			}
			p.DomainID = r.hexStr(b)
		} else if string(b) == c.defaultDomain() {
			p.DomainID = c.defaultDomain()
		} else {
			r.fail("domain id neither UUID bytes nor the default domain")
		}
	case VersionProjectScoped, VersionTrustScoped, VersionAppCredScoped:
		p.ProjectID = r.maybeUUID()
	case VersionFederatedUnscoped, VersionFederatedProject, VersionFederatedDomain:
		p.Federated = true
		if ver != VersionFederatedUnscoped {
			scope := r.maybeUUID()
			if ver == VersionFederatedProject {
				p.ProjectID = scope
			} else {
				p.DomainID = scope
			}
		}
		g := r.arrayLen()
		if r.err != nil {
			break
		}
		if g > len(r.b)-r.off {
			r.fail("array length beyond end of data")
			break
		}
		p.FederatedGroupIDs = make([]string, 0, g)
		for i := 0; i < g && r.err == nil; i++ {
			p.FederatedGroupIDs = append(p.FederatedGroupIDs, r.maybeUUID())
		}
		p.IdentityProviderID = r.maybeUUID()
		p.ProtocolID = r.text(true)
	case VersionOAuth1Scoped:
		p.ProjectID = r.maybeUUID()
		p.AccessTokenID = r.maybeUUID()
	case VersionSystemScoped:
		// Queens packed the system scope as True; from Rocky on it is
		// the string "all" (docs/python-compat.md §1.5).
		if r.off < len(r.b) && r.b[r.off] == 0xc3 {
			r.off++
			p.System, p.SystemPackedTrue = "all", true
		} else {
			p.System = r.text(true)
		}
	case VersionOAuth2CredentialScope:
		p.ProjectID = r.maybeUUID()
		p.DomainID = r.maybeUUID()
	}
	p.ExpiresAt = r.expiry()
	p.AuditIDs = r.auditIDs(d.audit[:0:len(d.audit)])
	switch ver {
	case VersionTrustScoped:
		p.TrustID = r.uuidHex()
	case VersionAppCredScoped:
		p.AppCredID = r.maybeUUID()
	case VersionOAuth2CredentialScope:
		p.Thumbprint = r.maybeUUID()
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(r.b) {
		r.fail("extra data after the payload")
		return nil, r.err
	}
	if r.strAsBytes && !r.strInvalid {
		r.fail("str where bytes are required in a payload that unpacks as text")
		return nil, r.err
	}
	return p, nil
}
