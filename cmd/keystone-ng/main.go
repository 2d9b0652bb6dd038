// Command keystone-ng runs beside an unmodified Python Keystone and serves
// token validation (GET/HEAD /v3/auth/tokens) from the shared database and
// Fernet key repository, and the /v4 API once its own tables are migrated
// (docs/design.md §1).
//
//	keystone-ng serve   --config-file F [--config-file G ...] [--config-dir D]
//	keystone-ng check   (same flags): print every configuration, database and key problem
//	keystone-ng db      status|migrate (same flags): keystone-ng's own tables
//	keystone-ng login   --os-auth-url URL --idp ID [--device | --jwt-file F]: obtain a token
//	keystone-ng version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: keystone-ng <command> [--config-file FILE ...] [--config-dir DIR ...]

commands:
  serve     serve GET/HEAD /v3/auth/tokens, /v4 (once db migrate has run), /healthz, /readyz, /metrics
  check     check the configuration, database and Fernet keys; print every problem
  db        db status | db migrate: keystone-ng's own tables (never Python's)
  login     obtain a token through an identity provider (client side; see login --help)
  restrict  exchange a token for a restricted one: fewer roles, access rules, shorter life (client side; see restrict --help)
  version   print the version
`

// multiFlag collects a repeated flag, as oslo.config's --config-file.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type cliOptions struct {
	files, dirs multiFlag
	args        []string
}

func parseFlags(name string, args []string, stderr io.Writer) (*cliOptions, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &cliOptions{}
	fs.Var(&o.files, "config-file", "keystone.conf (repeatable; later files override earlier ones)")
	fs.Var(&o.dirs, "config-dir", "directory of *.conf files applied after the files (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.args = fs.Args()
	if len(o.files) == 0 && len(o.dirs) == 0 {
		// oslo.config's defaults for the keystone project.
		for _, f := range []string{"/etc/keystone/keystone.conf"} {
			if _, err := os.Stat(f); err == nil {
				o.files = append(o.files, f)
			}
		}
		if st, err := os.Stat("/etc/keystone/keystone.conf.d"); err == nil && st.IsDir() {
			o.dirs = append(o.dirs, "/etc/keystone/keystone.conf.d")
		}
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "keystone-ng %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "login":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return login(ctx, rest, stdout, stderr)
	case "restrict":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return restrict(ctx, rest, os.Stdin, stdout, stderr)
	case "serve", "check", "db":
	default:
		fmt.Fprintf(stderr, "keystone-ng: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	// "db status --config-file F": the subcommand may come before the flags
	// (Go's flag parsing stops at the first non-flag argument).
	var sub []string
	if cmd == "db" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub, rest = rest[:1], rest[1:]
	}
	opts, err := parseFlags(cmd, rest, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opts.args = append(sub, opts.args...)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		return serve(ctx, opts, stderr)
	case "check":
		return check(ctx, opts, stdout, stderr)
	default:
		return dbCommand(ctx, opts, stdout, stderr)
	}
}
