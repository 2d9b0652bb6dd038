package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/labstack/echo/v4"
)

// oauth2TokenPath is the token endpoint; its absolute URL is the audience
// a private_key_jwt assertion must name (RFC 7523 §3, item 3).
const oauth2TokenPath = "/v4/oauth2/token"

// parseBasic reads RFC 6749 §2.3.1's client_secret_basic header: the
// client id and secret are each form-urlencoded, then joined by ":" and
// base64-encoded (RFC 7617).
func parseBasic(h string) (id, secret string, present bool, err error) {
	scheme, rest, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(u); err == nil {
		secret, err = url.QueryUnescape(p)
	}
	if err != nil || id == "" {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	return id, secret, true, nil
}

// tokenForm reads the form of a token request (RFC 6749 §3.2:
// application/x-www-form-urlencoded, no parameter twice).
func tokenForm(c echo.Context) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != "application/x-www-form-urlencoded" {
		return nil, oauth2.InvalidRequest("The request must be application/x-www-form-urlencoded.")
	}
	if err := c.Request().ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierror.New(http.StatusRequestEntityTooLarge, "Request is too large.")
		}
		return nil, oauth2.InvalidRequest("The request body is not a valid form.")
	}
	form := c.Request().PostForm
	for k, v := range form {
		if len(v) > 1 {
			return nil, oauth2.InvalidRequest("Parameter " + k + " is repeated.")
		}
	}
	return form, nil
}

// tokenRequest is a client credentials request (RFC 6749 §4.4.2) read
// from form.
func (s *Server) tokenRequest(c echo.Context, form url.Values) (*serviceaccount.TokenRequest, error) {
	r := &serviceaccount.TokenRequest{
		GrantType: form.Get("grant_type"), Scope: form.Get("scope"), ClientID: form.Get("client_id"),
		AssertionType: form.Get("client_assertion_type"), Assertion: form.Get("client_assertion"),
		TokenURL: s.baseURL(c) + oauth2TokenPath,
	}
	if form.Has("client_secret") {
		// client_secret_post is not offered: a secret in the body ends up
		// in more logs than a header.
		return nil, serviceaccount.InvalidRequest("Send the client secret with HTTP Basic authentication (client_secret_basic).")
	}
	id, secret, present, err := parseBasic(c.Request().Header.Get(echo.HeaderAuthorization))
	if err != nil {
		e := serviceaccount.InvalidClient(err)
		return nil, e
	}
	r.Basic, r.BasicID, r.BasicSecret = present, id, secret
	return r, nil
}

// basicTried tells whether the client sent the Basic scheme, well-formed
// or not.
func basicTried(c echo.Context) bool {
	scheme, _, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	return strings.EqualFold(scheme, "Basic")
}

// oauth2Token is POST /v4/oauth2/token: the client credentials grant of a
// service account, or a token exchange that makes a restricted token,
// each through the one login pipeline.
func (s *Server) oauth2Token(c echo.Context) error {
	form, err := tokenForm(c)
	if err != nil {
		return s.oauth2Error(c, "other", "none", basicTried(c), err)
	}
	if form.Get("grant_type") == oauth2.GrantTokenExchange {
		return s.tokenExchange(c, form)
	}
	if s.V4.ServiceAccounts == nil {
		return s.oauth2Error(c, "other", "none", false, oauth2.UnsupportedGrantType())
	}
	return s.clientCredentials(c, form)
}

// clientCredentials is the client credentials grant (RFC 6749 §4.4).
func (s *Server) clientCredentials(c echo.Context, form url.Values) error {
	req, err := s.tokenRequest(c, form)
	if err == nil {
		err = serviceaccount.CheckTokenRequest(req)
	}
	grant, auth := "other", "none"
	if req != nil {
		if req.GrantType == serviceaccount.GrantClientCredentials {
			grant = req.GrantType
		}
		switch {
		case req.Basic:
			auth = "client_secret_basic"
		case req.Assertion != "":
			auth = "private_key_jwt"
		}
	}
	if err != nil {
		return s.oauth2Error(c, grant, auth, basicTried(c), err)
	}
	l := s.V4.ServiceAccounts.ClientCredentials(req, s.V4.ServiceAccountLogin)
	issued, err := s.V4.Logins.Login(c.Request().Context(), l)
	if err != nil {
		var oe *serviceaccount.OAuthError
		switch {
		case errors.As(err, &oe):
		case apierror.As(err).Code >= 500:
		case !l.Admitted:
			// The usability rule refused the account (disabled, its
			// domain disabled, locked): the client cannot authenticate.
			err = serviceaccount.InvalidClient(err)
		default:
			// Admitted, then the issuer refused the scope (no role on
			// it): Python would refuse it too. The issuer's cause names
			// the minted token, which must not reach the log.
			err = &serviceaccount.OAuthError{Code: "invalid_scope", Status: http.StatusBadRequest,
				Description: "The service account has no role on the requested scope.",
				Cause:       errors.New("the issuer refused the token's scope (no role on it, or it is disabled)")}
		}
		return s.oauth2Error(c, grant, auth, req.Basic, err)
	}
	s.Metrics.OAuth2Token(grant, auth, "issued")
	p := issued.Token.Payload
	body := map[string]any{
		"access_token": issued.ID,
		"token_type":   "Bearer",
		"expires_in":   expiresIn(p.ExpiresAt),
	}
	if sc := tokenScope(p.ProjectID, p.DomainID); sc != "" {
		body["scope"] = sc
	}
	return writeTokenAnswer(c, body)
}

func expiresIn(t time.Time) int64 { return int64(max(0, time.Until(t)/time.Second)) }

// writeTokenAnswer writes RFC 6749 §5.1's answer, not cached.
func writeTokenAnswer(c echo.Context, body map[string]any) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, body)
}

func tokenScope(projectID, domainID string) string {
	switch {
	case projectID != "":
		return "project:" + projectID
	case domainID != "":
		return "domain:" + domainID
	}
	return ""
}

// oauth2Error renders RFC 6749 §5.2's error JSON; a cause goes to the log
// only. A failed client_secret_basic gets WWW-Authenticate (§5.2: 401 and
// the scheme the client used).
func (s *Server) oauth2Error(c echo.Context, grant, auth string, basic bool, err error) error {
	var oe *serviceaccount.OAuthError
	if !errors.As(err, &oe) {
		if ae := apierror.As(err); ae.Code == http.StatusRequestEntityTooLarge {
			oe = oauth2ErrorOf(ae)
		} else {
			oe = &serviceaccount.OAuthError{Code: "server_error", Status: http.StatusInternalServerError,
				Description: "The server could not issue a token.", Cause: err}
		}
	}
	s.Metrics.OAuth2Token(grant, auth, oe.Code)
	log := s.logger(c)
	level := slog.LevelInfo
	if oe.Status >= 500 {
		level = slog.LevelError
	}
	log.Log(c.Request().Context(), level, "oauth2 token refused", "error", oe.Code, "client_auth", auth, "cause", errString(oe.Cause))
	s.writeOAuth2Error(c, oe, basic)
	return nil
}

// writeOAuth2Error writes RFC 6749 §5.2's error JSON, not cached (§5.1).
func (s *Server) writeOAuth2Error(c echo.Context, oe *serviceaccount.OAuthError, basic bool) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.Status == http.StatusUnauthorized && basic {
		h.Set("WWW-Authenticate", `Basic realm="keystone-ng", charset="UTF-8"`)
	}
	b, _ := json.Marshal(map[string]string{"error": oe.Code, "error_description": oe.Description})
	_ = c.Blob(oe.Status, "application/json", b)
}

// oauth2ErrorOf is a refusal made outside the token endpoint's own checks
// (body limit, rate limit, wrong method, a failure) in RFC 6749's terms,
// keeping its status: RFC 6749 has no code for these, so the closest one.
func oauth2ErrorOf(ae *apierror.Error) *serviceaccount.OAuthError {
	code := "invalid_request"
	switch {
	case ae.Code == http.StatusTooManyRequests || ae.Code == http.StatusServiceUnavailable:
		code = "temporarily_unavailable"
	case ae.Code >= 500:
		code = "server_error"
	}
	desc := ae.Message
	if ae.Code >= 500 {
		desc = "The server could not issue a token."
	}
	return &serviceaccount.OAuthError{Code: code, Status: ae.Code, Description: desc, Cause: ae.Cause}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
