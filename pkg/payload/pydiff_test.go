package payload

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/fernet"
)

// TestPythonDifferential feeds mutated payloads, sealed as tokens, to
// Python Keystone's own formatter (testdata/py_decode.py, needs Debian's
// python3-keystone) and compares acceptance and decoded fields with Decode.
// Opt-in: KSNG_PY_DIFF=<count> (it spawns Python once).
func TestPythonDifferential(t *testing.T) {
	if os.Getenv("KSNG_PY_DIFF") == "" {
		t.Skip("KSNG_PY_DIFF not set")
	}
	if _, err := os.Stat("/usr/lib/python3/dist-packages/keystone"); err != nil {
		t.Skip("python3-keystone not installed")
	}
	n := 3000
	if v := os.Getenv("KSNG_PY_DIFF"); v != "1" {
		json.Unmarshal([]byte(v), &n)
	}
	vf := loadVectors(t)
	dir := t.TempDir()
	for name, k := range vf.Keys {
		os.WriteFile(filepath.Join(dir, name), []byte(k), 0o600)
	}
	ks, err := fernet.LoadRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &Codec{Methods: vf.AuthMethods, DefaultDomainID: vf.DefaultDomainID}
	var seeds [][]byte
	for _, v := range vf.Vectors {
		b, _ := hex.DecodeString(v.PayloadHex)
		seeds = append(seeds, b)
	}
	for _, p := range variants() {
		b, _ := c.Encode(&p)
		seeds = append(seeds, b)
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	interesting := []byte{0x00, 0x01, 0x7f, 0x80, 0x90, 0x91, 0x92, 0x95, 0x9f, 0xa0, 0xa5, 0xb0, 0xc0, 0xc2, 0xc3, 0xc4, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd9, 0xdc, 0xff, 0x10, 0x0f, 0x11}
	var payloads [][]byte
	var tokens []string
	for i := 0; i < n; i++ {
		b := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for m := rng.IntN(3) + 1; m > 0 && len(b) > 0; m-- {
			pos := rng.IntN(len(b))
			switch rng.IntN(5) {
			case 0:
				b[pos] = interesting[rng.IntN(len(interesting))]
			case 1:
				b[pos] ^= 1 << rng.IntN(8)
			case 2:
				b = append(b[:pos], b[pos+1:]...)
			case 3:
				b = append(b[:pos], append([]byte{interesting[rng.IntN(len(interesting))]}, b[pos:]...)...)
			case 4:
				if b[pos] == 0xc4 {
					b[pos] = 0xd9 // bin8 -> str8
				} else if b[pos] == 0xd9 {
					b[pos] = 0xc4
				} else if b[pos]&0xe0 == 0xa0 {
					b = append(b[:pos], append([]byte{0xc4, b[pos] & 0x1f}, b[pos+1:]...)...)
				}
			}
		}
		tok, err := ks.Encrypt(b, time.Unix(1893549845, 0))
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, b)
		tokens = append(tokens, tok)
	}
	in, _ := json.Marshal(tokens)
	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "py_decode.py"),
		"--key-repository", dir, "--v10", "--methods", strings.Join(vf.AuthMethods, ","))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, _ := cmd.Output()
	var res []struct {
		OK      bool            `json:"ok"`
		Error   string          `json:"error"`
		Decoded json.RawMessage `json:"decoded"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(tokens) {
		t.Fatalf("py_decode output: %v (%d results)", err, len(res))
	}
	okBoth, errBoth, bad, odd, known := 0, 0, 0, 0, 0
	for i, r := range res {
		p, err := c.Decode(payloads[i])
		var dec *vectorFields
		if r.OK {
			if json.Unmarshal(r.Decoded, &dec) != nil {
				// Python "accepted" a non-text id (an int, a list...)
				// that would break later; Go rejects such payloads.
				if err == nil {
					t.Errorf("%x: python returned non-text fields %s; go accepted", payloads[i], r.Decoded)
				}
				odd++
				continue
			}
		}
		switch {
		case r.OK && err == nil:
			okBoth++
			if diff := compareDecoded(p, dec); diff != "" {
				bad++
				if bad <= 30 {
					t.Errorf("%x: fields differ: %s", payloads[i], diff)
				}
			}
		case !r.OK && err != nil:
			errBoth++
		case knownDivergence(payloads[i], r.Error, err):
			known++
		default:
			bad++
			if bad <= 30 {
				t.Errorf("%x: python ok=%v %s; go %v", payloads[i], r.OK, r.Error, err)
			}
		}
	}
	t.Logf("%d payloads: %d both ok, %d both rejected, %d with non-text Python fields, %d known divergences, %d differ", n, okBoth, errBoth, odd, known, bad)
}

// knownDivergence accepts the documented differences: Go requires the
// exact field count (Python ignores extra elements), refuses maps where
// Python would iterate a dict's keys, and py_decode.py's --v10 emulation
// lacks keystone's raw=True retry (upstream >= 23 has it for v10 too).
func knownDivergence(b []byte, pyErr string, goErr error) bool {
	if goErr != nil {
		msg := goErr.Error()
		if strings.Contains(msg, "wrong number of fields") || strings.Contains(msg, "expected an array") {
			return true
		}
	}
	return goErr == nil && len(b) > 1 && b[1] == 0x0a && strings.Contains(pyErr, "version: 10")
}

func compareDecoded(p *Payload, want *vectorFields) string {
	var d []string
	chk := func(name, got, w string) {
		if got != w {
			d = append(d, name+"="+got+" want "+w)
		}
	}
	chk("user_id", p.UserID, str(want.UserID))
	chk("system", p.System, str(want.System))
	chk("domain_id", p.DomainID, str(want.DomainID))
	chk("project_id", p.ProjectID, str(want.ProjectID))
	chk("trust_id", p.TrustID, str(want.TrustID))
	chk("idp", p.IdentityProviderID, str(want.IdentityProviderID))
	chk("protocol", p.ProtocolID, str(want.ProtocolID))
	chk("access_token_id", p.AccessTokenID, str(want.AccessTokenID))
	chk("app_cred_id", p.AppCredID, str(want.AppCredID))
	chk("thumbprint", p.Thumbprint, str(want.Thumbprint))
	chk("expires_at", FormatTime(p.ExpiresAt), str(want.ExpiresAt))
	if !reflect.DeepEqual(p.Methods, want.Methods) && !(len(p.Methods) == 0 && len(want.Methods) == 0) {
		d = append(d, "methods")
	}
	if !reflect.DeepEqual(p.AuditIDs, want.AuditIDs) && !(len(p.AuditIDs) == 0 && len(want.AuditIDs) == 0) {
		d = append(d, "audit_ids")
	}
	if len(p.FederatedGroupIDs) != len(want.FederatedGroupIDs) {
		d = append(d, "groups")
	} else {
		for i, g := range want.FederatedGroupIDs {
			if p.FederatedGroupIDs[i] != g.ID {
				d = append(d, "group")
			}
		}
	}
	return strings.Join(d, "; ")
}
