package token

import (
	"context"
	"fmt"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
)

// computeRoles fills t.Roles following TokenModel.roles: system, trust,
// OAuth1, federated, domain, application credential, project, in that
// order of precedence.
func (v *Validator) computeRoles(ctx context.Context, t *Token, actors map[string]bool, lineage []*Project,
	domainRows map[string]*Project, assignments, sysAssign []Assignment, g impliedGraph,
	trustorRows []Assignment, trustorGroups []string, trustorLine []*Project) error {
	p := t.Payload
	switch {
	case p.System != "":
		t.Roles = systemRoles(sysAssign, actors, p.UserID, g)
	case p.TrustID != "":
		roles, err := v.trustRoles(ctx, t, trustorRows, trustorGroups, trustorLine, g)
		if err != nil {
			return err
		}
		t.Roles = roles
	case p.AccessTokenID != "":
		if t.AccessToken == nil {
			// OAuth1 driver's _get_access_token: NotFound with this fixed
			// text (no id, no full stop), not the "Could not find ..." form.
			return apierror.NotFound(msgAccessTokenNotFound)
		}
		user := roleIDSet(uniqueRoles(projectRoles(assignments, actors, lineage, g, true)))
		var refs []RoleRef
		for _, id := range t.AccessToken.RoleIDs {
			refs = append(refs, RoleRef{ID: id})
		}
		names, err := v.roleNames(ctx, g, refs)
		if err != nil {
			return err
		}
		for _, r := range g.expand(refs, func(int) string { return "" }) {
			if user[r.ID] {
				t.Roles = append(t.Roles, RoleRef{ID: r.ID, Name: names[r.ID]})
			}
		}
	case p.Federated && (p.ProjectID != "" || p.DomainID != ""):
		// The domain of a domain-scoped one is set below, as for others
		// (returning here left it unset, and rendering it panicked).
		if err := v.federatedRoles(ctx, t, assignments, sysAssign, lineage, g); err != nil {
			return err
		}
	case p.DomainID != "":
		if d := domainRows[p.DomainID]; d == nil || !d.IsDomain {
			return apierror.NotFound(fmt.Sprintf(msgDomainNotFound, p.DomainID))
		}
		t.Domain = domainRows[p.DomainID]
		t.Roles = uniqueRoles(domainRoles(assignments, actors, p.DomainID, g))
	case p.AppCredID != "" && p.ProjectID != "":
		if t.AppCred == nil {
			return apierror.NotFound(fmt.Sprintf(msgAppCredNotFound, p.AppCredID))
		}
		user := roleIDSet(projectRoles(assignments, actors, lineage, g, true))
		roles, err := v.fullRoles(ctx, t, t.AppCred.RoleIDs)
		if err != nil {
			return err
		}
		for _, id := range t.AppCred.RoleIDs {
			r := roles[id]
			if r == nil {
				return apierror.NotFound(fmt.Sprintf("Could not find role: %s.", id))
			}
			if user[id] {
				t.Roles = append(t.Roles, RoleRef{ID: r.ID, Name: r.Name})
			}
		}
	case p.ProjectID != "":
		t.Roles = uniqueRoles(projectRoles(assignments, actors, lineage, g, true))
	}
	if p.DomainID != "" && t.Domain == nil {
		if d := domainRows[p.DomainID]; d != nil && d.IsDomain {
			t.Domain = d
		} else {
			return apierror.NotFound(fmt.Sprintf(msgDomainNotFound, p.DomainID))
		}
	}
	return nil
}

// systemRoles follows TokenModel._get_system_roles: group grants then user
// grants, implied roles added, and no de-duplication. Only the grants of
// this request's groups (actors) count: the rows may come from a hint that
// named a group the user has left since.
func systemRoles(rows []Assignment, actors map[string]bool, userID string, g impliedGraph) []RoleRef {
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

// roleNames resolves names for refs and anything they imply.
func (v *Validator) roleNames(ctx context.Context, g impliedGraph, refs []RoleRef) (map[string]string, error) {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	roles, err := v.Store.GetRoles(ctx, ids)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	names := map[string]string{}
	for id, r := range roles {
		names[id] = r.Name
	}
	for _, edges := range g {
		for _, e := range edges {
			names[e.ImpliedID] = e.ImpliedName
		}
	}
	return names, nil
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
func (v *Validator) trustRoles(ctx context.Context, t *Token, trustorRows []Assignment, trustorGroups []string, trustorLine []*Project, g impliedGraph) ([]RoleRef, error) {
	if t.Trust.ProjectID != "" && len(trustorLine) == 0 {
		return nil, apierror.NotFound(fmt.Sprintf(msgProjectNotFound, t.Trust.ProjectID))
	}
	if t.Trust.RedelegatedTrustID != "" && t.chain == nil {
		// Validate reads the pedigree of every usable redelegated trust
		// before roles are computed; never judge one without it.
		return nil, apierror.Internal(fmt.Errorf("trust %s: redelegated trust without its pedigree", t.Trust.ID))
	}
	held := trustorHeld(t.Trust.TrustorUserID, trustorRows, trustorGroups, trustorLine, g)
	direct := held
	if c := t.chain; c != nil {
		held = trustorHeld(c.original().TrustorUserID, c.trustorRows, c.trustorGroups, trustorLine, g)
	}
	var refs []RoleRef
	for _, id := range t.Trust.RoleIDs {
		refs = append(refs, RoleRef{ID: id})
	}
	effective := uniqueRoles(g.expand(refs, func(int) string { return "" }))
	ids := make([]string, 0, len(effective))
	for _, r := range effective {
		if !held[r.ID] {
			return nil, apierror.Forbidden("")
		}
		ids = append(ids, r.ID)
	}
	full, err := v.fullRoles(ctx, t, ids)
	if err != nil {
		return nil, err
	}
	t.FullRoles = full
	var out []RoleRef
	for _, id := range ids {
		r := full[id]
		if r == nil {
			return nil, apierror.NotFound(fmt.Sprintf("Could not find role: %s.", id))
		}
		if r.DomainID == "" {
			out = append(out, RoleRef{ID: r.ID, Name: r.Name})
		}
	}
	if len(out) == 0 {
		// No role to render: Unauthorized in _validate_project_scope,
		// converted to TokenNotFound (404) by the caller.
		return nil, nil
	}
	for _, id := range ids {
		if !direct[id] {
			return nil, apierror.Forbidden("")
		}
	}
	return out, nil
}

// trustorHeld is get_roles_for_trustor_and_project: the role ids a user
// holds on the project through direct, group and inherited assignments
// (implied roles included, domain-specific roles kept).
func trustorHeld(userID string, rows []Assignment, groups []string, lineage []*Project, g impliedGraph) map[string]bool {
	actors := map[string]bool{userID: true}
	for _, gid := range groups {
		actors[gid] = true
	}
	return roleIDSet(projectRoles(rows, actors, lineage, g, false))
}

// federatedRoles follows TokenModel._get_federated_roles: the mapped
// groups' roles on the scope, their system grants, the user's system
// grants and the user's own roles on the scope, as full role records,
// de-duplicated. sys are the system grants of the user and the mapped
// groups (read with the first round).
func (v *Validator) federatedRoles(ctx context.Context, t *Token, assignments, sys []Assignment, lineage []*Project, g impliedGraph) error {
	p := t.Payload
	groups := map[string]bool{}
	for _, id := range p.FederatedGroupIDs {
		groups[id] = true
	}
	var refs []RoleRef
	if len(groups) > 0 {
		if p.ProjectID != "" {
			refs = append(refs, projectRoles(assignments, groups, lineage, g, true)...)
		} else if p.DomainID != "" {
			refs = append(refs, domainRoles(assignments, groups, p.DomainID, g)...)
		}
	}
	for _, a := range sys {
		if (a.Type == "GroupSystem" && groups[a.ActorID]) || (a.Type == "UserSystem" && a.ActorID == p.UserID) {
			refs = append(refs, RoleRef{ID: a.RoleID, Name: a.RoleName})
		}
	}
	user := map[string]bool{p.UserID: true}
	if p.DomainID != "" {
		refs = append(refs, domainRoles(assignments, user, p.DomainID, g)...)
	}
	if p.ProjectID != "" {
		refs = append(refs, projectRoles(assignments, user, lineage, g, true)...)
	}
	refs = uniqueRoles(refs)
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	full, err := v.fullRoles(ctx, t, ids)
	if err != nil {
		return err
	}
	t.FullRoles = full
	t.Roles = refs
	return nil
}

// fullRoles returns the full records of the roles ids (federated, trust
// and application credential tokens need them): from the first round's
// role hint when it asked for every one of them, else read now.
func (v *Validator) fullRoles(ctx context.Context, t *Token, ids []string) (map[string]*Role, error) {
	t.rolesAsked = ids
	if full := t.hintedRoles(ids); full != nil {
		return full, nil
	}
	full, err := v.Store.GetRoles(ctx, ids)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return full, nil
}
