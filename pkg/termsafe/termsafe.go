// Package termsafe checks and cleans text that an identity provider
// supplies and a client shows to a person: the device flow's
// verification_uri and user_code (RFC 8628 §3.2), an authorization URL,
// an error description. Printed raw to a terminal, such text could carry
// escape sequences (ECMA-48 CSI/OSC: move the cursor, rewrite earlier
// lines, set the window title, OSC 8 hyperlinks that show one URL and
// open another) or bidirectional overrides that make the text read
// differently from what it is. It has no dependency beyond the standard
// library so that both keystone-ng and its CLI use it.
package termsafe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a person is asked to open or type.
const (
	MaxURLLength      = 2048 // bytes; longer is no URL a person should be shown
	MaxUserCodeLength = 32   // RFC 8628 §6.1 suggests 8 characters; providers use up to ~12
)

// Clean returns s without anything a terminal would interpret: C0 and C1
// control characters (tab and newline included: the result is one line),
// DEL, whole escape sequences (ESC or C1 introducers: CSI, OSC, DCS, SOS,
// PM, APC with their parameters and strings), invalid UTF-8, and every
// rune unicode.IsPrint refuses (format characters such as U+202E RIGHT-TO-
// LEFT OVERRIDE, unassigned and private-use code points, separators other
// than the ASCII space).
func Clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n <= 1:
			// invalid UTF-8: dropped
		case r == 0x1b: // ESC
			if i >= len(s) {
				break
			}
			next, m := utf8.DecodeRuneInString(s[i:])
			i += m
			switch next {
			case '[':
				i = skipCSI(s, i)
			case ']', 'P', 'X', '^', '_':
				i = skipString(s, i)
			}
			// any other: a two-character escape, both dropped
		case r == 0x9b: // C1 CSI
			i = skipCSI(s, i)
		case r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f: // C1 OSC, DCS, SOS, PM, APC
			i = skipString(s, i)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// skipCSI skips a control sequence's parameter and intermediate bytes and
// its final byte (ECMA-48 §5.4: final byte 0x40-0x7E); it stops early at
// anything that cannot be part of one.
func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		i++
		switch {
		case c >= 0x40 && c <= 0x7e:
			return i
		case c >= 0x20 && c <= 0x3f:
		default:
			return i - 1 // not part of the sequence: let Clean judge it
		}
	}
	return i
}

// skipString skips a control string (OSC, DCS, ...) up to and including
// its terminator: BEL, ESC \ or C1 ST; unterminated, to the end.
func skipString(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case 0x07, 0x9c:
			return i
		case 0x1b:
			if i < len(s) && s[i] == '\\' {
				return i + 1
			}
			return i
		}
	}
	return i
}

// ErrUnsafe is wrapped by every refusal of URL and UserCode.
var ErrUnsafe = errors.New("unsafe text from the identity provider")

// URL checks a URL a person is told to open (verification_uri,
// verification_uri_complete, authorization URL): printable ASCII only (no
// spaces, controls or look-alike Unicode; a host in another script comes
// as punycode), at most MaxURLLength bytes, an absolute https URL with a
// host and no user information (https://cloud.example@evil.example reads
// as the cloud), or http on a loopback host (RFC 8252 §7.3, test IdPs).
func URL(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty URL", ErrUnsafe)
	}
	if len(s) > MaxURLLength {
		return fmt.Errorf("%w: URL longer than %d bytes", ErrUnsafe, MaxURLLength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f {
			return fmt.Errorf("%w: URL with a control, space or non-ASCII character at byte %d", ErrUnsafe, i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrUnsafe)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URL with user information", ErrUnsafe)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: URL without a host", ErrUnsafe)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: http URL on a host that is not loopback (https required)", ErrUnsafe)
	}
	return fmt.Errorf("%w: URL scheme %q (https required)", ErrUnsafe, Clean(u.Scheme))
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// UserCode checks an RFC 8628 user_code: 1 to MaxUserCodeLength
// characters, ASCII letters and digits separated by single '-' or ' '
// (§6.1: "BCDF-GHJK", Google's "ABC-DEF-GHI", Microsoft's "F7KQ2BXYZ").
func UserCode(s string) error {
	if s == "" || len(s) > MaxUserCodeLength {
		return fmt.Errorf("%w: user code of %d bytes (1 to %d allowed)", ErrUnsafe, len(s), MaxUserCodeLength)
	}
	prevSep := true // no leading separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			prevSep = false
		case (c == '-' || c == ' ') && !prevSep:
			prevSep = true
		default:
			return fmt.Errorf("%w: user code with a character other than letters, digits and single '-' or ' ' separators", ErrUnsafe)
		}
	}
	if prevSep {
		return fmt.Errorf("%w: user code ends with a separator", ErrUnsafe)
	}
	return nil
}
