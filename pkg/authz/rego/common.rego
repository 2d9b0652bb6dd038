# Shared helpers and the default decision for the keystone-ng /v4 API.
#
# The input document is:
#   {"action": "<resource>:<verb>",
#    "caller": {"user_id", "user_domain_id", "roles", "scope_type", "scope_id", "scope_domain_id"},
#    "target": {...action specific...}}
#
# The service reads data.keystone_ng.authz.allow (boolean) and, when it is false,
# data.keystone_ng.authz.reasons (set of strings) to explain the denial.
package keystone_ng.authz

import rego.v1

# Default deny: anything not explicitly allowed below, including unknown actions.
default allow := false

# Role names of the caller (already expanded with implied roles by the service).
caller_roles := {r | some r in input.caller.roles}

# Roles that grant read access in system scope.
system_reader_roles := {"reader", "member", "admin"}

# Roles that grant administration of the scoped domain.
domain_admin_roles := {"admin", "manager"}

# Roles that grant read access in domain scope.
domain_reader_roles := {"reader", "member", "manager", "admin"}

# Domain id carried by the target; null when absent (e.g. a global identity provider).
default target_domain_id := null

target_domain_id := input.target.domain_id

non_empty_string(s) if {
	is_string(s)
	s != ""
}

# The helpers below are rules rather than functions where possible: OPA caches a rule's
# value for the whole evaluation, so the checks run once per request.

# System-scoped token with the admin role.
is_system_admin if {
	input.caller.scope_type == "system"
	"admin" in caller_roles
}

# System-scoped token with reader, member or admin.
is_system_reader if {
	input.caller.scope_type == "system"
	count(caller_roles & system_reader_roles) > 0
}

# The domain a domain-scoped caller administers (undefined if none).
caller_admin_domain := input.caller.scope_id if {
	input.caller.scope_type == "domain"
	non_empty_string(input.caller.scope_id)
	count(caller_roles & domain_admin_roles) > 0
}

# The domain a domain-scoped caller may read (undefined if none).
caller_reader_domain := input.caller.scope_id if {
	input.caller.scope_type == "domain"
	non_empty_string(input.caller.scope_id)
	count(caller_roles & domain_reader_roles) > 0
}

# Domain-scoped token on domain d with admin or manager.
is_domain_admin(d) if {
	non_empty_string(d)
	d == caller_admin_domain
}

# Domain-scoped token on domain d with reader, member, manager or admin.
is_domain_reader(d) if {
	non_empty_string(d)
	d == caller_reader_domain
}

# Every action the shipped policy knows; each policy file adds its own.
# Anything else is denied with the reason below.
reasons contains "unknown action" if {
	not actions[input.action]
}
