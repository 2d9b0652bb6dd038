package issue

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// ScopeRequest is the "scope" object of a v3 auth request
// (keystone/auth/schema.py), which v4 logins accept unchanged.
type ScopeRequest struct {
	Project *NamedRef       `json:"project,omitempty"`
	Domain  *NamedRef       `json:"domain,omitempty"`
	System  map[string]bool `json:"system,omitempty"`
	// Unscoped is {"unscoped": {}}; any value counts as present.
	Unscoped any `json:"unscoped,omitempty"`
	Trust    any `json:"OS-TRUST:trust,omitempty"`
}

// NamedRef names a project or domain by id, or by name (and, for a
// project, its domain).
type NamedRef struct {
	ID     string    `json:"id,omitempty"`
	Name   string    `json:"name,omitempty"`
	Domain *NamedRef `json:"domain,omitempty"`
}

// ScopeLookup resolves names to rows.
type ScopeLookup interface {
	GetProjects(ctx context.Context, ids ...string) (map[string]*keystone.Project, error)
	// ProjectByName finds a project (not a domain) by name in a domain;
	// token.ErrNotFound when absent.
	ProjectByName(ctx context.Context, name, domainID string) (*keystone.Project, error)
	// DomainByName finds a domain by name; token.ErrNotFound when absent.
	DomainByName(ctx context.Context, name string) (*keystone.Project, error)
}

// unauthorized is how Python answers a scope it cannot grant (unknown or
// disabled project/domain): 401 with the generic text; the reason is logged.
func unauthorized(format string, a ...any) *apierror.Error {
	e := apierror.Unauthorized()
	e.Cause = fmt.Errorf(format, a...)
	return e
}

// Resolve turns a scope request into a Scope, with Python's checks: exactly
// one kind of scope; the project or domain exists and is enabled (and so is
// the project's domain). A nil request is unscoped. Trust scope is not
// offered by v4 logins.
func Resolve(ctx context.Context, l ScopeLookup, r *ScopeRequest) (Scope, error) {
	if r == nil {
		return Scope{}, nil
	}
	n := 0
	for _, set := range []bool{r.Project != nil, r.Domain != nil, r.System != nil, r.Unscoped != nil, r.Trust != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Scope{}, apierror.Validation("project, domain, OS-TRUST:trust, unscoped or system", "scope")
	}
	switch {
	case r.Trust != nil:
		return Scope{}, apierror.New(http.StatusBadRequest, "Trust scope is not available for this login; authenticate with the token method at /v3/auth/tokens.")
	case r.Unscoped != nil:
		return Scope{}, nil
	case r.System != nil:
		if !r.System["all"] {
			return Scope{}, apierror.Validation("all", "system")
		}
		return Scope{System: true}, nil
	case r.Domain != nil:
		d, err := resolveDomain(ctx, l, r.Domain, "domain")
		if err != nil {
			return Scope{}, err
		}
		return Scope{DomainID: d.ID}, nil
	default:
		p, err := resolveProject(ctx, l, r.Project)
		if err != nil {
			return Scope{}, err
		}
		return Scope{ProjectID: p.ID}, nil
	}
}

func resolveDomain(ctx context.Context, l ScopeLookup, ref *NamedRef, target string) (*keystone.Project, error) {
	var d *keystone.Project
	switch {
	case ref.ID != "":
		m, err := l.GetProjects(ctx, ref.ID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if d = m[ref.ID]; d == nil || !d.IsDomain {
			return nil, unauthorized("domain %q not found", ref.ID)
		}
	case ref.Name != "":
		var err error
		d, err = l.DomainByName(ctx, ref.Name)
		if errors.Is(err, token.ErrNotFound) {
			return nil, unauthorized("domain named %q not found", ref.Name)
		}
		if err != nil {
			return nil, apierror.Internal(err)
		}
	default:
		return nil, apierror.Validation("id or name", target)
	}
	if !d.Enabled {
		return nil, unauthorized("domain %s is disabled", d.ID)
	}
	return d, nil
}

func resolveProject(ctx context.Context, l ScopeLookup, ref *NamedRef) (*keystone.Project, error) {
	var p *keystone.Project
	switch {
	case ref.ID != "":
		m, err := l.GetProjects(ctx, ref.ID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if p = m[ref.ID]; p == nil || p.IsDomain {
			return nil, unauthorized("project %q not found", ref.ID)
		}
	case ref.Name != "":
		if ref.Domain == nil {
			return nil, apierror.Validation("domain", "project")
		}
		d, err := resolveDomain(ctx, l, ref.Domain, "domain")
		if err != nil {
			return nil, err
		}
		p, err = l.ProjectByName(ctx, ref.Name, d.ID)
		if errors.Is(err, token.ErrNotFound) {
			return nil, unauthorized("project named %q not found in domain %s", ref.Name, d.ID)
		}
		if err != nil {
			return nil, apierror.Internal(err)
		}
	default:
		return nil, apierror.Validation("id or name", "project")
	}
	if !p.Enabled {
		return nil, unauthorized("project %s is disabled", p.ID)
	}
	m, err := l.GetProjects(ctx, p.DomainID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	if d := m[p.DomainID]; d == nil || !d.Enabled {
		return nil, unauthorized("domain of project %s is disabled", p.ID)
	}
	return p, nil
}
