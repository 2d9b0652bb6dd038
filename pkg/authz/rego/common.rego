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
caller_roles contains r if {
	some r in input.caller.roles
	is_string(r)
}

# Roles that grant read access in system scope.
system_reader_roles := {"reader", "member", "admin"}

# Roles that grant administration of the scoped domain.
domain_admin_roles := {"admin", "manager"}

# Roles that grant read access in domain scope.
domain_reader_roles := {"reader", "member", "manager", "admin"}

# Domain id carried by the target; null when absent (e.g. a global identity provider).
target_domain_id := object.get(input, ["target", "domain_id"], null)

has_any_role(wanted) if {
	some r in caller_roles
	r in wanted
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

is_system_admin if {
	input.caller.scope_type == "system"
	"admin" in caller_roles
}

is_system_reader if {
	input.caller.scope_type == "system"
	has_any_role(system_reader_roles)
}

# Domain-scoped token on domain d with an administrative role.
is_domain_admin(d) if {
	non_empty_string(d)
	input.caller.scope_type == "domain"
	input.caller.scope_id == d
	has_any_role(domain_admin_roles)
}

# Domain-scoped token on domain d with any role that allows reading.
is_domain_reader(d) if {
	non_empty_string(d)
	input.caller.scope_type == "domain"
	input.caller.scope_id == d
	has_any_role(domain_reader_roles)
}

# Every action the shipped policy knows; each policy file adds its own.
# Anything else is denied with the reason below.
reasons contains "unknown action" if {
	not input.action in actions
}
