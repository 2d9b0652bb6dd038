package keystone_ng.authz_test

import rego.v1

import data.keystone_ng.authz

# Callers reused by the test files of this package.
system_admin := {"user_id": "u-sysadmin", "user_domain_id": "default", "roles": ["admin", "member", "reader"], "scope_type": "system", "scope_id": "all", "scope_domain_id": ""}

system_reader := {"user_id": "u-sysreader", "user_domain_id": "default", "roles": ["reader"], "scope_type": "system", "scope_id": "all", "scope_domain_id": ""}

system_member := {"user_id": "u-sysmember", "user_domain_id": "default", "roles": ["member", "reader"], "scope_type": "system", "scope_id": "all", "scope_domain_id": ""}

domain_admin_a := {"user_id": "u-admin-a", "user_domain_id": "dom-a", "roles": ["admin", "manager", "member", "reader"], "scope_type": "domain", "scope_id": "dom-a", "scope_domain_id": "dom-a"}

domain_manager_a := {"user_id": "u-manager-a", "user_domain_id": "dom-a", "roles": ["manager", "member", "reader"], "scope_type": "domain", "scope_id": "dom-a", "scope_domain_id": "dom-a"}

domain_reader_a := {"user_id": "u-reader-a", "user_domain_id": "dom-a", "roles": ["reader"], "scope_type": "domain", "scope_id": "dom-a", "scope_domain_id": "dom-a"}

domain_member_a := {"user_id": "u-member-a", "user_domain_id": "dom-a", "roles": ["member", "reader"], "scope_type": "domain", "scope_id": "dom-a", "scope_domain_id": "dom-a"}

domain_admin_b := {"user_id": "u-admin-b", "user_domain_id": "dom-b", "roles": ["admin", "manager", "member", "reader"], "scope_type": "domain", "scope_id": "dom-b", "scope_domain_id": "dom-b"}

# A project admin in domain A: project scope never administers federation or other users' passkeys.
project_admin_a := {"user_id": "u-projadmin-a", "user_domain_id": "dom-a", "roles": ["admin", "manager", "member", "reader"], "scope_type": "project", "scope_id": "proj-a", "scope_domain_id": "dom-a"}

project_member_a := {"user_id": "u-projmember-a", "user_domain_id": "dom-a", "roles": ["member", "reader"], "scope_type": "project", "scope_id": "proj-a", "scope_domain_id": "dom-a"}

unscoped_a := {"user_id": "u-unscoped-a", "user_domain_id": "dom-a", "roles": [], "scope_type": "unscoped", "scope_id": "", "scope_domain_id": ""}

# A system-scoped token without any role.
system_no_role := {"user_id": "u-sysnone", "user_domain_id": "default", "roles": [], "scope_type": "system", "scope_id": "all", "scope_domain_id": ""}

# Callers hold a fresh token unless a test says otherwise; the window is the default 10 minutes.
req(action, caller, target) := {
	"action": action,
	"caller": object.union({"token_age_seconds": 0}, caller),
	"target": target,
	"settings": {"reauthentication_window_seconds": 600},
}

allowed(action, caller, target) if {
	authz.allow with input as req(action, caller, target)
}

denied(action, caller, target) if {
	not authz.allow with input as req(action, caller, target)
}

reasons_of(action, caller, target) := r if {
	r := authz.reasons with input as req(action, caller, target)
}

test_unknown_action_denied_even_for_system_admin if {
	denied("identity_provider:frobnicate", system_admin, {"domain_id": null})
	"unknown action" in reasons_of("identity_provider:frobnicate", system_admin, {})
}

test_empty_action_denied if {
	denied("", system_admin, {})
}

test_missing_action_denied if {
	not authz.allow with input as {"caller": system_admin, "target": {}}
}

test_empty_input_denied if {
	not authz.allow with input as {}
}

test_known_action_has_no_unknown_reason if {
	not "unknown action" in reasons_of("identity_provider:create", project_member_a, {"domain_id": "dom-a"})
}

test_allowed_request_has_no_reasons if {
	count(reasons_of("identity_provider:create", system_admin, {"domain_id": null})) == 0
}

test_null_roles_denied if {
	denied("identity_provider:create", object.union(domain_admin_a, {"roles": null}), {"domain_id": "dom-a"})
}

test_system_scope_without_role_denied if {
	denied("identity_provider:list", system_no_role, {"domain_id": null})
	denied("identity_provider:create", system_no_role, {"domain_id": null})
}

test_role_names_are_case_sensitive if {
	denied("identity_provider:create", object.union(system_admin, {"roles": ["Admin"]}), {"domain_id": null})
}
