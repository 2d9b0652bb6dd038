package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
	"github.com/labstack/echo/v4"
)

// PasskeyService is the passkey feature (*passkey.Service).
type PasskeyService interface {
	// User returns a Keystone user; passkey.ErrNotFound when absent.
	User(ctx context.Context, id string) (*keystone.User, error)
	BeginRegistration(ctx context.Context, u *keystone.User, name string) (*passkey.Begun, error)
	FinishRegistration(ctx context.Context, u *keystone.User, ceremonyID, name string, credential json.RawMessage) (*passkey.Passkey, error)
	List(ctx context.Context, userID string) ([]*passkey.Passkey, error)
	Get(ctx context.Context, userID, id string) (*passkey.Passkey, error)
	Rename(ctx context.Context, userID, id, name string) (*passkey.Passkey, error)
	Delete(ctx context.Context, userID, id string) error
	BeginLogin(ctx context.Context, ref *passkey.UserRef) (*passkey.Begun, error)
	// Assertion is the authenticator of a passkey login (finished by
	// V4.Logins).
	Assertion(ceremonyID string, credential json.RawMessage, scope *issue.ScopeRequest) login.Authenticator
}

var _ PasskeyService = (*passkey.Service)(nil)

func (s *Server) registerPasskeyRoutes(e *echo.Echo) {
	g := e.Group("/v4/users/:user_id/passkeys")
	g.POST("/register/start", s.passkeyRegisterStart)
	g.POST("/register/finish", s.passkeyRegisterFinish)
	g.GET("", s.passkeyList)
	g.GET("/:passkey_id", s.passkeyGet)
	g.PATCH("/:passkey_id", s.passkeyUpdate)
	g.DELETE("/:passkey_id", s.passkeyDelete)
	e.POST("/v4/auth/passkey/start", s.passkeyLoginStart)
	e.POST("/v4/auth/passkey/finish", s.passkeyLoginFinish)
	s.registerLoginPage(e)
}

// keystoneTime renders a time as Keystone does: 2026-11-23T10:00:00.000000Z.
func keystoneTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// passkeyView is a passkey as the API shows it.
type passkeyView struct {
	ID             string   `json:"id"`
	UserID         string   `json:"user_id"`
	Name           string   `json:"name"`
	CreatedAt      string   `json:"created_at"`
	LastUsedAt     *string  `json:"last_used_at"`
	AAGUID         string   `json:"aaguid"`
	Transports     []string `json:"transports"`
	BackupEligible bool     `json:"backup_eligible"`
	BackupState    bool     `json:"backup_state"`
}

func viewPasskey(p *passkey.Passkey) passkeyView {
	v := passkeyView{ID: p.ID, UserID: p.UserID, Name: p.Name, CreatedAt: keystoneTime(p.CreatedAt), AAGUID: p.AAGUID,
		Transports: p.Transports, BackupEligible: p.BackupEligible, BackupState: p.BackupState}
	if v.Transports == nil {
		v.Transports = []string{}
	}
	if p.LastUsedAt != nil {
		s := keystoneTime(*p.LastUsedAt)
		v.LastUsedAt = &s
	}
	return v
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}

// passkeyTarget authenticates the caller, reads the path's user and asks
// the policy about action. An unknown user is a 404 only for callers the
// policy would allow on an unknown user's passkeys (admins); everyone
// else gets the 403, so the API does not reveal which user ids exist.
func (s *Server) passkeyTarget(c echo.Context, action string) (*keystone.User, error) {
	if _, _, err := s.Caller(c); err != nil {
		return nil, err
	}
	id := c.Param("user_id")
	u, err := s.V4.Passkeys.User(c.Request().Context(), id)
	if errors.Is(err, passkey.ErrNotFound) {
		if _, aerr := s.Authorize(c, action, map[string]any{"user_id": id, "domain_id": ""}); aerr != nil {
			return nil, aerr
		}
		return nil, apierror.NotFound("Could not find user: " + id + ".")
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	if _, err := s.Authorize(c, action, map[string]any{"user_id": u.ID, "domain_id": u.DomainID}); err != nil {
		return nil, err
	}
	if action == "passkey:register" && s.V4.ServiceAccounts != nil {
		// A service account never signs in with a passkey (the login
		// pipeline refuses it too); registering one would only plant a
		// credential that can never be used.
		sa, err := s.V4.ServiceAccounts.IsServiceAccount(c.Request().Context(), u.ID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if sa {
			return nil, apierror.Forbidden("You are not authorized to perform the requested action: passkey:register (a service account cannot have passkeys).")
		}
	}
	return u, nil
}

func (s *Server) passkeyRegisterStart(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:register")
	if err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := DecodeOptionalJSON(c, &req); err != nil {
		return err
	}
	b, err := s.V4.Passkeys.BeginRegistration(c.Request().Context(), u, req.Name)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, b)
}

func (s *Server) passkeyRegisterFinish(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:register")
	if err != nil {
		return err
	}
	var req struct {
		CeremonyID string          `json:"ceremony_id"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.CeremonyID == "" || len(req.Credential) == 0 {
		return apierror.New(http.StatusBadRequest, "Expecting to find ceremony_id and credential in request. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	p, err := s.V4.Passkeys.FinishRegistration(c.Request().Context(), u, req.CeremonyID, req.Name, req.Credential)
	if err != nil {
		return err
	}
	s.changed(c, audit.Created, audit.ResourcePasskey, p.ID)
	return c.JSON(http.StatusCreated, map[string]any{"passkey": viewPasskey(p)})
}

func (s *Server) passkeyList(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:list")
	if err != nil {
		return err
	}
	ps, err := s.V4.Passkeys.List(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]passkeyView, 0, len(ps))
	for _, p := range ps {
		out = append(out, viewPasskey(p))
	}
	return c.JSON(http.StatusOK, map[string]any{"passkeys": out})
}

func (s *Server) passkeyGet(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:get")
	if err != nil {
		return err
	}
	p, err := s.V4.Passkeys.Get(c.Request().Context(), u.ID, c.Param("passkey_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"passkey": viewPasskey(p)})
}

func (s *Server) passkeyUpdate(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:update")
	if err != nil {
		return err
	}
	var req struct {
		Passkey *struct {
			Name *string `json:"name"`
		} `json:"passkey"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Passkey == nil || req.Passkey.Name == nil {
		return apierror.New(http.StatusBadRequest, "Expecting to find name in passkey. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	p, err := s.V4.Passkeys.Rename(c.Request().Context(), u.ID, c.Param("passkey_id"), *req.Passkey.Name)
	if err != nil {
		return err
	}
	s.changed(c, audit.Updated, audit.ResourcePasskey, p.ID)
	return c.JSON(http.StatusOK, map[string]any{"passkey": viewPasskey(p)})
}

func (s *Server) passkeyDelete(c echo.Context) error {
	u, err := s.passkeyTarget(c, "passkey:delete")
	if err != nil {
		return err
	}
	if err := s.V4.Passkeys.Delete(c.Request().Context(), u.ID, c.Param("passkey_id")); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourcePasskey, c.Param("passkey_id"))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) passkeyLoginStart(c echo.Context) error {
	var req struct {
		User *passkey.UserRef `json:"user"`
	}
	if err := DecodeOptionalJSON(c, &req); err != nil {
		return err
	}
	b, err := s.V4.Passkeys.BeginLogin(c.Request().Context(), req.User)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, b)
}

func (s *Server) passkeyLoginFinish(c echo.Context) error {
	var req struct {
		CeremonyID string              `json:"ceremony_id"`
		Credential json.RawMessage     `json:"credential"`
		Scope      *issue.ScopeRequest `json:"scope"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.CeremonyID) == "" || len(req.Credential) == 0 {
		return apierror.New(http.StatusBadRequest, "Expecting to find ceremony_id and credential in request. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	out, err := s.V4.Logins.Login(c.Request().Context(), s.V4.Passkeys.Assertion(req.CeremonyID, req.Credential, req.Scope))
	if err != nil {
		return err
	}
	return s.RespondToken(c, out)
}
