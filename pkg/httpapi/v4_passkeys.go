package httpapi

import "github.com/labstack/echo/v4"

// PasskeyService is the passkey feature (pkg/passkey).
type PasskeyService interface{}

func (s *Server) registerPasskeyRoutes(e *echo.Echo) {}
