# Passkeys (WebAuthn credentials) of a user.
#
# target.user_id is the owner of the passkey(s), target.domain_id that user's domain.
#
# A passkey is a lasting, passwordless login to the whole account. So only a
# first-hand, fresh sign-in may create or change one (docs/security.md):
# - never a delegated token: an application credential, an OAuth1 consumer's
#   token, a trust token or a workload (JWT) login's token would otherwise turn
#   borrowed, limited access into the owner's permanent access;
# - registration, renaming and deletion need a token issued at most
#   input.settings.reauthentication_window_seconds ago ([webauthn]
#   reauthentication_window): a stolen older token cannot plant a passkey.
# - Another user's passkeys are managed by a system admin or by an admin
#   (role admin, not manager) of the owner's domain: Keystone's manager persona
#   may not take over the accounts of its domain.
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

passkey_write_actions := {
	"passkey:register",
	"passkey:update",
	"passkey:delete",
}

actions contains a if some a in passkey_manage_actions

# The caller is the owner, with any token scope (unscoped and project-scoped included).
is_passkey_owner if {
	non_empty_string(input.caller.user_id)
	input.caller.user_id == input.target.user_id
}

# The kind of delegated token the caller holds (undefined for a first-hand token).
passkey_delegation := "an application credential" if non_empty_string(input.caller.application_credential_id)

passkey_delegation := "an OAuth1" if non_empty_string(input.caller.oauth1_access_token_id)

passkey_delegation := "a trust" if non_empty_string(input.caller.trust_id)

passkey_delegation := "a workload (JWT) login" if input.caller.workload == true

passkey_delegated if passkey_delegation

# The token was issued within the re-authentication window. A missing age or
# window is never fresh.
passkey_fresh if {
	is_number(input.caller.token_age_seconds)
	is_number(input.settings.reauthentication_window_seconds)
	input.settings.reauthentication_window_seconds > 0
	input.caller.token_age_seconds <= input.settings.reauthentication_window_seconds
}

# The token may be used for the action at all.
passkey_token_ok if {
	not passkey_delegated
	passkey_read_actions[input.action]
}

passkey_token_ok if {
	not passkey_delegated
	passkey_write_actions[input.action]
	passkey_fresh
}

# Domain-scoped token on domain d with the admin role itself.
is_strict_domain_admin(d) if {
	is_domain_admin(d)
	"admin" in caller_roles
}

passkey_role_ok if is_passkey_owner

passkey_role_ok if is_system_admin

passkey_role_ok if is_strict_domain_admin(target_domain_id)

passkey_role_ok if {
	passkey_read_actions[input.action]
	is_system_reader
}

passkey_role_ok if {
	passkey_read_actions[input.action]
	is_domain_reader(target_domain_id)
}

allow if {
	passkey_manage_actions[input.action]
	passkey_role_ok
	passkey_token_ok
}

reasons contains sprintf("%s token cannot manage passkeys; sign in with your own credentials", [passkey_delegation]) if {
	passkey_manage_actions[input.action]
	passkey_delegated
}

reasons contains "re-authentication required: sign in again (the token is older than [webauthn] reauthentication_window)" if {
	passkey_write_actions[input.action]
	not passkey_delegated
	passkey_role_ok
	not passkey_fresh
}

reasons contains "only the passkey owner, an admin of the owner's domain or a system admin may manage passkeys" if {
	passkey_write_actions[input.action]
	not passkey_role_ok
}

reasons contains "only the passkey owner, a reader of the owner's domain or a system reader may read passkeys" if {
	passkey_read_actions[input.action]
	not passkey_role_ok
}
