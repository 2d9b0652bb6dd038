package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/policy"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

// validateToken serves GET and HEAD /v3/auth/tokens in Python's order
// (keystone/api/auth.py, rbac_enforcer.enforce_call): authenticate the
// caller (401), validate the subject token (404/403), enforce
// identity:validate_token or identity:check_token (403), render.
func (s *Server) validateToken(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	h := r.Header
	authTok := strings.TrimSpace(h.Get("X-Auth-Token"))
	subjectTok, hasSubject := h.Get("X-Subject-Token"), len(h.Values("X-Subject-Token")) > 0
	subjectTok = strings.TrimSpace(subjectTok)
	q := r.URL.Query()
	_, noCatalog := q["nocatalog"]
	window := 0 * s.AllowExpiredWindow
	if pyBool(q.Get("allow_expired")) {
		window = s.AllowExpiredWindow
	}
	rule := policy.RuleValidateToken
	if r.Method == http.MethodHead {
		rule = policy.RuleCheckToken
	}

	if authTok == "" {
		s.outcome("unauthorized")
		return apierror.Unauthorized()
	}
	// The deprecated shared admin_token bypasses authentication and policy.
	adminBypass := s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(authTok), []byte(s.AdminToken)) == 1

	subjectReq := token.Request{Token: subjectTok, Window: window, Catalog: !noCatalog, AccessRulesVersion: h.Get("OpenStack-Identity-Access-Rules")}
	var caller *token.Token
	if !adminBypass {
		// Keystone's own auth middleware validates the caller without an
		// expiry window, declaring access-rules support.
		callerReq := token.Request{Token: authTok, AccessRulesVersion: "1.0"}
		// The same token as caller and subject (a service validating its
		// own token, and the benchmark case) is validated once; only the
		// access-rules header check differs between the two roles.
		sameAsSubject := hasSubject && authTok == subjectTok && window == 0
		if sameAsSubject {
			callerReq.Catalog = subjectReq.Catalog
		}
		var err error
		caller, err = s.Validator.Validate(ctx, callerReq)
		if err != nil {
			if ae := apierror.As(err); ae.Code >= 500 {
				s.outcome("error")
				return ae
			}
			s.outcome("unauthorized")
			return &apierror.Error{Code: http.StatusUnauthorized, Title: "Unauthorized", Message: apierror.MsgUnauthorized, Cause: err}
		}
		if sameAsSubject {
			if err := s.Validator.CheckAccessRules(ctx, caller, subjectReq.AccessRulesVersion); err != nil {
				s.outcomeFor(err)
				return err
			}
			return s.authorizeAndRender(c, rule, caller, caller, subjectTok, !noCatalog)
		}
	}

	var subject *token.Token
	if hasSubject && subjectTok != "" {
		var err error
		subject, err = s.Validator.Validate(ctx, subjectReq)
		if err != nil {
			s.outcomeFor(err)
			return err
		}
	}
	if adminBypass {
		if subject == nil {
			s.outcome("invalid")
			return apierror.NotFound("No token in the request")
		}
		return s.render(c, subject, subjectTok, !noCatalog)
	}
	return s.authorizeAndRender(c, rule, caller, subject, subjectTok, !noCatalog)
}

func (s *Server) authorizeAndRender(c echo.Context, rule string, caller, subject *token.Token, subjectTok string, catalog bool) error {
	target := policy.Target{}
	if subject != nil {
		target["target.token.user_id"] = subject.Payload.UserID
		target["target.token.user.domain.id"] = subject.User.DomainID
	}
	ok, err := s.Policy.Enforce(rule, target, credentials(caller))
	if err != nil {
		s.outcome("error")
		return apierror.Internal(err)
	}
	if !ok {
		s.outcome("forbidden")
		return apierror.ForbiddenAction(rule)
	}
	if subject == nil {
		s.outcome("invalid")
		return apierror.NotFound("No token in the request")
	}
	return s.render(c, subject, subjectTok, catalog)
}

func (s *Server) render(c echo.Context, t *token.Token, subjectTok string, catalog bool) error {
	body := pyjson.Marshal(s.Validator.Render(t, catalog))
	s.outcome("valid")
	hdr := c.Response().Header()
	hdr.Set("X-Subject-Token", subjectTok)
	hdr.Set("Vary", "X-Auth-Token")
	// Content-Length as Python sends it: without it net/http switches a
	// body over 2 KB (a real catalog) to chunked transfer encoding.
	// Flask answers HEAD with GET's headers, Content-Length included.
	hdr.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	if c.Request().Method == http.MethodHead {
		hdr.Set(echo.HeaderContentType, "application/json")
		c.Response().WriteHeader(http.StatusOK)
		return nil
	}
	return c.Blob(http.StatusOK, "application/json", body)
}

// credentials is the oslo.context policy dict of the caller's token.
func credentials(t *token.Token) policy.Credentials {
	roles := make([]string, 0, len(t.Roles))
	for _, r := range t.Roles {
		roles = append(roles, r.Name)
	}
	p := t.Payload
	// Python's credentials come from keystonemiddleware's reading of the
	// rendered token: its user block, which for an impersonating trust
	// describes the trustor (render_token.py). So an impersonating trust
	// token's caller is the trustor, while the policy target
	// (target.token.user_id) stays the payload's user, the trustee: such a
	// token does not pass token_subject on itself, in Python or here.
	userID, userDomain := p.UserID, t.UserDomain
	if t.Trust != nil && t.Trust.Impersonation && t.Trustor != nil {
		userID, userDomain = t.Trustor.ID, t.TrustorDomain
	}
	creds := policy.Credentials{
		"user_id":        userID,
		"roles":          roles,
		"system_scope":   nil,
		"domain_id":      nil,
		"project_id":     nil,
		"user_domain_id": nil,
		"is_admin":       false,
	}
	if userDomain != nil {
		creds["user_domain_id"] = userDomain.ID
	}
	if p.System != "" {
		creds["system_scope"] = p.System
	}
	if p.DomainID != "" {
		creds["domain_id"] = p.DomainID
	}
	if p.ProjectID != "" {
		creds["project_id"] = p.ProjectID
		if t.ProjectDomain != nil {
			creds["project_domain_id"] = t.ProjectDomain.ID
		}
	}
	return creds
}

func (s *Server) outcome(o string) {
	if s.Metrics != nil {
		s.Metrics.Outcome(o)
	}
}

func (s *Server) outcomeFor(err error) {
	ae := apierror.As(err)
	switch {
	case ae.Code == http.StatusNotFound:
		s.outcome("invalid")
	case ae.Code == http.StatusForbidden:
		s.outcome("forbidden")
	default:
		s.outcome("error")
	}
}

// pyBool is oslo_utils.strutils.bool_from_string with default False.
func pyBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}
