// Package apierror holds the typed errors keystone-ng answers with. Every
// error a client sees is rendered in one place (the HTTP layer) in
// Keystone's shape {"error": {"code", "title", "message"}}; internal causes
// stay in Cause and go to the log only.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a client-facing error with Keystone's code, title and message.
type Error struct {
	Code    int
	Title   string
	Message string
	// Cause is logged, never sent to the client.
	Cause error
	// LogMessage, when set, stands for Message in Error() (and so in every
	// log line): a message that repeats a secret back to its sender, such
	// as Queens' "This is not a recognized Fernet token <token>", must not
	// reach the log.
	LogMessage string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.LogMessage != "" {
		msg = e.LogMessage
	}
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s (%v)", e.Code, e.Title, msg, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Code, e.Title, msg)
}

func (e *Error) Unwrap() error { return e.Cause }

// Titles are the HTTP reason phrases Keystone puts in "title".
func title(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}

// New builds an error with the standard title for code.
func New(code int, message string) *Error {
	return &Error{Code: code, Title: title(code), Message: message}
}

// Messages Keystone uses verbatim (keystone/exception.py).
const (
	// MsgUnauthorized is keystone.exception.Unauthorized's generic text.
	MsgUnauthorized = "The request you have made requires authentication."
	// MsgForbidden is keystone.exception.Forbidden's generic text.
	MsgForbidden = "You are not authorized to perform the requested action."
	// MsgInternal is keystone.exception.UnexpectedError's generic text.
	MsgInternal = "An unexpected error prevented the server from fulfilling your request."
)

// TokenNotFound is keystone.exception.TokenNotFound(token_id=...): 404 with
// "Could not find token: <id>.".
func TokenNotFound(tokenID string) *Error {
	return New(http.StatusNotFound, "Could not find token: "+tokenID+".")
}

// Validation is keystone.exception.ValidationError(attribute=, target=):
// 400 "Expecting to find <attribute> in <target>. ...".
func Validation(attribute, target string) *Error {
	return New(http.StatusBadRequest, fmt.Sprintf("Expecting to find %s in %s. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.", attribute, target))
}

// NotFound is a 404 with a custom message (ProjectNotFound(msg) etc.).
func NotFound(msg string) *Error { return New(http.StatusNotFound, msg) }

// Unauthorized is the generic 401.
func Unauthorized() *Error { return New(http.StatusUnauthorized, MsgUnauthorized) }

// Forbidden is a 403; msg empty means Keystone's generic text.
func Forbidden(msg string) *Error {
	if msg == "" {
		msg = MsgForbidden
	}
	return New(http.StatusForbidden, msg)
}

// ForbiddenAction is keystone.exception.ForbiddenAction, raised by policy
// enforcement.
func ForbiddenAction(action string) *Error {
	return New(http.StatusForbidden, fmt.Sprintf("You are not authorized to perform the requested action: %s.", action))
}

// Internal wraps an unexpected failure; the cause is logged only.
func Internal(cause error) *Error {
	e := New(http.StatusInternalServerError, MsgInternal)
	e.Cause = cause
	return e
}

// As extracts an *Error, converting anything else into an internal error.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}
