package federation

import (
	"context"
	"fmt"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// What a domain-owned identity provider may hand out.
//
// A domain's owners manage their own IdPs and mappings, and Keystone lets
// its domain manager persona grant only the roles
// [assignment] domain_managed_target_role allows (manager, member, reader
// by default in newer releases). A mapping is a grant too: whoever
// controls the IdP's keys signs any claims they like, so a mapping that
// grants a role is the same as the mapping's author granting it to
// themselves. Python's admin_required is "role:admin" in any scope, so a
// domain-scoped admin obtained through a mapping is cloud admin. Hence:
// a domain-owned IdP's mappings may grant only roles from
// [keystone_ng] domain_grantable_roles, counting every role a granted role
// implies (implications are followed to the end, so a later "member
// implies admin" rule makes the grant illegal), and may only name users
// and groups whose own assignments stay inside that bound and inside the
// domain. The check runs when the mapping is written and again at every
// login (roles, implications and memberships change later). Global IdPs
// (no owning domain) are for system admins only and are not bounded.

// roleInfo is what the check needs of a role row.
type roleInfo struct {
	Name     string
	DomainID string // "" for a global role
}

// roleGraph is the role table and the implied_role edges.
type roleGraph struct {
	roles   map[string]roleInfo
	implied []keystone.Implied
}

// closure is what granting start confers: token.ImpliedClosure, the rule
// validation applies.
func (g *roleGraph) closure(start []string) []string {
	return token.ImpliedClosure(g.implied, start)
}

// notGrantable returns the first role (by id order) that a domain-owned
// IdP of owner may not hand out when granting roleIDs: a global role
// outside allowed, a role of another domain, or an unknown role. "" when
// every role in the implied closure is allowed. Domain-specific roles of
// the owner never appear in tokens themselves; only what they imply does,
// and that is in the closure.
func notGrantable(g *roleGraph, owner string, allowed map[string]bool, roleIDs []string) string {
	for _, id := range g.closure(roleIDs) {
		r, ok := g.roles[id]
		switch {
		case !ok:
			return id
		case r.DomainID == "":
			if !allowed[r.Name] {
				return id
			}
		case r.DomainID != owner:
			return id
		}
	}
	return ""
}

// roleName names a role for a message.
func (g *roleGraph) roleName(id string) string {
	if r, ok := g.roles[id]; ok {
		return r.Name
	}
	return id
}

// allowedRoles is the allow-list as a set (names are matched exactly, as
// Keystone's role names are).
func allowedRoles(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out[n] = true
		}
	}
	return out
}

// loadRoleGraph reads the role table and its implications.
func (s *Service) loadRoleGraph(ctx context.Context) (*roleGraph, error) {
	roles, implied, err := s.st.RoleGraph(ctx)
	if err != nil {
		return nil, err
	}
	g := &roleGraph{roles: make(map[string]roleInfo, len(roles)), implied: implied}
	for _, r := range roles {
		g.roles[r.ID] = roleInfo{Name: r.Name, DomainID: r.DomainID}
	}
	return g, nil
}

// actorAssignment is one assignment an actor (user or group) holds, its
// target's domain resolved.
type actorAssignment = store.ActorAssignment

// actorOutOfBounds explains why an actor holding as may not be named by
// a mapping of an IdP owned by owner ("" when it may): any system
// assignment, any assignment outside the domain, or a role outside the
// allow-list (with its implications).
func actorOutOfBounds(g *roleGraph, owner string, allowed map[string]bool, as []actorAssignment) string {
	for _, a := range as {
		switch {
		case a.System:
			return fmt.Sprintf("holds the role %s on the system", g.roleName(a.RoleID))
		case a.TargetDomainID != owner:
			return fmt.Sprintf("holds the role %s outside the identity provider's domain", g.roleName(a.RoleID))
		}
		if bad := notGrantable(g, owner, allowed, []string{a.RoleID}); bad != "" {
			return fmt.Sprintf("holds the role %s, which is not in [keystone_ng] domain_grantable_roles", g.roleName(bad))
		}
	}
	return ""
}

// boundsError is a reference a domain-owned IdP may not make: 403 when a
// mapping is written, the generic 401 at login.
type boundsError struct{ field, msg string }

func (e *boundsError) Error() string { return e.field + ": " + e.msg }

// checkBounds applies the rule above to a resolved rule of an IdP owned
// by owner: its grants' roles, its groups' assignments and, for a mapping
// onto an existing user, that user's assignments (direct and through
// every group).
func (s *Service) checkBounds(ctx context.Context, owner string, r *resolved) error {
	if owner == "" {
		return nil
	}
	g, err := s.loadRoleGraph(ctx)
	if err != nil {
		return err
	}
	allowed := allowedRoles(s.opt.GrantableRoles)
	for i, a := range r.Grants {
		if bad := notGrantable(g, owner, allowed, []string{a.RoleID}); bad != "" {
			msg := fmt.Sprintf("role %s is not grantable by a domain's identity provider", g.roleName(a.RoleID))
			if bad != a.RoleID {
				msg = fmt.Sprintf("role %s implies %s, which is not grantable by a domain's identity provider", g.roleName(a.RoleID), g.roleName(bad))
			}
			return &boundsError{field: fmt.Sprintf("grants[%d].role", i), msg: msg + " (allowed: [keystone_ng] domain_grantable_roles; anything else is for a global identity provider, created by a system admin)"}
		}
	}
	for i, gid := range r.GroupIDs {
		as, err := s.st.ActorAssignments(ctx, []string{gid})
		if err != nil {
			return err
		}
		if why := actorOutOfBounds(g, owner, allowed, as); why != "" {
			return &boundsError{field: fmt.Sprintf("groups[%d]", i), msg: "group " + gid + " " + why}
		}
	}
	if r.UserID != "" {
		groups, err := s.st.UserGroups(ctx, r.UserID)
		if err != nil {
			return err
		}
		as, err := s.st.ActorAssignments(ctx, append([]string{r.UserID}, groups...))
		if err != nil {
			return err
		}
		if why := actorOutOfBounds(g, owner, allowed, as); why != "" {
			return &boundsError{field: "user.id", msg: "user " + r.UserID + " " + why}
		}
	}
	return nil
}

// UserOutOfBounds applies the same rule to a user owned by a domain (a
// service account a domain's admins or managers manage,
// docs/service-accounts.md §7): the user's assignments, direct and
// through every group, must stay inside the domain and inside allowed
// ([keystone_ng] domain_grantable_roles, implications followed). It
// returns why not, or "" when the user is within bounds.
func UserOutOfBounds(ctx context.Context, st RoleGraphReader, owner string, allowed []string, userID string) (string, error) {
	roles, implied, err := st.RoleGraph(ctx)
	if err != nil {
		return "", err
	}
	g := &roleGraph{roles: make(map[string]roleInfo, len(roles)), implied: implied}
	for _, r := range roles {
		g.roles[r.ID] = roleInfo{Name: r.Name, DomainID: r.DomainID}
	}
	groups, err := st.UserGroups(ctx, userID)
	if err != nil {
		return "", err
	}
	as, err := st.ActorAssignments(ctx, append([]string{userID}, groups...))
	if err != nil {
		return "", err
	}
	return actorOutOfBounds(g, owner, allowedRoles(allowed), as), nil
}
