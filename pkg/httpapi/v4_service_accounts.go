package httpapi

import (
	"context"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/labstack/echo/v4"
)

// ServiceAccountService is the service account feature
// (*serviceaccount.Service).
type ServiceAccountService interface {
	Create(ctx context.Context, r *serviceaccount.CreateRequest, createdBy string) (*serviceaccount.Account, error)
	Get(ctx context.Context, id string) (*serviceaccount.Account, error)
	List(ctx context.Context, domainID, name string) ([]*serviceaccount.Account, error)
	Update(ctx context.Context, cur *serviceaccount.Account, r *serviceaccount.UpdateRequest) (*serviceaccount.Account, error)
	Delete(ctx context.Context, id string) error
	IsServiceAccount(ctx context.Context, userID string) (bool, error)
}

var _ ServiceAccountService = (*serviceaccount.Service)(nil)

func (s *Server) registerServiceAccountRoutes(e *echo.Echo) {
	e.POST("/v4/service_accounts", s.serviceAccountCreate)
	e.GET("/v4/service_accounts", s.serviceAccountList)
	e.GET("/v4/service_accounts/:id", s.serviceAccountGet)
	e.PATCH("/v4/service_accounts/:id", s.serviceAccountUpdate)
	e.DELETE("/v4/service_accounts/:id", s.serviceAccountDelete)
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
}

func viewServiceAccount(a *serviceaccount.Account) serviceAccountView {
	v := serviceAccountView{ID: a.ID, Name: a.Name, DomainID: a.DomainID, Description: a.Description, Enabled: a.Enabled,
		CreatedAt: keystoneTime(a.CreatedAt), CreatedBy: a.CreatedBy}
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
	if _, err := s.Authorize(c, action, map[string]any{"domain_id": a.DomainID}); err != nil {
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
		return apierror.New(http.StatusBadRequest, "Expecting to find service_account in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	t, err := s.Authorize(c, "service_account:create", map[string]any{"domain_id": req.ServiceAccount.DomainID})
	if err != nil {
		return err
	}
	a, err := s.V4.ServiceAccounts.Create(c.Request().Context(), req.ServiceAccount, t.Payload.UserID)
	if err != nil {
		return err
	}
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
		return apierror.New(http.StatusBadRequest, "Expecting to find service_account in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	out, err := s.V4.ServiceAccounts.Update(c.Request().Context(), a, req.ServiceAccount)
	if err != nil {
		return err
	}
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
	return c.NoContent(http.StatusNoContent)
}
