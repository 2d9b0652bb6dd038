package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

type idpBody struct {
	IdentityProvider *federation.IdPFields `json:"identity_provider"`
}

func idpTarget(p *federation.IdP) map[string]any {
	return map[string]any{"domain_id": p.OwnerDomain()}
}

func (s *Server) idpCreate(c echo.Context) error {
	var body idpBody
	if err := DecodeJSON(c, &body); err != nil {
		return err
	}
	if body.IdentityProvider == nil {
		return apierror.New(http.StatusBadRequest, "Expecting to find identity_provider in request body.")
	}
	var dom any
	if d := body.IdentityProvider.DomainID; d != nil && *d != "" {
		dom = *d
	}
	if _, err := s.Authorize(c, "identity_provider:create", map[string]any{"domain_id": dom}); err != nil {
		return err
	}
	p, err := s.V4.Federation.CreateIdP(c.Request().Context(), body.IdentityProvider)
	if err != nil {
		return err
	}
	s.changed(c, audit.Created, audit.ResourceIdentityProvider, p.ID)
	return c.JSON(http.StatusCreated, map[string]any{"identity_provider": p})
}

func (s *Server) idpList(c echo.Context) error {
	q := c.QueryParams()
	var f federation.IdPFilter
	var dom any
	if v, ok := q["domain_id"]; ok && len(v) > 0 {
		d := v[0]
		f.DomainID = &d
		dom = d
	}
	if v, ok := q["name"]; ok && len(v) > 0 {
		n := v[0]
		f.Name = &n
	}
	if v, ok := q["enabled"]; ok && len(v) > 0 {
		b, err := strconv.ParseBool(v[0])
		if err != nil {
			return apierror.New(http.StatusBadRequest, "Query parameter enabled must be true or false.")
		}
		f.Enabled = &b
	}
	if _, err := s.Authorize(c, "identity_provider:list", map[string]any{"domain_id": dom}); err != nil {
		return err
	}
	list, err := s.V4.Federation.ListIdPs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"identity_providers": list})
}

// idpFor loads the IdP of the path and authorizes action on it. Without
// the right to see it, an unknown IdP and a forbidden one look alike to
// a caller who cannot read it (403 from the policy needs the IdP's
// domain, so 404 is answered only after the caller is authenticated).
func (s *Server) idpFor(c echo.Context, action string) (*federation.IdP, error) {
	if _, _, err := s.Caller(c); err != nil {
		return nil, err
	}
	p, err := s.V4.Federation.GetIdP(c.Request().Context(), c.Param("idp_id"))
	if err != nil {
		return nil, err
	}
	if _, err := s.Authorize(c, action, idpTarget(p)); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) idpGet(c echo.Context) error {
	p, err := s.idpFor(c, "identity_provider:get")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"identity_provider": p})
}

func (s *Server) idpUpdate(c echo.Context) error {
	p, err := s.idpFor(c, "identity_provider:update")
	if err != nil {
		return err
	}
	var body idpBody
	if err := DecodeJSON(c, &body); err != nil {
		return err
	}
	if body.IdentityProvider == nil {
		return apierror.New(http.StatusBadRequest, "Expecting to find identity_provider in request body.")
	}
	out, err := s.V4.Federation.UpdateIdP(c.Request().Context(), p, body.IdentityProvider)
	if err != nil {
		return err
	}
	s.changed(c, audit.Updated, audit.ResourceIdentityProvider, p.ID)
	return c.JSON(http.StatusOK, map[string]any{"identity_provider": out})
}

func (s *Server) idpDelete(c echo.Context) error {
	p, err := s.idpFor(c, "identity_provider:delete")
	if err != nil {
		return err
	}
	if err := s.V4.Federation.DeleteIdP(c.Request().Context(), p); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourceIdentityProvider, p.ID)
	return c.NoContent(http.StatusNoContent)
}

// loginIdPs lists, without authentication, the enabled IdPs with an OIDC
// client that the login page may offer. A list of every domain's IdPs
// would be a phishing surface (any domain admin's IdP, under any name, on
// the cloud's own login page), so the list is per domain: without a query
// only the global IdPs (those of system admins); with ?domain_id=<id> or
// ?domain=<name> that domain's IdPs too. An unknown or disabled domain
// adds nothing, so the answer is the same as for a domain without IdPs
// (no existence oracle).
func (s *Server) loginIdPs(c echo.Context) error {
	ctx := c.Request().Context()
	on := true
	list, err := s.V4.Federation.ListIdPs(ctx, federation.IdPFilter{Global: true, Enabled: &on})
	if err != nil {
		return err
	}
	if dom, err := s.loginDomain(ctx, c.QueryParam("domain_id"), c.QueryParam("domain")); err != nil {
		return err
	} else if dom != "" {
		own, err := s.V4.Federation.ListIdPs(ctx, federation.IdPFilter{DomainID: &dom, Enabled: &on})
		if err != nil {
			return err
		}
		list = append(list, own...)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"identity_providers": loginEntries(list)})
}

// loginEntry is an IdP as the public list shows it.
type loginEntry struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	DomainID *string `json:"domain_id"`
	LoginURL string  `json:"login_url"`
}

// loginEntries keeps the IdPs a browser can log in with (an OIDC client).
func loginEntries(list []*federation.IdP) []loginEntry {
	out := []loginEntry{}
	for _, p := range list {
		if p.ClientID == nil || !p.Enabled {
			continue
		}
		out = append(out, loginEntry{ID: p.ID, Name: p.Name, DomainID: p.DomainID, LoginURL: "/v4/federation/identity_providers/" + p.ID + "/login"})
	}
	return out
}

// loginDomain resolves the public list's domain query to an enabled
// domain's id; "" when none is asked for or the domain is unknown or
// disabled. domain_id wins over domain.
func (s *Server) loginDomain(ctx context.Context, id, name string) (string, error) {
	id, name = strings.TrimSpace(id), strings.TrimSpace(name)
	if (id == "" && name == "") || s.V4.Scopes == nil {
		return "", nil
	}
	var d *keystone.Project
	if id != "" {
		m, err := s.V4.Scopes.GetProjects(ctx, id)
		if err != nil {
			return "", apierror.Internal(fmt.Errorf("login list: domain %q: %w", id, err))
		}
		d = m[id]
	} else {
		var err error
		d, err = s.V4.Scopes.DomainByName(ctx, name)
		if errors.Is(err, token.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", apierror.Internal(fmt.Errorf("login list: domain name: %w", err))
		}
	}
	if d == nil || !d.IsDomain || !d.Enabled {
		return "", nil
	}
	return d.ID, nil
}
