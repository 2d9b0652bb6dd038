package termsafe

import (
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Go to https://idp.example/device", "Go to https://idp.example/device"},
		{"unicode letters kept", "Zugang für Jürgen", "Zugang für Jürgen"},
		{"CSI colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"CSI cursor up and erase line", "ok\x1b[1A\x1b[2Kfake", "okfake"},
		{"OSC title with BEL", "\x1b]0;pwned\x07after", "after"},
		{"OSC 8 hyperlink with ST", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"C1 CSI", "a\u009b31mb", "ab"},
		{"C1 OSC to C1 ST", "a\u009d0;title\u009cb", "ab"},
		{"two-character escape", "a\x1bcb", "ab"},
		{"trailing ESC", "a\x1b", "a"},
		{"unterminated OSC", "a\x1b]0;title", "a"},
		{"C0 and DEL", "a\x00b\x07c\x08d\x7fe\tf\ng\rh", "abcdefgh"},
		{"bidi override", "abc\u202eexe.txt", "abcexe.txt"},
		{"zero width and BOM", "a\u200bb\ufeffc", "abc"},
		{"invalid UTF-8 and raw 0x9b byte", "a\xffb\x9b31mc", "ab31mc"},
		{"line and paragraph separators", "a\u2028b\u2029c", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"https", "https://idp.example/device", true},
		{"https with port and query", "https://idp.example:8443/device?user_code=ABCD-EFGH", true},
		{"http on 127.0.0.1", "http://127.0.0.1:8080/device", true},
		{"http on ::1", "http://[::1]:8080/device", true},
		{"http on localhost", "http://localhost:8080/device", true},
		{"punycode host", "https://xn--e1afmkfd.example/device", true},
		{"http elsewhere", "http://idp.example/device", false},
		{"http on a private address", "http://10.0.0.1/device", false},
		{"javascript", "javascript:alert(1)", false},
		{"file", "file:///etc/passwd", false},
		{"relative", "/device", false},
		{"no host", "https:///device", false},
		{"user information", "https://cloud.example@evil.example/device", false},
		{"escape sequence", "https://idp.example/\x1b[2Jdevice", false},
		{"C1 control", "https://idp.example/\u009b2Jdevice", false},
		{"space", "https://idp.example/ device", false},
		{"newline", "https://idp.example/\ndevice", false},
		{"non-ASCII host (homoglyph)", "https://іdp.example/device", false},
		{"bidi override", "https://idp.example/\u202edevice", false},
		{"empty", "", false},
		{"too long", "https://idp.example/" + strings.Repeat("a", MaxURLLength), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := URL(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("URL(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrUnsafe) {
				t.Fatalf("URL(%q) = %v, not ErrUnsafe", tc.in, err)
			}
		})
	}
}

func TestUserCode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"RFC 8628 example", "WDJB-MJHT", true},
		{"digits", "019-283", true},
		{"no separator", "F7KQ2BXYZ", true},
		{"space separated", "ABC DEF", true},
		{"longest", strings.Repeat("A", MaxUserCodeLength), true},
		{"too long", strings.Repeat("A", MaxUserCodeLength+1), false},
		{"empty", "", false},
		{"escape sequence", "\x1b[2JWDJB", false},
		{"newline", "WDJB\nMJHT", false},
		{"leading separator", "-WDJB", false},
		{"trailing separator", "WDJB-", false},
		{"double separator", "WDJB--MJHT", false},
		{"punctuation", "WDJB;rm", false},
		{"non-ASCII digit", "١٢٣٤", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := UserCode(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("UserCode(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}
