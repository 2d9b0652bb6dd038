package payload

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	userHex  = "ee11cbb19052e40b07aac0ca060c23ee"
	projHex  = "46f86faa6bbf9ac94a7e459509a20ed0"
	auditID  = "pHI5ldsq-tWFcVXyeKd5GA"
	auditHex = "a4723995db2afad5857155f278a77918"
)

var exp2030 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // 1893553445.0

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestSpecWorkedExample checks the byte examples of
// docs/python-compat.md §1.5.
func TestSpecWorkedExample(t *testing.T) {
	c := &Codec{}
	for _, tc := range []struct {
		name string
		p    Payload
		want string
	}{
		{"unscoped", Payload{Version: 0, UserID: userHex, Methods: []string{"password"}, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
			"95 00 92 c3 c4 10" + userHex + "02 cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex},
		{"domain default", Payload{Version: 1, UserID: userHex, Methods: []string{"password"}, DomainID: "default", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
			"96 01 92 c3 c4 10" + userHex + "02 a7" + hex.EncodeToString([]byte("default")) + "cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex},
		{"non-UUID user", Payload{Version: 0, UserID: "admin", Methods: []string{"password"}, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
			"95 00 92 c2 a5" + hex.EncodeToString([]byte("admin")) + "02 cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex},
		{"oauth2 empty domain", Payload{Version: 10, UserID: userHex, Methods: []string{"oauth2_credential"}, ProjectID: projHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}, Thumbprint: "tp"},
			"98 0a 92 c3 c4 10" + userHex + "cf 00 00 00 02 00 00 00 00 92 c3 c4 10" + projHex + "92 c2 c0 cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex + "92 c2 a2 7470"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Encode(&tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(tc.want); !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
			d, err := c.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			tc.p.Methods = c.IntToMethods(c.MethodsToInt(tc.p.Methods))
			if !reflect.DeepEqual(*d, tc.p) {
				t.Fatalf("decoded %+v\nwant    %+v", *d, tc.p)
			}
		})
	}
}

// variants covers every version with UUID and non-UUID ids, empty and
// long lists, two audit ids and sub-second expiry.
func variants() []Payload {
	us := exp2030.Add(123456 * time.Microsecond)
	two := []string{auditID, "L46oVzUjOFdgpELD49J-4g"}
	groups := make([]string, 20) // array16 header
	for i := range groups {
		groups[i] = strings.Repeat(string(rune('a'+i%6)), 32)
	}
	long := strings.Repeat("x", 300) // str16
	return []Payload{
		{Version: 0, UserID: userHex, Methods: []string{"password"}, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 0, UserID: "admin", Methods: []string{}, ExpiresAt: us, AuditIDs: two},
		{Version: 0, UserID: long, Methods: []string{"ec2credential", "token"}, ExpiresAt: exp2030, AuditIDs: []string{}},
		{Version: 1, UserID: userHex, Methods: []string{"token", "password"}, DomainID: "default", ExpiresAt: exp2030, AuditIDs: two},
		{Version: 1, UserID: "u", Methods: []string{"password"}, DomainID: projHex, ExpiresAt: us, AuditIDs: []string{auditID}},
		{Version: 2, UserID: userHex, Methods: []string{"password"}, ProjectID: projHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 2, UserID: "ldap-user", Methods: []string{"password"}, ProjectID: "admin-project", ExpiresAt: us, AuditIDs: two},
		{Version: 3, UserID: userHex, Methods: []string{"token"}, ProjectID: projHex, TrustID: userHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 4, UserID: "fed", Methods: []string{"mapped"}, Federated: true, FederatedGroupIDs: []string{}, IdentityProviderID: "myidp", ProtocolID: "openid", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 4, UserID: userHex, Methods: []string{"mapped"}, Federated: true, FederatedGroupIDs: groups, IdentityProviderID: projHex, ProtocolID: "saml2", ExpiresAt: us, AuditIDs: two},
		{Version: 5, UserID: userHex, Methods: []string{"mapped", "token"}, ProjectID: projHex, Federated: true, FederatedGroupIDs: []string{projHex, "g"}, IdentityProviderID: "idp", ProtocolID: "openid", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 6, UserID: userHex, Methods: []string{"mapped"}, DomainID: "default", Federated: true, FederatedGroupIDs: []string{}, IdentityProviderID: "idp", ProtocolID: "openid", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 7, UserID: userHex, Methods: []string{"oauth1"}, ProjectID: projHex, AccessTokenID: "f2a9c", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 7, UserID: userHex, Methods: []string{"oauth1"}, ProjectID: projHex, AccessTokenID: projHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 8, UserID: userHex, Methods: []string{"password"}, System: "all", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 9, UserID: userHex, Methods: []string{"application_credential"}, ProjectID: projHex, AppCredID: projHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 9, UserID: userHex, Methods: []string{"application_credential"}, ProjectID: projHex, AppCredID: "my-cred", ExpiresAt: exp2030, AuditIDs: []string{auditID}},
		{Version: 10, UserID: userHex, Methods: []string{"oauth2_credential"}, ProjectID: projHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}, Thumbprint: "2DhviyT_xGO-unsvVDBT_H8vS7cOl_VhbwjiHm37dsg="},
		{Version: 10, UserID: userHex, Methods: []string{"oauth2_credential"}, ProjectID: projHex, DomainID: userHex, ExpiresAt: us, AuditIDs: two, Thumbprint: "tp"},
	}
}

func TestRoundTripEveryVersion(t *testing.T) {
	c := &Codec{}
	seen := map[int]bool{}
	for _, p := range variants() {
		seen[p.Version] = true
		b, err := c.Encode(&p)
		if err != nil {
			t.Fatalf("v%d: %v", p.Version, err)
		}
		d, err := c.Decode(b)
		if err != nil {
			t.Fatalf("v%d: %v (%x)", p.Version, err, b)
		}
		if !reflect.DeepEqual(*d, p) {
			t.Errorf("v%d round trip\n got %+v\nwant %+v", p.Version, *d, p)
		}
		// independent reference: msgpack/v5 reads the same structure
		var generic []any
		if err := msgpack.Unmarshal(b, &generic); err != nil || len(generic) != arity[p.Version] {
			t.Errorf("v%d: msgpack/v5 reads %v, %v", p.Version, generic, err)
		}
		// and re-encoding its generic view with compact ints gives our bytes
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.Encode(generic); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Errorf("v%d: msgpack/v5 re-encodes differently\n ours %x\n v5   %x", p.Version, b, buf.Bytes())
		}
	}
	for v := 0; v <= 10; v++ {
		if !seen[v] {
			t.Errorf("version %d not covered", v)
		}
	}
}

func TestUUIDNormalisation(t *testing.T) {
	// hyphenated / upper case / urn ids are packed as bytes and come back
	// as lowercase hex (docs/python-compat.md §1.3): the same as Python
	c := &Codec{}
	for _, id := range []string{"EE11CBB19052E40B07AAC0CA060C23EE", "ee11cbb1-9052-e40b-07aa-c0ca060c23ee", "urn:uuid:ee11cbb1-9052-e40b-07aa-c0ca060c23ee"} {
		b, err := c.Encode(&Payload{Version: 2, UserID: id, ProjectID: id, ExpiresAt: exp2030})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Decode(b)
		if err != nil || d.UserID != userHex || d.ProjectID != userHex {
			t.Fatalf("%s: %+v %v", id, d, err)
		}
	}
}

func TestParsePyUUID(t *testing.T) {
	// Results from CPython 3.11 uuid.UUID(s).hex ("" = ValueError).
	for _, c := range []struct{ in, want string }{
		{"ee11cbb19052e40b07aac0ca060c23ee", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"EE11CBB19052E40B07AAC0CA060C23EE", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"ee11cbb1-9052-e40b-07aa-c0ca060c23ee", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"{ee11cbb1-9052-e40b-07aa-c0ca060c23ee}", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"urn:uuid:ee11cbb1-9052-e40b-07aa-c0ca060c23ee", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"e-e-1-1cbb19052e40b07aac0ca060c23ee", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"{{ee11cbb19052e40b07aac0ca060c23ee}}", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"}ee11cbb19052e40b07aac0ca060c23ee{", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"uuurn:id:ee11cbb19052e40b07aac0ca060c23ee", "ee11cbb19052e40b07aac0ca060c23ee"},
		{"+e11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{" e11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"e11cbb19052e40b07aac0ca060c23ee ", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"e_11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"0xe11cbb19052e40b07aac0ca060c23e", "00e11cbb19052e40b07aac0ca060c23e"},
		{"0x_11cbb19052e40b07aac0ca060c23e", "00011cbb19052e40b07aac0ca060c23e"},
		{"0X0_1cbb19052e40b07aac0ca060c23e", "00001cbb19052e40b07aac0ca060c23e"},
		{"\u00a0e11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"\u3000e11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"\u0663e11cbb19052e40b07aac0ca060c23ee", "3e11cbb19052e40b07aac0ca060c23ee"},
		{"\uff11e11cbb19052e40b07aac0ca060c23ee", "1e11cbb19052e40b07aac0ca060c23ee"},
		{"\U0001D7D8e11cbb19052e40b07aac0ca060c23ee", "0e11cbb19052e40b07aac0ca060c23ee"},
		{"00000000000000000000000000000000", "00000000000000000000000000000000"},
		{"-0000000000000000000000000000000", ""}, // the "-" is removed first: 31 chars
		{"-e11cbb19052e40b07aac0ca060c23ee", ""},
		{"e__1cbb19052e40b07aac0ca060c23ee", ""},
		{"_e11cbb19052e40b07aac0ca060c23ee", ""},
		{"e11cbb19052e40b07aac0ca060c23ee_", ""},
		{"\uff21e11cbb19052e40b07aac0ca060c23ee", ""},
		{"\x1ce11cbb19052e40b07aac0ca060c23ee", ""},
		{"ee11cbb19052e40b07aac0ca060c23ee\x00", ""},
		{"ee11cbb19052e40b07aac0ca060c23e", ""},
		{"ee11cbb19052e40b07aac0ca060c23eee", ""},
		{"ge11cbb19052e40b07aac0ca060c23ee", ""},
		{"6723341b371464f16a8d6328a8555caeb2ae8143e9d7851b76c053ebcc7c800d", ""},
		{"admin", ""}, {"default", ""}, {"", ""}, {"0x", ""},
		{"\xff\xfe11cbb19052e40b07aac0ca060c23ee", ""}, // not text: never a Python str
	} {
		u, ok := parsePyUUID(c.in)
		got := ""
		if ok {
			got = hex.EncodeToString(u[:])
		}
		if got != c.want {
			t.Errorf("parsePyUUID(%q) = %q, Python %q", c.in, got, c.want)
		}
	}
}

func TestMethods(t *testing.T) {
	def := &Codec{}
	for _, c := range []struct {
		v    int64
		want []string
	}{
		{0, []string{}},
		{2, []string{"password"}},
		{6, []string{"token", "password"}},
		{63, []string{"application_credential", "mapped", "oauth1", "token", "password", "external"}},
		{64, []string{}}, // unmapped bit: everything below divides >= 2
		{66, []string{}}, // same with password
		{-2, []string{}}, // negative
		{1 << 32, []string{"ec2credential"}},
		{1<<33 | 1<<32 | 4, []string{"oauth2_credential", "ec2credential", "token"}},
		{1 << 34, []string{}},
		{1<<34 | 2, []string{}},
	} {
		if got := def.IntToMethods(c.v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("IntToMethods(%d) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		in   []string
		want int64
	}{
		{nil, 0},
		{[]string{"password"}, 2},
		{[]string{"token", "password"}, 6},
		{[]string{"password", "password"}, 4}, // Python sums duplicates
		{[]string{"totp"}, 0},
		{[]string{"totp", "password"}, 2},
		{[]string{"oauth2_credential"}, 1 << 33},
		{[]string{"token", "ec2credential"}, 1<<32 | 4},
	} {
		if got := def.MethodsToInt(c.in); got != c.want {
			t.Errorf("MethodsToInt(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	legacy := &Codec{LegacyMethodMap: true}
	if got := legacy.MethodsToInt([]string{"oauth2_credential", "password"}); got != 2 {
		t.Errorf("legacy MethodsToInt = %d", got)
	}
	if got := legacy.IntToMethods(1<<32 | 2); len(got) != 0 {
		t.Errorf("legacy IntToMethods = %q", got)
	}
	custom := &Codec{Methods: []string{"password", "token", "totp", "oauth2_credential"}}
	if got := custom.IntToMethods(5); !reflect.DeepEqual(got, []string{"totp", "password"}) {
		t.Errorf("custom: %q", got)
	}
	// a configured oauth2_credential and the pseudo bit both count
	if got := custom.MethodsToInt([]string{"oauth2_credential"}); got != 1<<33|8 {
		t.Errorf("custom oauth2: %d", got)
	}
	if got := custom.IntToMethods(1<<33 | 8); !reflect.DeepEqual(got, []string{"oauth2_credential", "oauth2_credential"}) {
		t.Errorf("custom oauth2 decode: %q", got)
	}
}

func TestExpiry(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want time.Time
		ok   bool
	}{
		{1893553445.0, exp2030, true},
		{1893553445.123456, exp2030.Add(123456 * time.Microsecond), true},
		{1893553445.9999996, exp2030.Add(time.Second), true}, // rounds up, carries
		{1893553445.0000004, exp2030, true},
		{-1.5, time.Unix(-2, 500000000).UTC(), true},
		{0, time.Unix(0, 0).UTC(), true},
		{math.NaN(), time.Time{}, false},
		{math.Inf(1), time.Time{}, false},
		{1e20, time.Time{}, false},
		{253402300800, time.Time{}, false}, // year 10000
		{-62135596801, time.Time{}, false}, // year 0
	} {
		got, ok := timeFromFloat(c.f)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("timeFromFloat(%v) = %v,%v want %v,%v", c.f, got, ok, c.want, c.ok)
		}
	}
	// Encode: (t - epoch).total_seconds() == whole microseconds / 1e6
	c := &Codec{}
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC) // ns truncated to µs
	b, err := c.Encode(&Payload{Version: 0, UserID: "u", ExpiresAt: at})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.IndexByte(b, 0xcb)
	f := math.Float64frombits(uint64(b[i+1])<<56 | uint64(b[i+2])<<48 | uint64(b[i+3])<<40 | uint64(b[i+4])<<32 | uint64(b[i+5])<<24 | uint64(b[i+6])<<16 | uint64(b[i+7])<<8 | uint64(b[i+8]))
	if want := float64(at.UnixMicro()) / 1e6; f != want {
		t.Fatalf("float %v want %v", f, want)
	}
	d, _ := c.Decode(b)
	if !d.ExpiresAt.Equal(at.Truncate(time.Microsecond)) || !d.Expiry().Equal(at.Truncate(time.Second)) {
		t.Fatalf("expiry %v / %v", d.ExpiresAt, d.Expiry())
	}
	if FormatTime(at) != "2026-03-04T05:06:07.000000Z" {
		t.Fatal(FormatTime(at))
	}
	// integers and float32 are accepted as Python's fromtimestamp does
	for _, enc := range []string{"ce 70 dd 47 25", "cf 00 00 00 00 70 dd 47 25", "d3 00 00 00 00 70 dd 47 25", "ca 4e e1 ba 8e"} {
		p, err := c.Decode(mustHex("95 00 92 c2 a1 75 00" + enc + "90"))
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if p.ExpiresAt.Year() != 2030 {
			t.Fatalf("%s: %v", enc, p.ExpiresAt)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	c := &Codec{}
	good, _ := c.Encode(&variants()[5]) // v2 project
	u := "92 c3 c4 10" + userHex
	e := "cb 41 dc 37 55 49 40 00 00"
	a := "91 c4 10" + auditHex
	for _, tc := range []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not an array", "a3 616263", ErrMalformed},
		{"empty array", "90", ErrMalformed},
		{"unknown version 11", "95 0b" + u + "02" + e + a, ErrUnknownVersion},
		{"negative version", "95 ff" + u + "02" + e + a, ErrUnknownVersion},
		{"uint64 version", "95 cf ff ff ff ff ff ff ff ff" + u + "02" + e + a, ErrUnknownVersion},
		{"receipt shape", "93" + u + "02" + e, ErrUnknownVersion},
		{"v0 with 6 elements", "96 00" + u + "02" + e + a + "c0", ErrMalformed},
		{"v2 with 5 elements", "95 02" + u + "02" + e + a, ErrMalformed},
		{"trailing garbage", "95 00" + u + "02" + e + a + "00", ErrMalformed},
		{"user not a pair", "95 00 c4 10" + userHex + "02" + e + a, ErrMalformed},
		{"user triple", "95 00 93 c3 c4 10" + userHex + "c0 02" + e + a, ErrMalformed},
		{"user flag ext", "95 00 92 d4 01 00 c4 10" + userHex + "02" + e + a, ErrMalformed},
		{"user flag map with int key", "95 00 92 81 01 01 c4 10" + userHex + "02" + e + a, ErrMalformed},
		{"user flag nested too deep", "95 00 92" + strings.Repeat("91", 40) + "c3 c4 10" + userHex + "02" + e + a, ErrMalformed},
		{"version a map", "95 80" + u + "02" + e + a, ErrUnknownVersion},
		{"version 2.5", "95 cb 40 04 00 00 00 00 00 00" + u + "02" + e + a, ErrUnknownVersion},
		{"methods NaN", "95 00" + u + "cb 7f f8 00 00 00 00 00 00" + e + a, ErrMalformed},
		{"user 15 bytes", "95 00 92 c3 c4 0f" + userHex[:30] + "02" + e + a, ErrMalformed},
		{"user int", "95 00 92 c2 05 02" + e + a, ErrMalformed},
		{"user invalid utf-8", "95 00 92 c2 c4 02 ff fe 02" + e + a, ErrMalformed},
		{"methods str", "95 00" + u + "a1 32" + e + a, ErrMalformed},
		{"expiry nil", "95 00" + u + "02 c0" + a, ErrMalformed},
		{"expiry str", "95 00" + u + "02 a1 31" + a, ErrMalformed},
		{"expiry NaN", "95 00" + u + "02 cb 7f f8 00 00 00 00 00 00" + a, ErrMalformed},
		{"audit not array", "95 00" + u + "02" + e + "c4 10" + auditHex, ErrMalformed},
		{"audit int", "95 00" + u + "02" + e + "91 01", ErrMalformed},
		{"audit array32 lying length", "95 00" + u + "02" + e + "dd ff ff ff ff", ErrMalformed},
		{"bin32 lying length", "95 00 92 c2 c6 ff ff ff ff", ErrMalformed},
		{"str32 lying length", "95 00 92 c2 db 7f ff ff ff 41", ErrMalformed},
		{"array16 lying length", "dc ff ff 00", ErrMalformed},
		{"v1 other non-UUID domain", "96 01" + u + "02 a5 6f74686572" + e + a, ErrMalformed},
		{"v3 trust 15 bytes", "97 03" + u + "02" + u + e + a + "c4 0f" + userHex[:30], ErrMalformed},
		{"v3 trust str uuid-like", "97 03" + u + "02" + u + e + a + "a4 74727374", ErrMalformed},
		{"v4 groups not array", "98 04" + u + "10 c0" + u + "a6 6f70656e6964" + e + a, ErrMalformed},
		{"v4 groups lying", "98 04" + u + "10 dd 7f ff ff ff", ErrMalformed},
		{"v8 system int", "96 08" + u + "02 01" + e + a, ErrMalformed},
		// legacy str-typed bytes without any invalid UTF-8: Python fails
		{"str uuid, all valid utf-8", "95 00 92 c3 b0 30313233343536373839616263646566 02" + e + "91 b0 30313233343536373839616263646566", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Decode(mustHex(tc.hex))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %+v, %v; want %v", p, err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%T is not *DecodeError", err)
			}
		})
	}
	// every truncation of a good payload fails cleanly
	for i := 0; i < len(good); i++ {
		if _, err := c.Decode(good[:i]); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	// Python truthiness for the [flag, id] pair, and float/bool methods
	for _, tc := range []struct{ hex, user string }{
		{"95 00 92 01 c4 10" + userHex + "02" + e + a, userHex},
		{"95 00 92 ff c4 10" + userHex + "02" + e + a, userHex},
		{"95 00 92 a1 78 c4 10" + userHex + "02" + e + a, userHex},
		{"95 00 92 00 a1 75 02" + e + a, "u"},
		{"95 00 92 c0 a1 75 02" + e + a, "u"},
		{"95 00 92 cb 00 00 00 00 00 00 00 00 a1 75 02" + e + a, "u"},
		{"95 00 92 91 c2 c4 10" + userHex + "02" + e + a, userHex}, // non-empty list
		{"95 00 92 90 a1 75 02" + e + a, "u"},                      // empty list
		{"95 00 92 81 a1 6b c0 c4 10" + userHex + "02" + e + a, userHex},
		{"95 c2 92 c2 a1 75 02" + e + a, "u"},                         // version False == 0
		{"95 cb 00 00 00 00 00 00 00 00 92 c2 a1 75 02" + e + a, "u"}, // version 0.0
	} {
		if p, err := c.Decode(mustHex(tc.hex)); err != nil || p.UserID != tc.user {
			t.Errorf("%s: %+v %v", tc.hex, p, err)
		}
	}
	for _, tc := range []struct {
		methods string
		want    []string
	}{
		{"c3", []string{"external"}},
		{"cb 40 18 00 00 00 00 00 00", []string{"token", "password"}}, // 6.0
		{"cb 40 04 00 00 00 00 00 00", []string{"password"}},          // 2.5
		{"cb bf f0 00 00 00 00 00 00", []string{}},                    // -1.0
	} {
		p, err := c.Decode(mustHex("95 00" + u + tc.methods + e + a))
		if err != nil || !reflect.DeepEqual(p.Methods, tc.want) {
			t.Errorf("methods %s: %+v %v", tc.methods, p, err)
		}
	}
	// legacy raw payload with invalid UTF-8 somewhere decodes (raw=True retry)
	p, err := c.Decode(mustHex("95 00 92 c3 b0" + userHex + "02" + e + "91 b0" + auditHex))
	if err != nil || p.UserID != userHex || p.AuditIDs[0] != auditID {
		t.Fatalf("legacy raw: %+v %v", p, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	c := &Codec{}
	base := func() Payload {
		return Payload{Version: 3, UserID: userHex, ProjectID: projHex, TrustID: userHex, ExpiresAt: exp2030, AuditIDs: []string{auditID}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Payload)
	}{
		{"trust not a UUID", func(p *Payload) { p.TrustID = "trust" }},
		{"trust empty", func(p *Payload) { p.TrustID = "" }},
		{"v1 domain not UUID nor default", func(p *Payload) { p.Version = 1; p.DomainID = "other" }},
		{"v1 domain empty", func(p *Payload) { p.Version = 1; p.DomainID = "" }},
		{"audit id one char past a quad", func(p *Payload) { p.AuditIDs = []string{"A"} }},
		{"audit id not ASCII", func(p *Payload) { p.AuditIDs = []string{"é" + auditID[2:]} }},
		{"invalid UTF-8", func(p *Payload) { p.UserID = "\xff" }},
		{"version 11", func(p *Payload) { p.Version = 11 }},
		{"version -1", func(p *Payload) { p.Version = -1 }},
		{"no expiry", func(p *Payload) { p.ExpiresAt = time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mod(&p)
			if b, err := c.Encode(&p); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode = %x, %v", b, err)
			}
		})
	}
	// lenient audit id decoding, as urlsafe_b64decode(s + "==")
	p := base()
	p.AuditIDs = []string{"pHI5ldsq+tWFcVXyeKd5GA==", "pHI5ldsq-tWFcVXyeKd5GB"}
	b, err := c.Encode(&p)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c.Decode(b)
	if d.AuditIDs[0] != auditID || d.AuditIDs[1] != auditID {
		t.Fatalf("%q", d.AuditIDs)
	}
}

func TestDefaultDomainConfig(t *testing.T) {
	c := &Codec{DefaultDomainID: "my-default"}
	p := &Payload{Version: 1, UserID: "u", DomainID: "my-default", ExpiresAt: exp2030, AuditIDs: []string{}}
	b, err := c.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c.Decode(b); err != nil || d.DomainID != "my-default" {
		t.Fatal(d, err)
	}
	if _, err := (&Codec{}).Decode(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("other default domain accepted: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	c := &Codec{}
	for _, p := range variants() {
		b, _ := c.Encode(&p)
		f.Add(b)
	}
	f.Add(mustHex("95 00 92 c3 b0" + userHex + "02 cb 41 dc 37 55 49 40 00 00 91 b0" + auditHex))
	f.Add([]byte{})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := c.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// what decodes re-encodes (unless Python's assemble would refuse
		// it too), and one more cycle is stable
		b2, err := c.Encode(p)
		if err != nil {
			return
		}
		p2, err := c.Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v\n%x", err, b2)
		}
		b3, err := c.Encode(p2)
		if err != nil {
			t.Fatal(err)
		}
		if p3, err := c.Decode(b3); err != nil || !reflect.DeepEqual(p2, p3) {
			t.Fatalf("unstable: %+v vs %+v (%v)", p2, p3, err)
		}
	})
}

// TestQueensSystemScope: Queens packed the system scope as True (its
// answer for such a token is in pkg/releases/testdata/queens); every
// release reads it as the whole system.
func TestQueensSystemScope(t *testing.T) {
	c := &Codec{}
	b := mustHex("96 08 92 c3 c4 10" + userHex + "02 c3 cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex)
	p, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.System != "all" || !p.SystemPackedTrue || p.UserID != userHex {
		t.Fatalf("decoded %+v, want system all packed as True", p)
	}
	// "all" as Rocky and later pack it is not marked.
	b = mustHex("96 08 92 c3 c4 10" + userHex + "02 a3 616c6c cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex)
	if p, err = c.Decode(b); err != nil || p.System != "all" || p.SystemPackedTrue {
		t.Fatalf("decoded %+v, %v", p, err)
	}
	// False is not a system scope keystone-ng accepts.
	b = mustHex("96 08 92 c3 c4 10" + userHex + "02 c2 cb 41 dc 37 55 49 40 00 00 91 c4 10" + auditHex)
	if _, err = c.Decode(b); err == nil {
		t.Fatal("a system scope packed as False was accepted")
	}
}
