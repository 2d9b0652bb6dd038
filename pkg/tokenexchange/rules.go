package tokenexchange

import (
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// PrimaryMethods is Python's set of primary (non-delegated) authentication
// methods (keystone/api/_shared/delegation.py), to which [auth]
// additional_primary_auth_methods adds.
var PrimaryMethods = []string{"external", "kerberos", "mapped", "openid", "password", "saml2", "token", "totp", "x509"}

// MethodApplicationCredential is the method of an application
// credential's token, and so of every restricted token.
const MethodApplicationCredential = "application_credential"

// CheckSubject applies Python's rule of which tokens may create an
// application credential (keystone/api/users.py
// _block_delegated_token_app_creds and
// _check_unrestricted_application_credential): not a trust's, not an
// OAuth1 consumer's, not one whose methods are not all primary -- except
// an application credential's token, which may when its credential is
// unrestricted. A restricted token's credential never is, so a restricted
// token cannot be exchanged again. primary holds the primary methods.
func CheckSubject(t *token.Token, primary map[string]bool) error {
	p := t.Payload
	refuse := func(kind string) error {
		e := oauth2.InvalidRequest(kind + " cannot be exchanged; exchange a token you obtained with your own credentials.")
		e.Cause = fmt.Errorf("token exchange refused: the subject is %s", kind)
		return e
	}
	switch {
	case p.TrustID != "":
		return refuse("a trust's token")
	case p.AccessTokenID != "":
		return refuse("an OAuth1 token")
	case p.AppCredID != "":
		if t.AppCred == nil || !t.AppCred.Unrestricted {
			return refuse("a restricted application credential's token")
		}
		return nil
	}
	if len(p.Methods) == 0 {
		// Python treats lost methods as delegated (delegation.py).
		return refuse("a token without authentication methods")
	}
	for _, m := range p.Methods {
		if !primary[m] {
			return refuse("a token of the " + m + " method")
		}
	}
	return nil
}

// Plan is the restricted token to make.
type Plan struct {
	UserID, ProjectID string
	Roles             []token.RoleRef
	AccessRules       []keystone.AccessRule
	ExpiresAt         time.Time
	// SourceAuditID is the subject's audit chain id, which the new token
	// carries as its second audit id, as a rescoped token does.
	SourceAuditID string
}

// minLifetime refuses a subject about to expire: its restricted token
// would be useless.
const minLifetime = 5 * time.Second

// Narrow decides the restricted token: the subject's project, the
// requested subset of its roles (all of them when none is named), access
// rules within the subject's own (which it keeps when none is requested),
// and an expiry no later than the subject's, [token] expiration from now
// (maxLife, 0 = none) or the requested lifetime. It never widens.
func Narrow(t *token.Token, r *Restriction, now time.Time, maxLife time.Duration) (*Plan, error) {
	p := t.Payload
	if p.ProjectID == "" {
		return nil, oauth2.InvalidRequest("Only a project-scoped token can be exchanged: a restricted token is an application credential's, which belongs to one project.")
	}
	if r.ProjectID != "" && r.ProjectID != p.ProjectID {
		return nil, oauth2.InvalidScope("A restricted token keeps the project of the token it is exchanged from.")
	}
	roles, err := pickRoles(t.Roles, r.Roles)
	if err != nil {
		return nil, err
	}
	rules, err := narrowRules(t.AppCred, r.AccessRules)
	if err != nil {
		return nil, err
	}
	exp := p.ExpiresAt
	if maxLife > 0 && now.Add(maxLife).Before(exp) {
		exp = now.Add(maxLife)
	}
	if r.Lifetime > 0 && now.Add(r.Lifetime).Before(exp) {
		exp = now.Add(r.Lifetime)
	}
	if exp.Sub(now) < minLifetime {
		return nil, oauth2.InvalidRequest("The subject token expires too soon to be exchanged.")
	}
	chain := ""
	if n := len(p.AuditIDs); n > 0 {
		chain = p.AuditIDs[n-1] // parent_audit_id or audit_id, as keystone/auth/plugins/token.py
	}
	return &Plan{UserID: p.UserID, ProjectID: p.ProjectID, Roles: roles, AccessRules: rules,
		ExpiresAt: exp.UTC().Truncate(time.Microsecond), SourceAuditID: chain}, nil
}

// pickRoles returns the token's roles named by want (by id, else by
// name), or all of them when want is empty. A name two of the token's
// roles share (a domain-specific role named like a global one) must be
// given by id.
func pickRoles(have []token.RoleRef, want []string) ([]token.RoleRef, error) {
	if len(have) == 0 {
		return nil, oauth2.InvalidRequest("The subject token has no role to restrict.")
	}
	if len(want) == 0 {
		return append([]token.RoleRef(nil), have...), nil
	}
	out := make([]token.RoleRef, 0, len(want))
	seen := map[string]bool{}
	for _, w := range want {
		r, err := findRole(have, w)
		if err != nil {
			return nil, err
		}
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out, nil
}

func findRole(have []token.RoleRef, w string) (token.RoleRef, error) {
	for _, h := range have {
		if h.ID == w {
			return h, nil
		}
	}
	var found []token.RoleRef
	for _, h := range have {
		if h.Name == w {
			found = append(found, h)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return token.RoleRef{}, oauth2.InvalidScope(fmt.Sprintf("The subject token does not carry the role %q.", w))
	}
	return token.RoleRef{}, oauth2.InvalidScope(fmt.Sprintf("The subject token carries several roles named %q; name it by id.", w))
}

// MissingRoles returns the roles of the plan the minted token lacks:
// Python refuses to create an application credential with a role that is
// not the user's own assignment on the project
// (keystone/application_credential/core.py
// _require_user_has_role_in_project), where a token may carry it through
// a federated login's groups; the credential's token then renders without
// it.
func MissingRoles(plan []token.RoleRef, minted []token.RoleRef) []string {
	have := map[string]bool{}
	for _, r := range minted {
		have[r.ID] = true
	}
	var out []string
	for _, r := range plan {
		if !have[r.ID] {
			out = append(out, r.Name)
		}
	}
	return out
}

// narrowRules returns the requested access rules, each of which must be
// one of the subject's own when its application credential has rules (a
// token with rules may only keep some of them); a subject with rules keeps
// them all when none is requested. Rules compare by service, method and
// path exactly: a different path pattern, however narrow it looks, is a
// different rule.
func narrowRules(ac *keystone.AppCred, want []keystone.AccessRule) ([]keystone.AccessRule, error) {
	if ac == nil || len(ac.AccessRules) == 0 {
		return want, nil
	}
	if len(want) == 0 {
		out := make([]keystone.AccessRule, 0, len(ac.AccessRules))
		for _, r := range ac.AccessRules {
			out = append(out, keystone.AccessRule{Service: r.Service, Method: r.Method, Path: r.Path})
		}
		return out, nil
	}
	for _, w := range want {
		ok := false
		for _, h := range ac.AccessRules {
			if h.Service == w.Service && h.Method == w.Method && h.Path == w.Path {
				ok = true
				break
			}
		}
		if !ok {
			return nil, oauth2.InvalidAuthorizationDetails(fmt.Sprintf("The subject token does not allow %s %s on %s.", w.Method, w.Path, w.Service))
		}
	}
	return want, nil
}
