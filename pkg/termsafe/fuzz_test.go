package termsafe

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzClean: whatever an identity provider sends, the cleaned text is
// valid UTF-8 without a rune a terminal would interpret, and cleaning is
// idempotent; URL and UserCode never accept what Clean would change.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "ABCD-EFGH", "https://idp.example.com/device", "\x1b[31mred\x1b[0m", "\x1b]8;;http://evil\x07link\x1b]8;;\x07",
		"a\u202eb", "\x9b2J", "x\xffy", "line\nbreak\ttab", "\x1bP+q\x1b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, c)
		}
		for _, r := range c {
			if r != ' ' && (!unicode.IsPrint(r) || r < 0x20 || (r >= 0x7f && r < 0xa0)) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, c, r)
			}
		}
		if Clean(c) != c {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
		if URL(s) == nil && Clean(s) != s {
			t.Fatalf("URL accepted %q, which Clean changes", s)
		}
		if UserCode(s) == nil && Clean(s) != s {
			t.Fatalf("UserCode accepted %q, which Clean changes", s)
		}
	})
}
