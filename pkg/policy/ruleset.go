package policy

import (
	"fmt"
	"log/slog"
	"slices"
)

// ruleSet is an immutable, fully resolved set of rules: the registered
// defaults with file overrides applied, exactly like oslo's
// Enforcer.rules after load_rules().
type ruleSet struct {
	rules    map[string]*node
	scopes   map[string][]string // scope_types of registered rules
	fromFile map[string]bool     // names overridden by a policy file
	def      *node               // rules["default"] or nil
	files    []fileStamp         // what was read, for change detection
}

func (rs *ruleSet) lookup(name string) *node {
	if n, ok := rs.rules[name]; ok {
		return n
	}
	return rs.def
}

// buildRuleSet merges file rules (already in application order) over the
// registered defaults. fileRules maps name -> raw rule value.
func buildRuleSet(defaults []ruleDefault, fileRules map[string]any, enforceNewDefaults bool, log *slog.Logger, notify parseNotify) (*ruleSet, error) {
	rs := &ruleSet{
		rules:    make(map[string]*node, len(defaults)+len(fileRules)),
		scopes:   make(map[string][]string),
		fromFile: make(map[string]bool, len(fileRules)),
	}
	for name, raw := range fileRules {
		n, err := parseAny(raw, notify)
		if err != nil {
			return nil, fmt.Errorf("policy rule %q: %w", name, err)
		}
		rs.rules[name] = n
		rs.fromFile[name] = true
	}
	for _, d := range defaults {
		if len(d.scopeTypes) > 0 {
			rs.scopes[d.name] = d.scopeTypes
		}
		if _, overridden := rs.rules[d.name]; overridden {
			continue
		}
		check := parseText(d.checkStr, notify)
		// oslo _handle_deprecated_rule (same-name deprecation): while
		// enforce_new_defaults is off and the operator did not override
		// the rule, the effective rule is (new or deprecated).
		if d.deprecatedCheckStr != "" && !enforceNewDefaults && d.deprecatedCheckStr != d.checkStr {
			check = &node{op: opOr, kids: []*node{check, parseText(d.deprecatedCheckStr, notify)}}
		}
		rs.rules[d.name] = check
	}
	rs.def = rs.rules[DefaultRuleName]

	// Resolve rule:NAME references once; lookups at enforce time are then
	// pointer hops. Also collect what oslo's check_rules() warns about.
	var undefined, cyclic []string
	for name, n := range rs.rules {
		if rs.resolve(n) {
			undefined = append(undefined, name)
		}
		if rs.cycles(n, nil) {
			cyclic = append(cyclic, name)
		}
	}
	if log != nil {
		if len(undefined) > 0 {
			slices.Sort(undefined)
			log.Warn("policies reference a rule that is not defined", "names", undefined)
		}
		if len(cyclic) > 0 {
			slices.Sort(cyclic)
			log.Warn("policies are part of a cyclical reference", "names", cyclic)
		}
	}
	return rs, nil
}

// resolve links every rule:NAME under n and reports whether any refers to
// a name that is not defined.
func (rs *ruleSet) resolve(n *node) bool {
	undefined := false
	if n.op == opRule {
		if _, ok := rs.rules[n.match]; !ok {
			undefined = true
		}
		n.ref = rs.lookup(n.match)
		n.resolved = true
	}
	for _, k := range n.kids {
		if rs.resolve(k) {
			undefined = true
		}
	}
	return undefined
}

func (rs *ruleSet) cycles(n *node, seen []string) bool {
	if n.op == opRule {
		if slices.Contains(seen, n.match) {
			return true
		}
		seen = append(seen, n.match)
		if r, ok := rs.rules[n.match]; ok && rs.cycles(r, seen) {
			return true
		}
	}
	for _, k := range n.kids {
		if rs.cycles(k, slices.Clip(seen)) {
			return true
		}
	}
	return false
}

func hasHTTP(n *node) bool {
	if n.op == opHTTP {
		return true
	}
	for _, k := range n.kids {
		if hasHTTP(k) {
			return true
		}
	}
	return false
}
