# Service accounts: non-human users owned by a domain (docs/service-accounts.md).
#
# target.domain_id is the owning domain of the account (for
# service_account:list the domain the request filters on, null when
# unfiltered); target.bounded is false for an account a system admin
# created (its roles are not bounded by domain_grantable_roles).
#
# - Writes (the account and its credentials): a system admin anywhere; an
#   admin or manager of the owning domain (domain-scoped token), for a
#   bounded account only: a domain must not mint keys for an account a
#   system admin gave more than the domain may grant. A project-scoped
#   token never manages accounts, whatever its roles.
# - Never through a delegated token: an application credential, an OAuth1
#   consumer's token, a trust token, a workload (JWT) login's token or a
#   service account's own token would otherwise turn borrowed, limited
#   access into a lasting identity or key the delegate controls (the same
#   rule as passkeys, docs/security.md).
# - Reads: system readers; readers of the owning domain.
package keystone_ng.authz

import rego.v1

service_account_write_actions := {
	"service_account:create",
	"service_account:update",
	"service_account:delete",
	"service_account:create_credential",
	"service_account:delete_credential",
}

service_account_read_actions := {
	"service_account:get",
	"service_account:list",
	"service_account:list_credentials",
}

actions contains a if some a in service_account_write_actions

actions contains a if some a in service_account_read_actions

# The kind of delegated token the caller holds (undefined for a first-hand token).
service_account_delegation := "an application credential" if non_empty_string(input.caller.application_credential_id)

service_account_delegation := "an OAuth1" if non_empty_string(input.caller.oauth1_access_token_id)

service_account_delegation := "a trust" if non_empty_string(input.caller.trust_id)

service_account_delegation := "a workload (JWT) login" if input.caller.workload == true

service_account_delegation := "a service account's" if input.caller.service_account == true

service_account_delegated if service_account_delegation

service_account_role_ok if {
	service_account_write_actions[input.action]
	is_system_admin
}

service_account_role_ok if {
	service_account_write_actions[input.action]
	is_domain_admin(target_domain_id)
	not input.target.bounded == false
}

service_account_role_ok if {
	service_account_read_actions[input.action]
	is_system_reader
}

service_account_role_ok if {
	service_account_read_actions[input.action]
	is_domain_reader(target_domain_id)
}

allow if {
	service_account_write_actions[input.action]
	service_account_role_ok
	not service_account_delegated
}

allow if {
	service_account_read_actions[input.action]
	service_account_role_ok
}

reasons contains sprintf("%s token cannot manage service accounts; sign in with your own credentials", [service_account_delegation]) if {
	service_account_write_actions[input.action]
	service_account_delegated
}

reasons contains "admin or manager of the service account's domain or system admin required" if {
	service_account_write_actions[input.action]
	not service_account_role_ok
}

reasons contains "reader of the service account's domain or system reader required" if {
	input.action in {"service_account:get", "service_account:list_credentials"}
	not service_account_role_ok
}

reasons contains "only a system admin manages a service account a system admin created" if {
	service_account_write_actions[input.action]
	input.target.bounded == false
	is_domain_admin(target_domain_id)
	not is_system_admin
}

reasons contains "reader of the requested domain or system reader required" if {
	input.action == "service_account:list"
	not service_account_role_ok
	non_empty_string(target_domain_id)
}

reasons contains "system reader required to list service accounts of all domains; filter by your domain" if {
	input.action == "service_account:list"
	not service_account_role_ok
	not non_empty_string(target_domain_id)
}
