// Package authz authorizes /v4 API calls with an embedded Open Policy Agent engine.
//
// The shipped policy is Rego (package keystone_ng.authz) embedded from rego/. An operator
// may override or extend it with a directory of .rego files (Options.OverrideDir); see
// docs/v4-policy.md.
package authz

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Caller is who makes the request, from their validated Keystone token.
type Caller struct {
	UserID        string   `json:"user_id"`
	UserDomainID  string   `json:"user_domain_id"`
	Roles         []string `json:"roles"`           // role NAMES, already expanded with implied roles
	ScopeType     string   `json:"scope_type"`      // "system", "domain", "project" or "unscoped"
	ScopeID       string   `json:"scope_id"`        // project id / domain id / "all" for system; "" for unscoped
	ScopeDomainID string   `json:"scope_domain_id"` // domain of the project for project scope; the domain id for domain scope

	// How the token was obtained: a policy refuses delegated tokens for
	// actions that create a lasting login (a passkey), since a delegate
	// (an application credential, an OAuth1 consumer, a trustee, a CI job)
	// must not turn its borrowed token into the owner's permanent access.
	Methods                 []string `json:"methods"`                   // the token's authentication methods
	ApplicationCredentialID string   `json:"application_credential_id"` // "" unless an application credential token
	OAuth1AccessTokenID     string   `json:"oauth1_access_token_id"`    // "" unless an OAuth1 token
	TrustID                 string   `json:"trust_id"`                  // "" unless a trust token
	IdentityProviderID      string   `json:"identity_provider_id"`      // "" unless a federated token
	// Workload marks a token minted by a workload (JWT) login, or a
	// token rescoped from one.
	Workload bool `json:"workload"`
	// ServiceAccount marks a service account's token
	// (docs/service-accounts.md): automation's access, which must not
	// mint further lasting credentials.
	ServiceAccount bool `json:"service_account"`
	// IssuedAt is the token's issue time (RFC 3339) and TokenAgeSeconds
	// its age when the request arrived (re-authentication windows).
	IssuedAt        string `json:"issued_at"`
	TokenAgeSeconds int64  `json:"token_age_seconds"`
}

// Settings are operator settings the policy reads (input.settings).
type Settings struct {
	// ReauthenticationWindowSeconds is [webauthn] reauthentication_window.
	ReauthenticationWindowSeconds int64 `json:"reauthentication_window_seconds"`
}

// Input is the OPA input document: {"action":..., "caller":{...}, "target":{...}, "settings":{...}}.
type Input struct {
	Action   string         `json:"action"`
	Caller   Caller         `json:"caller"`
	Target   map[string]any `json:"target"`
	Settings Settings       `json:"settings"`
}

// Decision is the outcome of an authorization.
type Decision struct {
	Allow bool
	// Reason is a short human message when denied (from the Rego `reasons` set, may be empty).
	Reason string
}

// Authorizer decides whether a /v4 API call is allowed.
type Authorizer interface {
	Authorize(ctx context.Context, in Input) (Decision, error)
}

var _ Authorizer = (*Engine)(nil)

// Options configures New.
type Options struct {
	// OverrideDir: operator's directory of .rego files ("" = shipped policy only). A file there with the same base
	// name as a shipped file replaces it; other files are added. *_test.rego files are ignored at runtime.
	OverrideDir string
	Log         *slog.Logger
}

const (
	allowRef   = "data.keystone_ng.authz.allow"
	reasonsRef = "data.keystone_ng.authz.reasons"
	// One query for both, so that a denial does not evaluate the rules twice. The
	// comprehension keeps the query defined when the policy has no reasons rule and skips
	// the reasons entirely when the request is allowed.
	decisionQuery = "allow := " + allowRef + "; reasons := [r | allow == false; some r in " + reasonsRef + "]"
	regoDir       = "rego"
)

//go:embed rego/*.rego
var shipped embed.FS

// Modules returns the shipped Rego sources keyed by base file name (e.g. "common.rego"),
// including the *_test.rego unit tests, so that they can be copied out and run with `opa test`.
func Modules() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(shipped, regoDir)
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	for _, e := range entries {
		b, err := fs.ReadFile(shipped, path.Join(regoDir, e.Name()))
		if err != nil {
			panic(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// policy is one compiled, immutable generation of the policy.
type policy struct {
	query rego.PreparedEvalQuery
	files []string // source names, for logging
}

// Engine evaluates the policy. It is safe for concurrent use; Reload swaps the compiled
// policy atomically, so in-flight evaluations finish on the policy they started with.
type Engine struct {
	dir string
	log *slog.Logger

	cur atomic.Pointer[policy]

	mu sync.Mutex // serialises Reload
	fp string     // fingerprint of dir at the last successful load
}

// New compiles the shipped policy (plus OverrideDir, if set) and prepares the queries.
// A Rego error is reported with the file name and line.
func New(ctx context.Context, o Options) (*Engine, error) {
	e := &Engine{dir: o.OverrideDir, log: o.Log}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload re-reads OverrideDir and recompiles. On error the previous policy stays in force
// and the error is returned.
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	fp, err := fingerprint(e.dir)
	if err != nil {
		return err
	}
	sources, err := loadSources(e.dir)
	if err != nil {
		return err
	}
	p, err := compile(ctx, sources)
	if err != nil {
		return err
	}
	e.cur.Store(p)
	e.fp = fp
	e.log.InfoContext(ctx, "v4 policy loaded", "policy_dir", e.dir, "files", p.files)
	return nil
}

// Watch polls OverrideDir every interval (default 5s if interval <= 0) and calls Reload when
// the set of .rego files, their sizes or modification times change. It logs the outcome of
// every reload and returns when ctx is done. It returns at once if OverrideDir is empty.
// Run it in its own goroutine.
func (e *Engine) Watch(ctx context.Context, interval time.Duration) {
	if e.dir == "" {
		return
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	e.mu.Lock()
	last := e.fp
	e.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := fingerprint(e.dir)
		if err != nil {
			if last != "error:"+err.Error() {
				e.log.ErrorContext(ctx, "v4 policy directory unreadable; keeping current policy", "policy_dir", e.dir, "error", err)
			}
			last = "error:" + err.Error()
			continue
		}
		if fp == last {
			continue
		}
		// Remember what we tried even if it fails, so a broken file is reported once
		// and retried only when the directory changes again.
		last = fp
		if err := e.Reload(ctx); err != nil {
			e.log.ErrorContext(ctx, "v4 policy reload failed; keeping current policy", "policy_dir", e.dir, "error", err)
		}
	}
}

// Authorize evaluates the policy for in. Unknown actions are denied. An evaluation error
// is returned (with a deny decision); it never results in Allow.
func (e *Engine) Authorize(ctx context.Context, in Input) (Decision, error) {
	p := e.cur.Load()
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(inputValue(in)))
	if err != nil {
		return Decision{}, fmt.Errorf("authz: evaluating policy for %q: %w", in.Action, err)
	}
	if len(rs) == 0 {
		// allow is undefined: the policy lacks `default allow := false`. Deny.
		return Decision{}, nil
	}
	allow, ok := rs[0].Bindings["allow"].(bool)
	if !ok {
		return Decision{}, fmt.Errorf("authz: %s is %T, want boolean", allowRef, rs[0].Bindings["allow"])
	}
	if allow {
		return Decision{Allow: true}, nil
	}
	var msgs []string
	list, _ := rs[0].Bindings["reasons"].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok && s != "" {
			msgs = append(msgs, s)
		}
	}
	sort.Strings(msgs)
	msgs = slices.Compact(msgs)
	return Decision{Reason: strings.Join(msgs, "; ")}, nil
}

// inputValue builds the input document as an AST value directly, avoiding the JSON round
// trip rego.EvalInput would do for a struct.
func inputValue(in Input) ast.Value {
	roles := make([]*ast.Term, len(in.Caller.Roles))
	for i, r := range in.Caller.Roles {
		roles[i] = ast.StringTerm(r)
	}
	c := in.Caller
	caller := ast.NewObject(
		ast.Item(ast.StringTerm("user_id"), ast.StringTerm(c.UserID)),
		ast.Item(ast.StringTerm("user_domain_id"), ast.StringTerm(c.UserDomainID)),
		ast.Item(ast.StringTerm("roles"), ast.ArrayTerm(roles...)),
		ast.Item(ast.StringTerm("scope_type"), ast.StringTerm(c.ScopeType)),
		ast.Item(ast.StringTerm("scope_id"), ast.StringTerm(c.ScopeID)),
		ast.Item(ast.StringTerm("scope_domain_id"), ast.StringTerm(c.ScopeDomainID)),
		ast.Item(ast.StringTerm("methods"), ast.ArrayTerm(stringTerms(c.Methods)...)),
		ast.Item(ast.StringTerm("application_credential_id"), ast.StringTerm(c.ApplicationCredentialID)),
		ast.Item(ast.StringTerm("oauth1_access_token_id"), ast.StringTerm(c.OAuth1AccessTokenID)),
		ast.Item(ast.StringTerm("trust_id"), ast.StringTerm(c.TrustID)),
		ast.Item(ast.StringTerm("identity_provider_id"), ast.StringTerm(c.IdentityProviderID)),
		ast.Item(ast.StringTerm("workload"), ast.BooleanTerm(c.Workload)),
		ast.Item(ast.StringTerm("issued_at"), ast.StringTerm(c.IssuedAt)),
		ast.Item(ast.StringTerm("token_age_seconds"), ast.IntNumberTerm(int(c.TokenAgeSeconds))),
	)
	settings := ast.NewObject(
		ast.Item(ast.StringTerm("reauthentication_window_seconds"), ast.IntNumberTerm(int(in.Settings.ReauthenticationWindowSeconds))),
	)
	var target ast.Value = ast.NewObject()
	if in.Target != nil {
		if v, err := ast.InterfaceToValue(in.Target); err == nil {
			target = v
		} else {
			// Unconvertible values cannot match any rule; keep the document well formed.
			target = ast.NewObject()
		}
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("action"), ast.StringTerm(in.Action)),
		ast.Item(ast.StringTerm("caller"), ast.NewTerm(caller)),
		ast.Item(ast.StringTerm("target"), ast.NewTerm(target)),
		ast.Item(ast.StringTerm("settings"), ast.NewTerm(settings)),
	)
}

func stringTerms(l []string) []*ast.Term {
	out := make([]*ast.Term, len(l))
	for i, s := range l {
		out[i] = ast.StringTerm(s)
	}
	return out
}

// source is one Rego file: name is used in error messages.
type source struct {
	base string // base file name, the override key
	name string // "rego/common.rego" for shipped files, the full path for operator files
	text string
}

// loadSources returns the runtime (non-test) modules: shipped files, with operator files
// of the same base name replacing them and other operator files added.
func loadSources(dir string) ([]source, error) {
	byBase := map[string]source{}
	for base, text := range Modules() {
		if isTestFile(base) {
			continue
		}
		byBase[base] = source{base: base, name: path.Join(regoDir, base), text: text}
	}
	if dir != "" {
		names, err := regoFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, base := range names {
			full := filepath.Join(dir, base)
			b, err := os.ReadFile(full)
			if err != nil {
				return nil, fmt.Errorf("authz: reading policy file: %w", err)
			}
			byBase[base] = source{base: base, name: full, text: string(b)}
		}
	}
	out := make([]source, 0, len(byBase))
	for _, s := range byBase {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.base, b.base) })
	return out, nil
}

// regoFiles lists the runtime .rego files directly in dir (not recursive), sorted.
func regoFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("authz: reading policy directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".rego") || isTestFile(n) || strings.HasPrefix(n, ".") {
			continue
		}
		if !e.Type().IsRegular() {
			// Follow symlinks (e.g. Kubernetes ConfigMap mounts) but skip directories.
			fi, err := os.Stat(filepath.Join(dir, n))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// fingerprint summarises the runtime .rego files of dir by name, size and mtime.
func fingerprint(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	names, err := regoFiles(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return "", fmt.Errorf("authz: reading policy directory: %w", err)
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", n, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// parseModules parses sources as Rego v1, keyed by source name.
func parseModules(sources []source) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(sources))
	var errs []error
	for _, s := range sources {
		m, err := ast.ParseModuleWithOpts(s.name, s.text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, fmt.Errorf("authz: parsing policy: %w", err))
			continue
		}
		if m == nil {
			errs = append(errs, fmt.Errorf("authz: parsing policy: %s: empty module", s.name))
			continue
		}
		mods[s.name] = m
	}
	return mods, errors.Join(errs...)
}

func compile(ctx context.Context, sources []source) (*policy, error) {
	mods, err := parseModules(sources)
	if err != nil {
		return nil, err
	}
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("authz: compiling policy: %w", c.Errors)
	}
	p := &policy{}
	for _, s := range sources {
		p.files = append(p.files, s.name)
	}
	p.query, err = rego.New(rego.Query(decisionQuery), rego.Compiler(c)).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: preparing the decision query: %w", err)
	}
	return p, nil
}
