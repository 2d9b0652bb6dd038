package apidoctest

import (
	"strings"
	"testing"
)

func TestPointer(t *testing.T) {
	for _, tc := range []struct {
		base string
		keys []any
		want string
	}{
		{"", []any{"paths", "/v4/a/{id}", "get"}, "/paths/~1v4~1a~1{id}/get"},
		{"/x", []any{"a~b", 0, "application/json"}, "/x/a~0b/0/application~1json"},
		{"/x", nil, "/x"},
	} {
		if got := Pointer(tc.base, tc.keys...); got != tc.want {
			t.Errorf("Pointer(%q, %v) = %q, want %q", tc.base, tc.keys, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	s, err := New([]byte(`{"paths": {"/a/{id}": {"get": {"responses": {"200": {"content": {"application/json": {
	  "schema": {"$ref": "#/components/schemas/S"}}}}}}}},
	  "components": {"schemas": {"S": {"type": "object", "required": ["n"],
	    "properties": {"n": {"type": ["integer", "null"]}, "u": {"type": "string", "format": "uri"}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	at := Pointer("", "paths", "/a/{id}", "get", "responses", "200", "content", "application/json", "schema")
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{`{"n": 1}`, true},
		{`{"n": null, "u": "https://x.example/"}`, true},
		{`{"n": "1"}`, false},
		{`{}`, false},
		{`{"n": 1, "u": "not a uri"}`, false},
	} {
		v, err := Decode([]byte(tc.value))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(at, v); (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.value, err, tc.ok)
		}
	}
	if err := s.Validate("/components/schemas/Missing", map[string]any{}); err == nil || !strings.Contains(err.Error(), "Missing") {
		t.Errorf("a pointer to no schema: %v", err)
	}
}
