package keystone_ng.authz_test

import rego.v1

sa_writes := [
	"service_account:create", "service_account:update", "service_account:delete",
	"service_account:create_credential", "service_account:delete_credential",
]

sa_reads := ["service_account:get", "service_account:list", "service_account:list_credentials"]

sa_all := array.concat(sa_writes, sa_reads)

sa_dom_a := {"domain_id": "dom-a"}

sa_dom_b := {"domain_id": "dom-b"}

# Delegated variants of domain A's admin: each must be refused every write.
sa_delegated_admins := [
	object.union(domain_admin_a, {"application_credential_id": "ac1"}),
	object.union(domain_admin_a, {"oauth1_access_token_id": "at1"}),
	object.union(domain_admin_a, {"trust_id": "t1"}),
	object.union(domain_admin_a, {"workload": true}),
	object.union(domain_admin_a, {"service_account": true}),
]

test_sa_system_admin_everywhere if {
	every a in sa_all {
		allowed(a, system_admin, sa_dom_a)
		allowed(a, system_admin, sa_dom_b)
	}
	allowed("service_account:list", system_admin, {"domain_id": null})
}

test_sa_domain_admin_and_manager_own_domain if {
	every a in sa_all {
		allowed(a, domain_admin_a, sa_dom_a)
		allowed(a, domain_manager_a, sa_dom_a)
	}
}

test_sa_other_domain_refused if {
	every a in sa_all {
		denied(a, domain_admin_a, sa_dom_b)
		denied(a, domain_manager_a, sa_dom_b)
		denied(a, domain_admin_b, sa_dom_a)
	}
	"admin or manager of the service account's domain or system admin required" in reasons_of("service_account:delete", domain_admin_b, sa_dom_a)
}

test_sa_project_scope_never_manages if {
	every a in sa_writes {
		denied(a, project_admin_a, sa_dom_a)
		denied(a, project_member_a, sa_dom_a)
	}
	every a in sa_all {
		denied(a, unscoped_a, sa_dom_a)
	}
}

test_sa_readers_read_only if {
	every a in sa_reads {
		allowed(a, domain_reader_a, sa_dom_a)
		allowed(a, domain_member_a, sa_dom_a)
		allowed(a, system_reader, sa_dom_b)
	}
	every a in sa_writes {
		denied(a, domain_reader_a, sa_dom_a)
		denied(a, domain_member_a, sa_dom_a)
		denied(a, system_reader, sa_dom_a)
		denied(a, system_member, sa_dom_a)
	}
}

test_sa_unfiltered_list_system_reader_only if {
	denied("service_account:list", domain_admin_a, {"domain_id": null})
	denied("service_account:list", domain_admin_a, {})
	"system reader required to list service accounts of all domains; filter by your domain" in reasons_of("service_account:list", domain_admin_a, {"domain_id": null})
}

test_sa_delegated_tokens_never_write if {
	every c in sa_delegated_admins {
		every a in sa_writes {
			denied(a, c, sa_dom_a)
		}
	}
	every a in sa_writes {
		denied(a, object.union(system_admin, {"trust_id": "t1"}), sa_dom_a)
	}
	"a trust token cannot manage service accounts; sign in with your own credentials" in reasons_of("service_account:create", sa_delegated_admins[2], sa_dom_a)
}

test_sa_delegated_tokens_may_read if {
	every c in sa_delegated_admins {
		allowed("service_account:get", c, sa_dom_a)
	}
}

test_sa_role_names_case_sensitive if {
	denied("service_account:create", object.union(domain_admin_a, {"roles": ["Admin", "Manager"]}), sa_dom_a)
}

test_sa_unbounded_account_system_admin_only if {
	unbounded := {"domain_id": "dom-a", "bounded": false}
	every a in sa_writes {
		allowed(a, system_admin, unbounded)
		denied(a, domain_admin_a, unbounded)
		denied(a, domain_manager_a, unbounded)
		allowed(a, domain_admin_a, {"domain_id": "dom-a", "bounded": true})
	}
	allowed("service_account:list_credentials", domain_reader_a, unbounded)
	"only a system admin manages a service account a system admin created" in reasons_of("service_account:create_credential", domain_manager_a, unbounded)
}

test_sa_own_token_never_mints if {
	sa_token := object.union(domain_admin_a, {"service_account": true})
	denied("service_account:create_credential", sa_token, sa_dom_a)
	"a service account's token cannot manage service accounts; sign in with your own credentials" in reasons_of("service_account:create_credential", sa_token, sa_dom_a)
}
