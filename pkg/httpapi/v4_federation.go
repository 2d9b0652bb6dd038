package httpapi

import "github.com/labstack/echo/v4"

// FederationService is the federation feature (pkg/federation).
type FederationService interface{}

func (s *Server) registerFederationRoutes(e *echo.Echo) {}
