package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/loginclient"
)

const restrictUsage = `usage: keystone-ng restrict [--os-auth-url URL] [--token-file F] [--role R ...] [--access-rule SERVICE:METHOD:/PATH ...] [--expires-in DURATION]

Exchanges a Keystone token for a restricted one (RFC 8693 token exchange at
keystone-ng's /v4/oauth2/token): only the roles named (default: all of the
token's), only the API calls the access rules allow, for at most the given
time. Prints shell exports for the openstack client, as login does:

  eval "$(keystone-ng restrict --role reader --access-rule compute:GET:/v2.1/servers --expires-in 15m)"

The token to restrict is $OS_TOKEN, or the content of --token-file ("-"
reads stdin); never a command-line argument, which other users of the
machine could read. See docs/restricted-tokens.md.

options:
`

// restrict is the client-side subcommand that makes a restricted token;
// it reads no keystone.conf.
func restrict(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restrict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, restrictUsage)
		fs.PrintDefaults()
	}
	authURL := fs.String("os-auth-url", os.Getenv("OS_AUTH_URL"), "Keystone URL, e.g. https://cloud.example.com/identity/v3 (default $OS_AUTH_URL)")
	tokenFile := fs.String("token-file", "", "read the token to restrict from this file (- for stdin; default $OS_TOKEN)")
	var roles, rules multiFlag
	fs.Var(&roles, "role", "a role to keep, by name or id (repeatable; default: all of the token's)")
	fs.Var(&rules, "access-rule", "an API call the token may make, SERVICE:METHOD:/PATH with Keystone's * and ** wildcards (repeatable)")
	expiresIn := fs.Duration("expires-in", 0, "lifetime, e.g. 15m (default: as long as the token it comes from, within [token] expiration)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	tokenOnly := fs.Bool("print-token-only", false, "print only the token id, not exports")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	subject, problems := restrictSubject(*tokenFile, stdin)
	if *authURL == "" {
		problems = append(problems, "--os-auth-url (or OS_AUTH_URL) is required")
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q (the token comes from $OS_TOKEN or --token-file)", fs.Arg(0)))
	}
	if *expiresIn < 0 || *expiresIn > 0 && *expiresIn < time.Second {
		problems = append(problems, "--expires-in must be at least 1s")
	}
	r := &loginclient.Restriction{Subject: subject, Roles: roles, AccessRules: rules, Lifetime: *expiresIn}
	if len(problems) == 0 {
		if _, err := loginclient.ExchangeForm(r); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "keystone-ng restrict: %s\n", strings.Join(problems, "; "))
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &loginclient.Client{AuthURL: *authURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
	tok, err := c.Exchange(ctx, r)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng restrict: %v\n", err)
		return 1
	}
	if *tokenOnly {
		fmt.Fprintln(stdout, tok.ID)
		return 0
	}
	fmt.Fprint(stdout, loginclient.Exports(*authURL, tok))
	return 0
}

// restrictSubject reads the token to restrict: the file (or stdin for
// "-"), else $OS_TOKEN.
func restrictSubject(file string, stdin io.Reader) (string, []string) {
	if file == "" {
		if t := strings.TrimSpace(os.Getenv("OS_TOKEN")); t != "" {
			return t, nil
		}
		return "", []string{"no token to restrict: set OS_TOKEN or give --token-file"}
	}
	b, err := readInput(file, stdin)
	if err != nil {
		return "", []string{err.Error()}
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", []string{"--token-file holds no token"}
	}
	return t, nil
}
