package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/ratelimit"
	"github.com/labstack/echo/v4"
)

// rateLimitedRoutes are the unauthenticated /v4 routes that write rows
// (ceremonies, login state, jti records, provisioned users) or make
// keystone-ng call an identity provider: method and echo route pattern
// (c.Path()). Every one of them counts against the client's one bucket
// ([keystone_ng] login_rate_limit, login_rate_burst).
var rateLimitedRoutes = map[string]bool{
	"POST /v4/auth/passkey/start":                           true,
	"POST /v4/auth/passkey/finish":                          true,
	"POST /v4/federation/identity_providers/:idp_id/auth":   true,
	"GET /v4/federation/identity_providers/:idp_id/login":   true,
	"POST /v4/federation/identity_providers/:idp_id/device": true,
	"POST /v4/federation/oidc/device/token":                 true,
	"POST " + oidcCallbackPath:                              true,
	"GET " + oidcCallbackPath:                               true,
	"POST /v4/federation/identity_providers/:idp_id/jwt":    true,
	"POST /v4/oauth2/token":                                 true,
}

// rateLimited reports whether a request to the matched route counts
// against the login rate limit.
func rateLimited(method, route string) bool {
	// Validation (/v3) never counts: answered without building the key,
	// so the hot path allocates nothing here.
	if !strings.HasPrefix(route, "/v4/") {
		return false
	}
	return rateLimitedRoutes[method+" "+route]
}

// loginRateLimit answers 429 with Retry-After, before the handler runs (so
// a refused request writes nothing), when the client has used up its
// bucket. The client is ClientOf the request (X-Forwarded-For only from a
// trusted proxy). Registered with e.Use, so it runs after routing and
// c.Path() is the matched pattern.
func (s *Server) loginRateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.LoginLimiter == nil || !rateLimited(c.Request().Method, c.Path()) {
			return next(c)
		}
		r := c.Request()
		ok, wait := s.LoginLimiter.Allow(ratelimit.Key(s.TrustedProxies.ClientOf(r)), time.Now())
		if ok {
			return next(c)
		}
		if s.Metrics != nil {
			s.Metrics.RateLimited(c.Path())
		}
		// RFC 6585 §4 and RFC 9110 §10.2.3: the client may retry after
		// this many seconds.
		c.Response().Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		return apierror.New(http.StatusTooManyRequests,
			"Too many login requests from this client; retry after the time given in Retry-After.")
	}
}
