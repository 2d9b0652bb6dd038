package httpapi

import (
	"context"
	"encoding/json"

	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/labstack/echo/v4"
)

// FederationService is the federation feature (pkg/federation): identity
// providers, their mappings and workload (JWT) login. Errors are
// *apierror.Error (404 unknown, 400 invalid naming the field, 409
// conflict, 401 refused login with the cause for the log only).
type FederationService interface {
	CreateIdP(ctx context.Context, f *federation.IdPFields) (*federation.IdP, error)
	ListIdPs(ctx context.Context, f federation.IdPFilter) ([]*federation.IdP, error)
	GetIdP(ctx context.Context, id string) (*federation.IdP, error)
	UpdateIdP(ctx context.Context, p *federation.IdP, f *federation.IdPFields) (*federation.IdP, error)
	DeleteIdP(ctx context.Context, p *federation.IdP) error

	CreateMapping(ctx context.Context, p *federation.IdP, name string, rules json.RawMessage) (*federation.Mapping, error)
	ListMappings(ctx context.Context, idpID string) ([]*federation.Mapping, error)
	GetMapping(ctx context.Context, idpID, name string) (*federation.Mapping, error)
	UpdateMapping(ctx context.Context, p *federation.IdP, name string, rules json.RawMessage) (*federation.Mapping, error)
	DeleteMapping(ctx context.Context, idpID, name string) error

	// JWT is the authenticator of a workload login (finished by
	// V4.Logins).
	JWT(idpID, rawJWT, mappingName string) login.Authenticator

	// OIDCProvider is the IdP as the OIDC flow (V4.OIDC) needs it, and
	// Claims the authenticator of an OIDC login whose code flow finished.
	OIDCProvider(ctx context.Context, idpID string) (oidcflow.Provider, error)
	Claims(idpID string, claims map[string]any, mappingName string) login.Authenticator
}

var _ FederationService = (*federation.Service)(nil)

func (s *Server) registerFederationRoutes(e *echo.Echo) {
	g := e.Group("/v4/federation/identity_providers")
	g.POST("", s.idpCreate)
	g.GET("", s.idpList)
	g.GET("/:idp_id", s.idpGet)
	g.PATCH("/:idp_id", s.idpUpdate)
	g.DELETE("/:idp_id", s.idpDelete)
	g.POST("/:idp_id/mappings", s.mappingCreate)
	g.GET("/:idp_id/mappings", s.mappingList)
	g.GET("/:idp_id/mappings/:name", s.mappingGet)
	g.PATCH("/:idp_id/mappings/:name", s.mappingUpdate)
	g.DELETE("/:idp_id/mappings/:name", s.mappingDelete)
	g.POST("/:idp_id/jwt", s.federationJWTLogin)
	e.GET("/v4/login/identity_providers", s.loginIdPs)
	s.registerOIDCRoutes(e)
}
