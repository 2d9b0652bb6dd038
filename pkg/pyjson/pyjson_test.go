package pyjson

import "testing"

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
