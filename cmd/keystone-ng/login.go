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

const loginUsage = `usage: keystone-ng login --os-auth-url URL --idp ID [options]
       keystone-ng login --os-auth-url URL --service-account ID (--key-file F | --secret-file F) [--project ID | --domain ID]

Obtains a Keystone token from keystone-ng's federation endpoints and prints
shell exports for the openstack client (eval "$(keystone-ng login ...)").

modes (default: browser login with a loopback redirect):
  --device              device authorization grant: approve on another device
  --jwt-file FILE       workload login with a JWT (GitHub Actions, GitLab CI,
                        Kubernetes service-account token); "-" reads stdin
  --service-account ID  a keystone-ng service account's login (OAuth 2.0 client
                        credentials): --key-file signs an assertion with its
                        private key, --secret-file sends its client secret;
                        --project and --domain then take ids

options:
`

// login is the client-side subcommand; it reads no keystone.conf.
func login(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, loginUsage)
		fs.PrintDefaults()
	}
	authURL := fs.String("os-auth-url", os.Getenv("OS_AUTH_URL"), "Keystone URL, e.g. https://cloud.example.com/identity/v3 (default $OS_AUTH_URL)")
	idp := fs.String("idp", "", "identity provider id (required)")
	project := fs.String("project", "", "scope the token to this project (name, or id with --project-domain unset)")
	projectDomain := fs.String("project-domain", "", "domain name of --project")
	domain := fs.String("domain", "", "scope the token to this domain (name)")
	system := fs.Bool("system", false, "scope the token to the system")
	device := fs.Bool("device", false, "use the device authorization grant")
	jwtFile := fs.String("jwt-file", "", "log in with the JWT in this file (- for stdin)")
	mapping := fs.String("mapping", "", "mapping to use for --jwt-file (default: the identity provider's)")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address for the browser redirect")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	tokenOnly := fs.Bool("print-token-only", false, "print only the token id, not exports")
	account := fs.String("service-account", "", "log in as this service account (id)")
	keyFile := fs.String("key-file", "", "the service account's private key (PEM); - for stdin")
	secretFile := fs.String("secret-file", "", "the service account's client secret; - for stdin")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problems []string
	if *authURL == "" {
		problems = append(problems, "--os-auth-url (or OS_AUTH_URL) is required")
	}
	problems = append(problems, serviceAccountProblems(*account, *idp, *keyFile, *secretFile, *jwtFile, *device, *projectDomain, *system)...)
	if *idp == "" && *account == "" {
		problems = append(problems, "--idp is required")
	}
	if *device && *jwtFile != "" {
		problems = append(problems, "--device and --jwt-file exclude each other")
	}
	n := 0
	for _, set := range []bool{*project != "", *domain != "", *system} {
		if set {
			n++
		}
	}
	if n > 1 {
		problems = append(problems, "give at most one of --project, --domain, --system")
	}
	if *projectDomain != "" && *project == "" {
		problems = append(problems, "--project-domain needs --project")
	}
	if *jwtFile != "" && n > 0 {
		problems = append(problems, "the scope of a JWT login comes from its mapping; drop --project/--domain/--system")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "keystone-ng login: %s\n", strings.Join(problems, "; "))
		return 2
	}
	var scope any
	switch {
	case *project != "" && *projectDomain != "":
		scope = map[string]any{"project": map[string]any{"name": *project, "domain": map[string]any{"name": *projectDomain}}}
	case *project != "":
		scope = map[string]any{"project": map[string]any{"id": *project}}
	case *domain != "":
		scope = map[string]any{"domain": map[string]any{"name": *domain}}
	case *system:
		scope = map[string]any{"system": map[string]any{"all": true}}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &loginclient.Client{AuthURL: *authURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
	var (
		tok *loginclient.Token
		err error
	)
	switch {
	case *account != "":
		tok, err = serviceAccountLogin(ctx, c, *account, *keyFile, *secretFile, *project, *domain)
	case *jwtFile != "":
		var b []byte
		if b, err = readInput(*jwtFile, os.Stdin); err != nil {
			fmt.Fprintf(stderr, "keystone-ng login: %v\n", err)
			return 1
		}
		tok, err = c.JWT(ctx, *idp, string(b), *mapping)
	case *device:
		tok, err = c.Device(ctx, *idp, scope, func(d loginclient.DeviceStart) {
			if d.VerificationURIComplete != "" {
				fmt.Fprintf(stderr, "Open %s\n(or go to %s and enter the code %s)\n", d.VerificationURIComplete, d.VerificationURI, d.UserCode)
			} else {
				fmt.Fprintf(stderr, "Go to %s and enter the code %s\n", d.VerificationURI, d.UserCode)
			}
			fmt.Fprintln(stderr, "Waiting for approval...")
		})
	default:
		tok, err = c.Loopback(ctx, *idp, scope, *listen, func(u string) {
			fmt.Fprintf(stderr, "Open this URL in a browser to sign in:\n\n  %s\n\nWaiting for the identity provider to redirect back...\n", u)
		})
	}
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng login: %v\n", err)
		return 1
	}
	if *tokenOnly {
		fmt.Fprintln(stdout, tok.ID)
		return 0
	}
	fmt.Fprint(stdout, loginclient.Exports(*authURL, tok))
	return 0
}

// serviceAccountProblems lists what is wrong with the flags of a service
// account login (--service-account), or of any other login that names its
// key or secret files.
func serviceAccountProblems(account, idp, keyFile, secretFile, jwtFile string, device bool, projectDomain string, system bool) []string {
	var p []string
	if account == "" {
		if keyFile != "" || secretFile != "" {
			p = append(p, "--key-file and --secret-file need --service-account")
		}
		return p
	}
	if idp != "" || jwtFile != "" || device {
		p = append(p, "--service-account excludes --idp, --jwt-file and --device")
	}
	if (keyFile == "") == (secretFile == "") {
		p = append(p, "--service-account needs one of --key-file and --secret-file")
	}
	if projectDomain != "" || system {
		p = append(p, "a service account's scope is --project ID or --domain ID (no --project-domain, no --system)")
	}
	return p
}

// serviceAccountLogin reads the key or secret file and logs in.
func serviceAccountLogin(ctx context.Context, c *loginclient.Client, account, keyFile, secretFile, project, domain string) (*loginclient.Token, error) {
	read := func(f string) ([]byte, error) { return readInput(f, os.Stdin) }
	l := &loginclient.ServiceAccountLogin{AccountID: account}
	switch {
	case project != "":
		l.Scope = "project:" + project
	case domain != "":
		l.Scope = "domain:" + domain
	}
	if keyFile != "" {
		b, err := read(keyFile)
		if err != nil {
			return nil, err
		}
		if l.Key, err = loginclient.ParsePrivateKey(b); err != nil {
			return nil, err
		}
	} else {
		b, err := read(secretFile)
		if err != nil {
			return nil, err
		}
		if l.Secret = strings.TrimSpace(string(b)); l.Secret == "" {
			return nil, errors.New("the secret file is empty")
		}
	}
	return c.ServiceAccount(ctx, l)
}

// readInput reads a credential the client subcommands take from a file
// (a JWT, a private key, a secret, a token): the file, or stdin for "-"
// (at most 64 KiB).
func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(stdin, 64<<10))
	}
	return os.ReadFile(file)
}
