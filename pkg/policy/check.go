package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// op is the kind of a node in a parsed rule tree. The tree mirrors
// oslo.policy's Check classes (_checks.py).
type op uint8

const (
	opTrue    op = iota // TrueCheck: "@", "" and list-syntax []
	opFalse             // FalseCheck: "!", and every rule oslo fails to parse
	opAnd               // AndCheck
	opOr                // OrCheck
	opNot               // NotCheck
	opRule              // RuleCheck   rule:NAME
	opRole              // RoleCheck   role:NAME
	opGeneric           // GenericCheck KIND:MATCH
	opHTTP              // HttpCheck / HttpsCheck: unsupported, always false
	opInvalid           // parse "succeeded" with a non-check value (e.g. "and"); oslo raises at enforce time
)

// maxDepth bounds rule:NAME recursion. oslo.policy has no cycle guard at
// enforce time (Python raises RecursionError); we return an error instead.
const maxDepth = 64

var (
	// ErrRecursion is returned when rule references recurse too deeply
	// (a cycle such as "a": "rule:b", "b": "rule:a").
	ErrRecursion = errors.New("policy: rule references recurse too deeply (cycle?)")
	// ErrInvalidRule is returned when evaluating a rule that oslo.policy
	// would parse into a non-check value and then fail to call (for
	// example the rule "and" or a bare quoted string).
	ErrInvalidRule = errors.New("policy: rule is not a check")
)

// node is one check in a parsed rule. A single struct (rather than an
// interface per check class) keeps evaluation free of allocations.
type node struct {
	op   op
	kids []*node // and/or operands, not operand (kids[0])

	kind  string // text left of the first ':' (rule/role/generic/http)
	match string // text right of the first ':' (unsubstituted)
	tmpl  template

	// opRule: resolved when a rule set is assembled.
	ref      *node
	resolved bool

	// opGeneric: how the left side is evaluated.
	litOK   bool     // kind is a Python literal; compare match to litStr
	litStr  string   // str(ast.literal_eval(kind))
	kindErr error    // ast.literal_eval would raise SyntaxError
	path    []string // kind.split('.')

	raw string // opInvalid: the Python value's str()

	lowerMatch string // opRole: strings.ToLower(match) when match has no substitution
}

// lowerEq reports whether strings.ToLower(s) == lowered without
// allocating.
func lowerEq(s, lowered string) bool {
	i := 0
	for _, r := range s {
		l := unicode.ToLower(r)
		if l < utf8.RuneSelf {
			if i >= len(lowered) || lowered[i] != byte(l) {
				return false
			}
			i++
			continue
		}
		w, size := utf8.DecodeRuneInString(lowered[i:])
		if size == 0 || w != l {
			return false
		}
		i += size
	}
	return i == len(lowered)
}

var (
	trueNode  = &node{op: opTrue}
	falseNode = &node{op: opFalse}
)

// String renders the tree exactly as oslo.policy's Check.__str__ does,
// which lets tests compare parse trees with the real library.
func (n *node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *node) write(b *strings.Builder) {
	switch n.op {
	case opTrue:
		b.WriteByte('@')
	case opFalse:
		b.WriteByte('!')
	case opAnd, opOr:
		sep := " and "
		if n.op == opOr {
			sep = " or "
		}
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b)
		}
		b.WriteByte(')')
	case opNot:
		b.WriteString("not ")
		n.kids[0].write(b)
	case opInvalid:
		b.WriteString(n.raw)
	default:
		b.WriteString(n.kind)
		b.WriteByte(':')
		b.WriteString(n.match)
	}
}

// evalCtx carries the per-call inputs; passed by value to avoid escaping.
type evalCtx struct {
	target Target
	creds  Credentials
	rules  *ruleSet
}

func (n *node) eval(c *evalCtx, depth int) (bool, error) {
	switch n.op {
	case opTrue:
		return true, nil
	case opFalse, opHTTP:
		return false, nil
	case opAnd:
		for _, k := range n.kids {
			ok, err := k.eval(c, depth)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case opOr:
		for _, k := range n.kids {
			ok, err := k.eval(c, depth)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	case opNot:
		ok, err := n.kids[0].eval(c, depth)
		if err != nil {
			return false, err
		}
		return !ok, nil
	case opRule:
		ref := n.ref
		if !n.resolved {
			ref = c.rules.lookup(n.match)
		}
		if ref == nil {
			return false, nil // KeyError -> False
		}
		if depth >= maxDepth {
			return false, ErrRecursion
		}
		return ref.eval(c, depth+1)
	case opRole:
		return n.evalRole(c)
	case opGeneric:
		return n.evalGeneric(c)
	case opInvalid:
		return false, fmt.Errorf("%w: %q", ErrInvalidRule, n.raw)
	}
	return false, nil
}

// evalRole mirrors RoleCheck: substitute the target into the match, then
// compare lower-cased against every element of creds["roles"].
func (n *node) evalRole(c *evalCtx) (bool, error) {
	match, ok, err := n.tmpl.expand(c.target)
	if err != nil || !ok {
		return false, err
	}
	roles, present := c.creds["roles"]
	if !present {
		return false, nil
	}
	want := n.lowerMatch
	if !n.tmpl.literal() {
		want = strings.ToLower(match)
	}
	switch rs := roles.(type) {
	case []string:
		for _, r := range rs {
			if lowerEq(r, want) {
				return true, nil
			}
		}
	case []any:
		for _, r := range rs {
			s, isStr := r.(string)
			if !isStr {
				// Python: x.lower() on a non-string raises AttributeError.
				return false, fmt.Errorf("policy: role %v is not a string", pyStr(r))
			}
			if lowerEq(s, want) {
				return true, nil
			}
		}
	case string:
		// Python iterates the characters of a string.
		for _, r := range rs {
			if strings.ToLower(string(r)) == want {
				return true, nil
			}
		}
	case nil:
		return false, errors.New("policy: creds roles is None")
	default:
		return false, fmt.Errorf("policy: creds roles has unsupported type %T", roles)
	}
	return false, nil
}

// evalGeneric mirrors GenericCheck.
func (n *node) evalGeneric(c *evalCtx) (bool, error) {
	match, ok, err := n.tmpl.expand(c.target)
	if err != nil || !ok {
		return false, err
	}
	if n.kindErr != nil {
		return false, n.kindErr
	}
	if n.litOK {
		return match == n.litStr, nil
	}
	return findInCreds(c.creds, n.path, match)
}

// findInCreds is GenericCheck._find_in_dict over the credentials. The
// first segment is looked up in creds; oslo's enforce copies a truthy
// "system_scope" into "system", which is emulated here without mutating
// the caller's map.
func findInCreds(creds Credentials, path []string, match string) (bool, error) {
	v, ok := creds[path[0]]
	if path[0] == "system" {
		if ss, has := creds["system_scope"]; has && pyTruthy(ss) {
			v, ok = ss, true
		}
	}
	if !ok {
		return false, nil
	}
	return findIn(v, path[1:], match)
}

func findIn(v any, path []string, match string) (bool, error) {
	if l, isList := asList(v); isList {
		for i := 0; i < l.len(); i++ {
			ok, err := findValue(l.at(i), path, match)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	return findValue(v, path, match)
}

// findValue: test_value is v, remaining path segments path.
func findValue(v any, path []string, match string) (bool, error) {
	if len(path) == 0 {
		if s, isStr := v.(string); isStr {
			return match == s, nil
		}
		return match == pyStr(v), nil
	}
	var next any
	var ok bool
	switch m := v.(type) {
	case map[string]any:
		next, ok = m[path[0]]
	case Credentials:
		next, ok = m[path[0]]
	case Target:
		next, ok = m[path[0]]
	case map[string]string:
		next, ok = m[path[0]]
	default:
		// Python: indexing a str/None/int with a str raises TypeError; a
		// list nested in a list with a str index too.
		return false, fmt.Errorf("policy: cannot look up %q in a %T", path[0], v)
	}
	if !ok {
		return false, nil
	}
	return findIn(next, path[1:], match)
}

type list struct {
	s []string
	a []any
}

func (l list) len() int {
	if l.s != nil {
		return len(l.s)
	}
	return len(l.a)
}

func (l list) at(i int) any {
	if l.s != nil {
		return l.s[i]
	}
	return l.a[i]
}

func asList(v any) (list, bool) {
	switch x := v.(type) {
	case []string:
		return list{s: x}, true
	case []any:
		return list{a: x}, true
	}
	return list{}, false
}
