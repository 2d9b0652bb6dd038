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
	ctx := c.Request().Context()
	login, err := s.V4.Federation.JWTLogin(ctx, c.Param("idp_id"), raw, strings.TrimSpace(c.Request().Header.Get("OpenStack-Mapping")))
	if err != nil {
		return err
	}
	issued, err := s.V4.Issuer.Issue(ctx, login.Grant())
	if err != nil {
		// A refused login writes nothing: undo its provisioning.
		if rerr := login.Rollback(ctx); rerr != nil {
			return apierror.Internal(rerr)
		}
		return err
	}
	// Remembered before the token is handed out: the policy must never
	// see a workload token it cannot recognise.
	if w := s.workloadTokens(); w != nil {
		p := issued.Token.Payload
		if err := w.RecordWorkloadToken(ctx, p.AuditIDs[0], login.IdPID, p.ExpiresAt); err != nil {
			return apierror.Internal(err)
		}
	}
	return s.RespondToken(c, issued)
}

type errUnauthorized string

func (e errUnauthorized) Error() string { return string(e) }
