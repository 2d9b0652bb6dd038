package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/authz"
	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

// V4 is what the /v4 handlers share. A nil feature field leaves its
// routes out (they then answer 404 like any unknown path).
type V4 struct {
	Authz  authz.Authorizer
	Scopes issue.ScopeLookup
	// Logins runs every /v4 login (pkg/login).
	Logins LoginPipeline
	// Feature services, wired by cmd/keystone-ng.
	Passkeys   PasskeyService
	Federation FederationService
	// ServiceAccounts manages service accounts (nil leaves the routes out).
	ServiceAccounts ServiceAccountService
	// ServiceAccountLogin is what a client credentials login reads beyond
	// the service (scopes, the grantable-roles bound).
	ServiceAccountLogin serviceaccount.LoginDeps
	// TokenExchange makes restricted tokens on POST /v4/oauth2/token (nil:
	// the token exchange grant is unsupported).
	TokenExchange TokenExchangeService
	// OIDC runs the OpenID Connect logins (browser, CLI, device) of
	// Federation; nil leaves them off.
	OIDC *oidcflow.Flow
	// TrustedDashboards is [federation] trusted_dashboard: where a
	// browser login (the login page, an OIDC callback) may hand a token.
	TrustedDashboards []string
	// Audit publishes identity.<resource>.<operation> for every /v4
	// change (nil: none; pkg/audit, docs/audit.md).
	Audit Changes
	// ReauthenticationWindow is [webauthn] reauthentication_window: the
	// policy's input.settings.reauthentication_window_seconds.
	ReauthenticationWindow time.Duration
}

// DefaultReauthenticationWindow applies when V4.ReauthenticationWindow is
// unset ([webauthn] reauthentication_window's default).
const DefaultReauthenticationWindow = 10 * time.Minute

func (v *V4) reauthenticationWindow() time.Duration {
	if v.ReauthenticationWindow > 0 {
		return v.ReauthenticationWindow
	}
	return DefaultReauthenticationWindow
}

// LoginPipeline runs a login from its authenticator to its token
// (*login.Pipeline).
type LoginPipeline interface {
	Login(ctx context.Context, a login.Authenticator) (*issue.Issued, error)
}

var _ LoginPipeline = (*login.Pipeline)(nil)

// Changes emits the audit event of a /v4 change (*audit.Service).
type Changes interface {
	Changed(ctx context.Context, operation, resourceType, resourceID string)
}

var _ Changes = (*audit.Service)(nil)

// changed emits the audit event of a change the request made; the
// initiator is the request's caller (auditRequest, Caller).
func (s *Server) changed(c echo.Context, operation, resourceType, resourceID string) {
	if s.V4 != nil && s.V4.Audit != nil {
		s.V4.Audit.Changed(c.Request().Context(), operation, resourceType, resourceID)
	}
}

// WorkloadTokens tells the tokens minted by workload (JWT) logins
// (*federation.Service, which records them) apart, for the policy.
type WorkloadTokens interface {
	IsWorkloadToken(ctx context.Context, auditIDs []string) (bool, error)
}

var _ WorkloadTokens = (*federation.Service)(nil)

func (s *Server) workloadTokens() WorkloadTokens {
	if s.V4 == nil || s.V4.Federation == nil {
		return nil
	}
	w, _ := s.V4.Federation.(WorkloadTokens)
	return w
}

// registerV4 adds the /v4 routes of the configured features.
func (s *Server) registerV4(e *echo.Echo) {
	if s.V4 == nil {
		return
	}
	e.Use(s.loginRateLimit)
	s.registerOpenAPIRoute(e)
	if s.V4.Passkeys != nil {
		s.registerPasskeyRoutes(e)
	}
	if s.V4.Federation != nil {
		s.registerFederationRoutes(e)
	}
	if s.V4.ServiceAccounts != nil {
		s.registerServiceAccountRoutes(e)
	}
	if s.V4.ServiceAccounts != nil || s.V4.TokenExchange != nil {
		e.POST(oauth2TokenPath, s.oauth2Token)
	}
}

// callerKey caches the authenticated caller's token on the request, and
// callerViewKey its policy view (built once: it may read the database).
const (
	callerKey     = "v4_caller"
	callerViewKey = "v4_caller_view"
)

// Caller authenticates the X-Auth-Token of a /v4 request with the same
// validation as GET /v3/auth/tokens: a missing or invalid token is 401.
// Both are computed once per request, however many times it is called.
func (s *Server) Caller(c echo.Context) (*token.Token, authz.Caller, error) {
	t, ok := c.Get(callerKey).(*token.Token)
	if !ok {
		raw := strings.TrimSpace(c.Request().Header.Get("X-Auth-Token"))
		if raw == "" {
			return nil, authz.Caller{}, apierror.Unauthorized()
		}
		var err error
		t, err = s.Validator.Validate(c.Request().Context(), token.Request{Token: raw})
		if err != nil {
			ae := apierror.As(err)
			if ae.Code >= 500 {
				return nil, authz.Caller{}, ae
			}
			out := apierror.Unauthorized()
			out.Cause = err
			return nil, authz.Caller{}, out
		}
		c.Set(callerKey, t)
	}
	if cl, ok := c.Get(callerViewKey).(authz.Caller); ok {
		return t, cl, nil
	}
	cl := callerOf(t)
	if err := s.markWorkload(c, t, &cl); err != nil {
		return nil, authz.Caller{}, err
	}
	if s.V4 != nil && s.V4.ServiceAccounts != nil && cl.UserID != "" {
		sa, err := s.V4.ServiceAccounts.IsServiceAccount(c.Request().Context(), cl.UserID)
		if err != nil {
			return nil, authz.Caller{}, apierror.Internal(err)
		}
		cl.ServiceAccount = sa
	}
	// The initiator of the events this request causes, as Python's
	// build_audit_initiator reads it from the request context.
	name := ""
	if t.User != nil {
		name = t.User.Name
	}
	audit.SetCaller(c.Request().Context(), cl.UserID, name, projectOf(cl), t.Payload.DomainID)
	c.Set(callerViewKey, cl)
	return t, cl, nil
}

// markWorkload sets cl.Workload for a federated token minted by a
// workload login (or rescoped from one).
func (s *Server) markWorkload(c echo.Context, t *token.Token, cl *authz.Caller) error {
	w := s.workloadTokens()
	if w == nil || !t.Payload.Federated && t.Payload.IdentityProviderID == "" && len(t.Payload.AuditIDs) < 2 {
		return nil
	}
	yes, err := w.IsWorkloadToken(c.Request().Context(), t.Payload.AuditIDs)
	if err != nil {
		return apierror.Internal(err)
	}
	cl.Workload = yes
	return nil
}

// projectOf is the project a caller's token is scoped to ("" if none).
func projectOf(cl authz.Caller) string {
	if cl.ScopeType == "project" {
		return cl.ScopeID
	}
	return ""
}

// callerOf is the OPA view of a validated token.
func callerOf(t *token.Token) authz.Caller {
	p := t.Payload
	cl := authz.Caller{UserID: p.UserID, ScopeType: "unscoped", Roles: make([]string, 0, len(t.Roles)),
		Methods: p.Methods, ApplicationCredentialID: p.AppCredID, OAuth1AccessTokenID: p.AccessTokenID,
		TrustID: p.TrustID, IdentityProviderID: p.IdentityProviderID}
	if !t.IssuedAt.IsZero() {
		cl.IssuedAt = t.IssuedAt.UTC().Format(time.RFC3339)
		cl.TokenAgeSeconds = int64(max(0, time.Since(t.IssuedAt)/time.Second))
	} else {
		cl.TokenAgeSeconds = math.MaxInt32 // unknown age: never fresh
	}
	if t.User != nil {
		cl.UserDomainID = t.User.DomainID
	}
	for _, r := range t.Roles {
		cl.Roles = append(cl.Roles, r.Name)
	}
	switch {
	case p.System != "":
		cl.ScopeType, cl.ScopeID = "system", p.System
	case p.DomainID != "":
		cl.ScopeType, cl.ScopeID, cl.ScopeDomainID = "domain", p.DomainID, p.DomainID
	case p.ProjectID != "" || p.TrustID != "":
		cl.ScopeType = "project"
		if t.Project != nil {
			cl.ScopeID, cl.ScopeDomainID = t.Project.ID, t.Project.DomainID
		}
	}
	return cl
}

// Authorize authenticates the caller and asks the /v4 policy whether they
// may perform action on target: 401 without a valid token, 403 when the
// policy says no (with its reason), 500 when the policy cannot be
// evaluated (never an implicit allow).
func (s *Server) Authorize(c echo.Context, action string, target map[string]any) (*token.Token, error) {
	t, caller, err := s.Caller(c)
	if err != nil {
		return nil, err
	}
	if target == nil {
		target = map[string]any{}
	}
	d, err := s.V4.Authz.Authorize(c.Request().Context(), authz.Input{Action: action, Caller: caller, Target: target,
		Settings: authz.Settings{ReauthenticationWindowSeconds: int64(s.V4.reauthenticationWindow() / time.Second)}})
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("policy %s: %w", action, err))
	}
	if !d.Allow {
		msg := fmt.Sprintf("You are not authorized to perform the requested action: %s.", action)
		if d.Reason != "" {
			msg = fmt.Sprintf("You are not authorized to perform the requested action: %s (%s).", action, d.Reason)
		}
		return nil, apierror.Forbidden(msg)
	}
	return t, nil
}

// RespondToken answers a successful login like Python's POST
// /v3/auth/tokens: 201, X-Subject-Token, the token body with catalog.
func (s *Server) RespondToken(c echo.Context, in *issue.Issued) error {
	body := pyjson.Marshal(s.Validator.Render(in.Token, true))
	h := c.Response().Header()
	h.Set("X-Subject-Token", in.ID)
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusCreated, "application/json", body)
}

// DecodeJSON reads a JSON request body into v, refusing unknown fields,
// trailing data and non-JSON with a 400 in Keystone's shape.
func DecodeJSON(c echo.Context, v any) error { return decodeJSON(c, v, false) }

// DecodeOptionalJSON is DecodeJSON for a body that may be absent (or only
// white space): v is then left as it is.
func DecodeOptionalJSON(c echo.Context, v any) error { return decodeJSON(c, v, true) }

func decodeJSON(c echo.Context, v any, optional bool) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return apierror.New(http.StatusUnsupportedMediaType, "Request body must be JSON (Content-Type: application/json).")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierror.New(http.StatusRequestEntityTooLarge, "Request is too large.")
		}
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return apierror.New(http.StatusBadRequest, "Expecting a JSON request body.")
		}
		e := apierror.New(http.StatusBadRequest, "Malformed request body: "+jsonProblem(err))
		e.Cause = err
		return e
	}
	if dec.More() {
		return apierror.New(http.StatusBadRequest, "Malformed request body: unexpected data after the JSON object.")
	}
	return nil
}

// jsonProblem names what was wrong without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d.", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s.", te.Field, te.Type.String())
		}
		return "wrong JSON type."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + "."
	}
	return "not valid JSON."
}
