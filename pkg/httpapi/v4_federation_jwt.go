package httpapi

import (
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/labstack/echo/v4"
)

// federationJWTLogin is POST /v4/federation/identity_providers/{id}/jwt:
// workload login with "Authorization: Bearer <JWT>" and an optional
// "OpenStack-Mapping: <name>". Every refusal is Keystone's generic 401.
func (s *Server) federationJWTLogin(c echo.Context) error {
	h := c.Request().Header.Get("Authorization")
	raw := ""
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		raw = strings.TrimSpace(h[7:])
	}
	if raw == "" {
		e := apierror.Unauthorized()
		e.Cause = errUnauthorized("missing bearer JWT")
		return e
	}
	mapping := strings.TrimSpace(c.Request().Header.Get("OpenStack-Mapping"))
	issued, err := s.V4.Logins.Login(c.Request().Context(), s.V4.Federation.JWT(c.Param("idp_id"), raw, mapping))
	if err != nil {
		return err
	}
	return s.RespondToken(c, issued)
}

type errUnauthorized string

func (e errUnauthorized) Error() string { return string(e) }
