package policy

// Rule names evaluated by GET and HEAD /v3/auth/tokens.
const (
	RuleValidateToken = "identity:validate_token"
	RuleCheckToken    = "identity:check_token"
	RuleRevokeToken   = "identity:revoke_token"
)

// DefaultRuleName is oslo.policy's [oslo_policy] policy_default_rule
// default (keystone does not change it and registers no such rule): a
// request for an unknown rule, and rule:NAME for an undefined NAME,
// evaluate this rule when a policy file defines it, and deny otherwise.
const DefaultRuleName = "default"

// ruleDefault is oslo's RuleDefault: a rule registered in code.
type ruleDefault struct {
	name       string
	checkStr   string
	scopeTypes []string
	// deprecated check string under the same name (DeprecatedRule);
	// "" when the rule has none.
	deprecatedCheckStr string
}

var tokenScopes = []string{"system", "domain", "project"}

// keystoneDefaults are the rules keystone registers in
// keystone/common/policies/base.py and token.py. The token check strings
// are those of keystone master and of Debian's 22.0.2-0+deb12u6 (the test
// peer), which include rule:admin_required in the new defaults; upstream
// 22.0.x without that fix omits it, which only matters with
// enforce_new_defaults = true (see docs/policy.md).
var keystoneDefaults = []ruleDefault{
	{name: "admin_required", checkStr: "role:admin or is_admin:1"},
	{name: "service_role", checkStr: "role:service"},
	{name: "service_or_admin", checkStr: "rule:admin_required or rule:service_role"},
	{name: "owner", checkStr: "user_id:%(user_id)s"},
	{name: "admin_or_owner", checkStr: "rule:admin_required or rule:owner"},
	{name: "token_subject", checkStr: "user_id:%(target.token.user_id)s"},
	{name: "admin_or_token_subject", checkStr: "rule:admin_required or rule:token_subject"},
	{name: "service_admin_or_token_subject", checkStr: "rule:service_or_admin or rule:token_subject"},
	{
		name:               RuleCheckToken,
		checkStr:           "rule:admin_required or (role:reader and system_scope:all) or rule:token_subject",
		scopeTypes:         tokenScopes,
		deprecatedCheckStr: "rule:admin_or_token_subject",
	},
	{
		name:               RuleValidateToken,
		checkStr:           "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
		scopeTypes:         tokenScopes,
		deprecatedCheckStr: "rule:service_admin_or_token_subject",
	},
	{
		name:               RuleRevokeToken,
		checkStr:           "rule:admin_required or rule:token_subject",
		scopeTypes:         tokenScopes,
		deprecatedCheckStr: "rule:admin_or_token_subject",
	},
}
