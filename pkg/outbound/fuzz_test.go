package outbound

import (
	"net/netip"
	"net/url"
	"testing"
)

// FuzzCheckURL: an accepted URL is absolute, http(s), without user info,
// and an IP-literal host in it is permitted.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://idp.example.com/x", "http://127.0.0.1:5432/", "https://[::1]/", "https://169.254.169.254/latest",
		"https://user@host/", "ftp://x", "https://[::ffff:10.0.0.1]/", "https://0x7f.1/", "https://2130706433/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(raw, nil) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("CheckURL accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			if perr := Permitted(ip, nil); perr != nil {
				t.Fatalf("CheckURL accepted %q with a refused address: %v", raw, perr)
			}
		}
	})
}
