package token

import (
	"fmt"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// roleStep is the outcome of the judge's role step.
type roleStep struct {
	// need: full role records the evidence lacks; read them and judge
	// again.
	need []string
	// used are the roles whose full records the step used (for the role
	// hint; nil for tokens that render none).
	used []string
	err  error
}

// judgeRoles fills t.Roles following TokenModel.roles: system, trust,
// OAuth1, federated, domain, application credential, project, in that
// order of precedence; then the domain of a domain-scoped token.
func judgeRoles(t *Token, ev *evidence) roleStep {
	p := t.Payload
	actors := map[string]bool{p.UserID: true}
	for _, g := range ev.groups {
		actors[g] = true
	}
	var rs roleStep
	switch {
	case p.System != "":
		t.Roles = systemRoles(ev.systemAssignments, actors, p.UserID, ev.graph)
	case p.TrustID != "":
		rs = trustRoles(t, ev)
	case p.AccessTokenID != "":
		rs = oauth1Roles(t, ev, actors)
	case p.Federated && (p.ProjectID != "" || p.DomainID != ""):
		// The domain of a domain-scoped one is set below, as for others
		// (returning here left it unset, and rendering it panicked).
		rs = federatedRoles(t, ev)
	case p.DomainID != "":
		d := ev.scopeDomains[p.DomainID]
		if d == nil || !d.IsDomain {
			return roleStep{err: apierror.NotFound(fmt.Sprintf(msgDomainNotFound, p.DomainID))}
		}
		t.Domain = d
		t.Roles = uniqueRoles(domainRoles(ev.assignments, actors, p.DomainID, ev.graph))
	case p.AppCredID != "" && p.ProjectID != "":
		rs = appCredRoles(t, ev, actors)
	case p.ProjectID != "":
		t.Roles = uniqueRoles(projectRoles(ev.assignments, actors, ev.lineage, ev.graph, true))
	}
	if len(rs.need) > 0 || rs.err != nil {
		return rs
	}
	if p.DomainID != "" && t.Domain == nil {
		d := ev.scopeDomains[p.DomainID]
		if d == nil || !d.IsDomain {
			return roleStep{err: apierror.NotFound(fmt.Sprintf(msgDomainNotFound, p.DomainID))}
		}
		t.Domain = d
	}
	return rs
}

// oauth1Roles follows TokenModel._get_oauth_roles: the access token must
// exist (the OAuth1 driver's _get_access_token), and its delegated roles
// and what they imply count only while the user still holds them on the
// project.
func oauth1Roles(t *Token, ev *evidence, actors map[string]bool) roleStep {
	if t.AccessToken == nil {
		// NotFound with this fixed text (no id, no full stop), not the
		// "Could not find ..." form.
		return roleStep{err: apierror.NotFound(msgAccessTokenNotFound)}
	}
	user := roleIDSet(uniqueRoles(projectRoles(ev.assignments, actors, ev.lineage, ev.graph, true)))
	records, ok := ev.rolesFor(t.AccessToken.RoleIDs)
	if !ok {
		return roleStep{need: t.AccessToken.RoleIDs}
	}
	refs := make([]RoleRef, 0, len(t.AccessToken.RoleIDs))
	for _, id := range t.AccessToken.RoleIDs {
		refs = append(refs, RoleRef{ID: id})
	}
	names := roleNames(records, ev.graph)
	for _, r := range ev.graph.expand(refs, func(int) string { return "" }) {
		if user[r.ID] {
			t.Roles = append(t.Roles, RoleRef{ID: r.ID, Name: names[r.ID]})
		}
	}
	return roleStep{}
}

// appCredRoles follows TokenModel._get_application_credential_roles: the
// credential exists, every role it names exists, and its roles count
// while the user still holds them on the project.
func appCredRoles(t *Token, ev *evidence, actors map[string]bool) roleStep {
	if t.AppCred == nil {
		return roleStep{err: apierror.NotFound(fmt.Sprintf(msgAppCredNotFound, t.Payload.AppCredID))}
	}
	ids := t.AppCred.RoleIDs
	user := roleIDSet(projectRoles(ev.assignments, actors, ev.lineage, ev.graph, true))
	roles, ok := ev.rolesFor(ids)
	if !ok {
		return roleStep{need: ids}
	}
	for _, id := range ids {
		r := roles[id]
		if r == nil {
			return roleStep{err: apierror.NotFound(fmt.Sprintf("Could not find role: %s.", id))}
		}
		if user[id] {
			t.Roles = append(t.Roles, RoleRef{ID: r.ID, Name: r.Name})
		}
	}
	return roleStep{used: ids}
}

// systemRoles follows TokenModel._get_system_roles: group grants then user
// grants, implied roles added, and no de-duplication. Only the grants of
// this request's groups (actors) count: the rows may come from a hint that
// named a group the user has left since.
func systemRoles(rows []keystone.Assignment, actors map[string]bool, userID string, g impliedGraph) []RoleRef {
	var refs []RoleRef
	var keys []string
	for _, a := range rows {
		if a.Type == "GroupSystem" && actors[a.ActorID] {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName, DomainID: a.RoleDomainID})
			keys = append(keys, "g:"+a.ActorID)
		}
	}
	for _, a := range rows {
		if a.Type == "UserSystem" && a.ActorID == userID {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName, DomainID: a.RoleDomainID})
			keys = append(keys, "u:"+a.ActorID)
		}
	}
	return g.expand(refs, func(i int) string { return keys[i] })
}

// roleNames names the roles read and anything the graph implies.
func roleNames(roles map[string]*keystone.Role, g impliedGraph) map[string]string {
	names := map[string]string{}
	for id, r := range roles {
		names[id] = r.Name
	}
	for _, edges := range g {
		for _, e := range edges {
			names[e.ImpliedID] = e.ImpliedName
		}
	}
	return names
}

// trustRoles follows TokenModel._get_trust_roles, then
// _validate_trust_scope: every delegated role, with the roles it implies,
// must still be held on the project by the original trustor (the trustor
// of the first trust of a redelegation pedigree; for an ordinary trust its
// own trustor), else 403 "Trustee has no delegated roles."; the global
// ones are rendered as full role records. No global role left is
// _validate_project_scope's Unauthorized, a 404 (the caller checks for
// empty roles). Only then does _validate_trust_scope repeat the check
// against the trust's direct trustor, which differs from the original one
// only for a redelegated trust: in Keystone 22 the redelegating trustee
// must hold the delegated roles on the project as well (else 403).
func trustRoles(t *Token, ev *evidence) roleStep {
	tr, g := t.Trust, ev.graph
	if tr.ProjectID != "" && len(ev.trustorLineage) == 0 {
		return roleStep{err: apierror.NotFound(fmt.Sprintf(msgProjectNotFound, tr.ProjectID))}
	}
	if tr.RedelegatedTrustID != "" && ev.chain == nil {
		// read reads the pedigree of every usable redelegated trust;
		// never judge one without it.
		return roleStep{err: apierror.Internal(fmt.Errorf("trust %s: redelegated trust without its pedigree", tr.ID))}
	}
	held := trustorHeld(tr.TrustorUserID, ev.trustorRows, ev.trustorGroups, ev.trustorLineage, g)
	direct := held
	if c := ev.chain; c != nil {
		held = trustorHeld(c.original().TrustorUserID, c.trustorRows, c.trustorGroups, ev.trustorLineage, g)
	}
	var refs []RoleRef
	for _, id := range tr.RoleIDs {
		refs = append(refs, RoleRef{ID: id})
	}
	effective := uniqueRoles(g.expand(refs, func(int) string { return "" }))
	ids := make([]string, 0, len(effective))
	for _, r := range effective {
		if !held[r.ID] {
			return roleStep{err: apierror.Forbidden("")}
		}
		ids = append(ids, r.ID)
	}
	full, ok := ev.rolesFor(ids)
	if !ok {
		return roleStep{need: ids}
	}
	t.FullRoles = full
	var out []RoleRef
	for _, id := range ids {
		r := full[id]
		if r == nil {
			return roleStep{err: apierror.NotFound(fmt.Sprintf("Could not find role: %s.", id))}
		}
		if r.DomainID == "" {
			out = append(out, RoleRef{ID: r.ID, Name: r.Name})
		}
	}
	if len(out) == 0 {
		// No role to render: Unauthorized in _validate_project_scope,
		// converted to TokenNotFound (404) by checkValid.
		return roleStep{used: ids}
	}
	for _, id := range ids {
		if !direct[id] {
			return roleStep{err: apierror.Forbidden("")}
		}
	}
	t.Roles = out
	return roleStep{used: ids}
}

// trustorHeld is get_roles_for_trustor_and_project: the role ids a user
// holds on the project through direct, group and inherited assignments
// (implied roles included, domain-specific roles kept).
func trustorHeld(userID string, rows []keystone.Assignment, groups []string, lineage []*keystone.Project, g impliedGraph) map[string]bool {
	actors := map[string]bool{userID: true}
	for _, gid := range groups {
		actors[gid] = true
	}
	return roleIDSet(projectRoles(rows, actors, lineage, g, false))
}

// federatedRoles follows TokenModel._get_federated_roles: the mapped
// groups' roles on the scope, their system grants, the user's system
// grants and the user's own roles on the scope, as full role records,
// de-duplicated. The system grants of the user and the mapped groups came
// with the first round.
func federatedRoles(t *Token, ev *evidence) roleStep {
	p, g := t.Payload, ev.graph
	groups := map[string]bool{}
	for _, id := range p.FederatedGroupIDs {
		groups[id] = true
	}
	var refs []RoleRef
	if len(groups) > 0 {
		if p.ProjectID != "" {
			refs = append(refs, projectRoles(ev.assignments, groups, ev.lineage, g, true)...)
		} else if p.DomainID != "" {
			refs = append(refs, domainRoles(ev.assignments, groups, p.DomainID, g)...)
		}
	}
	for _, a := range ev.systemAssignments {
		if (a.Type == "GroupSystem" && groups[a.ActorID]) || (a.Type == "UserSystem" && a.ActorID == p.UserID) {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName})
		}
	}
	user := map[string]bool{p.UserID: true}
	if p.DomainID != "" {
		refs = append(refs, domainRoles(ev.assignments, user, p.DomainID, g)...)
	}
	if p.ProjectID != "" {
		refs = append(refs, projectRoles(ev.assignments, user, ev.lineage, g, true)...)
	}
	refs = uniqueRoles(refs)
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	full, ok := ev.rolesFor(ids)
	if !ok {
		return roleStep{need: ids}
	}
	t.FullRoles = full
	t.Roles = refs
	return roleStep{used: ids}
}
