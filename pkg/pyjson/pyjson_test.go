package pyjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestMarshalMatchesPython(t *testing.T) {
	// Expected strings are what CPython 3.11's json.dumps prints for the
	// same values.
	tests := []struct {
		name string
		in   Value
		want string
	}{
		{"null", nil, `null`},
		{"bools", []Value{true, false}, `[true, false]`},
		{"ordered object", Object{{"b", 1}, {"a", "x"}}, `{"b": 1, "a": "x"}`},
		{"empty object", Object{}, `{}`},
		{"empty list", []Value{}, `[]`},
		{"escapes", "a\"b\\c\nd\te\x01", `"a\"b\\c\nd\te\u0001"`},
		{"no html escaping", "<a href='x'>&</a>/", `"<a href='x'>&</a>/"`},
		{"non-ascii", "Zürich", `"Z\u00fcrich"`},
		{"astral", "😀", `"\ud83d\ude00"`},
		{"del is literal", "\x7f", "\"\x7f\""},
		{"float integral", 2.0, `2.0`},
		{"string list", []string{"a", "b"}, `["a", "b"]`},
		{"raw", RawJSON(`{"x": 1}`), `{"x": 1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Marshal(tc.in)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseKeepsOrderAndRoundTrips(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"order kept", `{"z":1,"a":{"y":[1,2.5,"s"],"b":null}}`, `{"z": 1, "a": {"y": [1, 2.5, "s"], "b": null}}`},
		{"duplicate key keeps first position last value", `{"a":1,"b":2,"a":3}`, `{"a": 3, "b": 2}`},
		{"unicode re-escaped", `{"n":"Zürich"}`, `{"n": "Z\u00fcrich"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(Marshal(v)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseObjectRejects(t *testing.T) {
	for _, in := range []string{`[1]`, `{"a":`, `{"a":1} x`, `"s"`} {
		if _, err := ParseObject([]byte(in)); err == nil {
			t.Errorf("ParseObject(%q): want error", in)
		}
	}
	if o, err := ParseObject(nil); err != nil || len(o) != 0 {
		t.Errorf("ParseObject(nil) = %v, %v", o, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := Parse(Marshal(v)); err != nil {
			t.Fatalf("re-parse of %q failed: %v", Marshal(v), err)
		}
	})
}

// dumps is CPython's json.dumps(s) (ensure_ascii=True) for one string,
// written rune by rune from the rules of Lib/json/encoder.py
// (py_encode_basestring_ascii): the two-character escapes, \uXXXX for
// every other control and non-ASCII character, surrogate pairs above the
// BMP. Ranging over a Go string reads each invalid UTF-8 byte as U+FFFD,
// as keystone-ng's decoders do.
func dumps(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\b':
			sb.WriteString(`\b`)
		case r == '\f':
			sb.WriteString(`\f`)
		case r >= 0x10000:
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xd800+((r-0x10000)>>10), 0xdc00+((r-0x10000)&0x3ff))
		case r < 0x20 || r >= 0x80:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "a", "8edef059f6e74eb4b0629014fbbda659", "http://127.0.0.1:5000/v3", "2026-12-07T17:18:47.000000Z",
		`"`, `\`, `a"b`, `ab\`, "\"\"", "\x00", "\x1f", "\x7f", "\x80", "\xff\xfe", "é", "aé", "éa",
		"Zürich\n", "😀", "a😀b", "\ud7ff", "\uffff", "\U0010ffff", "\xed\xa0\x80", "tab\there", "x\r\n\b\f",
	} {
		if got, want := string(AppendString(nil, s)), dumps(s); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got := string(AppendString([]byte("prefix"), s)); got != "prefix"+dumps(s) {
			t.Errorf("AppendString onto a prefix (%q) = %s", s, got)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "é😀\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if want := dumps(s); string(got) != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		// What a client decodes is s, its invalid bytes as U+FFFD.
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
		}
		if want := string([]rune(s)); back != want {
			t.Fatalf("AppendString(%q) decodes to %q", s, back)
		}
	})
}
