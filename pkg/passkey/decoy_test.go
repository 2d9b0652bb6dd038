package passkey

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Decoys for many unknown names must look like real users' lists: the
// count, the id lengths and the transports vary over names, every shape is
// one a real authenticator produces, and one name always gets one answer.
func TestDecoyCredentialsVaryLikeRealOnes(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	realShape := map[string]bool{}
	for _, p := range decoyProfiles {
		realShape[shape(p.idLen, p.transports)] = true
	}
	counts := map[int]int{}
	lengths := map[int]int{}
	shapes := map[string]int{}
	const names = 2000
	for i := range names {
		key := fmt.Sprintf("name\x00user%d\x00id\x00default", i)
		got := DecoyCredentials(secret, key)
		if again := DecoyCredentials(secret, key); !reflect.DeepEqual(got, again) {
			t.Fatalf("%q: decoy not stable: %v vs %v", key, got, again)
		}
		counts[len(got)]++
		seen := map[string]bool{}
		for _, c := range got {
			if c.Type != "public-key" {
				t.Fatalf("type %q", c.Type)
			}
			lengths[len(c.CredentialID)]++
			s := shape(len(c.CredentialID), c.Transport)
			if !realShape[s] {
				t.Fatalf("%q: shape %s is no real authenticator's", key, s)
			}
			shapes[s]++
			ts := make([]string, len(c.Transport))
			for j, tr := range c.Transport {
				ts[j] = string(tr)
			}
			if !slices.IsSorted(ts) {
				t.Fatalf("transports %v not in getTransports() order", ts)
			}
			id := string(c.CredentialID)
			if seen[id] {
				t.Fatalf("%q: the same credential id twice", key)
			}
			seen[id] = true
		}
	}
	// One to three credentials, mostly one, each count common enough.
	for n := 1; n <= 3; n++ {
		if counts[n] < names/20 {
			t.Errorf("%d credentials in %d of %d decoys; want every count of 1..3 to occur often (%v)", n, counts[n], names, counts)
		}
	}
	if len(counts) != 3 || counts[1] < counts[2] || counts[2] < counts[3] {
		t.Errorf("counts %v: want only 1..3, most often 1", counts)
	}
	for _, l := range []int{16, 20, 32, 48, 64} {
		if lengths[l] == 0 {
			t.Errorf("no decoy credential of %d bytes (%v)", l, lengths)
		}
	}
	if len(shapes) != len(decoyProfiles) {
		t.Errorf("%d of %d authenticator shapes drawn: %v", len(shapes), len(decoyProfiles), shapes)
	}
	// No shape dominates: the most common stays well under half.
	for s, n := range shapes {
		if total := counts[1] + 2*counts[2] + 3*counts[3]; n*2 > total {
			t.Errorf("shape %s is %d of %d credentials", s, n, total)
		}
	}
	// Another secret (another deployment) gives other decoys for a name.
	k := "name\x00mallory\x00id\x00default"
	if reflect.DeepEqual(DecoyCredentials(secret, k), DecoyCredentials([]byte("another secret"), k)) {
		t.Error("decoy does not depend on the secret")
	}
}

func shape(idLen int, transports any) string {
	v := reflect.ValueOf(transports)
	parts := make([]string, v.Len())
	for i := range parts {
		parts[i] = v.Index(i).String()
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d/%s", idLen, strings.Join(parts, ","))
}
