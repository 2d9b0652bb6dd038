package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/labstack/echo/v4"
)

// oidcCallbackPath is keystone-ng's own redirect URI (browser login).
const oidcCallbackPath = "/v4/federation/oidc/callback"

// oidcExtra is what a login remembers between start and finish (the
// oidcflow state's opaque extra).
type oidcExtra struct {
	Scope   *issue.ScopeRequest `json:"scope,omitempty"`
	Mapping string              `json:"mapping,omitempty"`
	// Browser: started by GET .../login; Origin: the trusted dashboard
	// to hand the token to.
	Browser bool   `json:"browser,omitempty"`
	Origin  string `json:"origin,omitempty"`
	// CookieHash (browser): bindingHash of the __Host-ksng-login cookie
	// the login was started with; the GET callback requires that cookie.
	CookieHash string `json:"cookie_hash,omitempty"`
	// PageNonce (browser): the login page's one-time nonce, handed back
	// in the fragment with the token so that the page accepts only a
	// token from a login it started itself.
	PageNonce string `json:"page_nonce,omitempty"`
	// CodeChallenge (API): the client's PKCE S256 challenge; the POST
	// callback requires the matching code_verifier.
	CodeChallenge string `json:"code_challenge,omitempty"`
}

func (s *Server) registerOIDCRoutes(e *echo.Echo) {
	if s.V4.OIDC == nil {
		return
	}
	g := e.Group("/v4/federation/identity_providers")
	g.POST("/:idp_id/auth", s.oidcAuth)
	g.GET("/:idp_id/login", s.oidcBrowserLogin)
	g.POST("/:idp_id/device", s.oidcDeviceStart)
	e.POST(oidcCallbackPath, s.oidcCallbackAPI)
	e.GET(oidcCallbackPath, s.oidcCallbackBrowser)
	e.POST("/v4/federation/oidc/device/token", s.oidcDeviceToken)
}

// oidcError turns an oidcflow error into Keystone's error JSON; the
// cause is logged, never returned.
func oidcError(err error) error {
	if err == nil {
		return nil
	}
	code := oidcflow.StatusCode(err)
	if errors.Is(err, oidcflow.ErrExpired) || errors.Is(err, oidcflow.ErrAccessDenied) {
		code = http.StatusUnauthorized
	}
	if code == 0 {
		var ae *apierror.Error
		if errors.As(err, &ae) {
			return ae
		}
		return apierror.Internal(err)
	}
	var msg string
	switch code {
	case http.StatusUnauthorized:
		msg = apierror.MsgUnauthorized
	case http.StatusBadRequest:
		switch {
		case errors.Is(err, oidcflow.ErrRedirectURINotAllowed):
			msg = "The redirect URI is not registered for this identity provider."
		case errors.Is(err, oidcflow.ErrDeviceUnsupported):
			msg = "The identity provider does not support the device authorization grant."
		case errors.Is(err, oidcflow.ErrStateNotFound), errors.Is(err, oidcflow.ErrStateExpired):
			msg = "The login is unknown, expired or already completed; start again."
		default:
			msg = "The login request is invalid."
		}
	case http.StatusBadGateway:
		msg = "The identity provider is unavailable; try again later."
	default:
		return apierror.Internal(err)
	}
	e := apierror.New(code, msg)
	e.Cause = err
	return e
}

// resolveScope checks a requested scope (400/401 as Python answers).
func (s *Server) resolveScope(ctx context.Context, r *issue.ScopeRequest) (issue.Scope, error) {
	if r == nil {
		return issue.Scope{}, nil
	}
	if s.V4.Scopes == nil {
		return issue.Scope{}, apierror.Internal(errors.New("no scope lookup configured"))
	}
	return issue.Resolve(ctx, s.V4.Scopes, r)
}

// oidcStart checks the IdP and the requested scope, then starts the
// code flow.
func (s *Server) oidcStart(ctx context.Context, idpID, redirectURI string, x oidcExtra) (string, error) {
	p, err := s.V4.Federation.OIDCProvider(ctx, idpID)
	if err != nil {
		return "", err
	}
	if _, err := s.resolveScope(ctx, x.Scope); err != nil {
		return "", err
	}
	extra, err := json.Marshal(x)
	if err != nil {
		return "", apierror.Internal(err)
	}
	u, _, err := s.V4.OIDC.Start(ctx, p, redirectURI, extra)
	if err != nil {
		return "", oidcError(err)
	}
	return u, nil
}

// oidcLogin runs a finished code flow's login: the scope the login was
// started with (resolved first: one that no longer resolves is refused
// before anything is written), the claims mapped and provisioned, the
// token minted (pkg/login).
func (s *Server) oidcLogin(ctx context.Context, res *oidcflow.Result) (*issue.Issued, *oidcExtra, error) {
	var x oidcExtra
	if len(res.Extra) > 0 {
		if err := json.Unmarshal(res.Extra, &x); err != nil {
			return nil, nil, apierror.Internal(err)
		}
	}
	a := login.Scoped{Lookup: s.V4.Scopes, Request: x.Scope, Inner: s.V4.Federation.Claims(res.IdPID, res.Claims, x.Mapping)}
	issued, err := s.V4.Logins.Login(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	return issued, &x, nil
}

// oidcAuth is POST /v4/federation/identity_providers/{idp_id}/auth:
// {"redirect_uri", "code_challenge", "code_challenge_method": "S256",
// "scope"?, "mapping"?} → {"authorization_url"}. The redirect URI must be
// registered for the IdP (loopback: any port). The code challenge is the
// client's own PKCE (RFC 7636), between the client and keystone-ng: the
// callback requires its verifier (keystone-ng's PKCE with the IdP is
// separate and stays server-side).
func (s *Server) oidcAuth(c echo.Context) error {
	var req struct {
		RedirectURI         string              `json:"redirect_uri"`
		CodeChallenge       string              `json:"code_challenge"`
		CodeChallengeMethod string              `json:"code_challenge_method"`
		Scope               *issue.ScopeRequest `json:"scope"`
		Mapping             string              `json:"mapping"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.RedirectURI == "" {
		return apierror.New(http.StatusBadRequest, "Expecting to find redirect_uri in request body.")
	}
	if err := checkCodeChallenge(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return err
	}
	x := oidcExtra{Scope: req.Scope, Mapping: strings.TrimSpace(req.Mapping), CodeChallenge: req.CodeChallenge}
	u, err := s.oidcStart(c.Request().Context(), c.Param("idp_id"), req.RedirectURI, x)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"authorization_url": u})
}

// checkCodeChallenge requires the client's PKCE challenge, S256 only
// (RFC 7636 §4.3; "plain" would hand the verifier to whoever sees the
// authorization request).
func checkCodeChallenge(challenge, method string) error {
	if challenge == "" {
		return apierror.New(http.StatusBadRequest, "Expecting to find code_challenge in request body.")
	}
	if method != "S256" {
		return apierror.New(http.StatusBadRequest, "code_challenge_method must be S256.")
	}
	if !validCodeChallenge(challenge) {
		return apierror.New(http.StatusBadRequest, "Invalid code_challenge: expected the base64url SHA-256 of the code_verifier (43 characters).")
	}
	return nil
}

// oidcCallbackAPI is POST /v4/federation/oidc/callback {"state", "code",
// "code_verifier"}: finishes a login started by POST .../auth and answers
// the token (201). A verifier that does not match the login's
// code_challenge (or a login started by a browser) is 401, the state
// consumed and the code never exchanged.
func (s *Server) oidcCallbackAPI(c echo.Context) error {
	var req struct {
		State        string `json:"state"`
		Code         string `json:"code"`
		CodeVerifier string `json:"code_verifier"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := s.V4.OIDC.Finish(ctx, req.State, req.Code, s.V4.Federation.OIDCProvider, apiCheck(req.CodeVerifier))
	if err != nil {
		return oidcError(err)
	}
	issued, _, err := s.oidcLogin(ctx, res)
	if err != nil {
		return err
	}
	return s.RespondToken(c, issued)
}
