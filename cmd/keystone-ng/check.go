package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/keystone-ng/keystone-ng/pkg/authz"
	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// check prints the effective configuration (secrets hidden) and every
// problem with the configuration, the database and the key repository. It
// exits non-zero if there is any.
func check(ctx context.Context, o *cliOptions, stdout, stderr io.Writer) int {
	cfg, cfgErr := loadConfig(o)
	fmt.Fprintf(stdout, "configuration files: %v\nconfiguration dirs: %v\n\n", cfg.Files, cfg.Dirs)
	printRedacted(stdout, cfg)
	var problems []string
	if cfgErr != nil {
		var p *config.Problems
		if errors.As(cfgErr, &p) {
			problems = append(problems, p.List...)
		} else {
			problems = append(problems, cfgErr.Error())
		}
	}
	if cfgErr == nil {
		a, err := assemble(ctx, cfg, newLogger(cfg, io.Discard))
		if err != nil {
			problems = append(problems, splitJoined(err)...)
		} else {
			fmt.Fprintf(stdout, "\n%sdatabase: reachable, Python Keystone schema present\n", a.keys.describe())
			printSchema(stdout, a.reader.Schema())
			a.checkIdentity(stdout)
			problems = append(problems, a.checkV4(ctx, stdout)...)
			a.close()
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "\nOK: no problems found")
		return 0
	}
	fmt.Fprintf(stderr, "\n%d problem(s):\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(stderr, "  - %s\n", p)
	}
	return 1
}

func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func printRedacted(w io.Writer, cfg *config.Config) {
	red := cfg.Redacted()
	sections := make([]string, 0, len(red))
	for s := range red {
		sections = append(sections, s)
	}
	sort.Strings(sections)
	for _, s := range sections {
		fmt.Fprintf(w, "[%s]\n", s)
		keys := make([]string, 0, len(red[s]))
		for k := range red[s] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s = %s\n", k, red[s][k])
		}
	}
}

// checkV4 reports the state of the /v4 API: the Rego policy (shipped, and
// the operator's policy_dir) must compile, and keystone-ng's own tables
// must be migrated for /v4 to be on (pending migrations are a note, not a
// problem: validation works without them).
func (a *app) checkV4(ctx context.Context, stdout io.Writer) []string {
	var problems []string
	if _, err := authz.New(ctx, authz.Options{OverrideDir: a.cfg.KeystoneNG.PolicyDir, Log: a.log}); err != nil {
		problems = append(problems, fmt.Sprintf("[keystone_ng] policy_dir: %v", err))
	} else {
		fmt.Fprintln(stdout, "/v4 policy: compiles")
	}
	st, err := store.MigrationStatus(ctx, a.db, a.dialect)
	if err != nil {
		return append(problems, fmt.Sprintf("keystone-ng's own tables: %v", err))
	}
	var pending []string
	for _, m := range st {
		if m.Applied == nil {
			pending = append(pending, m.Name)
		}
	}
	if why := a.cfg.AuditBusUnsupported(); why != "" {
		fmt.Fprintf(stdout, "/v4: off, its audit events could not be published where Python publishes its own: %s (token validation is not affected)\n", why)
	}
	if len(pending) > 0 {
		fmt.Fprintf(stdout, "/v4: off until `keystone-ng db migrate` applies %v (token validation is not affected)\n", pending)
	} else {
		fmt.Fprintln(stdout, "/v4: keystone-ng's own tables are up to date")
	}
	return problems
}

// printSchema says which Keystone release wrote the database and what its
// schema lacks compared with the newest (docs/compatibility.md §2).
func printSchema(w io.Writer, s store.Schema) {
	fmt.Fprintf(w, "Keystone release (from the schema): %s\n", s.Release())
	for _, m := range s.Missing() {
		fmt.Fprintf(w, "  schema: %s\n", m)
	}
}
