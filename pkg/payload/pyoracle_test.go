package payload

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"
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

// TestPyEncodeOracle compares Encode with keystone's own assemble() +
// msgpack.packb on random inputs (odd ids, offsets, microseconds, lenient
// audit ids, duplicate methods) read from KSNG_ENCODE_ORACLE, a JSON list
// of {"input": {...assemble() arguments, "version"}, "hex", "error"} made
// by a throwaway script against Debian's python3-keystone.
func TestPyEncodeOracle(t *testing.T) {
	path := os.Getenv("KSNG_ENCODE_ORACLE")
	if path == "" {
		t.Skip("KSNG_ENCODE_ORACLE not set")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Input struct {
			vectorFields
			Version int `json:"version"`
		} `json:"input"`
		Hex   *string `json:"hex"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	c := &Codec{}
	bad := 0
	for _, tc := range cases {
		in := tc.Input
		exp, err := time.Parse(time.RFC3339Nano, str(in.ExpiresAt))
		if err != nil {
			t.Fatal(err)
		}
		p := &Payload{Version: in.Version, UserID: str(in.UserID), Methods: in.Methods,
			ProjectID: str(in.ProjectID), DomainID: str(in.DomainID), System: str(in.System),
			TrustID: str(in.TrustID), IdentityProviderID: str(in.IdentityProviderID),
			ProtocolID: str(in.ProtocolID), AccessTokenID: str(in.AccessTokenID),
			AppCredID: str(in.AppCredID), ExpiresAt: exp, AuditIDs: in.AuditIDs}
		for _, g := range in.FederatedGroupIDs {
			p.FederatedGroupIDs = append(p.FederatedGroupIDs, g.ID)
		}
		got, err := c.Encode(p)
		switch {
		case tc.Error != nil && err == nil:
			bad++
			if bad < 20 {
				t.Errorf("v%d %+v: Go encoded %x, Python: %s", in.Version, in, got, *tc.Error)
			}
		case tc.Error == nil && (err != nil || hex.EncodeToString(got) != *tc.Hex):
			bad++
			if bad < 20 {
				t.Errorf("v%d %+v:\n go %x %v\n py %s", in.Version, p, got, err, *tc.Hex)
			}
		}
	}
	t.Logf("%d cases, %d mismatches", len(cases), bad)
}
