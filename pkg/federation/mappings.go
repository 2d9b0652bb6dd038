package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/mapping"
	"github.com/uptrace/bun"
)

// Mapping is a stored mapping as the API shows it.
type Mapping struct {
	IdPID string          `json:"identity_provider_id"`
	Name  string          `json:"name"`
	Rules json.RawMessage `json:"rules"`

	parsed *mapping.Mapping
}

// ParseMappingRules validates rules (the "rules" array of the API body) and
// the references they make against the database, within what the IdP's
// domain may use. The error names the bad field.
func (s *Service) ParseMappingRules(ctx context.Context, p *IdP, rules json.RawMessage) (*mapping.Mapping, error) {
	doc := append(append([]byte(`{"rules":`), rules...), '}')
	m, err := mapping.Parse(doc)
	if err != nil {
		return nil, badRequest("mapping.%s", err.Error())
	}
	for i, r := range m.Rules {
		if _, err := s.resolveRule(ctx, s.db, p, r); err != nil {
			var re *refError
			if errors.As(err, &re) {
				return nil, badRequest("mapping.rules[%d].%s: %s", i, re.field, re.msg)
			}
			var be *boundsError
			if errors.As(err, &be) {
				return nil, apierror.Forbidden(fmt.Sprintf("mapping.rules[%d].%s: %s.", i, be.field, be.msg))
			}
			return nil, apierror.Internal(err)
		}
	}
	return m, nil
}

func validName(n string) error {
	if n == "" || len(n) > 255 || strings.ContainsAny(n, "/?#%") {
		return badRequest("mapping.name: required, at most 255 bytes, none of '/?#%%'.")
	}
	return nil
}

func canonicalRules(m *mapping.Mapping) string {
	var doc struct {
		Rules json.RawMessage `json:"rules"`
	}
	_ = json.Unmarshal(m.Canonical, &doc)
	return string(doc.Rules)
}

// CreateMapping stores a new mapping of the IdP.
func (s *Service) CreateMapping(ctx context.Context, p *IdP, name string, rules json.RawMessage) (*Mapping, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	m, err := s.ParseMappingRules(ctx, p, rules)
	if err != nil {
		return nil, err
	}
	if max := s.opt.MaxMappingsPerIdP; max > 0 && p.DomainID != nil {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_mapping WHERE idp_id = ?`, p.ID).Scan(&n); err != nil {
			return nil, apierror.Internal(err)
		}
		if n >= max {
			return nil, apierror.Forbidden(fmt.Sprintf("Identity provider %s has %d mappings, the most [keystone_ng] max_mappings_per_identity_provider allows.", p.ID, n))
		}
	}
	now := micros(s.opt.Now())
	_, err = s.db.ExecContext(ctx, `INSERT INTO ng_mapping (idp_id, name, rules, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		p.ID, name, canonicalRules(m), now, now)
	if isDuplicate(err) {
		return nil, apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store mapping - Duplicate entry: %s.", name))
	}
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("insert mapping: %w", err))
	}
	return &Mapping{IdPID: p.ID, Name: name, Rules: json.RawMessage(canonicalRules(m)), parsed: m}, nil
}

// GetMapping reads one mapping (404 when absent).
func (s *Service) GetMapping(ctx context.Context, idpID, name string) (*Mapping, error) {
	return s.getMapping(ctx, s.db, idpID, name)
}

func (s *Service) getMapping(ctx context.Context, q bun.IDB, idpID, name string) (*Mapping, error) {
	var rules string
	err := q.QueryRowContext(ctx, `SELECT rules FROM ng_mapping WHERE idp_id = ? AND name = ?`, idpID, name).Scan(&rules)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apierror.NotFound(fmt.Sprintf("Could not find mapping: %s.", name))
	}
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("read mapping: %w", err))
	}
	return &Mapping{IdPID: idpID, Name: name, Rules: json.RawMessage(rules)}, nil
}

// ListMappings lists the IdP's mappings by name.
func (s *Service) ListMappings(ctx context.Context, idpID string) ([]*Mapping, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, rules FROM ng_mapping WHERE idp_id = ? ORDER BY name`, idpID)
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("list mappings: %w", err))
	}
	defer rows.Close()
	out := []*Mapping{}
	for rows.Next() {
		var n, r string
		if err := rows.Scan(&n, &r); err != nil {
			return nil, apierror.Internal(err)
		}
		out = append(out, &Mapping{IdPID: idpID, Name: n, Rules: json.RawMessage(r)})
	}
	return out, rows.Err()
}

// UpdateMapping replaces a mapping's rules (effective at the next login).
func (s *Service) UpdateMapping(ctx context.Context, p *IdP, name string, rules json.RawMessage) (*Mapping, error) {
	if _, err := s.GetMapping(ctx, p.ID, name); err != nil {
		return nil, err
	}
	m, err := s.ParseMappingRules(ctx, p, rules)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE ng_mapping SET rules = ?, updated_at = ? WHERE idp_id = ? AND name = ?`,
		canonicalRules(m), micros(s.opt.Now()), p.ID, name); err != nil {
		return nil, apierror.Internal(fmt.Errorf("update mapping: %w", err))
	}
	return &Mapping{IdPID: p.ID, Name: name, Rules: json.RawMessage(canonicalRules(m)), parsed: m}, nil
}

// DeleteMapping deletes a mapping; grants it made stay until the user's
// next login through another mapping of the IdP (or the IdP's deletion).
func (s *Service) DeleteMapping(ctx context.Context, idpID, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ng_mapping WHERE idp_id = ? AND name = ?`, idpID, name)
	if err != nil {
		return apierror.Internal(fmt.Errorf("delete mapping: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apierror.NotFound(fmt.Sprintf("Could not find mapping: %s.", name))
	}
	return nil
}

// refError is a reference that does not resolve (or is out of bounds).
type refError struct{ field, msg string }

func (e *refError) Error() string { return e.field + ": " + e.msg }

func refErr(field, format string, a ...any) error {
	return &refError{field: field, msg: fmt.Sprintf(format, a...)}
}

// resolved is a rule with every name turned into an id.
type resolved struct {
	UserID    string // existing user (service account), else ""
	GroupIDs  []string
	Grants    []assignment
	ProjectID string // scope
	DomainID  string // scope
}

const rootDomain = "<<keystone.domain.root>>"

func (s *Service) resolveDomain(ctx context.Context, q bun.IDB, field string, r mapping.Ref) (string, error) {
	var id string
	var err error
	if r.ID != "" {
		err = q.QueryRowContext(ctx, `SELECT id FROM project WHERE id = ? AND is_domain = ? AND id <> ?`, r.ID, true, rootDomain).Scan(&id)
	} else {
		err = q.QueryRowContext(ctx, `SELECT id FROM project WHERE name = ? AND is_domain = ? AND id <> ?`, r.Name, true, rootDomain).Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", refErr(field, "domain %s not found", refText(r))
	}
	return id, err
}

func refText(r mapping.Ref) string {
	if r.ID != "" {
		return r.ID
	}
	return fmt.Sprintf("%q", r.Name)
}

// resolveRule resolves a rule's references. For an IdP owned by a domain,
// everything must lie in that domain (roles: global roles or the domain's
// own), so that a domain admin's mapping grants nothing outside it, and
// within what a domain may hand out (checkBounds, grantable.go).
func (s *Service) resolveRule(ctx context.Context, q bun.IDB, p *IdP, r *mapping.Rule) (*resolved, error) {
	owner := ""
	if p.DomainID != nil {
		owner = *p.DomainID
	}
	inBounds := func(domainID string) bool { return owner == "" || domainID == owner }
	out := &resolved{}
	if r.User.ID != "" {
		var dom string
		err := q.QueryRowContext(ctx, `SELECT domain_id FROM `+s.tUser+` WHERE id = ?`, r.User.ID).Scan(&dom)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, refErr("user.id", "user %s not found", r.User.ID)
		}
		if err != nil {
			return nil, err
		}
		if !inBounds(dom) {
			return nil, refErr("user.id", "user %s is not in the identity provider's domain", r.User.ID)
		}
		out.UserID = r.User.ID
	}
	for i, g := range r.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		var id, dom string
		var err error
		if g.ID != "" {
			err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM `+s.tGrp+` WHERE id = ?`, g.ID).Scan(&id, &dom)
		} else {
			var d string
			if d, err = s.resolveDomain(ctx, q, f+".domain", *g.Domain); err != nil {
				return nil, err
			}
			err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM `+s.tGrp+` WHERE name = ? AND domain_id = ?`, g.Name, d).Scan(&id, &dom)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, refErr(f, "group %s not found", refText(g))
		}
		if err != nil {
			return nil, err
		}
		if !inBounds(dom) {
			return nil, refErr(f, "group %s is not in the identity provider's domain", refText(g))
		}
		out.GroupIDs = appendUnique(out.GroupIDs, id)
	}
	for i, g := range r.Grants {
		f := fmt.Sprintf("grants[%d]", i)
		var roleID, roleDom string
		var err error
		if g.Role.ID != "" {
			err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM role WHERE id = ?`, g.Role.ID).Scan(&roleID, &roleDom)
		} else {
			dom := "<<null>>"
			if g.Role.Domain != nil {
				if dom, err = s.resolveDomain(ctx, q, f+".role.domain", *g.Role.Domain); err != nil {
					return nil, err
				}
			}
			err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM role WHERE name = ? AND domain_id = ?`, g.Role.Name, dom).Scan(&roleID, &roleDom)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, refErr(f+".role", "role %s not found", refText(g.Role))
		}
		if err != nil {
			return nil, err
		}
		if roleDom != "<<null>>" && !inBounds(roleDom) {
			return nil, refErr(f+".role", "role %s belongs to another domain", refText(g.Role))
		}
		a := assignment{RoleID: roleID}
		if g.Project != nil {
			pid, pdom, err := s.resolveProject(ctx, q, f+".project", *g.Project)
			if err != nil {
				return nil, err
			}
			if !inBounds(pdom) {
				return nil, refErr(f+".project", "project %s is not in the identity provider's domain", refText(*g.Project))
			}
			a.Type, a.TargetID = "UserProject", pid
		} else {
			did, err := s.resolveDomain(ctx, q, f+".domain", *g.Domain)
			if err != nil {
				return nil, err
			}
			if !inBounds(did) {
				return nil, refErr(f+".domain", "domain %s is not the identity provider's domain", refText(*g.Domain))
			}
			a.Type, a.TargetID = "UserDomain", did
		}
		out.Grants = append(out.Grants, a)
	}
	if r.Scope != nil {
		if r.Scope.Project != nil {
			pid, pdom, err := s.resolveProject(ctx, q, "scope.project", *r.Scope.Project)
			if err != nil {
				return nil, err
			}
			if !inBounds(pdom) {
				return nil, refErr("scope.project", "project %s is not in the identity provider's domain", refText(*r.Scope.Project))
			}
			out.ProjectID = pid
		} else {
			did, err := s.resolveDomain(ctx, q, "scope.domain", *r.Scope.Domain)
			if err != nil {
				return nil, err
			}
			if !inBounds(did) {
				return nil, refErr("scope.domain", "domain %s is not the identity provider's domain", refText(*r.Scope.Domain))
			}
			out.DomainID = did
		}
	}
	if err := s.checkBounds(ctx, q, owner, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) resolveProject(ctx context.Context, q bun.IDB, field string, r mapping.Ref) (id, domainID string, err error) {
	if r.ID != "" {
		err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM project WHERE id = ? AND is_domain = ?`, r.ID, false).Scan(&id, &domainID)
	} else {
		var d string
		if d, err = s.resolveDomain(ctx, q, field+".domain", *r.Domain); err != nil {
			return "", "", err
		}
		err = q.QueryRowContext(ctx, `SELECT id, domain_id FROM project WHERE name = ? AND domain_id = ? AND is_domain = ?`, r.Name, d, false).Scan(&id, &domainID)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", refErr(field, "project %s not found", refText(r))
	}
	return id, domainID, err
}

func appendUnique(l []string, v string) []string {
	for _, x := range l {
		if x == v {
			return l
		}
	}
	return append(l, v)
}
