// Package storetest gives storage tests a fresh database on every backend
// keystone-ng supports (MariaDB/MySQL, PostgreSQL, SQLite), with
// keystone-ng's own migrations applied, so one conformance suite runs
// against all three (docs/testing.md).
//
// MariaDB and PostgreSQL are the local servers of the test machine
// (KSNG_TEST_MYSQL, default root@127.0.0.1:3306; KSNG_TEST_POSTGRES,
// default postgres@127.0.0.1:5432). A backend that cannot be reached is
// skipped, except under CI=true where it fails the test.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/uptrace/bun"
)

// Backend is one fresh, migrated database.
type Backend struct {
	Name    string // "mysql", "postgres" or "sqlite"
	Dialect store.Dialect
	DB      *bun.DB
	// URL is the SQLAlchemy URL of the database (as keystone.conf holds it).
	URL string
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func randName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ksng_t_" + hex.EncodeToString(b[:])
}

func unavailable(t *testing.T, name string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s backend unavailable under CI: %v", name, err)
	}
	t.Skipf("%s backend unavailable: %v", name, err)
}

// Each runs f once per backend as a subtest with a fresh database. With
// init non-empty, those statements (for example a minimal stand-in for a
// Python table the test needs) run before keystone-ng's migrations.
func Each(t *testing.T, f func(t *testing.T, b *Backend), init ...string) {
	for _, name := range []string{"mysql", "postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			b := Open(t, name, init...)
			f(t, b)
		})
	}
}

// Open creates a fresh database on one backend and migrates it; it is
// dropped when the test ends.
func Open(t *testing.T, name string, init ...string) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := randName()
	var (
		adminURL, url string
		drop          func(admin *bun.DB) error
	)
	switch name {
	case "mysql":
		hostUser := env("KSNG_TEST_MYSQL", "root@127.0.0.1:3306")
		adminURL = "mysql+pymysql://" + hostUser + "/test"
		url = "mysql+pymysql://" + hostUser + "/" + db + "?charset=utf8mb4"
		drop = func(a *bun.DB) error {
			_, err := a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+db)
			return err
		}
	case "postgres":
		hostUser := env("KSNG_TEST_POSTGRES", "postgres@127.0.0.1:5432")
		adminURL = "postgresql://" + hostUser + "/postgres?sslmode=disable"
		url = "postgresql://" + hostUser + "/" + db + "?sslmode=disable"
		drop = func(a *bun.DB) error {
			_, err := a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			return err
		}
	case "sqlite":
		path := filepath.Join(t.TempDir(), db+".db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		url = "sqlite:///" + path
	default:
		t.Fatalf("unknown backend %q", name)
	}
	if adminURL != "" {
		at, err := store.ParseURL(adminURL)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := store.Open(ctx, at, store.PoolOptions{MaxPoolSize: 1})
		if err != nil {
			unavailable(t, name, err)
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
			admin.Close()
			t.Fatalf("%s: create database: %v", name, err)
		}
		t.Cleanup(func() {
			if err := drop(admin); err != nil {
				t.Logf("%s: drop database %s: %v", name, db, err)
			}
			admin.Close()
		})
	}
	target, err := store.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := store.Open(ctx, target, store.PoolOptions{MaxPoolSize: 4})
	if err != nil {
		t.Fatalf("%s: open %s: %v", name, target.Redacted, err)
	}
	t.Cleanup(func() { bdb.Close() })
	for _, s := range init {
		if _, err := bdb.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: init %q: %v", name, s, err)
		}
	}
	if _, err := store.Migrate(ctx, bdb, target.Dialect); err != nil {
		t.Fatalf("%s: migrate: %v", name, err)
	}
	return &Backend{Name: name, Dialect: target.Dialect, DB: bdb, URL: url}
}

// Count returns SELECT COUNT(*) FROM table, for "nothing was written"
// assertions.
func Count(t *testing.T, db *bun.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
