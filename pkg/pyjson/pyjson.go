// Package pyjson writes JSON exactly as Python's json.dumps does with its
// default arguments, which is what Keystone's oslo_serialization.jsonutils
// emits: ", " and ": " separators, ensure_ascii (every non-ASCII rune as a
// \uXXXX escape, astral runes as surrogate pairs) and no HTML escaping.
// Keystone's responses are dicts rendered in insertion order, so callers build
// an ordered Object rather than a Go map.
package pyjson

import (
	"strconv"
	"unicode/utf8"
)

// Value is anything Marshal understands: nil, bool, string, int, int64,
// float64, Object, []Value, []string and RawJSON.
type Value = any

// Member is one key of an Object.
type Member struct {
	Key   string
	Value Value
}

// Object is a JSON object whose keys keep the order they were added in,
// like a Python 3.7+ dict.
type Object []Member

// Set appends key (or replaces its value if present, keeping its position,
// as assigning to an existing Python dict key does).
func (o *Object) Set(key string, v Value) {
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = v
			return
		}
	}
	*o = append(*o, Member{Key: key, Value: v})
}

// Get returns the value of key.
func (o Object) Get(key string) (Value, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// Delete removes key if present.
func (o *Object) Delete(key string) {
	for i := range *o {
		if (*o)[i].Key == key {
			*o = append((*o)[:i], (*o)[i+1:]...)
			return
		}
	}
}

// RawJSON is emitted verbatim; it must already be valid JSON in Python's
// format.
type RawJSON []byte

// Marshal renders v. It never fails on the types listed for Value; an
// unknown type is rendered as null so a programming error cannot produce
// invalid JSON.
func Marshal(v Value) []byte {
	return Append(make([]byte, 0, 1024), v)
}

// Append renders v onto b.
func Append(b []byte, v Value) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return AppendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return appendFloat(b, x)
	case RawJSON:
		return append(b, x...)
	case Object:
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = AppendString(b, m.Key)
			b = append(b, ": "...)
			b = Append(b, m.Value)
		}
		return append(b, '}')
	case *Object:
		if x == nil {
			return append(b, "null"...)
		}
		return Append(b, *x)
	case []Value:
		return appendList(b, x, Append)
	case []Object:
		return appendList(b, x, func(b []byte, o Object) []byte { return Append(b, o) })
	case []string:
		return appendList(b, x, AppendString)
	default:
		return append(b, "null"...)
	}
}

func appendList[T any](b []byte, list []T, each func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = each(b, e)
	}
	return append(b, ']')
}

// appendFloat follows Python's float repr for the finite values Keystone
// emits (it never emits NaN or infinities in token bodies).
func appendFloat(b []byte, f float64) []byte {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	// Python prints integral floats with ".0" and uses "e+XX" exponents.
	if f == float64(int64(f)) && len(s) < 17 {
		return append(append(b, s...), ".0"...)
	}
	return append(b, s...)
}

const hexDigits = "0123456789abcdef"

// AppendString writes s as Python's json.dumps(ensure_ascii=True) does.
// Invalid UTF-8 bytes are written as U+FFFD, the same as Go's decoder
// would have read them.
//
// Nearly every string of a token body (ids, names, URLs, times) is
// printable ASCII without quotes or backslashes, so runs of such bytes are
// copied at once. Appending byte by byte was the largest single cost of
// a validation in memory (15% of BenchmarkValidateInMemory's
// instructions); copying runs takes it from about 214 to 161 instructions
// per string, 58 strings per validation (callgrind, docs/performance.md).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	run := 0 // start of the bytes not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[run:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = appendU(b, rune(c))
			}
			i++
			run = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		run = i
		if r >= 0x10000 {
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
			continue
		}
		b = appendU(b, r)
	}
	b = append(b, s[run:]...)
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
