package payload

import (
	"encoding/hex"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/fernet"
)

// A project-scoped (v2) token made by Python Keystone 22.0.2
// (testdata/vectors.json "v2_project_uuid"), 183 characters, sealed with
// key "2", the primary of the three-key repository below.
const (
	benchToken = "gAAAAABw3UcVL8Kniz9aXf2Vd9kcayatZG63cvSKdiZZequDZCn8J5eOXco2LBGSStafuMVIjc4Jvb4AwGQS6oq0_ITls1Holinynx-n1ENZKEuAB0Pba1uyEDhbUpgOAKTu7RL50HaSoMfs7BVaYeWhlMi_jDF33RYcJqT2SP4xr3k3L95Jvvc"
	benchPlain = "960292c3c410ee11cbb19052e40b07aac0ca060c23ee0292c3c41046f86faa6bbf9ac94a7e459509a20ed0cb41dc37554940000091c410a4723995db2afad5857155f278a77918"
)

var benchKeys = []string{ // primary first: files 2, 1, 0
	"MG-ekS_D9GERyX7-lH1flYO5Zdi4kWpKbklA3l5qUlE=",
	"HdAECO2xns5iiyl-YlMXjUZM3j8-XX8aDYJ7VhpQBm4=",
	"wFA-w97_q3eGpEj6m06QQOZ5OhiA-77T5rK996uaJBY=",
}

// BenchmarkDecodeProjectToken is the validation hot path up to the
// database: Fernet decrypt (primary key) plus payload decode.
func BenchmarkDecodeProjectToken(b *testing.B) {
	ks, err := fernet.NewKeySet(benchKeys...)
	if err != nil {
		b.Fatal(err)
	}
	c := &Codec{}
	b.ReportAllocs()
	for b.Loop() {
		pt, _, err := ks.Decrypt(benchToken)
		if err != nil {
			b.Fatal(err)
		}
		p, err := c.Decode(pt)
		if err != nil || p.ProjectID == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the payload decode alone.
func BenchmarkDecode(b *testing.B) {
	pt, _ := hex.DecodeString(benchPlain)
	c := &Codec{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(pt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode is the payload encode of the same project token.
func BenchmarkEncode(b *testing.B) {
	pt, _ := hex.DecodeString(benchPlain)
	c := &Codec{}
	p, _ := c.Decode(pt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}
