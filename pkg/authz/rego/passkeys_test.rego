package keystone_ng.authz_test

import rego.v1

import data.keystone_ng.authz

passkey_all := ["passkey:register", "passkey:list", "passkey:get", "passkey:update", "passkey:delete"]

passkey_writes := ["passkey:register", "passkey:update", "passkey:delete"]

passkey_reads := ["passkey:list", "passkey:get"]

# A passkey of user u-member-a in domain dom-a.
member_a_key := {"user_id": "u-member-a", "domain_id": "dom-a"}

test_passkey_self_allowed_any_scope if {
	every a in passkey_all {
		allowed(a, domain_member_a, member_a_key)
		allowed(a, object.union(project_member_a, {"user_id": "u-member-a"}), member_a_key)
		allowed(a, object.union(unscoped_a, {"user_id": "u-member-a"}), member_a_key)
		allowed(a, object.union(system_no_role, {"user_id": "u-member-a"}), member_a_key)
	}
}

test_passkey_other_user_denied if {
	every a in passkey_all {
		denied(a, unscoped_a, member_a_key)
		denied(a, project_member_a, member_a_key)
		denied(a, project_admin_a, member_a_key)
	}
}

test_passkey_empty_user_ids_do_not_match if {
	every a in passkey_all {
		denied(a, object.union(unscoped_a, {"user_id": ""}), {"user_id": "", "domain_id": "dom-a"})
		denied(a, object.union(unscoped_a, {"user_id": null}), {"domain_id": "dom-a"})
	}
}

test_passkey_system_admin_allowed if {
	every a in passkey_all {
		allowed(a, system_admin, member_a_key)
	}
}

test_passkey_domain_admin_own_domain_allowed if {
	every a in passkey_all {
		allowed(a, domain_admin_a, member_a_key)
	}
}

# A manager reads its domain's passkeys but cannot plant or remove one for
# another user (that would take over the account).
test_passkey_domain_manager_reads_only if {
	every a in passkey_reads {
		allowed(a, domain_manager_a, member_a_key)
	}
	every a in passkey_writes {
		denied(a, domain_manager_a, member_a_key)
	}
}

delegated_callers := [
	{"application_credential_id": "ac1"},
	{"oauth1_access_token_id": "at1"},
	{"trust_id": "t1"},
	{"workload": true},
]

test_passkey_delegated_tokens_denied if {
	every d in delegated_callers {
		every a in passkey_all {
			denied(a, object.union(domain_member_a, d), member_a_key)
			denied(a, object.union(system_admin, d), member_a_key)
		}
	}
	"a trust token cannot manage passkeys; sign in with your own credentials" in reasons_of("passkey:register", object.union(domain_member_a, {"trust_id": "t1"}), member_a_key)
	"a workload (JWT) login token cannot manage passkeys; sign in with your own credentials" in reasons_of("passkey:list", object.union(domain_member_a, {"workload": true}), member_a_key)
}

test_passkey_federated_token_allowed if {
	allowed("passkey:register", object.union(domain_member_a, {"identity_provider_id": "idp1", "methods": ["mapped"]}), member_a_key)
}

test_passkey_stale_token_reads_only if {
	stale := object.union(domain_member_a, {"token_age_seconds": 601})
	every a in passkey_reads {
		allowed(a, stale, member_a_key)
	}
	every a in passkey_writes {
		denied(a, stale, member_a_key)
		denied(a, object.union(system_admin, {"token_age_seconds": 601}), member_a_key)
	}
	allowed("passkey:register", object.union(domain_member_a, {"token_age_seconds": 600}), member_a_key)
	"re-authentication required: sign in again (the token is older than [webauthn] reauthentication_window)" in reasons_of("passkey:register", stale, member_a_key)
}

test_passkey_missing_age_is_not_fresh if {
	not authz.allow with input as {"action": "passkey:register", "caller": domain_member_a, "target": member_a_key, "settings": {"reauthentication_window_seconds": 600}}
	not authz.allow with input as {"action": "passkey:register", "caller": domain_member_a, "target": member_a_key}
}

test_passkey_domain_admin_other_domain_denied if {
	every a in passkey_all {
		denied(a, domain_admin_b, member_a_key)
	}
}

test_passkey_system_reader_read_only if {
	every a in passkey_reads {
		allowed(a, system_reader, member_a_key)
		allowed(a, system_member, member_a_key)
	}
	every a in passkey_writes {
		denied(a, system_reader, member_a_key)
		denied(a, system_member, member_a_key)
	}
}

test_passkey_domain_reader_read_only if {
	every a in passkey_reads {
		allowed(a, domain_reader_a, member_a_key)
	}
	every a in passkey_writes {
		denied(a, domain_reader_a, member_a_key)
	}
}

test_passkey_domain_member_other_user_read_only if {
	other := {"user_id": "u-someone-else", "domain_id": "dom-a"}
	allowed("passkey:list", domain_member_a, other)
	denied("passkey:delete", domain_member_a, other)
}

test_passkey_project_admin_other_user_denied if {
	# Project scope only ever manages its own passkeys, even with admin on the project.
	every a in passkey_all {
		denied(a, project_admin_a, member_a_key)
	}
}

test_passkey_reasons if {
	"only the passkey owner, an admin of the owner's domain or a system admin may manage passkeys" in reasons_of("passkey:delete", domain_admin_b, member_a_key)
	"only the passkey owner, a reader of the owner's domain or a system reader may read passkeys" in reasons_of("passkey:get", project_member_a, member_a_key)
}
