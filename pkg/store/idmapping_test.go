package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// TestIdentityMappingReads: the id_mapping and domain configuration reads
// of LDAP domains on every backend, on tables shaped as Keystone's
// migrations make them ("group" and "option" are reserved words; values
// are JSON).
func TestIdentityMappingReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		ctx := context.Background()
		q := func(n string) string { return storetest.QuoteIdent(b.Name, n) }
		for _, s := range []string{
			`CREATE TABLE id_mapping (public_id VARCHAR(64) NOT NULL PRIMARY KEY, domain_id VARCHAR(64) NOT NULL,
				local_id VARCHAR(255) NOT NULL, entity_type VARCHAR(5) NOT NULL)`,
			`CREATE TABLE whitelisted_config (domain_id VARCHAR(64) NOT NULL, ` + q("group") + ` VARCHAR(255) NOT NULL,
				` + q("option") + ` VARCHAR(255) NOT NULL, value TEXT NOT NULL)`,
			`CREATE TABLE sensitive_config (domain_id VARCHAR(64) NOT NULL, ` + q("group") + ` VARCHAR(255) NOT NULL,
				` + q("option") + ` VARCHAR(255) NOT NULL, value TEXT NOT NULL)`,
			`INSERT INTO id_mapping VALUES ('pub-alice', 'd1', 'alice', 'user'), ('pub-devs', 'd1', 'devs', 'group'), ('pub-ops', 'd2', 'ops', 'group')`,
			`INSERT INTO whitelisted_config VALUES ('d1', 'identity', 'driver', '"ldap"'), ('d1', 'ldap', 'page_size', '5'),
				('d1', 'ldap', 'user_enabled_invert', 'true'), ('d1', 'ldap', 'user_attribute_ignore', '["enabled", "default_project_id"]')`,
			`INSERT INTO sensitive_config VALUES ('d1', 'ldap', 'password', '"s3cret"')`,
		} {
			if _, err := b.DB.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		r := store.NewReader(b.DB)
		m, ok, err := r.IDMapping(ctx, "pub-alice")
		if err != nil || !ok || m.DomainID != "d1" || m.LocalID != "alice" || m.EntityType != "user" {
			t.Errorf("IDMapping = %+v, %v, %v", m, ok, err)
		}
		if _, ok, err := r.IDMapping(ctx, "nope"); ok || err != nil {
			t.Errorf("IDMapping(nope) = %v, %v", ok, err)
		}
		pub, err := r.PublicIDs(ctx, "d1", "group", []string{"devs", "ops", "none"})
		if err != nil || !reflect.DeepEqual(pub, map[string]string{"devs": "pub-devs"}) {
			t.Errorf("PublicIDs = %v, %v", pub, err)
		}
		rows, err := r.DomainConfigs(ctx)
		want := map[string]map[string]map[string]string{"d1": {
			"identity": {"driver": "ldap"},
			"ldap":     {"page_size": "5", "user_enabled_invert": "true", "user_attribute_ignore": "enabled,default_project_id", "password": "s3cret"},
		}}
		if err != nil || !reflect.DeepEqual(rows, want) {
			t.Errorf("DomainConfigs = %v, %v", rows, err)
		}
	})
}
