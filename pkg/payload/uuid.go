package payload

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// parsePyUUID reports whether CPython's uuid.UUID(s) accepts s, and its 16
// bytes. keystone's attempt_convert_uuid_hex_to_bytes packs an id as
// [true, bytes] exactly when this succeeds, so the rules are replicated
// rather than "fixed" (docs/python-compat.md §1.3; CPython 3.11 Lib/uuid.py UUID.__init__):
//
//	hex = hex.replace('urn:', '').replace('uuid:', '')
//	hex = hex.strip('{}').replace('-', '')
//	if len(hex) != 32: raise ValueError   # code points, not bytes
//	int = int_(hex, 16)                    # whitespace, sign, 0x, _ ...
//	if not 0 <= int < 1<<128: raise ValueError
func parsePyUUID(s string) ([16]byte, bool) {
	var out [16]byte
	// Fast path: the 32 lowercase hex digits keystone generates.
	if len(s) == 32 {
		ok := true
		for i := 0; i < 32; i += 2 {
			h, l := hexVal(s[i]), hexVal(s[i+1])
			if h > 15 || l > 15 {
				ok = false
				break
			}
			out[i/2] = h<<4 | l
		}
		if ok {
			return out, true
		}
	}
	if !utf8.ValidString(s) {
		return out, false // a Python str is always valid text
	}
	h := strings.ReplaceAll(s, "urn:", "")
	h = strings.ReplaceAll(h, "uuid:", "")
	h = strings.Trim(h, "{}")
	h = strings.ReplaceAll(h, "-", "")
	if utf8.RuneCountInString(h) != 32 {
		return out, false
	}
	return pyIntHex128(h)
}

func hexVal(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0xff
}

// pyIntHex128 is int(s, 16) followed by the 0 <= v < 2**128 check, for a
// string of 32 code points (so at most 32 digits: the upper bound always
// holds). CPython (Objects/longobject.c PyLong_FromUnicodeObject) first maps
// non-ASCII whitespace to ' ' and non-ASCII decimal digits (category Nd) to
// '0'-'9', then accepts: ASCII whitespace, one sign, an optional "0x"/"0X"
// prefix optionally followed by one '_', digits with single '_' between
// them, ASCII whitespace.
func pyIntHex128(s string) ([16]byte, bool) {
	var out [16]byte
	b := make([]byte, 0, 64)
	for _, r := range s {
		switch {
		case r < 127:
			b = append(b, byte(r))
		case unicode.IsSpace(r):
			b = append(b, ' ')
		case unicode.IsDigit(r):
			b = append(b, '0'+byte(digitValue(r)))
		default:
			return out, false
		}
	}
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	if i+1 < len(b) && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X') {
		i += 2
		if i < len(b) && b[i] == '_' {
			i++
		}
	}
	var digits []byte
	prevUnderscore := true // no leading '_' (after the prefix's own one)
	for i < len(b) {
		c := b[i]
		if c == '_' {
			if prevUnderscore {
				return out, false
			}
			prevUnderscore = true
			i++
			continue
		}
		v := hexVal(c)
		if v > 15 {
			break
		}
		digits = append(digits, v)
		prevUnderscore = false
		i++
	}
	if len(digits) == 0 || (prevUnderscore && i > 0 && b[i-1] == '_') {
		return out, false
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i != len(b) {
		return out, false
	}
	nonzero := false
	for _, d := range digits {
		if d != 0 {
			nonzero = true
		}
	}
	if neg && nonzero {
		return out, false // negative: "int is out of range"
	}
	// digits <= 32, right-aligned into 16 bytes
	for j := 0; j < len(digits); j++ {
		pos := 32 - len(digits) + j
		if pos%2 == 0 {
			out[pos/2] |= digits[j] << 4
		} else {
			out[pos/2] |= digits[j]
		}
	}
	return out, true
}

// digitValue returns the value of a Unicode decimal digit. Nd characters
// come in contiguous runs of whole 0-9 sequences, so the offset from the
// start of its run, modulo 10, is the value.
func digitValue(r rune) int {
	start := r
	for start > 0 && unicode.IsDigit(start-1) {
		start--
	}
	return int(r-start) % 10
}
