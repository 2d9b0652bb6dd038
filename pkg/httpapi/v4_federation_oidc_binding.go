package httpapi

// Binding a code-flow login to the client that started it (issue 14,
// finding 5). The OAuth state alone proves nothing about who brings the
// callback back: an attacker who starts a login and hands the victim the
// callback URL (login CSRF), or who intercepts a CLI's loopback redirect,
// would otherwise complete it. So:
//   - a browser login sets a __Host- cookie at .../login and the GET
//     callback requires it (RFC 6749 §10.12: bind state to the user agent);
//   - an API login (keystone-ng login) sends a PKCE code_challenge to
//     .../auth and the POST callback requires the code_verifier (RFC 7636
//     §4, S256 only), so (state, code) without the verifier is useless.
// Both checks run inside oidcflow.Flow.Finish after the state is taken and
// before the code is exchanged: a refusal consumes the state and writes
// nothing.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
)

const (
	// loginCookieName: the __Host- prefix makes the browser refuse the
	// cookie unless it is Secure, has Path=/ and no Domain, so neither a
	// sibling host nor a plain-http response can plant or overwrite it
	// (RFC 6265bis §4.1.3.2).
	loginCookieName = "__Host-ksng-login"
	// loginCookieMaxAge covers the longest login state (oidcflow's
	// StateTTL is at most one hour).
	loginCookieMaxAge = time.Hour
)

// Refusals of a login binding; the cause is logged, the client sees 401.
var (
	errNotBrowserLogin = errors.New("login was not started by a browser (GET .../login)")
	errNotAPILogin     = errors.New("login was started by a browser, not by POST .../auth")
	errNoLoginCookie   = errors.New("no " + loginCookieName + " cookie")
	errLoginCookie     = errors.New(loginCookieName + " cookie does not match the login")
	errNoVerifier      = errors.New("no or malformed code_verifier")
	errVerifier        = errors.New("code_verifier does not match the code_challenge")
)

// loginCookieValue returns the browser's login cookie when it has a valid
// one (so that two logins started in two tabs both finish), else a new
// value.
func loginCookieValue(r *http.Request) string {
	if ck, err := r.Cookie(loginCookieName); err == nil && oidcflow.ValidID(ck.Value) {
		return ck.Value
	}
	return oidcflow.RandomID()
}

// loginCookie is the Set-Cookie of a browser login: Secure, HttpOnly,
// Path=/, no Domain (the __Host- rules), SameSite=Lax so that the
// identity provider's top-level GET redirect to the callback carries it
// (Strict would drop it on that cross-site navigation).
func loginCookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     loginCookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   int(loginCookieMaxAge / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// bindingHash is what the login state keeps of the cookie: SHA-256,
// base64url (the S256 transformation). The database never holds the
// cookie itself.
func bindingHash(v string) string { return s256(v) }

func decodeOIDCExtra(raw json.RawMessage) (oidcExtra, error) {
	var x oidcExtra
	if len(raw) == 0 {
		return x, nil
	}
	err := json.Unmarshal(raw, &x)
	return x, err
}

// browserCheck accepts only a login started by GET .../login in the
// browser that presents cookie.
func browserCheck(cookie string) oidcflow.Check {
	return func(raw json.RawMessage) error {
		x, err := decodeOIDCExtra(raw)
		if err != nil {
			return err
		}
		if !x.Browser {
			return errNotBrowserLogin
		}
		if cookie == "" {
			return errNoLoginCookie
		}
		if x.CookieHash == "" || subtle.ConstantTimeCompare([]byte(bindingHash(cookie)), []byte(x.CookieHash)) != 1 {
			return errLoginCookie
		}
		return nil
	}
}

// apiCheck accepts only a login started by POST .../auth whose
// code_challenge is S256(verifier) (RFC 7636 §4.6).
func apiCheck(verifier string) oidcflow.Check {
	return func(raw json.RawMessage) error {
		x, err := decodeOIDCExtra(raw)
		if err != nil {
			return err
		}
		if x.Browser {
			return errNotAPILogin
		}
		if !validCodeVerifier(verifier) || x.CodeChallenge == "" {
			return errNoVerifier
		}
		if subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(x.CodeChallenge)) != 1 {
			return errVerifier
		}
		return nil
	}
}

// s256 is RFC 7636 §4.2's S256 transformation.
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// validCodeVerifier: RFC 7636 §4.1, 43 to 128 characters of
// [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validCodeVerifier(s string) bool {
	return len(s) >= 43 && len(s) <= 128 && onlyChars(s, "-._~")
}

// validCodeChallenge: an S256 challenge is the base64url SHA-256 of the
// verifier, always 43 characters.
func validCodeChallenge(s string) bool { return oidcflow.ValidID(s) }

// validPageNonce: the login page's nonce (it sends 32 random bytes,
// base64url); 22 to 128 base64url characters.
func validPageNonce(s string) bool {
	return len(s) >= 22 && len(s) <= 128 && onlyChars(s, "-_")
}

func onlyChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}
