package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/labstack/echo/v4"
)

// oidcRedirectURI is keystone-ng's own callback: [DEFAULT]
// public_endpoint (without a trailing /v3) or the request's root.
func (s *Server) oidcRedirectURI(c echo.Context) string {
	base := strings.TrimSuffix(strings.TrimRight(s.baseURL(c), "/"), "/v3")
	return base + oidcCallbackPath
}

// oidcBrowserLogin is GET /v4/federation/identity_providers/{idp_id}/login
// [?origin=<trusted dashboard>]: 302 to the identity provider, which
// redirects back to GET /v4/federation/oidc/callback.
func (s *Server) oidcBrowserLogin(c echo.Context) error {
	f := s.oidcFed()
	x := oidcExtra{Browser: true}
	if origin := c.QueryParam("origin"); origin != "" {
		if !slices.Contains(f.TrustedDashboards(), origin) {
			return apierror.New(http.StatusBadRequest, "The origin is not a trusted dashboard ([federation] trusted_dashboard).")
		}
		x.Origin = origin
	}
	u, err := s.oidcStart(c.Request().Context(), f, c.Param("idp_id"), s.oidcRedirectURI(c), x)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, u)
}

// oidcCallbackBrowser is GET /v4/federation/oidc/callback?code&state (or
// ?error=...&state): finishes the login; the token goes to the trusted
// dashboard the login started from (an auto-posting form, as Keystone's
// web SSO does), or to the login page (in a URL fragment, never sent to a
// server).
func (s *Server) oidcCallbackBrowser(c echo.Context) error {
	f := s.oidcFed()
	ctx := c.Request().Context()
	q := c.QueryParams()
	state := q.Get("state")
	if idpErr := q.Get("error"); idpErr != "" {
		// The identity provider refused: consume the state all the same.
		if oidcflow.ValidID(state) {
			_, _ = f.OIDC().Finish(ctx, state, "", s.oidcLookup(f))
		}
		e := apierror.Unauthorized()
		e.Cause = &oidcIdPError{code: idpErr, desc: q.Get("error_description")}
		return e
	}
	res, err := f.OIDC().Finish(ctx, state, q.Get("code"), s.oidcLookup(f))
	if err != nil {
		return oidcError(err)
	}
	issued, x, err := s.oidcIssue(ctx, f, res)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if x.Origin != "" && slices.Contains(f.TrustedDashboards(), x.Origin) {
		body, err := renderAutopost(x.Origin, issued.ID)
		if err != nil {
			return apierror.Internal(err)
		}
		s.pageHeaders(c, []string{x.Origin})
		h.Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "text/html; charset=utf-8", body)
	}
	if s.V4.Passkeys != nil { // the login page is served
		return c.Redirect(http.StatusSeeOther, strings.TrimSuffix(s.oidcRedirectURI(c), oidcCallbackPath)+"/v4/login#token="+url.QueryEscape(issued.ID))
	}
	body, err := renderTokenPage(issued.ID)
	if err != nil {
		return apierror.Internal(err)
	}
	s.pageHeaders(c, nil)
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", body)
}

type oidcIdPError struct{ code, desc string }

func (e *oidcIdPError) Error() string {
	return "identity provider refused the login: " + e.code + ": " + e.desc
}

var autopostPage = template.Must(template.New("autopost").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in…</title>
<script src="/v4/federation/oidc/autopost.js" defer></script></head>
<body><form id="autopost" method="post" action="{{.Origin}}">
<input type="hidden" name="token" value="{{.Token}}">
<noscript><p>Signed in. Continue to the dashboard:</p><button type="submit">Continue</button></noscript>
</form></body></html>
`))

func renderAutopost(origin, token string) ([]byte, error) {
	var b strings.Builder
	err := autopostPage.Execute(&b, map[string]string{"Origin": origin, "Token": token})
	return []byte(b.String()), err
}

var tokenPage = template.Must(template.New("token").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in</title></head>
<body><h1>Signed in</h1><p>Your Keystone token:</p>
<textarea readonly rows="4" cols="80">{{.Token}}</textarea>
<p>export OS_AUTH_TYPE=token OS_TOKEN={{.Token}}</p></body></html>
`))

func renderTokenPage(token string) ([]byte, error) {
	var b strings.Builder
	err := tokenPage.Execute(&b, map[string]string{"Token": token})
	return []byte(b.String()), err
}

// autopostJS submits the dashboard form (the page's only script, served
// from this origin so that the CSP needs no 'unsafe-inline').
const autopostJS = `"use strict";
document.addEventListener("DOMContentLoaded", function () { document.getElementById("autopost").submit(); });
`

func (s *Server) oidcAutopostScript(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", []byte(autopostJS))
}
