package policy

import (
	"fmt"
	"strings"
	"unicode"
)

// The parser reproduces oslo.policy's _parser.py: a whitespace tokenizer
// followed by a greedy shift-reduce over the token stream. Rules that do
// not reduce to a single value become FalseCheck (oslo logs and denies),
// and the same quirks apply, e.g. a quoted token is a "string" token that
// no reduction accepts.

type tokKind uint8

const (
	tkLParen tokKind = iota
	tkRParen
	tkAnd
	tkOr
	tkNot
	tkString
	tkCheck
	tkAndExpr
	tkOrExpr
)

type tok struct {
	kind tokKind
	n    *node  // for check / and_expr / or_expr
	text string // original text for keywords / strings
}

// parseNotify receives oslo's log messages for malformed rules.
type parseNotify func(msg string, rule string)

// ParseRule parses a rule in oslo.policy's text language and returns the
// canonical string form oslo.policy would print for it (str(parse_rule)).
// It never fails: malformed rules become "!" as in oslo.policy.
func ParseRule(rule string) string {
	return parseText(rule, nil).String()
}

func parseText(rule string, notify parseNotify) *node {
	if rule == "" {
		return trueNode
	}
	var stack []tok
	for _, t := range tokenize(rule, notify) {
		stack = append(stack, t)
		stack = reduce(stack)
	}
	if len(stack) != 1 {
		if notify != nil {
			notify("Failed to understand rule", rule)
		}
		return falseNode
	}
	t := stack[0]
	switch t.kind {
	case tkCheck, tkAndExpr, tkOrExpr:
		return t.n
	}
	// e.g. "and", "(" or "'quoted'": oslo stores the bare Python string as
	// the rule and raises when it is enforced.
	return &node{op: opInvalid, raw: t.text}
}

func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

func tokenize(rule string, notify parseNotify) []tok {
	var out []tok
	for _, word := range strings.FieldsFunc(rule, isPySpace) {
		clean := strings.TrimLeft(word, "(")
		for i := 0; i < len(word)-len(clean); i++ {
			out = append(out, tok{kind: tkLParen, text: "("})
		}
		if clean == "" {
			continue
		}
		w := clean
		clean = strings.TrimRight(w, ")")
		trail := len(w) - len(clean)
		switch lowered := strings.ToLower(clean); lowered {
		case "and":
			out = append(out, tok{kind: tkAnd, text: clean})
		case "or":
			out = append(out, tok{kind: tkOr, text: clean})
		case "not":
			out = append(out, tok{kind: tkNot, text: clean})
		default:
			if clean != "" {
				if len(w) >= 2 && (w[0] == '"' && w[len(w)-1] == '"' || w[0] == '\'' && w[len(w)-1] == '\'') {
					out = append(out, tok{kind: tkString, text: w[1 : len(w)-1]})
				} else {
					out = append(out, tok{kind: tkCheck, n: parseCheck(clean, notify)})
				}
			}
		}
		for i := 0; i < trail; i++ {
			out = append(out, tok{kind: tkRParen, text: ")"})
		}
	}
	return out
}

func suffix(stack []tok, kinds ...tokKind) bool {
	if len(stack) < len(kinds) {
		return false
	}
	off := len(stack) - len(kinds)
	for i, k := range kinds {
		if stack[off+i].kind != k {
			return false
		}
	}
	return true
}

// reduce applies oslo's reductions greedily, in oslo's order, until none
// matches.
func reduce(s []tok) []tok {
	for {
		n := len(s)
		switch {
		case suffix(s, tkLParen, tkOrExpr, tkRParen),
			suffix(s, tkLParen, tkAndExpr, tkRParen),
			suffix(s, tkLParen, tkCheck, tkRParen):
			s = append(s[:n-3], tok{kind: tkCheck, n: s[n-2].n})
		case suffix(s, tkCheck, tkAnd, tkCheck):
			s = append(s[:n-3], tok{kind: tkAndExpr, n: &node{op: opAnd, kids: []*node{s[n-3].n, s[n-1].n}}})
		case suffix(s, tkOrExpr, tkAnd, tkCheck):
			// "A or B and C": pop B from the or, and it with C.
			or := s[n-3].n
			last := or.kids[len(or.kids)-1]
			or.kids = or.kids[:len(or.kids)-1]
			var and *node
			if last.op == opAnd {
				and = last
				and.kids = append(and.kids, s[n-1].n)
			} else {
				and = &node{op: opAnd, kids: []*node{last, s[n-1].n}}
			}
			or.kids = append(or.kids, and)
			s = append(s[:n-3], tok{kind: tkOrExpr, n: or})
		case suffix(s, tkAndExpr, tkAnd, tkCheck):
			and := s[n-3].n
			and.kids = append(and.kids, s[n-1].n)
			s = append(s[:n-3], tok{kind: tkAndExpr, n: and})
		case suffix(s, tkAndExpr, tkOr, tkCheck), suffix(s, tkCheck, tkOr, tkCheck):
			s = append(s[:n-3], tok{kind: tkOrExpr, n: &node{op: opOr, kids: []*node{s[n-3].n, s[n-1].n}}})
		case suffix(s, tkOrExpr, tkOr, tkCheck):
			or := s[n-3].n
			or.kids = append(or.kids, s[n-1].n)
			s = append(s[:n-3], tok{kind: tkOrExpr, n: or})
		case suffix(s, tkNot, tkCheck):
			s = append(s[:n-2], tok{kind: tkCheck, n: &node{op: opNot, kids: []*node{s[n-1].n}}})
		default:
			return s
		}
	}
}

// parseCheck is _parse_check: one "kind:match" token.
func parseCheck(rule string, notify parseNotify) *node {
	switch rule {
	case "!":
		return falseNode
	case "@":
		return trueNode
	}
	kind, match, ok := strings.Cut(rule, ":")
	if !ok {
		if notify != nil {
			notify("Failed to understand rule", rule)
		}
		return falseNode
	}
	n := &node{kind: kind, match: match}
	switch kind {
	case "rule":
		n.op = opRule
	case "role":
		n.op = opRole
		n.tmpl = compileTemplate(match)
		if n.tmpl.literal() {
			n.lowerMatch = strings.ToLower(match)
		}
	case "http", "https":
		n.op = opHTTP
	default:
		n.op = opGeneric
		n.tmpl = compileTemplate(match)
		n.litStr, n.litOK, n.kindErr = literalKind(kind)
		if !n.litOK && n.kindErr == nil {
			n.path = strings.Split(kind, ".")
		}
	}
	return n
}

// parseAny parses a rule value from a policy file: a string in the text
// language or the legacy list-of-lists form (_parse_list_rule).
func parseAny(v any, notify parseNotify) (*node, error) {
	switch x := v.(type) {
	case string:
		return parseText(x, notify), nil
	case nil:
		return trueNode, nil // `not None` -> TrueCheck
	case bool:
		if !x {
			return trueNode, nil
		}
		return nil, fmt.Errorf("rule value true is not a string or list")
	case []any:
		return parseList(x, notify)
	}
	if !pyTruthy(v) {
		return trueNode, nil
	}
	return nil, fmt.Errorf("rule value %v (%T) is not a string or list", v, v)
}

func parseList(rule []any, notify parseNotify) (*node, error) {
	if len(rule) == 0 {
		return trueNode, nil
	}
	var or []*node
	for _, inner := range rule {
		if !pyTruthy(inner) {
			continue
		}
		var and []*node
		switch x := inner.(type) {
		case string:
			and = append(and, parseCheck(x, notify))
		case []any:
			for _, r := range x {
				s, ok := r.(string)
				if !ok {
					// oslo: rule.split fails, logged, FalseCheck.
					if notify != nil {
						notify("Failed to understand rule", fmt.Sprint(r))
					}
					and = append(and, falseNode)
					continue
				}
				and = append(and, parseCheck(s, notify))
			}
		default:
			return nil, fmt.Errorf("list rule element %v (%T) is not a string or list", inner, inner)
		}
		if len(and) == 1 {
			or = append(or, and[0])
		} else {
			or = append(or, &node{op: opAnd, kids: and})
		}
	}
	switch len(or) {
	case 0:
		return falseNode, nil
	case 1:
		return or[0], nil
	}
	return &node{op: opOr, kids: or}, nil
}
