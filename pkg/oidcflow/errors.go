package oidcflow

import (
	"errors"
	"net/http"
)

// Errors returned by Flow. Each is a sentinel to test with errors.Is; the
// underlying cause (a zitadel/oidc verification error, an IdP error
// response, a network error) is wrapped alongside it where there is one.
var (
	// ErrInvalidProvider: the Provider configuration is unusable (missing
	// issuer or client id, HS256 without a client secret, ...).
	ErrInvalidProvider = errors.New("oidcflow: invalid identity provider configuration")
	// ErrRedirectURINotAllowed: the redirect URI is not one of the
	// provider's registered redirect URIs (exact string match).
	ErrRedirectURINotAllowed = errors.New("oidcflow: redirect URI not allowed")
	// ErrInvalidRequest: a malformed argument (extra not JSON, missing code).
	ErrInvalidRequest = errors.New("oidcflow: invalid request")
	// ErrStateNotFound: no such login state: unknown, already used
	// (replay), or taken by a concurrent request.
	ErrStateNotFound = errors.New("oidcflow: unknown or already used login state")
	// ErrStateExpired: the login state existed but its time is over. It
	// is deleted all the same.
	ErrStateExpired = errors.New("oidcflow: login state expired")
	// ErrLoginBinding: a Check given to Finish refused the login (the
	// callback does not come from the client that started it). The state
	// is consumed and the code was not exchanged.
	ErrLoginBinding = errors.New("oidcflow: login not bound to this client")
	// ErrProviderUnavailable: discovery, JWKS or the token endpoint could
	// not be reached or answered garbage.
	ErrProviderUnavailable = errors.New("oidcflow: identity provider unavailable")
	// ErrTokenExchange: the token endpoint refused the code (invalid,
	// replayed or tampered code, wrong PKCE verifier, wrong client).
	ErrTokenExchange = errors.New("oidcflow: authorization code refused by the identity provider")
	// ErrIDToken: the ID token failed verification (signature, issuer,
	// audience, azp, expiry, iat, nonce, algorithm). errors.Is also
	// matches the zitadel/oidc cause, e.g. oidc.ErrNonceInvalid.
	ErrIDToken = errors.New("oidcflow: ID token rejected")
	// ErrUserinfo: the userinfo endpoint failed or its sub differs from
	// the ID token's.
	ErrUserinfo = errors.New("oidcflow: userinfo rejected")

	// ErrDeviceUnsupported: the provider's discovery document has no
	// device_authorization_endpoint.
	ErrDeviceUnsupported = errors.New("oidcflow: identity provider does not support the device authorization grant")
	// ErrAuthorizationPending: the user has not approved yet; poll again
	// after the interval (RFC 8628 §3.5).
	ErrAuthorizationPending = errors.New("oidcflow: authorization pending")
	// ErrSlowDown: poll less often; the interval was increased by 5 s.
	ErrSlowDown = errors.New("oidcflow: slow down")
	// ErrExpired: the device code expired before approval.
	ErrExpired = errors.New("oidcflow: device code expired")
	// ErrAccessDenied: the user refused the device login.
	ErrAccessDenied = errors.New("oidcflow: access denied")
)

// PollError is returned by PollDevice while the login is not complete:
// errors.Is(err, ErrAuthorizationPending) or ErrSlowDown; Interval is how
// many seconds the client must wait before polling again.
type PollError struct {
	Reason   error // ErrAuthorizationPending or ErrSlowDown
	Interval int
}

func (e *PollError) Error() string { return e.Reason.Error() }
func (e *PollError) Unwrap() error { return e.Reason }

// StatusCode is a suggestion for the HTTP layer: the status an error of
// this package maps to (0 when err is not one of this package's).
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrAuthorizationPending), errors.Is(err, ErrSlowDown):
		return http.StatusAccepted
	case errors.Is(err, ErrRedirectURINotAllowed), errors.Is(err, ErrInvalidRequest),
		errors.Is(err, ErrDeviceUnsupported), errors.Is(err, ErrStateNotFound),
		errors.Is(err, ErrStateExpired), errors.Is(err, ErrExpired):
		return http.StatusBadRequest
	case errors.Is(err, ErrTokenExchange), errors.Is(err, ErrIDToken),
		errors.Is(err, ErrUserinfo), errors.Is(err, ErrAccessDenied),
		errors.Is(err, ErrLoginBinding):
		return http.StatusUnauthorized
	case errors.Is(err, ErrProviderUnavailable):
		return http.StatusBadGateway
	case errors.Is(err, ErrInvalidProvider):
		return http.StatusInternalServerError
	}
	return 0
}
