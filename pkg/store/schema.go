package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/uptrace/bun"
)

// Schema is what a Python Keystone database holds, as far as keystone-ng's
// reads depend on it: the tables and columns that appeared over the
// releases, and the migration versions that tell which release wrote it
// (docs/compatibility.md §2). The reads adapt to the tables and columns,
// never to a list of releases, so a release between or after the recorded
// ones works as long as its schema is one of these shapes.
type Schema struct {
	// Alembic holds the alembic_version heads (Zed, 22.0, and later).
	Alembic []string
	// Contract is sqlalchemy-migrate's keystone_contract version (the
	// releases before Zed; Rocky to Yoga had expand, data-migrate and
	// contract repositories at the same number). Zero when absent.
	Contract int

	// ExpiringMemberships: expiring_user_group_membership exists (Ussuri,
	// 17.0); before it a user's groups are user_group_membership alone.
	ExpiringMemberships bool
	// IdPAuthorizationTTL: identity_provider.authorization_ttl exists
	// (Ussuri).
	IdPAuthorizationTTL bool
	// AccessRules: access_rule and application_credential_access_rule
	// exist (Train, 16.0); before them no credential has access rules.
	AccessRules bool
	// RoleOptions: role_option exists (Stein, 15.0).
	RoleOptions bool
	// RoleDescription: role.description exists (Stein).
	RoleDescription bool
	// TrustRedelegation: trust.redelegated_trust_id and
	// redelegation_count exist (Stein).
	TrustRedelegation bool
}

// NewestSchema is the schema of every release from Ussuri on, which the
// reader assumes until told otherwise (UseSchema).
var NewestSchema = Schema{ExpiringMemberships: true, IdPAuthorizationTTL: true, AccessRules: true,
	RoleOptions: true, RoleDescription: true, TrustRedelegation: true}

// oldestContract is Queens' (13.0) last keystone_contract version, the
// oldest schema keystone-ng is tested against; older databases are
// refused.
const oldestContract = 44

// schemaProbes are the tables and columns whose presence DetectSchema
// records: a SELECT of the column from the table that matches no row.
var schemaProbes = []struct {
	table, column string
	flag          func(*Schema) *bool
}{
	{"expiring_user_group_membership", "last_verified", func(s *Schema) *bool { return &s.ExpiringMemberships }},
	{"identity_provider", "authorization_ttl", func(s *Schema) *bool { return &s.IdPAuthorizationTTL }},
	{"application_credential_access_rule", "access_rule_id", func(s *Schema) *bool { return &s.AccessRules }},
	{"role_option", "option_value", func(s *Schema) *bool { return &s.RoleOptions }},
	{"role", "description", func(s *Schema) *bool { return &s.RoleDescription }},
	{"trust", "redelegation_count", func(s *Schema) *bool { return &s.TrustRedelegation }},
}

// DetectSchema reads the migration versions and probes the optional tables
// and columns. It refuses a database older than Queens, or one whose
// version it cannot read at all.
func DetectSchema(ctx context.Context, db *bun.DB) (Schema, error) {
	var s Schema
	for _, p := range schemaProbes {
		rows, err := db.QueryContext(ctx, "SELECT "+p.column+" FROM "+quoteIdent(db, p.table)+" WHERE 1 = 0")
		if err == nil {
			*p.flag(&s) = true
			rows.Close()
		}
	}
	heads, alembicErr := PythonSchemaHeads(ctx, db)
	if alembicErr == nil && len(heads) > 0 {
		s.Alembic = heads
		return s, nil
	}
	contract, migrateErr := migrateContract(ctx, db)
	switch {
	case migrateErr != nil:
		return s, fmt.Errorf("cannot tell which Keystone release wrote this database: no alembic_version (%v) and no migrate_version (%v)", alembicErr, migrateErr)
	case contract < oldestContract:
		return s, fmt.Errorf("the database was written by a Keystone older than Queens (13.0) (sqlalchemy-migrate contract version %d); keystone-ng supports Queens and later", contract)
	}
	s.Contract = contract
	return s, nil
}

// migrateContract reads the keystone_contract version of
// sqlalchemy-migrate's migrate_version table (the releases before Zed).
func migrateContract(ctx context.Context, db *bun.DB) (int, error) {
	rows, err := db.QueryContext(ctx, "SELECT repository_id, version FROM migrate_version")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	versions := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return 0, err
		}
		versions[id] = v
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	v, ok := versions["keystone_contract"]
	if !ok {
		return 0, fmt.Errorf("migrate_version has no keystone_contract row (a Keystone older than Newton)")
	}
	return v, nil
}

// contractReleases are the keystone_contract versions of the releases
// recorded in pkg/releases/testdata; a version between two of them is
// named by its neighbours.
var contractReleases = []struct {
	version int
	name    string
}{
	{44, "Queens (13)"},
	{52, "Rocky (14)"},
	{71, "Train (16)"},
	{78, "Ussuri (17)"},
	{79, "Victoria (18) to Yoga (21)"},
}

// alembicReleases names the expand heads of the alembic releases (the
// expand branch moves with every release that changes the schema).
var alembicReleases = map[string]string{
	"29e87d24a316": "Zed (22) or 2023.1 (23)",
	"11c3b243b4cb": "2023.2 (24)",
	"47147121":     "2024.1 (25) to 2025.2 (28)",
	"742c857f1dfb": "2026.1 (29)",
}

// Release names the Keystone release that wrote the schema, from its
// migration versions, for `keystone-ng check` and the start-up log.
func (s Schema) Release() string {
	if len(s.Alembic) > 0 {
		heads := append([]string(nil), s.Alembic...)
		sort.Strings(heads)
		for _, h := range heads {
			if name, ok := alembicReleases[h]; ok {
				return name + " (alembic " + strings.Join(heads, ", ") + ")"
			}
		}
		return "Zed (22) or later, an alembic revision keystone-ng has not been tested with (alembic " + strings.Join(heads, ", ") + ")"
	}
	v := s.Contract
	prev := ""
	for _, r := range contractReleases {
		switch {
		case v == r.version:
			return fmt.Sprintf("%s (sqlalchemy-migrate contract %d)", r.name, v)
		case v < r.version && prev != "":
			return fmt.Sprintf("between %s and %s (sqlalchemy-migrate contract %d)", prev, r.name, v)
		}
		prev = r.name
	}
	return fmt.Sprintf("after %s, before Zed (sqlalchemy-migrate contract %d)", prev, v)
}

// LegacyErrorBodies reports whether the release renders its error bodies
// the way Keystone did before its API moved to Flask in Stein (15.0):
// json.dumps' spacing, keys in the order code, title, message, and no
// trailing newline. Rocky's last contract version is 52.
func (s Schema) LegacyErrorBodies() bool {
	return len(s.Alembic) == 0 && s.Contract > 0 && s.Contract <= 52
}

// RendersWithDataHelper reports whether the release renders validated
// tokens with V3TokenDataHelper, as Queens (13.0) did; Rocky moved to
// render_token.py.
func (s Schema) RendersWithDataHelper() bool {
	return len(s.Alembic) == 0 && s.Contract > 0 && s.Contract <= oldestContract
}

// Missing lists, for `keystone-ng check`, what this schema lacks that the
// newest has, and what that means.
func (s Schema) Missing() []string {
	var out []string
	if !s.ExpiringMemberships {
		out = append(out, "no expiring group memberships (Ussuri): a user's groups are its user_group_membership rows; /v4 federated logins are off")
	}
	if !s.AccessRules {
		out = append(out, "no application credential access rules (Train)")
	}
	if !s.RoleOptions || !s.RoleDescription {
		out = append(out, "no role options or descriptions (Stein)")
	}
	if !s.TrustRedelegation {
		out = append(out, "no trust redelegation columns (Stein): trusts are never redelegated")
	}
	return out
}
