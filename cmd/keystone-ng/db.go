package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// dbCommand runs "db status" or "db migrate" on keystone-ng's own tables.
func dbCommand(ctx context.Context, o *cliOptions, stdout, stderr io.Writer) int {
	if len(o.args) != 1 || (o.args[0] != "status" && o.args[0] != "migrate") {
		fmt.Fprintln(stderr, "usage: keystone-ng db status|migrate [--config-file FILE ...]")
		return 2
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: configuration problems:\n%v\n", err)
		return 1
	}
	target, err := store.ParseURL(cfg.Database.Connection)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: [database] connection: %v\n", err)
		return 1
	}
	db, err := store.Open(ctx, target, store.PoolOptions{MaxPoolSize: 2, ConnectionRecycleTime: time.Hour})
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := store.CheckSchema(ctx, db); err != nil {
		fmt.Fprintf(stderr, "keystone-ng: %v\n", err)
		return 1
	}
	schema, err := store.DetectSchema(ctx, db)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "database: %s\n", target.Redacted)
	printSchema(stdout, schema)
	if o.args[0] == "migrate" {
		applied, err := store.Migrate(ctx, db, target.Dialect)
		if err != nil {
			fmt.Fprintf(stderr, "keystone-ng: migrate: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "applied %d keystone-ng migration(s)\n", len(applied))
		for _, m := range applied {
			fmt.Fprintf(stdout, "  %s\n", m)
		}
	}
	st, err := store.MigrationStatus(ctx, db, target.Dialect)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: %v\n", err)
		return 1
	}
	for _, m := range st {
		state := "pending"
		if m.Applied != nil {
			state = "applied " + m.Applied.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "  %-40s %s\n", m.Name, state)
	}
	return 0
}
