package passkey

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTransports(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: []string{}},
		{name: "one", in: "usb", want: []string{"usb"}},
		{name: "several", in: "hybrid,internal", want: []string{"hybrid", "internal"}},
		{name: "spaces and empties", in: " usb ,, nfc ,", want: []string{"usb", "nfc"}},
		{name: "duplicates", in: "usb,usb,nfc,usb", want: []string{"usb", "nfc"}},
		{name: "junk dropped", in: "USB,smart card,<x>,ble", want: []string{"ble"}},
		{name: "bounded", in: "a,b,c,d,e,f,g,h,i,j", want: []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseTransports(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseTransports(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseTransports(f *testing.F) {
	for _, s := range []string{"", "usb", "hybrid,internal", " usb ,, nfc ,", "a,b,c,d,e,f,g,h,i", "\xff,usb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseTransports(s)
		if len(got) > maxTransports {
			t.Fatalf("%d transports", len(got))
		}
		seen := map[string]bool{}
		for _, tr := range got {
			if !validTransport(tr) || seen[tr] {
				t.Fatalf("bad or duplicate transport %q", tr)
			}
			seen[tr] = true
		}
		// Round trip: the stored form parses back to the same list.
		stored := FormatTransports(got)
		if again := ParseTransports(stored); !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip %q -> %q -> %q", s, stored, again)
		}
		if strings.Contains(stored, " ") {
			t.Fatalf("stored form has spaces: %q", stored)
		}
	})
}
