package token

import (
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// renderDataHelper builds the body the way Queens (13.0) did, with
// V3TokenDataHelper.get_token_data (keystone/token/providers/common.py),
// before Rocky moved rendering to render_token.py: the same facts in
// another key order (scope first, then the trust, the user, roles, audit
// ids, catalog, service providers, the dates, OAuth1 and the application
// credential), a project as {id, name, domain}, a user as {id, name,
// domain, password_expires_at}, and no "system" key for the system scope
// Queens packs as True (docs/python-compat.md §1.5). Federated tokens are
// not rendered here: the caller refuses them (judge.go) so that the front
// door asks Python.
func (v *Validator) renderDataHelper(t *Token, includeCatalog bool) pyjson.Object {
	p := t.Payload
	tok := pyjson.Object{{Key: "methods", Value: queensMethods(p.Methods)}}
	switch {
	case p.DomainID != "":
		tok.Set("domain", pyjson.Object{{Key: "id", Value: t.Domain.ID}, {Key: "name", Value: t.Domain.Name}})
	case p.ProjectID != "":
		tok.Set("project", pyjson.Object{
			{Key: "id", Value: t.Project.ID},
			{Key: "name", Value: t.Project.Name},
			{Key: "domain", Value: pyjson.Object{{Key: "id", Value: t.ProjectDomain.ID}, {Key: "name", Value: t.ProjectDomain.Name}}},
		})
		tok.Set("is_domain", t.Project.IsDomain)
		s := v.Settings
		if s.AdminProjectName != "" && s.AdminProjectDomainName != "" {
			tok.Set("is_admin_project", t.Project.Name == s.AdminProjectName && t.ProjectDomain.Name == s.AdminProjectDomainName)
		}
	case p.System != "" && !p.SystemPackedTrue:
		tok.Set("system", pyjson.Object{{Key: "all", Value: true}})
	}
	user, userDomain := t.User, t.UserDomain
	if p.TrustID != "" {
		tok.Set("OS-TRUST:trust", pyjson.Object{
			{Key: "id", Value: t.Trust.ID},
			{Key: "trustor_user", Value: pyjson.Object{{Key: "id", Value: t.Trustor.ID}}},
			{Key: "trustee_user", Value: pyjson.Object{{Key: "id", Value: t.Trustee.ID}}},
			{Key: "impersonation", Value: t.Trust.Impersonation},
		})
		if t.Trust.Impersonation {
			user, userDomain = t.Trustor, t.TrustorDomain
		}
	}
	tok.Set("user", pyjson.Object{
		{Key: "id", Value: user.ID},
		{Key: "name", Value: user.Name},
		{Key: "domain", Value: pyjson.Object{{Key: "id", Value: userDomain.ID}, {Key: "name", Value: userDomain.Name}}},
		{Key: "password_expires_at", Value: pyTime(user.PasswordExpiresAt)},
	})
	if !t.Unscoped() {
		tok.Set("roles", v.renderRoles(t))
	}
	tok.Set("audit_ids", nonNil(p.AuditIDs))
	if includeCatalog && !t.Unscoped() {
		tok.Set("catalog", v.renderCatalog(t))
	}
	if len(t.ServiceProviders) > 0 {
		tok.Set("service_providers", renderServiceProviders(t))
	}
	tok.Set("expires_at", payload.FormatTime(p.ExpiresAt))
	tok.Set("issued_at", payload.FormatTime(t.IssuedAt))
	if t.AccessToken != nil {
		tok.Set("OS-OAUTH1", pyjson.Object{{Key: "access_token_id", Value: t.AccessToken.ID}, {Key: "consumer_id", Value: t.AccessToken.ConsumerID}})
	}
	if t.AppCred != nil {
		// Queens has no access rules (they came with Train).
		tok.Set("application_credential", pyjson.Object{
			{Key: "id", Value: t.AppCred.ID},
			{Key: "name", Value: t.AppCred.Name},
			{Key: "restricted", Value: !t.AppCred.Unrestricted},
		})
	}
	return pyjson.Object{{Key: "token", Value: tok}}
}

// queensMethods is what Queens' convert_integer_to_method_list gives for
// the methods packed in a token: it keeps a bit only when the remaining
// bitmask divided by that bit's value equals 1, written for Python 2's
// integer division. Under Python 3's true division that holds only for a
// single method, so a token of several methods (a rescoped token's "token"
// and "password") renders as [] (recorded from Queens 13.0.4 on Python 3;
// under Python 2 Queens rendered the full list: docs/compatibility.md §4).
func queensMethods(methods []string) []string {
	if len(methods) != 1 {
		return []string{}
	}
	return methods
}
