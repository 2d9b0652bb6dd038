package keystone_ng.authz_test

import rego.v1

federation_writes := [
	"identity_provider:create", "identity_provider:update", "identity_provider:delete",
	"mapping:create", "mapping:update", "mapping:delete",
]

federation_reads := ["identity_provider:get", "identity_provider:list", "mapping:get", "mapping:list"]

federation_all := array.concat(federation_writes, federation_reads)

dom_a := {"domain_id": "dom-a"}

global := {"domain_id": null}

# --- writes -------------------------------------------------------------------

test_fed_write_system_admin_domain_object_allowed if {
	every a in federation_writes {
		allowed(a, system_admin, dom_a)
	}
}

test_fed_write_system_admin_global_object_allowed if {
	every a in federation_writes {
		allowed(a, system_admin, global)
		allowed(a, system_admin, {})
	}
}

test_fed_write_domain_admin_own_domain_allowed if {
	every a in federation_writes {
		allowed(a, domain_admin_a, dom_a)
	}
}

test_fed_write_domain_manager_own_domain_allowed if {
	every a in federation_writes {
		allowed(a, domain_manager_a, dom_a)
	}
}

test_fed_write_domain_admin_other_domain_denied if {
	every a in federation_writes {
		denied(a, domain_admin_b, dom_a)
	}
}

test_fed_write_domain_admin_global_denied if {
	every a in federation_writes {
		denied(a, domain_admin_a, global)
		denied(a, domain_admin_a, {})
		denied(a, domain_admin_a, {"domain_id": ""})
	}
}

test_fed_write_domain_reader_and_member_denied if {
	every a in federation_writes {
		denied(a, domain_reader_a, dom_a)
		denied(a, domain_member_a, dom_a)
	}
}

test_fed_write_system_reader_denied if {
	every a in federation_writes {
		denied(a, system_reader, dom_a)
		denied(a, system_reader, global)
		denied(a, system_member, global)
	}
}

test_fed_write_project_scope_denied if {
	every a in federation_writes {
		denied(a, project_admin_a, dom_a)
		denied(a, project_member_a, dom_a)
		denied(a, project_admin_a, global)
	}
}

test_fed_write_unscoped_denied if {
	every a in federation_writes {
		denied(a, unscoped_a, dom_a)
	}
}

test_fed_write_domain_scope_with_wrong_scope_id_denied if {
	# Scope domain id alone does not count: scope_id must be the target domain.
	denied("identity_provider:create", object.union(domain_admin_b, {"scope_domain_id": "dom-a"}), dom_a)
}

test_fed_write_non_string_domain_denied if {
	denied("identity_provider:create", object.union(domain_admin_a, {"scope_id": 1}), {"domain_id": 1})
	denied("identity_provider:create", domain_admin_a, {"domain_id": ["dom-a"]})
}

test_fed_write_reason_domain_object if {
	"domain admin of the identity provider's domain or system admin required" in reasons_of("identity_provider:update", domain_admin_b, dom_a)
	"domain admin of the mapping's domain or system admin required" in reasons_of("mapping:delete", project_admin_a, dom_a)
}

test_fed_write_reason_global_object if {
	"system admin required for a global identity provider" in reasons_of("identity_provider:create", domain_admin_a, global)
	"system admin required for a global mapping" in reasons_of("mapping:create", domain_admin_a, {})
}

# --- reads --------------------------------------------------------------------

test_fed_read_system_reader_allowed if {
	every a in federation_reads {
		allowed(a, system_reader, dom_a)
		allowed(a, system_reader, global)
		allowed(a, system_member, global)
		allowed(a, system_admin, global)
	}
}

test_fed_read_domain_roles_own_domain_allowed if {
	every a in federation_reads {
		allowed(a, domain_reader_a, dom_a)
		allowed(a, domain_member_a, dom_a)
		allowed(a, domain_manager_a, dom_a)
		allowed(a, domain_admin_a, dom_a)
	}
}

test_fed_read_domain_other_domain_denied if {
	every a in federation_reads {
		denied(a, domain_admin_b, dom_a)
	}
}

test_fed_read_domain_global_denied if {
	every a in federation_reads {
		denied(a, domain_reader_a, global)
		denied(a, domain_admin_a, global)
	}
}

test_fed_read_project_scope_denied if {
	every a in federation_reads {
		denied(a, project_member_a, dom_a)
		denied(a, project_admin_a, dom_a)
	}
}

test_fed_read_unscoped_denied if {
	every a in federation_reads {
		denied(a, unscoped_a, dom_a)
	}
}

test_idp_list_unfiltered_only_system_reader if {
	allowed("identity_provider:list", system_reader, global)
	denied("identity_provider:list", domain_admin_a, global)
	"system reader required to list identity providers of all domains; filter by your domain" in reasons_of("identity_provider:list", domain_admin_a, global)
}

test_idp_list_filtered_by_own_domain if {
	allowed("identity_provider:list", domain_reader_a, dom_a)
	denied("identity_provider:list", domain_reader_a, {"domain_id": "dom-b"})
	"reader of the requested domain or system reader required" in reasons_of("identity_provider:list", domain_reader_a, {"domain_id": "dom-b"})
}

test_fed_read_reasons if {
	"reader of the mapping's domain or system reader required" in reasons_of("mapping:get", domain_admin_b, dom_a)
	"system reader required for a global identity provider" in reasons_of("identity_provider:get", domain_admin_a, global)
}

test_fed_every_denial_has_a_reason if {
	every a in federation_all {
		count(reasons_of(a, project_member_a, dom_a)) > 0
		count(reasons_of(a, project_member_a, global)) > 0
	}
}
