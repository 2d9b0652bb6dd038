package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/labstack/echo/v4"
)

// errorHandler renders every error in Keystone's JSON shape. It is the only
// place errors reach the client; causes are logged with the request id.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apierror.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			msg = "The resource could not be found."
		case http.StatusMethodNotAllowed:
			msg = "The method is not allowed for the requested URL."
		case http.StatusRequestEntityTooLarge:
			msg = "Request is too large."
		case http.StatusServiceUnavailable:
			msg = "The service is temporarily unavailable; try again."
		}
		ae = apierror.New(he.Code, msg)
		if he.Internal != nil {
			ae.Cause = he.Internal
		}
	default:
		ae = apierror.Internal(err)
	}
	log := s.logger(c)
	if ae.Code >= 500 {
		log.ErrorContext(c.Request().Context(), "request failed", "status", ae.Code, "error", ae.Cause)
	} else if ae.Cause != nil {
		log.DebugContext(c.Request().Context(), "request refused", "status", ae.Code, "error", ae.Cause)
	}
	if c.Request().URL.Path == oauth2TokenPath {
		// The token endpoint answers in RFC 6749 §5.2's shape even when
		// the refusal comes before its handler (body limit, rate limit,
		// method, panic).
		s.writeOAuth2Error(c, oauth2ErrorOf(ae), false)
		return
	}
	if ae.Code == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Keystone uri="`+s.baseURL(c)+`/v3"`)
	}
	body := ErrorBody(ae)
	if s.LegacyErrorBodies && strings.HasPrefix(c.Request().URL.Path, "/v3/") {
		body = LegacyErrorBody(ae)
	}
	if c.Request().Method == http.MethodHead {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/json")
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
		c.Response().WriteHeader(ae.Code)
		return
	}
	_ = c.Blob(ae.Code, "application/json", body)
}

// ErrorBody renders Keystone's error JSON as Flask's jsonify does:
// compact, keys sorted, non-ASCII escaped.
func ErrorBody(ae *apierror.Error) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendInt(b, int64(ae.Code), 10)
	b = append(b, `,"message":`...)
	b = pyjson.AppendString(b, ae.Message)
	b = append(b, `,"title":`...)
	b = pyjson.AppendString(b, ae.Title)
	return append(b, "}}\n"...)
}

// LegacyErrorBody renders Keystone's error JSON as the releases before
// Stein (Queens, Rocky) did, with json.dumps through webob: keys in the
// order code, title, message, json.dumps' ", " and ": " separators,
// non-ASCII escaped, no trailing newline.
func LegacyErrorBody(ae *apierror.Error) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"error": {"code": `...)
	b = strconv.AppendInt(b, int64(ae.Code), 10)
	b = append(b, `, "title": `...)
	b = pyjson.AppendString(b, ae.Title)
	b = append(b, `, "message": `...)
	b = pyjson.AppendString(b, ae.Message)
	return append(b, "}}"...)
}

func (s *Server) logger(c echo.Context) *slog.Logger {
	if id, ok := c.Get(requestIDKey).(string); ok {
		return s.Log.With("request_id", id)
	}
	return s.Log
}
