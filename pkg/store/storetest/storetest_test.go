package storetest_test

import (
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

func TestEachBackendMigrates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		if n := storetest.Count(t, b.DB, "ng_schema_migrations"); n < 1 {
			t.Fatalf("%s: %d migrations recorded", b.Name, n)
		}
	})
}
