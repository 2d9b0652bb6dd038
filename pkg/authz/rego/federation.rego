# Federation: identity providers and mappings.
#
# target.domain_id is the owning domain, or null/absent for a global object.
# For identity_provider:list it is the domain filter of the request (null when unfiltered).
package keystone_ng.authz

import rego.v1

federation_write_actions := {
	"identity_provider:create",
	"identity_provider:update",
	"identity_provider:delete",
	"mapping:create",
	"mapping:update",
	"mapping:delete",
}

federation_read_actions := {
	"identity_provider:get",
	"identity_provider:list",
	"mapping:get",
	"mapping:list",
}

actions contains a if some a in federation_write_actions

actions contains a if some a in federation_read_actions

# Writes: system admin for anything; a domain admin (admin or manager) for its own domain's objects.
allow if {
	federation_write_actions[input.action]
	is_system_admin
}

allow if {
	federation_write_actions[input.action]
	is_domain_admin(target_domain_id)
}

# Reads: system readers see everything; domain readers see their own domain's objects.
allow if {
	federation_read_actions[input.action]
	is_system_reader
}

allow if {
	federation_read_actions[input.action]
	is_domain_reader(target_domain_id)
}

federation_object := "identity provider" if startswith(input.action, "identity_provider:")

federation_object := "mapping" if startswith(input.action, "mapping:")

reasons contains sprintf("domain admin of the %s's domain or system admin required", [federation_object]) if {
	federation_write_actions[input.action]
	not allow
	non_empty_string(target_domain_id)
}

reasons contains sprintf("system admin required for a global %s", [federation_object]) if {
	federation_write_actions[input.action]
	not allow
	not non_empty_string(target_domain_id)
}

reasons contains sprintf("reader of the %s's domain or system reader required", [federation_object]) if {
	federation_read_actions[input.action]
	input.action != "identity_provider:list"
	not allow
	non_empty_string(target_domain_id)
}

reasons contains sprintf("system reader required for a global %s", [federation_object]) if {
	federation_read_actions[input.action]
	input.action != "identity_provider:list"
	not allow
	not non_empty_string(target_domain_id)
}

reasons contains "reader of the requested domain or system reader required" if {
	input.action == "identity_provider:list"
	not allow
	non_empty_string(target_domain_id)
}

reasons contains "system reader required to list identity providers of all domains; filter by your domain" if {
	input.action == "identity_provider:list"
	not allow
	not non_empty_string(target_domain_id)
}
