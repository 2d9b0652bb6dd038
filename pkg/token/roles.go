package token

import (
	"sort"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// RoleRef is a role as the token model holds it before rendering.
type RoleRef struct {
	ID       string
	Name     string
	DomainID string
}

// impliedGraph maps a prior role to the roles it implies directly.
type impliedGraph map[string][]keystone.Implied

func newImpliedGraph(edges []keystone.Implied) impliedGraph {
	g := make(impliedGraph, len(edges))
	for _, e := range edges {
		g[e.PriorID] = append(g[e.PriorID], e)
	}
	return g
}

// expand adds implied roles to refs the way assignment_api.add_implied_roles
// does (keystone/assignment/core.py): every assignment is kept, and each
// implied role is added once per (assignment, role, direct prior) chain
// step, guarding against cycles. The result can therefore contain a role
// more than once; callers de-duplicate where Python does.
func (g impliedGraph) expand(refs []RoleRef, actor func(i int) string) []RoleRef {
	if len(g) == 0 {
		return refs
	}
	type node struct {
		ref   RoleRef
		actor string
		prior string
	}
	out := append([]RoleRef(nil), refs...)
	stack := make([]node, 0, len(refs))
	for i, r := range refs {
		stack = append(stack, node{ref: r, actor: actor(i)})
	}
	type key struct{ actor, role, prior string }
	checked := map[key]bool{}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		checked[key{n.actor, n.ref.ID, n.prior}] = true
		for _, e := range g[n.ref.ID] {
			k := key{n.actor, e.ImpliedID, n.ref.ID}
			if checked[k] {
				continue
			}
			ref := RoleRef{ID: e.ImpliedID, Name: e.ImpliedName, DomainID: e.ImpliedDomID}
			out = append(out, ref)
			stack = append(stack, node{ref: ref, actor: n.actor, prior: n.ref.ID})
		}
	}
	return out
}

// ImpliedClosure returns roleIDs and every role they imply, following
// implied_role to the end as validation does (expand), each id once,
// sorted: what holding those roles puts into a token. Federation uses it
// to bound what a domain's identity provider may grant.
func ImpliedClosure(edges []keystone.Implied, roleIDs []string) []string {
	refs := make([]RoleRef, len(roleIDs))
	for i, id := range roleIDs {
		refs[i] = RoleRef{ID: id}
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range newImpliedGraph(edges).expand(refs, func(int) string { return "" }) {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// validGroups returns the ids of groups whose membership counts now:
// regular memberships always, expiring ones while last_verified + ttl is in
// the future (keystone/identity/backends/sql.py list_groups_for_user).
func validGroups(ms []keystone.Membership, now time.Time, defaultTTLMinutes int) []string {
	out := make([]string, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Expiring {
			ttl := defaultTTLMinutes
			if m.IdPTTLMinutes != nil {
				ttl = *m.IdPTTLMinutes
			}
			if !m.LastVerified.Add(time.Duration(ttl) * time.Minute).After(now) {
				continue
			}
		}
		if !seen[m.GroupID] {
			seen[m.GroupID] = true
			out = append(out, m.GroupID)
		}
	}
	return out
}

// projectRoleIDs computes the effective role refs of actors on a project
// from its lineage (project first, then ancestors up to the domain), as
// list_role_assignments(effective=True) does: direct assignments on the
// project, inherited assignments on the project's domain, inherited
// assignments on any ancestor project, then implied roles. With stripDomain,
// domain-specific roles are dropped after expansion.
func projectRoles(assignments []keystone.Assignment, actors map[string]bool, lineage []*keystone.Project, g impliedGraph, stripDomain bool) []RoleRef {
	if len(lineage) == 0 {
		return nil
	}
	project := lineage[0]
	ancestors := map[string]bool{}
	for _, p := range lineage[1:] {
		if !p.IsDomain {
			ancestors[p.ID] = true
		}
	}
	var refs []RoleRef
	var refActors []string
	for _, a := range assignments {
		if !actors[a.ActorID] {
			continue
		}
		ok := false
		switch a.Type {
		case "UserProject", "GroupProject":
			ok = (!a.Inherited && a.TargetID == project.ID) || (a.Inherited && ancestors[a.TargetID])
		case "UserDomain", "GroupDomain":
			ok = a.Inherited && a.TargetID == project.DomainID
		}
		if ok {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName, DomainID: a.RoleDomainID})
			refActors = append(refActors, a.Type+":"+a.ActorID+":"+a.TargetID)
		}
	}
	return finishEffective(refs, refActors, g, stripDomain)
}

// domainRoles is the domain-scope counterpart: non-inherited user and group
// assignments on the domain, plus implied roles.
func domainRoles(assignments []keystone.Assignment, actors map[string]bool, domainID string, g impliedGraph) []RoleRef {
	var refs []RoleRef
	var refActors []string
	for _, a := range assignments {
		if actors[a.ActorID] && !a.Inherited && a.TargetID == domainID && (a.Type == "UserDomain" || a.Type == "GroupDomain") {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName, DomainID: a.RoleDomainID})
			refActors = append(refActors, a.Type+":"+a.ActorID+":"+a.TargetID)
		}
	}
	return finishEffective(refs, refActors, g, true)
}

func finishEffective(refs []RoleRef, refActors []string, g impliedGraph, stripDomain bool) []RoleRef {
	all := g.expand(refs, func(i int) string { return refActors[i] })
	if !stripDomain {
		return all
	}
	out := all[:0:0]
	for _, r := range all {
		if r.DomainID == "" {
			out = append(out, r)
		}
	}
	return out
}

// uniqueRoles de-duplicates by id keeping first occurrences (Python uses a
// set, so its order is arbitrary; consumers do not depend on it).
func uniqueRoles(in []RoleRef) []RoleRef {
	seen := make(map[string]bool, len(in))
	out := make([]RoleRef, 0, len(in))
	for _, r := range in {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

func roleIDSet(in []RoleRef) map[string]bool {
	s := make(map[string]bool, len(in))
	for _, r := range in {
		s[r.ID] = true
	}
	return s
}
