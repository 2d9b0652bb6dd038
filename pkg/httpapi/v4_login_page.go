package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi/loginpage"
	"github.com/labstack/echo/v4"
)

// registerLoginPage serves the browser login page /v4/login, its assets
// and /v4/login/whoami.
func (s *Server) registerLoginPage(e *echo.Echo) {
	e.GET("/v4/login", s.loginPage)
	e.GET("/v4/login/whoami", s.loginWhoami)
	assets := http.StripPrefix("/v4/login/static/", http.FileServer(http.FS(loginpage.Static)))
	e.GET("/v4/login/static/*", func(c echo.Context) error {
		s.pageHeaders(c, nil)
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		assets.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

func (s *Server) trustedDashboards() []string {
	if s.V4 == nil || s.V4.Passkeys == nil {
		return nil
	}
	return s.V4.TrustedDashboards
}

// LoginPageCSP is the page's Content-Security-Policy: nothing inline,
// everything from this origin, forms only to this origin and the trusted
// dashboards.
func LoginPageCSP(trustedDashboards []string) string {
	formAction := []string{"'self'"}
	for _, d := range trustedDashboards {
		u, err := url.Parse(d)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(u.Host, " ;,'\"") {
			continue
		}
		formAction = append(formAction, u.Scheme+"://"+u.Host)
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action " +
		strings.Join(formAction, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

func (s *Server) pageHeaders(c echo.Context, trusted []string) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", LoginPageCSP(trusted))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (s *Server) loginPage(c echo.Context) error {
	trusted := s.trustedDashboards()
	body, err := loginpage.Render(trusted)
	if err != nil {
		return apierror.Internal(err)
	}
	s.pageHeaders(c, trusted)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", body)
}

// loginWhoami names the owner of X-Auth-Token, for the page.
func (s *Server) loginWhoami(c echo.Context) error {
	t, _, err := s.Caller(c)
	if err != nil {
		return err
	}
	if t.User == nil {
		return apierror.Unauthorized()
	}
	dom := map[string]string{"id": t.User.DomainID, "name": ""}
	if t.User.Domain != nil {
		dom["name"] = t.User.Domain.Name
	} else if t.UserDomain != nil {
		dom["name"] = t.UserDomain.Name
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"user": map[string]any{"id": t.User.ID, "name": t.User.Name, "domain": dom}})
}
