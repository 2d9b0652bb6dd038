package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/mapping"
	"github.com/keystone-ng/keystone-ng/pkg/store"
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
		if _, err := s.resolveRule(ctx, p, r); err != nil {
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
		n, err := s.st.CountMappings(ctx, p.ID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if n >= max {
			return nil, apierror.Forbidden(fmt.Sprintf("Identity provider %s has %d mappings, the most [keystone_ng] max_mappings_per_identity_provider allows.", p.ID, n))
		}
	}
	err = s.st.CreateMapping(ctx, p.ID, name, canonicalRules(m), s.opt.Now())
	if errors.Is(err, store.ErrMappingExists) {
		return nil, apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store mapping - Duplicate entry: %s.", name))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return &Mapping{IdPID: p.ID, Name: name, Rules: json.RawMessage(canonicalRules(m)), parsed: m}, nil
}

// GetMapping reads one mapping (404 when absent).
func (s *Service) GetMapping(ctx context.Context, idpID, name string) (*Mapping, error) {
	rules, err := s.st.MappingRules(ctx, idpID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.NotFound(fmt.Sprintf("Could not find mapping: %s.", name))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return &Mapping{IdPID: idpID, Name: name, Rules: json.RawMessage(rules)}, nil
}

// ListMappings lists the IdP's mappings by name.
func (s *Service) ListMappings(ctx context.Context, idpID string) ([]*Mapping, error) {
	rows, err := s.st.ListMappings(ctx, idpID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	out := make([]*Mapping, 0, len(rows))
	for _, r := range rows {
		out = append(out, &Mapping{IdPID: idpID, Name: r.Name, Rules: json.RawMessage(r.Rules)})
	}
	return out, nil
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
	if err := s.st.UpdateMapping(ctx, p.ID, name, canonicalRules(m), s.opt.Now()); err != nil {
		return nil, apierror.Internal(err)
	}
	return &Mapping{IdPID: p.ID, Name: name, Rules: json.RawMessage(canonicalRules(m)), parsed: m}, nil
}

// DeleteMapping deletes a mapping; grants it made stay until the user's
// next login through another mapping of the IdP (or the IdP's deletion).
func (s *Service) DeleteMapping(ctx context.Context, idpID, name string) error {
	err := s.st.DeleteMapping(ctx, idpID, name)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound(fmt.Sprintf("Could not find mapping: %s.", name))
	}
	if err != nil {
		return apierror.Internal(err)
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

func (s *Service) resolveDomain(ctx context.Context, field string, r mapping.Ref) (string, error) {
	id, err := s.st.Domain(ctx, store.Ref{ID: r.ID, Name: r.Name})
	if errors.Is(err, store.ErrNotFound) {
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
// within what a domain may hand out (checkBounds, grantable.go). The
// bun.IDB argument is unused: the reads go through the service's store;
// it stays for login.go's call.
func (s *Service) resolveRule(ctx context.Context, p *IdP, r *mapping.Rule) (*resolved, error) {
	owner := ""
	if p.DomainID != nil {
		owner = *p.DomainID
	}
	inBounds := func(domainID string) bool { return owner == "" || domainID == owner }
	out := &resolved{}
	if r.User.ID != "" {
		dom, err := s.st.UserDomain(ctx, r.User.ID)
		if errors.Is(err, store.ErrNotFound) {
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
		ref, err := s.inDomain(ctx, f+".domain", g)
		if err != nil {
			return nil, err
		}
		id, dom, err := s.st.Group(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
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
		a, err := s.resolveGrant(ctx, fmt.Sprintf("grants[%d]", i), g, inBounds)
		if err != nil {
			return nil, err
		}
		out.Grants = append(out.Grants, a)
	}
	if r.Scope != nil {
		if r.Scope.Project != nil {
			pid, pdom, err := s.resolveProject(ctx, "scope.project", *r.Scope.Project)
			if err != nil {
				return nil, err
			}
			if !inBounds(pdom) {
				return nil, refErr("scope.project", "project %s is not in the identity provider's domain", refText(*r.Scope.Project))
			}
			out.ProjectID = pid
		} else {
			did, err := s.resolveDomain(ctx, "scope.domain", *r.Scope.Domain)
			if err != nil {
				return nil, err
			}
			if !inBounds(did) {
				return nil, refErr("scope.domain", "domain %s is not the identity provider's domain", refText(*r.Scope.Domain))
			}
			out.DomainID = did
		}
	}
	if err := s.checkBounds(ctx, owner, out); err != nil {
		return nil, err
	}
	return out, nil
}

// inDomain is r as a store reference: by id, or by name within its
// domain (resolved here, so that a missing domain names the field).
func (s *Service) inDomain(ctx context.Context, domainField string, r mapping.Ref) (store.Ref, error) {
	if r.ID != "" {
		return store.Ref{ID: r.ID}, nil
	}
	d, err := s.resolveDomain(ctx, domainField, *r.Domain)
	if err != nil {
		return store.Ref{}, err
	}
	return store.Ref{Name: r.Name, DomainID: d}, nil
}

// resolveGrant resolves one grant of a rule: the role (global, or of a
// domain inside the bounds) on a project or a domain inside them.
func (s *Service) resolveGrant(ctx context.Context, f string, g mapping.Grant, inBounds func(string) bool) (assignment, error) {
	ref := store.Ref{ID: g.Role.ID, Name: g.Role.Name}
	if g.Role.ID == "" && g.Role.Domain != nil {
		dom, err := s.resolveDomain(ctx, f+".role.domain", *g.Role.Domain)
		if err != nil {
			return assignment{}, err
		}
		ref.DomainID = dom
	}
	roleID, roleDom, err := s.st.Role(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return assignment{}, refErr(f+".role", "role %s not found", refText(g.Role))
	}
	if err != nil {
		return assignment{}, err
	}
	if roleDom != "" && !inBounds(roleDom) {
		return assignment{}, refErr(f+".role", "role %s belongs to another domain", refText(g.Role))
	}
	a := assignment{RoleID: roleID}
	if g.Project != nil {
		pid, pdom, err := s.resolveProject(ctx, f+".project", *g.Project)
		if err != nil {
			return assignment{}, err
		}
		if !inBounds(pdom) {
			return assignment{}, refErr(f+".project", "project %s is not in the identity provider's domain", refText(*g.Project))
		}
		a.Type, a.TargetID = "UserProject", pid
		return a, nil
	}
	did, err := s.resolveDomain(ctx, f+".domain", *g.Domain)
	if err != nil {
		return assignment{}, err
	}
	if !inBounds(did) {
		return assignment{}, refErr(f+".domain", "domain %s is not the identity provider's domain", refText(*g.Domain))
	}
	a.Type, a.TargetID = "UserDomain", did
	return a, nil
}

func (s *Service) resolveProject(ctx context.Context, field string, r mapping.Ref) (id, domainID string, err error) {
	ref, err := s.inDomain(ctx, field+".domain", r)
	if err != nil {
		return "", "", err
	}
	id, domainID, err = s.st.Project(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
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
