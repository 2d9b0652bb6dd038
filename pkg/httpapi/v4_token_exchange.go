package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/tokenexchange"
	"github.com/labstack/echo/v4"
)

// TokenExchangeService makes restricted tokens (*tokenexchange.Service).
type TokenExchangeService interface {
	Exchange(req *tokenexchange.Request) *tokenexchange.Exchange
}

var _ TokenExchangeService = (*tokenexchange.Service)(nil)

// grantLabelExchange is the token exchange's grant in metrics.
const grantLabelExchange = "token_exchange"

// exchangeUnsupported are RFC 8693 §2.1 parameters not served: a
// restricted token acts for its subject only (no actor), and names no
// audience or resource beyond its access rules.
var exchangeUnsupported = []string{"actor_token", "actor_token_type", "resource", "audience"}

// exchangeRequest reads a token exchange request from form.
func exchangeRequest(c echo.Context, form url.Values) (*tokenexchange.Request, error) {
	if c.Request().Header.Get(echo.HeaderAuthorization) != "" || form.Has("client_secret") || form.Has("client_assertion") {
		// The subject token is the only credential: a client
		// authentication beside it would be a second, unchecked one.
		return nil, oauth2.InvalidRequest("Token exchange takes no client authentication: the subject token is the credential.")
	}
	r := &tokenexchange.Request{
		SubjectToken: form.Get("subject_token"), SubjectTokenType: form.Get("subject_token_type"),
		RequestedTokenType: form.Get("requested_token_type"), Scope: form.Get("scope"),
		AuthorizationDetails: form.Get("authorization_details"), ExpiresIn: form.Get("expires_in"),
	}
	for _, k := range exchangeUnsupported {
		if form.Has(k) {
			r.Unsupported = append(r.Unsupported, k)
		}
	}
	return r, nil
}

// tokenExchange is RFC 8693's token exchange on the token endpoint: a
// restricted token from a Keystone token (docs/restricted-tokens.md §1).
func (s *Server) tokenExchange(c echo.Context, form url.Values) error {
	if s.V4.TokenExchange == nil {
		return s.oauth2Error(c, grantLabelExchange, "none", false, oauth2.UnsupportedGrantType())
	}
	req, err := exchangeRequest(c, form)
	if err != nil {
		return s.oauth2Error(c, grantLabelExchange, "none", false, err)
	}
	x := s.V4.TokenExchange.Exchange(req)
	issued, err := s.V4.Logins.Login(c.Request().Context(), x)
	if err != nil {
		var oe *oauth2.Error
		switch {
		case errors.As(err, &oe):
		case apierror.As(err).Code >= 500:
		case !x.Admitted:
			// The usability rule refused the subject's user (disabled,
			// its domain disabled, locked).
			err = &oauth2.Error{Code: "invalid_request", Status: http.StatusBadRequest,
				Description: "The subject token is not valid.", Cause: err}
		default:
			// The restricted token failed validation once minted: the
			// roles kept come from no assignment Python would count for
			// an application credential (a federated login's group roles,
			// a role since removed). Its id must not reach the log.
			err = &oauth2.Error{Code: "invalid_scope", Status: http.StatusBadRequest,
				Description: "The restricted token would carry no valid role: the roles kept must be assigned to the user on the project.",
				Cause:       errors.New("the issuer refused the restricted token")}
		}
		return s.oauth2Error(c, grantLabelExchange, "none", false, err)
	}
	s.Metrics.OAuth2Token(grantLabelExchange, "none", "issued")
	t := issued.Token
	// Python announces every application credential it creates
	// (Audit.created('application_credential'), by the token's user).
	ctx := c.Request().Context()
	userName := ""
	if t.User != nil {
		userName = t.User.Name
	}
	audit.SetCaller(ctx, t.Payload.UserID, userName, t.Payload.ProjectID, "")
	s.changed(c, "created", "application_credential", t.Payload.AppCredID)
	scope := []string{tokenScope(t.Payload.ProjectID, "")}
	for _, r := range t.Roles {
		scope = append(scope, "role:"+r.Name)
	}
	body := map[string]any{
		"access_token":      issued.ID,
		"issued_token_type": tokenexchange.TokenTypeAccessToken,
		"token_type":        "Bearer",
		"expires_in":        expiresIn(t.Payload.ExpiresAt),
		"scope":             strings.Join(scope, " "),
	}
	if x.Plan != nil && len(x.Plan.AccessRules) > 0 {
		details := make([]map[string]string, 0, len(x.Plan.AccessRules))
		for _, r := range x.Plan.AccessRules {
			details = append(details, map[string]string{"type": tokenexchange.AccessRuleType, "service": r.Service, "method": r.Method, "path": r.Path})
		}
		b, _ := json.Marshal(details)
		body["authorization_details"] = json.RawMessage(b)
	}
	return writeTokenAnswer(c, body)
}
