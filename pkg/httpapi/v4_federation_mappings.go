package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/labstack/echo/v4"
)

type mappingBody struct {
	Mapping *struct {
		Name  string          `json:"name"`
		Rules json.RawMessage `json:"rules"`
	} `json:"mapping"`
}

func (s *Server) decodeMapping(c echo.Context) (string, json.RawMessage, error) {
	var body mappingBody
	if err := DecodeJSON(c, &body); err != nil {
		return "", nil, err
	}
	if body.Mapping == nil {
		return "", nil, apierror.New(http.StatusBadRequest, "Expecting to find mapping in request body.")
	}
	if len(body.Mapping.Rules) == 0 || string(body.Mapping.Rules) == "null" {
		return "", nil, apierror.New(http.StatusBadRequest, "mapping.rules: is required.")
	}
	return body.Mapping.Name, body.Mapping.Rules, nil
}

func (s *Server) mappingCreate(c echo.Context) error {
	p, err := s.idpFor(c, "mapping:create")
	if err != nil {
		return err
	}
	name, rules, err := s.decodeMapping(c)
	if err != nil {
		return err
	}
	m, err := s.V4.Federation.CreateMapping(c.Request().Context(), p, name, rules)
	if err != nil {
		return err
	}
	s.changed(c, audit.Created, audit.ResourceMapping, audit.MappingID(p.ID, name))
	return c.JSON(http.StatusCreated, map[string]any{"mapping": m})
}

func (s *Server) mappingList(c echo.Context) error {
	p, err := s.idpFor(c, "mapping:list")
	if err != nil {
		return err
	}
	l, err := s.V4.Federation.ListMappings(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"mappings": l})
}

func (s *Server) mappingGet(c echo.Context) error {
	p, err := s.idpFor(c, "mapping:get")
	if err != nil {
		return err
	}
	m, err := s.V4.Federation.GetMapping(c.Request().Context(), p.ID, c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"mapping": m})
}

func (s *Server) mappingUpdate(c echo.Context) error {
	p, err := s.idpFor(c, "mapping:update")
	if err != nil {
		return err
	}
	name, rules, err := s.decodeMapping(c)
	if err != nil {
		return err
	}
	if name != "" && name != c.Param("name") {
		return apierror.New(http.StatusBadRequest, "mapping.name: cannot be changed.")
	}
	m, err := s.V4.Federation.UpdateMapping(c.Request().Context(), p, c.Param("name"), rules)
	if err != nil {
		return err
	}
	s.changed(c, audit.Updated, audit.ResourceMapping, audit.MappingID(p.ID, c.Param("name")))
	return c.JSON(http.StatusOK, map[string]any{"mapping": m})
}

func (s *Server) mappingDelete(c echo.Context) error {
	p, err := s.idpFor(c, "mapping:delete")
	if err != nil {
		return err
	}
	if err := s.V4.Federation.DeleteMapping(c.Request().Context(), p.ID, c.Param("name")); err != nil {
		return err
	}
	s.changed(c, audit.Deleted, audit.ResourceMapping, audit.MappingID(p.ID, c.Param("name")))
	return c.NoContent(http.StatusNoContent)
}
