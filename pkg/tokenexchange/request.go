// Package tokenexchange makes restricted tokens: RFC 8693 token exchange
// on POST /v4/oauth2/token turns a Keystone token into one that can do
// less -- a subset of its roles, optional access rules, a shorter life
// (docs/restricted-tokens.md).
//
// The restricted token is an ordinary token of an application credential
// that keystone-ng writes in Python's tables as Python writes one
// (unrestricted = false, the role subset, the access rules), so Python
// Keystone and keystonemiddleware enforce the same restriction when
// keystone-ng is not there: Python renders the credential's roles and
// access rules, keystonemiddleware checks the rules, and Python refuses a
// restricted credential's token for making further application
// credentials or trusts, or for rescoping.
package tokenexchange

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/oauth2"
)

// Token types (RFC 8693 §3). A Keystone token is an access token.
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// AccessRuleType is the authorization_details type (RFC 9396 §2) of one
// access rule: {"type": AccessRuleType, "service", "method", "path"}, the
// fields of Keystone's application credential access rules.
const AccessRuleType = "openstack_access_rule"

// Limits on what one request may ask for.
const (
	maxSubjectToken = 8192
	maxRoles        = 64
	maxAccessRules  = 32
	maxIDLength     = 64 // Keystone's id_string
	// maxPathLength is access_rule.path's column width: Python's schema
	// allows 225 characters, its String(128) column fewer.
	maxPathLength = 128
	// maxExpiresIn bounds the requested lifetime's digits; the source
	// token's expiry bounds it further.
	maxExpiresIn = 10 * 365 * 24 * 3600
)

// Request is a token exchange request (RFC 8693 §2.1) as the form sent it.
type Request struct {
	SubjectToken, SubjectTokenType string
	RequestedTokenType             string
	Scope                          string
	// AuthorizationDetails is RFC 9396's JSON array of access rules.
	AuthorizationDetails string
	// ExpiresIn is the requested lifetime in seconds (keystone-ng's
	// extension; RFC 8693 leaves the lifetime to the server).
	ExpiresIn string
	// Unsupported lists the RFC 8693 parameters sent that are not served
	// (actor_token, actor_token_type, resource, audience).
	Unsupported []string
}

// Restriction is what the client asked the new token to be limited to.
type Restriction struct {
	// ProjectID, when set, must be the subject token's project.
	ProjectID string
	// Roles are role names or ids; empty keeps all the subject's roles.
	Roles []string
	// AccessRules limit which API calls the token may make (empty: no
	// rule beyond the subject's own).
	AccessRules []keystone.AccessRule
	// Lifetime, when set, caps the token's life below the source's.
	Lifetime time.Duration
}

// idString is Keystone's id_string pattern (the service of an access
// rule).
var idString = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

// methods are the HTTP methods an access rule may name (Python's
// application credential schema).
var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// Parse checks the request's grammar; it needs neither the subject token
// nor the database.
func Parse(r *Request) (*Restriction, error) {
	if len(r.Unsupported) > 0 {
		return nil, oauth2.InvalidRequest("Not supported with token exchange: " + strings.Join(r.Unsupported, ", ") + ".")
	}
	switch {
	case r.SubjectToken == "":
		return nil, oauth2.InvalidRequest("subject_token is required.")
	case len(r.SubjectToken) > maxSubjectToken:
		return nil, oauth2.InvalidRequest("subject_token is too long.")
	case r.SubjectTokenType != TokenTypeAccessToken:
		return nil, oauth2.InvalidRequest("subject_token_type must be " + TokenTypeAccessToken + ".")
	case r.RequestedTokenType != "" && r.RequestedTokenType != TokenTypeAccessToken:
		return nil, oauth2.InvalidRequest("requested_token_type must be " + TokenTypeAccessToken + ".")
	}
	out := &Restriction{}
	if err := parseScope(r.Scope, out); err != nil {
		return nil, err
	}
	rules, err := ParseAccessRules(r.AuthorizationDetails)
	if err != nil {
		return nil, err
	}
	out.AccessRules = rules
	if r.ExpiresIn != "" {
		n, err := strconv.Atoi(r.ExpiresIn)
		if err != nil || n < 1 || n > maxExpiresIn || strings.TrimSpace(r.ExpiresIn) != r.ExpiresIn || r.ExpiresIn[0] == '+' {
			return nil, oauth2.InvalidRequest("expires_in must be a whole number of seconds, at least 1.")
		}
		out.Lifetime = time.Duration(n) * time.Second
	}
	return out, nil
}

// parseScope reads scope (RFC 6749 §3.3, space-delimited): at most one
// "project:<id>", and any number of "role:<name or id>".
func parseScope(scope string, out *Restriction) error {
	seen := map[string]bool{}
	for _, item := range strings.Fields(scope) {
		kind, v, ok := strings.Cut(item, ":")
		if !ok || v == "" || len(v) > 255 {
			return oauth2.InvalidScope("Each scope item is project:<id> or role:<name or id>.")
		}
		switch kind {
		case "project":
			if out.ProjectID != "" {
				return oauth2.InvalidScope("Name at most one project.")
			}
			out.ProjectID = v
		case "role":
			if seen[v] {
				return oauth2.InvalidScope("A role is named twice.")
			}
			seen[v] = true
			out.Roles = append(out.Roles, v)
			if len(out.Roles) > maxRoles {
				return oauth2.InvalidScope(fmt.Sprintf("Name at most %d roles.", maxRoles))
			}
		default:
			return oauth2.InvalidScope("Each scope item is project:<id> or role:<name or id>.")
		}
	}
	return nil
}

// accessRuleDetail is one element of authorization_details.
type accessRuleDetail struct {
	Type    string `json:"type"`
	Service string `json:"service"`
	Method  string `json:"method"`
	Path    string `json:"path"`
}

// ParseAccessRules reads authorization_details: a JSON array of access
// rules, each checked as Python's application credential schema checks
// one (service an id_string, method one of six, path starting with "/"),
// no field unknown, no rule twice (Python would fail on the link table's
// primary key).
func ParseAccessRules(details string) ([]keystone.AccessRule, error) {
	if strings.TrimSpace(details) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(details))
	dec.DisallowUnknownFields()
	var in []accessRuleDetail
	if err := dec.Decode(&in); err != nil || dec.More() {
		return nil, oauth2.InvalidAuthorizationDetails("authorization_details must be a JSON array of {type, service, method, path} objects.")
	}
	if len(in) == 0 {
		return nil, oauth2.InvalidAuthorizationDetails("authorization_details names no access rule.")
	}
	if len(in) > maxAccessRules {
		return nil, oauth2.InvalidAuthorizationDetails(fmt.Sprintf("Name at most %d access rules.", maxAccessRules))
	}
	out := make([]keystone.AccessRule, 0, len(in))
	seen := map[keystone.AccessRule]bool{}
	for i, d := range in {
		bad := func(what string) error {
			return oauth2.InvalidAuthorizationDetails(fmt.Sprintf("authorization_details[%d]: %s", i, what))
		}
		switch {
		case d.Type != AccessRuleType:
			return nil, bad(`type must be "` + AccessRuleType + `".`)
		case len(d.Service) > maxIDLength || !idString.MatchString(d.Service):
			return nil, bad("service must be a service type (letters, digits, '-').")
		case !methods[d.Method]:
			return nil, bad("method must be one of GET, HEAD, POST, PUT, PATCH, DELETE.")
		case !strings.HasPrefix(d.Path, "/") || len(d.Path) > maxPathLength || strings.ContainsAny(d.Path, "\x00\r\n"):
			return nil, bad(fmt.Sprintf("path must start with '/' and have at most %d characters.", maxPathLength))
		}
		r := keystone.AccessRule{Service: d.Service, Method: d.Method, Path: d.Path}
		if seen[r] {
			return nil, bad("this access rule is named twice.")
		}
		seen[r] = true
		out = append(out, r)
	}
	return out, nil
}
