package token

import (
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// Render builds the body of GET /v3/auth/tokens in the key order of
// keystone/common/render_token.py, so that the bytes match Python's.
func (v *Validator) Render(t *Token, includeCatalog bool) pyjson.Object {
	if v.Settings.TokenData == TokenDataHelper {
		return v.renderDataHelper(t, includeCatalog)
	}
	p := t.Payload
	user := pyjson.Object{
		{Key: "domain", Value: pyjson.Object{{Key: "id", Value: t.UserDomain.ID}, {Key: "name", Value: t.UserDomain.Name}}},
		{Key: "id", Value: p.UserID},
		{Key: "name", Value: t.User.Name},
		{Key: "password_expires_at", Value: pyTime(t.User.PasswordExpiresAt)},
	}
	tok := pyjson.Object{
		{Key: "methods", Value: nonNil(p.Methods)},
		{Key: "user", Value: &user},
		{Key: "audit_ids", Value: nonNil(p.AuditIDs)},
		{Key: "expires_at", Value: payload.FormatTime(p.ExpiresAt)},
		{Key: "issued_at", Value: payload.FormatTime(t.IssuedAt)},
	}
	roles := v.renderRoles(t)
	switch {
	case p.System != "":
		tok.Set("roles", roles)
		tok.Set("system", pyjson.Object{{Key: "all", Value: true}})
	case p.DomainID != "":
		tok.Set("domain", pyjson.Object{{Key: "id", Value: t.Domain.ID}, {Key: "name", Value: t.Domain.Name}})
		tok.Set("roles", roles)
	case p.TrustID != "":
		tok.Set("OS-TRUST:trust", pyjson.Object{
			{Key: "id", Value: t.Trust.ID},
			{Key: "trustor_user", Value: pyjson.Object{{Key: "id", Value: t.Trustor.ID}}},
			{Key: "trustee_user", Value: pyjson.Object{{Key: "id", Value: t.Trustee.ID}}},
			{Key: "impersonation", Value: t.Trust.Impersonation},
		})
		tok.Set("project", v.renderProject(t))
		if t.Trust.Impersonation {
			// The user block describes the trustor (render_token.py).
			tok.Set("user", pyjson.Object{
				{Key: "domain", Value: pyjson.Object{{Key: "id", Value: t.TrustorDomain.ID}, {Key: "name", Value: t.TrustorDomain.Name}}},
				{Key: "id", Value: t.Trustor.ID},
				{Key: "name", Value: t.Trustor.Name},
				{Key: "password_expires_at", Value: pyTime(t.Trustor.PasswordExpiresAt)},
			})
		}
		tok.Set("roles", roles)
	case p.ProjectID != "":
		tok.Set("project", v.renderProject(t))
		tok.Set("is_domain", t.Project.IsDomain)
		tok.Set("roles", roles)
		s := v.Settings
		if s.AdminProjectName != "" && s.AdminProjectDomainName != "" {
			tok.Set("is_admin_project", t.Project.Name == s.AdminProjectName && t.ProjectDomain.Name == s.AdminProjectDomainName)
		}
	}
	if includeCatalog && !t.Unscoped() {
		tok.Set("catalog", v.renderCatalog(t))
	}
	if len(t.ServiceProviders) > 0 {
		tok.Set("service_providers", renderServiceProviders(t))
	}
	if p.Federated {
		groups := make([]pyjson.Value, 0, len(p.FederatedGroupIDs))
		for _, g := range p.FederatedGroupIDs {
			groups = append(groups, pyjson.Object{{Key: "id", Value: g}})
		}
		user.Set("OS-FEDERATION", pyjson.Object{
			{Key: "groups", Value: groups},
			{Key: "identity_provider", Value: pyjson.Object{{Key: "id", Value: p.IdentityProviderID}}},
			{Key: "protocol", Value: pyjson.Object{{Key: "id", Value: p.ProtocolID}}},
		})
		user.Delete("password_expires_at")
	}
	if t.AccessToken != nil {
		tok.Set("OS-OAUTH1", pyjson.Object{{Key: "access_token_id", Value: t.AccessToken.ID}, {Key: "consumer_id", Value: t.AccessToken.ConsumerID}})
	}
	if t.AppCred != nil {
		ac := pyjson.Object{
			{Key: "id", Value: t.AppCred.ID},
			{Key: "name", Value: t.AppCred.Name},
			{Key: "restricted", Value: !t.AppCred.Unrestricted},
		}
		if len(t.AppCred.AccessRules) > 0 {
			rules := make([]pyjson.Value, 0, len(t.AppCred.AccessRules))
			for _, r := range t.AppCred.AccessRules {
				rules = append(rules, pyjson.Object{{Key: "id", Value: r.ID}, {Key: "service", Value: r.Service}, {Key: "path", Value: r.Path}, {Key: "method", Value: r.Method}})
			}
			ac.Set("access_rules", rules)
		}
		tok.Set("application_credential", ac)
	}
	if p.Thumbprint != "" {
		tok.Set("oauth2_credential", pyjson.Object{{Key: "x5t#S256", Value: p.Thumbprint}})
	}
	return pyjson.Object{{Key: "token", Value: tok}}
}

func renderServiceProviders(t *Token) []pyjson.Value {
	sps := make([]pyjson.Value, 0, len(t.ServiceProviders))
	for _, sp := range t.ServiceProviders {
		sps = append(sps, pyjson.Object{{Key: "auth_url", Value: sp.AuthURL}, {Key: "id", Value: sp.ID}, {Key: "sp_url", Value: sp.SPURL}})
	}
	return sps
}

func (v *Validator) renderProject(t *Token) pyjson.Object {
	return pyjson.Object{
		{Key: "domain", Value: pyjson.Object{{Key: "id", Value: t.ProjectDomain.ID}, {Key: "name", Value: t.ProjectDomain.Name}}},
		{Key: "id", Value: t.Project.ID},
		{Key: "name", Value: t.Project.Name},
	}
}

func (v *Validator) renderRoles(t *Token) []pyjson.Value {
	out := make([]pyjson.Value, 0, len(t.Roles))
	for _, r := range t.Roles {
		if t.FullRoles != nil {
			if full := t.FullRoles[r.ID]; full != nil {
				out = append(out, fullRole(full))
				continue
			}
		}
		out = append(out, pyjson.Object{{Key: "id", Value: r.ID}, {Key: "name", Value: r.Name}})
	}
	return out
}

// fullRole is role_api.get_role's dict: extra keys first, then id, name,
// domain_id (None for global roles), description, options.
func fullRole(r *keystone.Role) pyjson.Object {
	o := make(pyjson.Object, 0, len(r.Extra)+5)
	o = append(o, r.Extra...)
	var dom pyjson.Value
	if r.DomainID != "" {
		dom = r.DomainID
	}
	var desc pyjson.Value
	if r.Description != nil {
		desc = *r.Description
	}
	o.Set("id", r.ID)
	o.Set("name", r.Name)
	o.Set("domain_id", dom)
	if r.Bare {
		return o
	}
	o.Set("description", desc)
	o.Set("options", r.Options)
	return o
}

// pyTime renders a naive datetime the way oslo.serialization's jsonutils
// does for password_expires_at: "YYYY-MM-DDTHH:MM:SS.ffffff", no zone
// (timeutils.PERFECT_TIME_FORMAT, "%Y-%m-%dT%H:%M:%S.%f").
func pyTime(t *time.Time) pyjson.Value {
	if t == nil {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
