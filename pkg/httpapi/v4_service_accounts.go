package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/labstack/echo/v4"
)

// ServiceAccountService is the service account feature
// (*serviceaccount.Service).
type ServiceAccountService interface {
	Create(ctx context.Context, r *serviceaccount.CreateRequest, createdBy string, bounded bool) (*serviceaccount.Account, error)
	Get(ctx context.Context, id string) (*serviceaccount.Account, error)
	List(ctx context.Context, domainID, name string) ([]*serviceaccount.Account, error)
	Update(ctx context.Context, cur *serviceaccount.Account, r *serviceaccount.UpdateRequest) (*serviceaccount.Account, error)
	Delete(ctx context.Context, id string) error
	IsServiceAccount(ctx context.Context, userID string) (bool, error)
	CreateKey(ctx context.Context, acct *serviceaccount.Account, r *serviceaccount.KeyRequest, createdBy string) (*serviceaccount.NewKey, error)
	Keys(ctx context.Context, acct *serviceaccount.Account) ([]*serviceaccount.Credential, error)
	Key(ctx context.Context, acct *serviceaccount.Account, id string) (*serviceaccount.Credential, error)
	DeleteKey(ctx context.Context, acct *serviceaccount.Account, id string) error
	CreateSecret(ctx context.Context, acct *serviceaccount.Account, r *serviceaccount.SecretRequest, createdBy string) (*serviceaccount.NewSecret, error)
	Secrets(ctx context.Context, acct *serviceaccount.Account) ([]*serviceaccount.Credential, error)
	DeleteSecret(ctx context.Context, acct *serviceaccount.Account, id string) error
	// ClientCredentials is the authenticator of a token request (run by
	// V4.Logins).
	ClientCredentials(req *serviceaccount.TokenRequest, deps serviceaccount.LoginDeps) *serviceaccount.ClientLogin
}

var _ ServiceAccountService = (*serviceaccount.Service)(nil)

func (s *Server) registerServiceAccountRoutes(e *echo.Echo) {
	e.POST("/v4/service_accounts", s.serviceAccountCreate)
	e.GET("/v4/service_accounts", s.serviceAccountList)
	e.GET("/v4/service_accounts/:id", s.serviceAccountGet)
	e.PATCH("/v4/service_accounts/:id", s.serviceAccountUpdate)
	e.DELETE("/v4/service_accounts/:id", s.serviceAccountDelete)
	e.POST("/v4/service_accounts/:id/keys", s.serviceAccountKeyCreate)
	e.GET("/v4/service_accounts/:id/keys", s.serviceAccountKeyList)
	e.GET("/v4/service_accounts/:id/keys/:key_id", s.serviceAccountKeyGet)
	e.DELETE("/v4/service_accounts/:id/keys/:key_id", s.serviceAccountKeyDelete)
	e.POST("/v4/service_accounts/:id/secrets", s.serviceAccountSecretCreate)
	e.GET("/v4/service_accounts/:id/secrets", s.serviceAccountSecretList)
	e.DELETE("/v4/service_accounts/:id/secrets/:secret_id", s.serviceAccountSecretDelete)
}

// serviceAccountView is an account as the API shows it.
type serviceAccountView struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	DomainID         string  `json:"domain_id"`
	Description      string  `json:"description"`
	Enabled          bool    `json:"enabled"`
	DefaultProjectID *string `json:"default_project_id"`
	CreatedAt        string  `json:"created_at"`
	CreatedBy        string  `json:"created_by"`
	Bounded          bool    `json:"bounded"`
}

func viewServiceAccount(a *serviceaccount.Account) serviceAccountView {
	v := serviceAccountView{ID: a.ID, Name: a.Name, DomainID: a.DomainID, Description: a.Description, Enabled: a.Enabled,
		CreatedAt: keystoneTime(a.CreatedAt), CreatedBy: a.CreatedBy, Bounded: a.Bounded}
	if a.DefaultProjectID != "" {
		p := a.DefaultProjectID
		v.DefaultProjectID = &p
	}
	return v
}

// serviceAccountTarget authenticates the caller, reads the path's account
// and asks the policy about action on its owning domain. An id that is no
// service account is a 404 only for callers the policy allows on any
// domain (system scope); everyone else gets the 403, so the API does not
// reveal which accounts (or users) exist elsewhere.
func (s *Server) serviceAccountTarget(c echo.Context, action string) (*serviceaccount.Account, error) {
	if _, _, err := s.Caller(c); err != nil {
		return nil, err
	}
	id := c.Param("id")
	a, err := s.V4.ServiceAccounts.Get(c.Request().Context(), id)
	if err != nil {
		if apierror.As(err).Code != http.StatusNotFound {
			return nil, err
		}
		if _, aerr := s.Authorize(c, action, map[string]any{"domain_id": nil}); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if _, err := s.Authorize(c, action, map[string]any{"domain_id": a.DomainID, "bounded": a.Bounded}); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Server) serviceAccountCreate(c echo.Context) error {
	if _, _, err := s.Caller(c); err != nil {
		return err
	}
	var req struct {
		ServiceAccount *serviceaccount.CreateRequest `json:"service_account"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.ServiceAccount == nil {
		return apierror.Validation("service_account", "request body")
	}
	// A system admin's account is unbounded; anyone else's (a domain's
	// admin or manager) is bounded by domain_grantable_roles.
	t, _, err := s.Caller(c)
	if err != nil {
		return err
	}
	bounded := t.Payload.System == ""
	if _, err := s.Authorize(c, "service_account:create", map[string]any{"domain_id": req.ServiceAccount.DomainID, "bounded": bounded}); err != nil {
		return err
	}
	a, err := s.V4.ServiceAccounts.Create(c.Request().Context(), req.ServiceAccount, t.Payload.UserID, bounded)
	if err != nil {
		return err
	}
	s.changed(c, audit.Created, audit.ResourceServiceAccount, a.ID)
	return c.JSON(http.StatusCreated, map[string]any{"service_account": viewServiceAccount(a)})
}

func (s *Server) serviceAccountList(c echo.Context) error {
	domainID, name := c.QueryParam("domain_id"), c.QueryParam("name")
	var target any
	if domainID != "" {
		target = domainID
	}
	if _, err := s.Authorize(c, "service_account:list", map[string]any{"domain_id": target}); err != nil {
		return err
	}
	as, err := s.V4.ServiceAccounts.List(c.Request().Context(), domainID, name)
	if err != nil {
		return err
	}
	out := make([]serviceAccountView, 0, len(as))
	for _, a := range as {
		out = append(out, viewServiceAccount(a))
	}
	return c.JSON(http.StatusOK, map[string]any{"service_accounts": out})
}

func (s *Server) serviceAccountGet(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:get")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"service_account": viewServiceAccount(a)})
}

func (s *Server) serviceAccountUpdate(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:update")
	if err != nil {
		return err
	}
	var req struct {
		ServiceAccount *serviceaccount.UpdateRequest `json:"service_account"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.ServiceAccount == nil {
		return apierror.Validation("service_account", "request body")
	}
	out, err := s.V4.ServiceAccounts.Update(c.Request().Context(), a, req.ServiceAccount)
	if err != nil {
		return err
	}
	s.changed(c, audit.Updated, audit.ResourceServiceAccount, a.ID)
	return c.JSON(http.StatusOK, map[string]any{"service_account": viewServiceAccount(out)})
}

func (s *Server) serviceAccountDelete(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:delete")
	if err != nil {
		return err
	}
	if err := s.V4.ServiceAccounts.Delete(c.Request().Context(), a.ID); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourceServiceAccount, a.ID)
	return c.NoContent(http.StatusNoContent)
}

// credentialView is a key or a secret as the API shows it; the secret
// value and the private key appear only in the answer that created them.
type credentialView struct {
	ID         string          `json:"id"`
	Algorithm  string          `json:"algorithm,omitempty"`
	PublicKey  json.RawMessage `json:"public_key,omitempty"`
	Thumbprint string          `json:"thumbprint,omitempty"`
	CreatedAt  string          `json:"created_at"`
	CreatedBy  string          `json:"created_by"`
	ExpiresAt  *string         `json:"expires_at"`
	LastUsedAt *string         `json:"last_used_at"`
	PrivateKey string          `json:"private_key,omitempty"`
	Secret     string          `json:"secret,omitempty"`
}

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := keystoneTime(*t)
	return &s
}

func viewCredential(k *serviceaccount.Credential) credentialView {
	v := credentialView{ID: k.ID, Algorithm: k.Algorithm, Thumbprint: k.Thumbprint, CreatedAt: keystoneTime(k.CreatedAt),
		CreatedBy: k.CreatedBy, ExpiresAt: optTime(k.ExpiresAt), LastUsedAt: optTime(k.LastUsedAt)}
	if k.PublicJWK != "" {
		v.PublicKey = json.RawMessage(k.PublicJWK)
	}
	return v
}

func (s *Server) serviceAccountKeyCreate(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:create_credential")
	if err != nil {
		return err
	}
	var req struct {
		Key *serviceaccount.KeyRequest `json:"key"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Key == nil {
		return apierror.Validation("key", "request body")
	}
	t, _, _ := s.Caller(c)
	k, err := s.V4.ServiceAccounts.CreateKey(c.Request().Context(), a, req.Key, t.Payload.UserID)
	if err != nil {
		return err
	}
	v := viewCredential(k.Key)
	v.PrivateKey = k.PrivateKey
	noStore(c)
	s.changed(c, audit.Created, audit.ResourceServiceAccountKey, v.ID)
	return c.JSON(http.StatusCreated, map[string]any{"key": v})
}

func (s *Server) serviceAccountKeyList(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:list_credentials")
	if err != nil {
		return err
	}
	ks, err := s.V4.ServiceAccounts.Keys(c.Request().Context(), a)
	if err != nil {
		return err
	}
	out := make([]credentialView, 0, len(ks))
	for _, k := range ks {
		out = append(out, viewCredential(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) serviceAccountKeyGet(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:list_credentials")
	if err != nil {
		return err
	}
	k, err := s.V4.ServiceAccounts.Key(c.Request().Context(), a, c.Param("key_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"key": viewCredential(k)})
}

func (s *Server) serviceAccountKeyDelete(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:delete_credential")
	if err != nil {
		return err
	}
	if err := s.V4.ServiceAccounts.DeleteKey(c.Request().Context(), a, c.Param("key_id")); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourceServiceAccountKey, c.Param("key_id"))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) serviceAccountSecretCreate(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:create_credential")
	if err != nil {
		return err
	}
	var req struct {
		Secret *serviceaccount.SecretRequest `json:"secret"`
	}
	if err := DecodeOptionalJSON(c, &req); err != nil {
		return err
	}
	if req.Secret == nil {
		req.Secret = &serviceaccount.SecretRequest{}
	}
	t, _, _ := s.Caller(c)
	n, err := s.V4.ServiceAccounts.CreateSecret(c.Request().Context(), a, req.Secret, t.Payload.UserID)
	if err != nil {
		return err
	}
	v := viewCredential(n.Secret)
	v.Secret = n.Value
	noStore(c)
	s.changed(c, audit.Created, audit.ResourceServiceAccountSecret, v.ID)
	return c.JSON(http.StatusCreated, map[string]any{"secret": v})
}

func (s *Server) serviceAccountSecretList(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:list_credentials")
	if err != nil {
		return err
	}
	ss, err := s.V4.ServiceAccounts.Secrets(c.Request().Context(), a)
	if err != nil {
		return err
	}
	out := make([]credentialView, 0, len(ss))
	for _, k := range ss {
		out = append(out, viewCredential(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"secrets": out})
}

func (s *Server) serviceAccountSecretDelete(c echo.Context) error {
	a, err := s.serviceAccountTarget(c, "service_account:delete_credential")
	if err != nil {
		return err
	}
	if err := s.V4.ServiceAccounts.DeleteSecret(c.Request().Context(), a, c.Param("secret_id")); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourceServiceAccountSecret, c.Param("secret_id"))
	return c.NoContent(http.StatusNoContent)
}
