# Passkeys (WebAuthn credentials) of a user.
#
# target.user_id is the owner of the passkey(s), target.domain_id that user's domain.
package keystone_ng.authz

import rego.v1

passkey_manage_actions := {
	"passkey:register",
	"passkey:list",
	"passkey:get",
	"passkey:update",
	"passkey:delete",
}

passkey_read_actions := {
	"passkey:list",
	"passkey:get",
}

actions contains a if some a in passkey_manage_actions

# The caller is the owner, with any token scope (unscoped and project-scoped included).
is_passkey_owner if {
	non_empty_string(input.caller.user_id)
	input.caller.user_id == input.target.user_id
}

allow if {
	passkey_manage_actions[input.action]
	is_passkey_owner
}

allow if {
	passkey_manage_actions[input.action]
	is_system_admin
}

allow if {
	passkey_manage_actions[input.action]
	is_domain_admin(target_domain_id)
}

allow if {
	passkey_read_actions[input.action]
	is_system_reader
}

allow if {
	passkey_read_actions[input.action]
	is_domain_reader(target_domain_id)
}

reasons contains "only the passkey owner, a domain admin of the owner's domain or a system admin may manage passkeys" if {
	passkey_manage_actions[input.action]
	not passkey_read_actions[input.action]
	not allow
}

reasons contains "only the passkey owner, a reader of the owner's domain or a system reader may read passkeys" if {
	passkey_read_actions[input.action]
	not allow
}
