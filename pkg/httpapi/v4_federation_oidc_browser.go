package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

// oidcRedirectURI is keystone-ng's own callback: [DEFAULT]
// public_endpoint (without a trailing /v3) or the request's root.
func (s *Server) oidcRedirectURI(c echo.Context) string {
	base := strings.TrimSuffix(strings.TrimRight(s.baseURL(c), "/"), "/v3")
	return base + oidcCallbackPath
}

// oidcBrowserLogin is GET /v4/federation/identity_providers/{idp_id}/login
// [?origin=<trusted dashboard>][&page_nonce=<login page nonce>]: 302 to the
// identity provider, which redirects back to GET
// /v4/federation/oidc/callback. It sets the __Host-ksng-login cookie the
// callback requires (the login is bound to this browser).
func (s *Server) oidcBrowserLogin(c echo.Context) error {
	cookie := loginCookieValue(c.Request())
	x := oidcExtra{Browser: true, CookieHash: bindingHash(cookie)}
	if origin := c.QueryParam("origin"); origin != "" {
		if !slices.Contains(s.V4.TrustedDashboards, origin) {
			return apierror.New(http.StatusBadRequest, "The origin is not a trusted dashboard ([federation] trusted_dashboard).")
		}
		x.Origin = origin
	}
	if n := c.QueryParam("page_nonce"); n != "" {
		if !validPageNonce(n) {
			return apierror.New(http.StatusBadRequest, "Invalid page_nonce: expected 22 to 128 base64url characters.")
		}
		x.PageNonce = n
	}
	u, err := s.oidcStart(c.Request().Context(), c.Param("idp_id"), s.oidcRedirectURI(c), x)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	c.SetCookie(loginCookie(cookie))
	return c.Redirect(http.StatusFound, u)
}

// oidcCallbackBrowser is GET /v4/federation/oidc/callback?code&state (or
// ?error=...&state): finishes a login started by GET .../login in this
// browser (its __Host-ksng-login cookie; else 401, state consumed,
// nothing written). The token then goes:
//   - to the trusted dashboard the login started from: a page naming the
//     signed-in user with a button that posts the token there (as
//     Keystone's web SSO form does, but never without the user's click);
//   - to the login page that started it, in the URL fragment (never sent
//     to a server) with the page's one-time nonce: /v4/login#token=&nonce=;
//   - else to a page showing the token.
func (s *Server) oidcCallbackBrowser(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	state := q.Get("state")
	if idpErr := q.Get("error"); idpErr != "" {
		// The identity provider refused: consume the state all the same.
		if oidcflow.ValidID(state) {
			_, _ = s.V4.OIDC.Finish(ctx, state, "", s.V4.Federation.OIDCProvider)
		}
		e := apierror.Unauthorized()
		e.Cause = &oidcIdPError{code: idpErr, desc: q.Get("error_description")}
		return e
	}
	cookie := ""
	if ck, err := c.Request().Cookie(loginCookieName); err == nil {
		cookie = ck.Value
	}
	res, err := s.V4.OIDC.Finish(ctx, state, q.Get("code"), s.V4.Federation.OIDCProvider, browserCheck(cookie))
	if err != nil {
		return oidcError(err)
	}
	issued, x, err := s.oidcLogin(ctx, res)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if x.Origin != "" && slices.Contains(s.V4.TrustedDashboards, x.Origin) {
		user, domain := tokenUser(issued.Token)
		body, err := renderDashboardPage(x.Origin, issued.ID, user, domain)
		if err != nil {
			return apierror.Internal(err)
		}
		s.pageHeaders(c, []string{x.Origin})
		h.Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "text/html; charset=utf-8", body)
	}
	if x.PageNonce != "" && s.V4.Passkeys != nil { // the login page is served and started this login
		return c.Redirect(http.StatusSeeOther, loginPageFragmentURL(strings.TrimSuffix(s.oidcRedirectURI(c), oidcCallbackPath), issued.ID, x.PageNonce))
	}
	body, err := renderTokenPage(issued.ID)
	if err != nil {
		return apierror.Internal(err)
	}
	s.pageHeaders(c, nil)
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", body)
}

// loginPageFragmentURL is where a login started by the login page ends:
// the token and the page's nonce in the fragment.
func loginPageFragmentURL(base, token, nonce string) string {
	frag := url.Values{"token": {token}, "nonce": {nonce}}
	return base + "/v4/login#" + frag.Encode()
}

// tokenUser names the token's user and domain for a person to check.
func tokenUser(t *token.Token) (user, domain string) {
	if t == nil || t.User == nil {
		return "", ""
	}
	user = t.User.Name
	if user == "" {
		user = t.User.ID
	}
	switch {
	case t.User.Domain != nil && t.User.Domain.Name != "":
		domain = t.User.Domain.Name
	case t.UserDomain != nil && t.UserDomain.Name != "":
		domain = t.UserDomain.Name
	default:
		domain = t.User.DomainID
	}
	return user, domain
}

type oidcIdPError struct{ code, desc string }

func (e *oidcIdPError) Error() string {
	return "identity provider refused the login: " + e.code + ": " + e.desc
}

// dashboardPage hands the token to a trusted dashboard only when the
// person who sees who signed in clicks: a crafted login (an attacker's
// identity, login CSRF) is visible before it reaches the dashboard. No
// script at all: the button submits the form.
var dashboardPage = template.Must(template.New("dashboard").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Signed in</title></head>
<body><main><h1>Signed in</h1>
<p id="whoami">Signed in as <strong id="whoami-user">{{.User}}</strong> in domain <strong id="whoami-domain">{{.Domain}}</strong>.</p>
<form id="dashboard-form" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit" id="dashboard-continue">Continue to {{.Origin}}</button>
</form>
<p>If this is not you, or you did not just sign in, close this page.</p>
</main></body></html>
`))

func renderDashboardPage(action, token, user, domain string) ([]byte, error) {
	origin := action
	if u, err := url.Parse(action); err == nil && u.Scheme != "" && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	var b strings.Builder
	err := dashboardPage.Execute(&b, map[string]string{"Action": action, "Origin": origin, "Token": token, "User": user, "Domain": domain})
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
