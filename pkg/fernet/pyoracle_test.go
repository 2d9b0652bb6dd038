package fernet

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestPyBase64Oracle compares DecodeURLSafeBase64 with CPython's
// base64.urlsafe_b64decode results read from KSNG_B64_ORACLE, a JSON file
// of [input, hex-or-null] pairs made by a throwaway script; the fixed table
// in pybase64_test.go carries the interesting cases for CI.
func TestPyBase64Oracle(t *testing.T) {
	path := os.Getenv("KSNG_B64_ORACLE")
	if path == "" {
		t.Skip("KSNG_B64_ORACLE not set")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]*string
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, c := range cases {
		got, err := DecodeURLSafeBase64(*c[0])
		if (err == nil) != (c[1] != nil) || (err == nil && hex.EncodeToString(got) != *c[1]) {
			bad++
			if bad < 20 {
				t.Errorf("DecodeURLSafeBase64(%q) = %x, %v; python %v", *c[0], got, err, c[1])
			}
		}
		// token path = restore_padding + the (verified) Python decoder
		padded := *c[0]
		if m := len(padded) % 4; m != 0 {
			padded += "===="[:4-m]
		}
		want, werr := DecodeURLSafeBase64(padded)
		buf := make([]byte, len(*c[0])+3)
		got2, ok := decodeTokenBase64(buf, *c[0])
		if ok != (werr == nil) || (ok && hex.EncodeToString(got2) != hex.EncodeToString(want)) {
			bad++
			if bad < 20 {
				t.Errorf("decodeTokenBase64(%q) = %x, %v; want %x, %v", *c[0], got2, ok, want, werr)
			}
		}
	}
	t.Logf("%d cases, %d mismatches", len(cases), bad)
}
