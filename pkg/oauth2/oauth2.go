// Package oauth2 is the vocabulary of keystone-ng's token endpoint,
// POST /v4/oauth2/token: its grant types and RFC 6749 §5.2's error
// answer, shared by every grant (client credentials in pkg/serviceaccount,
// token exchange in pkg/tokenexchange) so that each refusal is rendered
// by one writer (pkg/httpapi) in one shape.
package oauth2

import "net/http"

// Grant types the endpoint serves.
const (
	// GrantClientCredentials is RFC 6749 §4.4.
	GrantClientCredentials = "client_credentials"
	// GrantTokenExchange is RFC 8693 §2.1.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Error is an RFC 6749 §5.2 error answer.
type Error struct {
	Code        string // invalid_request, invalid_client, invalid_grant, ...
	Description string // safe for the client
	Status      int
	Cause       error // for the log only
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// New is an error answer with its code, status and description.
func New(code string, status int, desc string, cause error) *Error {
	return &Error{Code: code, Status: status, Description: desc, Cause: cause}
}

// InvalidRequest is a malformed or unacceptable request (RFC 6749 §5.2;
// RFC 8693 §2.2.2 uses it for an invalid subject token too).
func InvalidRequest(desc string) *Error {
	return New("invalid_request", http.StatusBadRequest, desc, nil)
}

// InvalidScope is a scope the server will not grant (RFC 6749 §5.2).
func InvalidScope(desc string) *Error {
	return New("invalid_scope", http.StatusBadRequest, desc, nil)
}

// InvalidAuthorizationDetails is RFC 9396 §5's refusal of an
// authorization_details parameter.
func InvalidAuthorizationDetails(desc string) *Error {
	return New("invalid_authorization_details", http.StatusBadRequest, desc, nil)
}

// UnsupportedGrantType names the grants served.
func UnsupportedGrantType() *Error {
	return New("unsupported_grant_type", http.StatusBadRequest,
		"Supported grant types: "+GrantClientCredentials+", "+GrantTokenExchange+".", nil)
}
