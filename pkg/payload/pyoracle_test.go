package payload

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestPyUUIDOracle compares parsePyUUID with cases CPython's uuid.UUID
// decided, from a JSON file of [input, hex-or-null] pairs named by
// KSNG_UUID_ORACLE (made by a throwaway script; the fixed table in
// uuid_test.go carries the interesting cases for CI).
func TestPyUUIDOracle(t *testing.T) {
	path := os.Getenv("KSNG_UUID_ORACLE")
	if path == "" {
		t.Skip("KSNG_UUID_ORACLE not set")
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
		u, ok := parsePyUUID(*c[0])
		want := c[1]
		switch {
		case want == nil && ok, want != nil && !ok, want != nil && hex.EncodeToString(u[:]) != *want:
			bad++
			if bad < 20 {
				t.Errorf("parsePyUUID(%q) = %x,%v; python %v", *c[0], u, ok, fmtp(want))
			}
		}
	}
	t.Logf("%d cases, %d mismatches", len(cases), bad)
}

func fmtp(s *string) string {
	if s == nil {
		return "None"
	}
	return *s
}
