package passkey

import "strings"

// maxTransports bounds what is stored from a client-supplied list.
const maxTransports = 8

// ParseTransports reads the stored transports column: comma-separated
// tokens of lower-case letters, digits and '-' (WebAuthn
// AuthenticatorTransport values such as usb, nfc, ble, hybrid, internal).
// Anything else is dropped, as are duplicates, so a damaged column never
// produces an invalid descriptor.
func ParseTransports(s string) []string {
	out := []string{}
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if !validTransport(t) {
			continue
		}
		dup := false
		for _, o := range out {
			if o == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
		if len(out) == maxTransports {
			break
		}
	}
	return out
}

// FormatTransports is the inverse of ParseTransports (invalid tokens are
// dropped the same way).
func FormatTransports(ts []string) string {
	return strings.Join(ParseTransports(strings.Join(ts, ",")), ",")
}

func validTransport(t string) bool {
	if t == "" || len(t) > 32 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
