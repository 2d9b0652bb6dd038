package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

// RootDomainID is the sentinel project row Python's initial migration
// inserts as the domain_id of every domain.
const RootDomainID = "<<keystone.domain.root>>"

// QuoteIdent quotes a table or column name for backend ("mysql",
// "postgres" or "sqlite"); user and group must always be quoted.
func QuoteIdent(backend, name string) string {
	return sqldialect.Dialect(backend).Quote(name)
}

// PythonTables returns the DDL of the Python Keystone tables keystone-ng
// reads or writes, as Keystone's alembic migrations create them on backend
// ("mysql", "postgres" or "sqlite"; see docs/python-compat.md §4): the
// initial revision 27e647c0fad4 plus the later ones that change
// these tables (trust's duplicate_trust_constraint, mapping.schema_version,
// project_endpoint_group.idx_project_id, the two 2026.1 revocation_event
// indexes). Column names, types, NULLability, defaults, primary keys,
// unique constraints, foreign keys and named indexes are Python's, so a
// test sees the same constraints, and on MySQL the same indexes (InnoDB
// adds one per foreign key, e.g. password.local_user_id), as a database
// made by keystone-manage db_sync. The last statement inserts the
// <<keystone.domain.root>> row the initial migration inserts.
//
// Tables Python has but keystone-ng never touches (policy, limits, domain
// config, credential, id_mapping, the legacy token table) are left out.
func PythonTables(backend string) []string {
	var (
		dt     = "DATETIME"
		serial = "INTEGER NOT NULL"
		// assignment.type is sql.Enum(name='type'): a native ENUM on
		// MySQL, a named enum type on PostgreSQL, VARCHAR elsewhere.
		assignmentType = "VARCHAR(12)"
		suffix         string
		pre            []string
	)
	switch backend {
	case "mysql":
		serial = "INTEGER NOT NULL AUTO_INCREMENT"
		assignmentType = "ENUM('UserProject','GroupProject','UserDomain','GroupDomain')"
		// mysql_engine='InnoDB', mysql_charset='utf8' (and the migration
		// sets the database default to utf8 for the few tables without).
		suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8"
	case "postgres":
		dt = "TIMESTAMP WITHOUT TIME ZONE"
		serial = "SERIAL NOT NULL"
		assignmentType = "type"
		pre = append(pre, `CREATE TYPE type AS ENUM ('UserProject', 'GroupProject', 'UserDomain', 'GroupDomain')`)
	case "sqlite":
	default:
		panic("storetest: unknown backend " + backend)
	}
	user, group := QuoteIdent(backend, "user"), QuoteIdent(backend, "group")

	table := func(name string, body ...string) string {
		return "CREATE TABLE " + name + " (\n\t" + strings.Join(body, ",\n\t") + "\n)" + suffix
	}
	index := func(name, tbl string, cols string) string {
		return "CREATE INDEX " + name + " ON " + tbl + " (" + cols + ")"
	}

	stmts := append(pre,
		// --- resource
		table("project",
			"id VARCHAR(64) NOT NULL",
			"name VARCHAR(64) NOT NULL",
			"extra TEXT",
			"description TEXT",
			"enabled BOOLEAN",
			"domain_id VARCHAR(64) NOT NULL",
			"parent_id VARCHAR(64)",
			"is_domain BOOLEAN NOT NULL DEFAULT FALSE",
			"PRIMARY KEY (id)",
			"CONSTRAINT ixu_project_name_domain_id UNIQUE (domain_id, name)",
			"CONSTRAINT project_domain_id_fkey FOREIGN KEY (domain_id) REFERENCES project (id)",
			"CONSTRAINT project_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES project (id)"),
		table("project_option",
			"project_id VARCHAR(64) NOT NULL",
			"option_id VARCHAR(4) NOT NULL",
			"option_value TEXT",
			"PRIMARY KEY (project_id, option_id)",
			"FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE CASCADE"),

		// --- identity
		table(user,
			"id VARCHAR(64) NOT NULL",
			"extra TEXT",
			"enabled BOOLEAN",
			"default_project_id VARCHAR(64)",
			"created_at "+dt,
			"last_active_at DATE",
			"domain_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (id)",
			"CONSTRAINT ixu_user_id_domain_id UNIQUE (id, domain_id)"),
		index("ix_default_project_id", user, "default_project_id"),
		table(group,
			"id VARCHAR(64) NOT NULL",
			"domain_id VARCHAR(64) NOT NULL",
			"name VARCHAR(64) NOT NULL",
			"description TEXT",
			"extra TEXT",
			"PRIMARY KEY (id)",
			"CONSTRAINT ixu_group_name_domain_id UNIQUE (domain_id, name)"),
		table("local_user",
			"id "+serial,
			"user_id VARCHAR(64) NOT NULL",
			"domain_id VARCHAR(64) NOT NULL",
			"name VARCHAR(255) NOT NULL",
			"failed_auth_count INTEGER",
			"failed_auth_at "+dt,
			"PRIMARY KEY (id)",
			"UNIQUE (user_id)",
			"UNIQUE (domain_id, name)",
			"CONSTRAINT local_user_user_id_fkey FOREIGN KEY (user_id, domain_id) REFERENCES "+user+" (id, domain_id) ON UPDATE CASCADE ON DELETE CASCADE"),
		table("password",
			"id "+serial,
			"local_user_id INTEGER NOT NULL",
			"expires_at "+dt,
			"self_service BOOLEAN NOT NULL DEFAULT FALSE",
			"password_hash VARCHAR(255)",
			"created_at_int BIGINT NOT NULL DEFAULT 0",
			"expires_at_int BIGINT",
			"created_at "+dt+" NOT NULL",
			"PRIMARY KEY (id)",
			"FOREIGN KEY (local_user_id) REFERENCES local_user (id) ON DELETE CASCADE"),
		table("nonlocal_user",
			"domain_id VARCHAR(64) NOT NULL",
			"name VARCHAR(255) NOT NULL",
			"user_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (domain_id, name)",
			"CONSTRAINT ixu_nonlocal_user_user_id UNIQUE (user_id)",
			"CONSTRAINT nonlocal_user_user_id_fkey FOREIGN KEY (user_id, domain_id) REFERENCES "+user+" (id, domain_id) ON UPDATE CASCADE ON DELETE CASCADE"),
		table("user_option",
			"user_id VARCHAR(64) NOT NULL",
			"option_id VARCHAR(4) NOT NULL",
			"option_value TEXT",
			"PRIMARY KEY (user_id, option_id)",
			"FOREIGN KEY (user_id) REFERENCES "+user+" (id) ON DELETE CASCADE"),
		table("user_group_membership",
			"user_id VARCHAR(64) NOT NULL",
			"group_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (user_id, group_id)",
			"CONSTRAINT fk_user_group_membership_user_id FOREIGN KEY (user_id) REFERENCES "+user+" (id)",
			"CONSTRAINT fk_user_group_membership_group_id FOREIGN KEY (group_id) REFERENCES "+group+" (id)"),
		// The index was named group_id by an old sqlalchemy-migrate script.
		index("group_id", "user_group_membership", "group_id"),

		// --- federation
		table("identity_provider",
			"id VARCHAR(64) NOT NULL",
			"enabled BOOLEAN NOT NULL",
			"description TEXT",
			"domain_id VARCHAR(64) NOT NULL",
			"authorization_ttl INTEGER",
			"PRIMARY KEY (id)"),
		table("idp_remote_ids",
			"idp_id VARCHAR(64)",
			"remote_id VARCHAR(255) NOT NULL",
			"PRIMARY KEY (remote_id)",
			"FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE"),
		table("mapping",
			"id VARCHAR(64) NOT NULL",
			"rules TEXT NOT NULL",
			"schema_version VARCHAR(5) NOT NULL DEFAULT '1.0'",
			"PRIMARY KEY (id)"),
		table("federation_protocol",
			"id VARCHAR(64) NOT NULL",
			"idp_id VARCHAR(64) NOT NULL",
			"mapping_id VARCHAR(64) NOT NULL",
			"remote_id_attribute VARCHAR(64)",
			"PRIMARY KEY (id, idp_id)",
			"FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE"),
		table("federated_user",
			"id "+serial,
			"user_id VARCHAR(64) NOT NULL",
			"idp_id VARCHAR(64) NOT NULL",
			"protocol_id VARCHAR(64) NOT NULL",
			"unique_id VARCHAR(255) NOT NULL",
			"display_name VARCHAR(255)",
			"PRIMARY KEY (id)",
			"UNIQUE (idp_id, protocol_id, unique_id)",
			"FOREIGN KEY (user_id) REFERENCES "+user+" (id) ON DELETE CASCADE",
			"FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE",
			"CONSTRAINT federated_user_protocol_id_fkey FOREIGN KEY (protocol_id, idp_id) REFERENCES federation_protocol (id, idp_id) ON DELETE CASCADE"),
		table("expiring_user_group_membership",
			"user_id VARCHAR(64) NOT NULL",
			"group_id VARCHAR(64) NOT NULL",
			"idp_id VARCHAR(64) NOT NULL",
			"last_verified "+dt+" NOT NULL",
			"PRIMARY KEY (user_id, group_id, idp_id)",
			"FOREIGN KEY (user_id) REFERENCES "+user+" (id)",
			"FOREIGN KEY (group_id) REFERENCES "+group+" (id)",
			"FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE"),
		table("service_provider",
			"auth_url VARCHAR(256) NOT NULL",
			"id VARCHAR(64) NOT NULL",
			"enabled BOOLEAN NOT NULL",
			"description TEXT",
			"sp_url VARCHAR(256) NOT NULL",
			"relay_state_prefix VARCHAR(256) NOT NULL",
			"PRIMARY KEY (id)"),

		// --- assignment and roles
		table("role",
			"id VARCHAR(64) NOT NULL",
			"name VARCHAR(255) NOT NULL",
			"extra TEXT",
			"domain_id VARCHAR(64) NOT NULL DEFAULT '<<null>>'",
			"description VARCHAR(255)",
			"PRIMARY KEY (id)",
			"CONSTRAINT ixu_role_name_domain_id UNIQUE (name, domain_id)"),
		table("role_option",
			"role_id VARCHAR(64) NOT NULL",
			"option_id VARCHAR(4) NOT NULL",
			"option_value TEXT",
			"PRIMARY KEY (role_id, option_id)",
			"FOREIGN KEY (role_id) REFERENCES role (id) ON DELETE CASCADE"),
		table("implied_role",
			"prior_role_id VARCHAR(64) NOT NULL",
			"implied_role_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (prior_role_id, implied_role_id)",
			"CONSTRAINT implied_role_prior_role_id_fkey FOREIGN KEY (prior_role_id) REFERENCES role (id) ON DELETE CASCADE",
			"CONSTRAINT implied_role_implied_role_id_fkey FOREIGN KEY (implied_role_id) REFERENCES role (id) ON DELETE CASCADE"),
		table("assignment", append([]string{
			"type " + assignmentType + " NOT NULL",
			"actor_id VARCHAR(64) NOT NULL",
			"target_id VARCHAR(64) NOT NULL",
			"role_id VARCHAR(64) NOT NULL",
			"inherited BOOLEAN NOT NULL",
			"PRIMARY KEY (type, actor_id, target_id, role_id, inherited)",
		}, sqliteOnly(backend,
			// Kept on SQLite only by the initial migration (073).
			"CONSTRAINT fk_assignment_role_id FOREIGN KEY (role_id) REFERENCES role (id)")...)...),
		index("ix_actor_id", "assignment", "actor_id"),
		table("system_assignment",
			"type VARCHAR(64) NOT NULL",
			"actor_id VARCHAR(64) NOT NULL",
			"target_id VARCHAR(64) NOT NULL",
			"role_id VARCHAR(64) NOT NULL",
			"inherited BOOLEAN NOT NULL",
			"PRIMARY KEY (type, actor_id, target_id, role_id, inherited)"),

		// --- revocation
		table("revocation_event",
			"id "+serial,
			"domain_id VARCHAR(64)",
			"project_id VARCHAR(64)",
			"user_id VARCHAR(64)",
			"role_id VARCHAR(64)",
			"trust_id VARCHAR(64)",
			"consumer_id VARCHAR(64)",
			"access_token_id VARCHAR(64)",
			"issued_before "+dt+" NOT NULL",
			"expires_at "+dt,
			"revoked_at "+dt+" NOT NULL",
			"audit_id VARCHAR(32)",
			"audit_chain_id VARCHAR(32)",
			"PRIMARY KEY (id)"),
		index("ix_revocation_event_new_revoked_at", "revocation_event", "revoked_at"),
		index("ix_revocation_event_issued_before", "revocation_event", "issued_before"),
		index("ix_revocation_event_project_id_issued_before", "revocation_event", "project_id, issued_before"),
		index("ix_revocation_event_user_id_issued_before", "revocation_event", "user_id, issued_before"),
		index("ix_revocation_event_audit_id_issued_before", "revocation_event", "audit_id, issued_before"),
		index("ix_revocation_event_project_id_user_id", "revocation_event", "project_id, user_id"),
		index("ix_revocation_event_composite", "revocation_event", "issued_before, user_id, project_id, audit_id"),

		// --- catalog
		table("region",
			"id VARCHAR(255) NOT NULL",
			"description VARCHAR(255) NOT NULL",
			"parent_region_id VARCHAR(255)",
			"extra TEXT",
			"PRIMARY KEY (id)"),
		table("service",
			"id VARCHAR(64) NOT NULL",
			"type VARCHAR(255)",
			"enabled BOOLEAN NOT NULL DEFAULT TRUE",
			"extra TEXT",
			"PRIMARY KEY (id)"),
		table("endpoint",
			"id VARCHAR(64) NOT NULL",
			"legacy_endpoint_id VARCHAR(64)",
			"interface VARCHAR(8) NOT NULL",
			"service_id VARCHAR(64) NOT NULL",
			"url TEXT NOT NULL",
			"extra TEXT",
			"enabled BOOLEAN NOT NULL DEFAULT TRUE",
			"region_id VARCHAR(255)",
			"PRIMARY KEY (id)",
			"CONSTRAINT endpoint_service_id_fkey FOREIGN KEY (service_id) REFERENCES service (id)",
			"CONSTRAINT fk_endpoint_region_id FOREIGN KEY (region_id) REFERENCES region (id)"),
		// The index was named service_id by an old sqlalchemy-migrate script.
		index("service_id", "endpoint", "service_id"),
		table("project_endpoint",
			"endpoint_id VARCHAR(64) NOT NULL",
			"project_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (endpoint_id, project_id)"),
		table("endpoint_group",
			"id VARCHAR(64) NOT NULL",
			"name VARCHAR(255) NOT NULL",
			"description TEXT",
			"filters TEXT NOT NULL",
			"PRIMARY KEY (id)"),
		table("project_endpoint_group",
			"endpoint_group_id VARCHAR(64) NOT NULL",
			"project_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (endpoint_group_id, project_id)",
			"FOREIGN KEY (endpoint_group_id) REFERENCES endpoint_group (id)"),
		index("idx_project_id", "project_endpoint_group", "project_id"),

		// --- trusts
		table("trust",
			"id VARCHAR(64) NOT NULL",
			"trustor_user_id VARCHAR(64) NOT NULL",
			"trustee_user_id VARCHAR(64) NOT NULL",
			"project_id VARCHAR(64)",
			"impersonation BOOLEAN NOT NULL",
			"deleted_at "+dt,
			"expires_at "+dt,
			"remaining_uses INTEGER",
			"extra TEXT",
			"expires_at_int BIGINT",
			"redelegated_trust_id VARCHAR(64)",
			"redelegation_count INTEGER",
			"PRIMARY KEY (id)",
			"CONSTRAINT duplicate_trust_constraint UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at)"),
		table("trust_role",
			"trust_id VARCHAR(64) NOT NULL",
			"role_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (trust_id, role_id)"),

		// --- application credentials
		table("application_credential",
			"internal_id "+serial,
			"id VARCHAR(64) NOT NULL",
			"name VARCHAR(255) NOT NULL",
			"secret_hash VARCHAR(255) NOT NULL",
			"description TEXT",
			"user_id VARCHAR(64) NOT NULL",
			"project_id VARCHAR(64)",
			"expires_at BIGINT",
			"system VARCHAR(64)",
			"unrestricted BOOLEAN",
			"PRIMARY KEY (internal_id)",
			"CONSTRAINT duplicate_app_cred_constraint UNIQUE (user_id, name)"),
		table("access_rule",
			"id "+serial,
			"service VARCHAR(64)",
			"path VARCHAR(128)",
			"method VARCHAR(16)",
			"external_id VARCHAR(64)",
			"user_id VARCHAR(64)",
			"PRIMARY KEY (id)",
			"CONSTRAINT duplicate_access_rule_for_user_constraint UNIQUE (user_id, service, path, method)"),
		index("user_id", "access_rule", "user_id"),
		index("external_id", "access_rule", "external_id"),
		table("application_credential_role",
			"application_credential_id INTEGER NOT NULL",
			"role_id VARCHAR(64) NOT NULL",
			"PRIMARY KEY (application_credential_id, role_id)",
			"FOREIGN KEY (application_credential_id) REFERENCES application_credential (internal_id) ON DELETE CASCADE"),
		table("application_credential_access_rule",
			"application_credential_id INTEGER NOT NULL",
			"access_rule_id INTEGER NOT NULL",
			"PRIMARY KEY (application_credential_id, access_rule_id)",
			"FOREIGN KEY (application_credential_id) REFERENCES application_credential (internal_id) ON DELETE CASCADE",
			"FOREIGN KEY (access_rule_id) REFERENCES access_rule (id) ON DELETE CASCADE"),

		// --- OAuth1
		table("consumer",
			"id VARCHAR(64) NOT NULL",
			"description VARCHAR(64)",
			"secret VARCHAR(64) NOT NULL",
			"extra TEXT NOT NULL",
			"PRIMARY KEY (id)"),
		table("request_token",
			"id VARCHAR(64) NOT NULL",
			"request_secret VARCHAR(64) NOT NULL",
			"verifier VARCHAR(64)",
			"authorizing_user_id VARCHAR(64)",
			"requested_project_id VARCHAR(64) NOT NULL",
			"role_ids TEXT",
			"consumer_id VARCHAR(64) NOT NULL",
			"expires_at VARCHAR(64)",
			"PRIMARY KEY (id)",
			"FOREIGN KEY (consumer_id) REFERENCES consumer (id)"),
		index("ix_request_token_consumer_id", "request_token", "consumer_id"),
		table("access_token",
			"id VARCHAR(64) NOT NULL",
			"access_secret VARCHAR(64) NOT NULL",
			"authorizing_user_id VARCHAR(64) NOT NULL",
			"project_id VARCHAR(64) NOT NULL",
			"role_ids TEXT NOT NULL",
			"consumer_id VARCHAR(64) NOT NULL",
			"expires_at VARCHAR(64)",
			"PRIMARY KEY (id)",
			"FOREIGN KEY (consumer_id) REFERENCES consumer (id)"),
		index("ix_access_token_authorizing_user_id", "access_token", "authorizing_user_id"),
		index("ix_access_token_consumer_id", "access_token", "consumer_id"),
	)
	if backend == "mysql" {
		// Left over from dropped foreign keys; the initial migration
		// creates them on MySQL only.
		stmts = append(stmts,
			index("domain_id", "identity_provider", "domain_id"),
			index("domain_id", user, "domain_id"))
	}
	return append(stmts,
		`INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain)
		VALUES ('`+RootDomainID+`', '`+RootDomainID+`', '{}', '', FALSE, '`+RootDomainID+`', NULL, TRUE)`)
}

func sqliteOnly(backend string, s ...string) []string {
	if backend == "sqlite" {
		return s
	}
	return nil
}

// CreatePythonTables runs PythonTables on b (storetest.Each shares its
// init statements between backends, so per-backend DDL runs here).
func CreatePythonTables(t testing.TB, b *Backend) {
	t.Helper()
	for _, s := range PythonTables(b.Name) {
		if _, err := b.DB.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: python tables: %v\n%s", b.Name, err, s)
		}
	}
}
