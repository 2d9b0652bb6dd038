// Package httpapi is keystone-ng's HTTP surface, one router for every
// route: GET/HEAD /v3/auth/tokens in Python's request order, /healthz,
// /readyz and /metrics, and the /v4 API (passkey registration, management
// and login; identity providers and mappings; JWT, OIDC code, device and
// browser logins; the login page of subpackage loginpage). Handlers are
// thin: they decode the request, authenticate the caller's token, ask
// pkg/authz for /v4 decisions, call the feature packages (pkg/token and
// pkg/policy for validation, pkg/passkey, pkg/federation, pkg/oidcflow,
// pkg/issue) and render. Middleware gives every request its id, recovery,
// metrics, the access log, body and time limits, and the login routes
// their rate limits (pkg/ratelimit). Errors reach the client only through
// errorHandler, in Keystone's JSON shape.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/policy"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/ratelimit"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

const requestIDKey = "request_id"

// ServiceHeader names the component that produced a response, so that
// operators (and the routing tests) see which side answered.
const ServiceHeader = "OpenStack-Identity-Service"

// Server wires the handlers.
type Server struct {
	Validator *token.Validator
	Policy    *policy.Enforcer
	Metrics   *Metrics
	Log       *slog.Logger
	// Ready reports whether the database and keys are usable.
	Ready func(ctx context.Context) error
	// Warnings, when set, lists what /readyz reports without failing:
	// a degraded dependency that must not take the instance out of
	// service, such as the audit bus (docs/audit.md §5).
	Warnings func() []string
	// PublicEndpoint is [DEFAULT] public_endpoint ("" = from the request).
	PublicEndpoint string
	// AllowExpiredWindow is [token] allow_expired_window.
	AllowExpiredWindow time.Duration
	// AdminToken is the deprecated [DEFAULT] admin_token ("" = off).
	AdminToken     string
	RequestTimeout time.Duration
	MaxBodyBytes   int64
	// V4 enables the /v4 API (nil = validation only).
	V4 *V4
	// TrustedProxies may name the client in X-Forwarded-For ([keystone_ng]
	// trusted_proxies); LoginLimiter limits unauthenticated login requests
	// per client (nil = no limit; ratelimit.go).
	TrustedProxies ratelimit.Proxies
	LoginLimiter   *ratelimit.Limiter
	// LegacyErrorBodies renders the errors of /v3 as Keystone did before
	// its API moved to Flask in Stein (15.0): see LegacyErrorBody.
	LegacyErrorBodies bool
}

// Echo builds the router.
func (s *Server) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	// c.RealIP (access log) believes X-Forwarded-For only from a trusted
	// proxy, like the rate limits.
	e.IPExtractor = func(r *http.Request) string { return s.TrustedProxies.ClientOf(r).String() }
	e.Use(s.requestID, s.recoverer)
	if s.Metrics != nil {
		e.Use(s.Metrics.Middleware())
	}
	e.Use(s.accessLog)
	if s.MaxBodyBytes > 0 {
		e.Use(middleware.BodyLimit(fmt.Sprintf("%dB", s.MaxBodyBytes)))
	}
	if s.RequestTimeout > 0 {
		e.Use(s.deadline)
	}
	e.GET("/v3/auth/tokens", s.validateToken)
	e.HEAD("/v3/auth/tokens", s.validateToken)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.Metrics != nil {
		e.GET("/metrics", s.Metrics.Handler())
	}
	s.registerV4(e)
	return e
}

// requestID gives every request an id in oslo's "req-<uuid>" form, logged
// and returned in X-Openstack-Request-Id like Python Keystone does.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := newRequestID()
		c.Set(requestIDKey, id)
		h := c.Response().Header()
		h.Set("X-Openstack-Request-Id", id)
		h.Set(ServiceHeader, "keystone-ng")
		// Keystone varies every response on the caller's token.
		h.Set("Vary", "X-Auth-Token")
		// The audit initiator of whatever this request causes: the
		// client (behind trusted proxies only, as the rate limits see it),
		// its user agent and the request id (pkg/audit).
		// Only /v4 causes events: validation, the hot path, skips the
		// request copy this costs.
		r := c.Request()
		if strings.HasPrefix(r.URL.Path, "/v4/") {
			c.SetRequest(r.WithContext(audit.WithRequest(r.Context(), audit.Initiator{
				Address: c.RealIP(), Agent: r.UserAgent(), RequestID: id})))
		}
		return next(c)
	}
}

// newRequestID returns "req-" and a random (version 4) UUID. Built in one
// buffer: fmt cost ten allocations on every request.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	out := make([]byte, 0, 40)
	out = append(out, "req-"...)
	for i, part := range [][]byte{b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]} {
		if i > 0 {
			out = append(out, '-')
		}
		out = hex.AppendEncode(out, part)
	}
	return string(out)
}

// recoverer turns a panic into a logged 500 in Keystone's shape.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				// The stack goes to the log with the error (never to the
				// client, which gets a plain 500): without it a panic
				// cannot be traced.
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return next(c)
	}
}

func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if s.Log.Enabled(c.Request().Context(), slog.LevelDebug) || c.Response().Status >= 500 {
			s.logger(c).LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.Int("status", c.Response().Status),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", c.RealIP()))
		}
		return nil
	}
}

// baseURL is [DEFAULT] public_endpoint or the request's own URL root, as
// Keystone builds WWW-Authenticate and links.
func (s *Server) baseURL(c echo.Context) string {
	if s.PublicEndpoint != "" {
		return strings.TrimRight(s.PublicEndpoint, "/")
	}
	r := c.Request()
	scheme := c.Scheme()
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = strings.TrimSpace(strings.Split(fh, ",")[0])
	}
	return scheme + "://" + host
}

func (s *Server) healthz(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", []byte(`{"status": "ok"}`))
}

func (s *Server) readyz(c echo.Context) error {
	if s.Ready != nil {
		if err := s.Ready(c.Request().Context()); err != nil {
			s.logger(c).WarnContext(c.Request().Context(), "not ready", "error", err)
			return c.Blob(http.StatusServiceUnavailable, "application/json", []byte(`{"status": "unavailable"}`))
		}
	}
	if s.Warnings != nil {
		if w := s.Warnings(); len(w) > 0 {
			return c.Blob(http.StatusOK, "application/json", pyjson.Marshal(pyjson.Object{
				{Key: "status", Value: "ready"}, {Key: "warnings", Value: w}}))
		}
	}
	return c.Blob(http.StatusOK, "application/json", []byte(`{"status": "ready"}`))
}
