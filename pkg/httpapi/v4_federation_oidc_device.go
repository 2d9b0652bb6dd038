package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/labstack/echo/v4"
)

// oidcDeviceStart is POST /v4/federation/identity_providers/{idp_id}/device
// {"scope"?, "mapping"?}: the device authorization grant (RFC 8628).
func (s *Server) oidcDeviceStart(c echo.Context) error {
	var req struct {
		Scope   *issue.ScopeRequest `json:"scope"`
		Mapping string              `json:"mapping"`
	}
	if c.Request().ContentLength != 0 {
		if err := DecodeJSON(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	p, err := s.V4.Federation.OIDCProvider(ctx, c.Param("idp_id"))
	if err != nil {
		return err
	}
	if _, err := s.resolveScope(ctx, req.Scope); err != nil {
		return err
	}
	extra, err := json.Marshal(oidcExtra{Scope: req.Scope, Mapping: strings.TrimSpace(req.Mapping)})
	if err != nil {
		return apierror.Internal(err)
	}
	ds, err := s.V4.OIDC.StartDevice(ctx, p, extra)
	if err != nil {
		return oidcError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"device_code":               ds.DeviceCode,
		"user_code":                 ds.UserCode,
		"verification_uri":          ds.VerificationURI,
		"verification_uri_complete": ds.VerificationURIComplete,
		"expires_in":                ds.ExpiresIn,
		"interval":                  ds.Interval,
	})
}

// oidcDeviceToken is POST /v4/federation/oidc/device/token
// {"device_code"}: 201 and the token once approved; 202 {"status",
// "interval"} while pending; 401 when denied or expired.
func (s *Server) oidcDeviceToken(c echo.Context) error {
	var req struct {
		DeviceCode string `json:"device_code"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := s.V4.OIDC.PollDevice(ctx, req.DeviceCode, s.V4.Federation.OIDCProvider)
	if err != nil {
		var pe *oidcflow.PollError
		if errors.As(err, &pe) {
			status := "authorization_pending"
			if errors.Is(err, oidcflow.ErrSlowDown) {
				status = "slow_down"
			}
			c.Response().Header().Set("Cache-Control", "no-store")
			return c.JSON(http.StatusAccepted, map[string]any{"status": status, "interval": pe.Interval})
		}
		return oidcError(err)
	}
	issued, _, err := s.oidcLogin(ctx, res)
	if err != nil {
		return err
	}
	return s.RespondToken(c, issued)
}
