package oidcflow

import (
	"net/url"
	"strconv"
	"strings"
)

// RedirectAllowed reports whether uri is one of the registered redirect
// URIs: an exact string match, or the loopback rule of RFC 8252 §7.3: a
// registered "http://127.0.0.1/<path>", "http://[::1]/<path>" or
// "http://localhost/<path>" without a port matches that same host and
// path (and query) on any port. Nothing is normalised: scheme and host
// must be spelled as registered.
func RedirectAllowed(registered []string, uri string) bool {
	if uri == "" {
		return false
	}
	for _, r := range registered {
		if r == uri {
			return true
		}
	}
	u, ok := loopbackParts(uri, true)
	if !ok {
		return false
	}
	for _, r := range registered {
		if reg, ok := loopbackParts(r, false); ok && reg == u {
			return true
		}
	}
	return false
}

// loopbackParts splits a loopback redirect URI into what must match
// (host and the rest after the authority). withPort: the URI may carry a
// port (the client's), which is dropped; otherwise it must have none (the
// registered form).
func loopbackParts(raw string, withPort bool) (string, bool) {
	const scheme = "http://"
	if !strings.HasPrefix(raw, scheme) {
		return "", false
	}
	rest := raw[len(scheme):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "#") || strings.ContainsAny(authority, "@%") {
		return "", false
	}
	host := authority
	switch {
	case strings.HasPrefix(authority, "[::1]"):
		host = "[::1]"
	case strings.HasPrefix(authority, "127.0.0.1"):
		host = "127.0.0.1"
	case strings.HasPrefix(authority, "localhost"):
		host = "localhost"
	default:
		return "", false
	}
	port := authority[len(host):]
	if port != "" {
		if !withPort || port[0] != ':' {
			return "", false
		}
		n, err := strconv.Atoi(port[1:])
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port[1:] {
			return "", false
		}
	}
	if tail == "" {
		tail = "/"
	}
	if _, err := url.Parse(raw); err != nil {
		return "", false
	}
	return host + tail, true
}
