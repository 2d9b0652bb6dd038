// Package policy evaluates keystone's v3 token-validation policy with the
// oslo.policy rule language: keystone's registered defaults (including the
// deprecated-rule fallback controlled by enforce_new_defaults), operator
// overrides from policy_file and policy_dirs, and oslo's scope check.
package policy

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options mirrors keystone.conf [oslo_policy].
type Options struct {
	PolicyFile         string   // as in keystone.conf (may be relative); "" means the default "policy.yaml" (falling back to "policy.json")
	PolicyDirs         []string // nil means the default ["policy.d"]; an empty non-nil slice means none
	SearchDirs         []string // where to resolve relative names, in order
	EnforceNewDefaults bool
	EnforceScope       bool
	Logger             *slog.Logger // may be nil
}

// Credentials is oslo's creds dict: "user_id", "roles" ([]string names),
// "system_scope", "domain_id", "project_id", "project_domain_id",
// "is_admin" (bool), ... Values may be nested maps (dotted kinds walk them).
type Credentials map[string]any

// Target is the policy target. Keys may be flattened as keystone passes
// them ("target.token.user_id") and/or nested maps; "%(a.b.c)s" looks up
// the literal key first, then walks nested maps along the dots.
type Target map[string]any

// reloadInterval bounds how often policy files are stat'ed.
const reloadInterval = time.Second

// Enforcer evaluates rules. It is safe for concurrent use; the rule set
// is swapped atomically when policy files change.
type Enforcer struct {
	opts Options
	log  *slog.Logger

	cur       atomic.Pointer[ruleSet]
	nextCheck atomic.Int64 // unix nanoseconds of the next allowed stat
	reloadMu  sync.Mutex
	lastFail  []fileStamp // stamps of a file set that failed to load

	httpWarned  atomic.Bool
	scopeWarned sync.Map // rule+scope -> struct{}

	now func() time.Time // for tests
}

// New loads the defaults and any policy files. A missing policy file or
// directory is fine; a malformed one is an error.
func New(opts Options) (*Enforcer, error) {
	e := &Enforcer{opts: opts, log: opts.Logger, now: time.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	rs, err := e.load()
	if err != nil {
		return nil, err
	}
	e.cur.Store(rs)
	e.nextCheck.Store(e.now().Add(reloadInterval).UnixNano())
	return e, nil
}

// Enforce evaluates the named rule for the target and credentials, as
// oslo.policy's Enforcer.enforce(rule, target, creds) with keystone's
// settings. An unknown rule evaluates the "default" rule when a policy
// file defines one, and is denied otherwise. A non-nil error means the
// rule could not be evaluated (where oslo.policy would raise); the result
// is then false.
func (e *Enforcer) Enforce(rule string, target Target, creds Credentials) (bool, error) {
	e.maybeReload()
	rs := e.cur.Load()
	check := rs.lookup(rule)
	if check == nil {
		return false, nil
	}
	if scopes, ok := rs.scopes[rule]; ok && !e.scopeOK(rule, scopes, creds) {
		return false, nil
	}
	c := evalCtx{target: target, creds: creds, rules: rs}
	return check.eval(&c, 0)
}

// tokenScope is oslo's _enforce_scope classification: system if
// creds["system"] (or "system_scope", which enforce copies there) is
// truthy, else domain if "domain_id" is truthy, else project — so an
// unscoped token counts as project scope.
func tokenScope(creds Credentials) string {
	if pyTruthy(creds["system_scope"]) || pyTruthy(creds["system"]) {
		return "system"
	}
	if pyTruthy(creds["domain_id"]) {
		return "domain"
	}
	return "project"
}

func (e *Enforcer) scopeOK(rule string, scopes []string, creds Credentials) bool {
	scope := tokenScope(creds)
	if slices.Contains(scopes, scope) {
		return true
	}
	if _, seen := e.scopeWarned.LoadOrStore(rule+"\x00"+scope, struct{}{}); !seen {
		e.log.Warn("policy failed scope check", "rule", rule, "token_scope", scope,
			"policy_scope", scopes, "enforce_scope", e.opts.EnforceScope)
	}
	return !e.opts.EnforceScope
}

// maybeReload stats the policy files at most once per reloadInterval. The
// hot path is one clock read and one atomic load.
func (e *Enforcer) maybeReload() {
	now := e.now().UnixNano()
	next := e.nextCheck.Load()
	if now < next {
		return
	}
	if !e.nextCheck.CompareAndSwap(next, now+int64(reloadInterval)) {
		return // another goroutine is checking
	}
	if !e.reloadMu.TryLock() {
		return
	}
	defer e.reloadMu.Unlock()
	e.reloadIfChanged()
}

// Reload checks the policy files now and reloads them if they changed.
// It returns the load error, if any; the previous rules stay in force.
func (e *Enforcer) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return e.reloadIfChanged()
}

func (e *Enforcer) reloadIfChanged() error {
	stamps, err := e.stampFiles()
	if err != nil {
		if !slices.Equal(stamps, e.lastFail) {
			e.log.Error("policy: cannot read policy files; keeping previous rules", "error", err)
			e.lastFail = stamps
		}
		return err
	}
	if slices.Equal(stamps, e.cur.Load().files) || (e.lastFail != nil && slices.Equal(stamps, e.lastFail)) {
		return nil
	}
	rs, err := e.load()
	if err != nil {
		// oslo raises once from enforce and then keeps using the rules
		// it had; we log once and keep them.
		e.log.Error("policy: cannot load changed policy files; keeping previous rules", "error", err)
		e.lastFail = stamps
		return err
	}
	e.lastFail = nil
	e.cur.Store(rs)
	e.log.Info("policy: reloaded policy files", "files", len(rs.files))
	return nil
}

// load reads every policy file and builds a new rule set.
func (e *Enforcer) load() (*ruleSet, error) {
	files, err := e.policyFiles()
	if err != nil {
		return nil, err
	}
	merged := map[string]any{}
	var stamps []fileStamp
	for _, f := range files {
		st, rules, err := readPolicyFile(f)
		if err != nil {
			return nil, err
		}
		stamps = append(stamps, st)
		for k, v := range rules {
			merged[k] = v
		}
	}
	notify := func(msg, rule string) {
		e.log.Error("policy: "+msg+"; treating it as \"!\" (never)", "rule", rule)
	}
	rs, err := buildRuleSet(keystoneDefaults, merged, e.opts.EnforceNewDefaults, e.log, notify)
	if err != nil {
		return nil, err
	}
	rs.files = stamps
	for name, n := range rs.rules {
		if hasHTTP(n) && e.httpWarned.CompareAndSwap(false, true) {
			e.log.Warn("policy: http:/https: checks are not supported and always evaluate to false", "rule", name)
		}
	}
	return rs, nil
}

func (e *Enforcer) stampFiles() ([]fileStamp, error) {
	files, err := e.policyFiles()
	if err != nil {
		return nil, err
	}
	stamps := make([]fileStamp, 0, len(files))
	for _, f := range files {
		st, err := statFile(f)
		if err != nil {
			return stamps, fmt.Errorf("policy file %s: %w", f, err)
		}
		stamps = append(stamps, st)
	}
	return stamps, nil
}
