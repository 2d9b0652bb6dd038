package policy

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// template is the right-hand side of a check, evaluated as Python's
// `match % target` with target a dict: "%(key)s" is replaced by
// str(target[key]), "%%" by "%"; a missing key makes the check false.
type template struct {
	parts []tmplPart
	err   error // a format Python would reject (raises at enforce time)
	// single is set when the template is exactly one "%(key)s".
	single bool
}

type tmplPart struct {
	lit string
	key string // "" for a literal part
}

var errFormat = errors.New("policy: unsupported %-format in check")

func compileTemplate(s string) template {
	if strings.IndexByte(s, '%') < 0 {
		return template{parts: []tmplPart{{lit: s}}}
	}
	var t template
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			t.err = fmt.Errorf("%w: incomplete format in %q", errFormat, s)
			return t
		}
		if s[i] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if s[i] != '(' {
			// "%s", "%d" ... with a dict argument: Python either formats
			// the whole dict or raises; neither is a sensible policy.
			t.err = fmt.Errorf("%w: %q", errFormat, s)
			return t
		}
		// Python counts nested parentheses inside the key.
		depth := 1
		j := i + 1
		for ; j < len(s) && depth > 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			t.err = fmt.Errorf("%w: incomplete format key in %q", errFormat, s)
			return t
		}
		key := s[i+1 : j-1]
		if j >= len(s) || s[j] != 's' {
			t.err = fmt.Errorf("%w: only %%(key)s is supported in %q", errFormat, s)
			return t
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, tmplPart{key: key})
		i = j + 1
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tmplPart{lit: lit.String()})
	}
	if len(t.parts) == 0 {
		t.parts = []tmplPart{{lit: ""}}
	}
	t.single = len(t.parts) == 1 && t.parts[0].key != ""
	return t
}

// literal reports a template without substitutions.
func (t *template) literal() bool {
	return t.err == nil && len(t.parts) == 1 && t.parts[0].key == ""
}

// expand returns the substituted string; ok is false when a key is
// missing from the target (oslo: KeyError -> check is False).
func (t *template) expand(target Target) (string, bool, error) {
	if t.err != nil {
		return "", false, t.err
	}
	if len(t.parts) == 1 {
		p := t.parts[0]
		if p.key == "" {
			return p.lit, true, nil
		}
		v, ok := target.lookup(p.key)
		if !ok {
			return "", false, nil
		}
		if s, isStr := v.(string); isStr {
			return s, true, nil
		}
		return pyStr(v), true, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.key == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := target.lookup(p.key)
		if !ok {
			return "", false, nil
		}
		if s, isStr := v.(string); isStr {
			b.WriteString(s)
		} else {
			b.WriteString(pyStr(v))
		}
	}
	return b.String(), true, nil
}

// lookup finds key in the target: first as a literal (flattened) key, as
// keystone passes it ("target.token.user_id"), then by walking nested maps
// along the dots.
func (t Target) lookup(key string) (any, bool) {
	if v, ok := t[key]; ok {
		return v, true
	}
	if strings.IndexByte(key, '.') < 0 {
		return nil, false
	}
	var cur any = map[string]any(t)
	rest := key
	for {
		seg, tail, more := strings.Cut(rest, ".")
		var m map[string]any
		switch x := cur.(type) {
		case map[string]any:
			m = x
		case Target:
			m = x
		case map[string]string:
			v, ok := x[seg]
			if !ok || more {
				return nil, false
			}
			return v, true
		default:
			return nil, false
		}
		v, ok := m[seg]
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
		cur, rest = v, tail
	}
}

// pyStr approximates Python's str() for the value types that appear in
// credentials and targets.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return pyFloat(x)
	case float32:
		return pyFloat(float64(x))
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = pyRepr(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = pyRepr(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func pyRepr(v any) string {
	s, ok := v.(string)
	if !ok {
		return pyStr(v)
	}
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyFloat formats like Python's float.__repr__.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	var s string
	exp := 0
	if f != 0 {
		exp = int(math.Floor(math.Log10(math.Abs(f))))
	}
	if f != 0 && (exp < -4 || exp >= 16) {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		// Go: 1e+16, 1.5e-05; Python: 1e+16, 1.5e-05 — same shape.
		return s
	}
	s = strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyTruthy is Python's bool() for the usual credential value types.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []string:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// literalKind evaluates the left side of a generic check the way
// ast.literal_eval(kind) does for the forms that matter. ok reports a
// literal (compare match with str(value)); err reports input Python would
// reject with SyntaxError (which oslo does not catch). Anything else is
// treated as a dotted credential path (ast raised ValueError).
func literalKind(kind string) (str string, ok bool, err error) {
	synErr := func() (string, bool, error) {
		return "", false, fmt.Errorf("policy: invalid check kind %q (Python SyntaxError)", kind)
	}
	if kind == "" {
		return synErr()
	}
	switch kind {
	case "True", "False", "None":
		return kind, true, nil
	}
	c := kind[0]
	if c == '\'' || c == '"' {
		s, good := unquotePy(kind)
		if !good {
			return synErr()
		}
		return s, true, nil
	}
	num := kind
	if c == '-' || c == '+' {
		num = kind[1:]
	}
	if num != "" && (num[0] >= '0' && num[0] <= '9' || num[0] == '.' && len(num) > 1 && num[1] >= '0' && num[1] <= '9') {
		return pyNumber(kind, num)
	}
	return "", false, nil
}

func pyNumber(kind, num string) (string, bool, error) {
	neg := kind[0] == '-'
	clean := strings.ReplaceAll(num, "_", "")
	bad := func() (string, bool, error) {
		return "", false, fmt.Errorf("policy: invalid check kind %q (Python SyntaxError)", kind)
	}
	if strings.Contains(num, "__") || strings.HasSuffix(num, "_") {
		return bad()
	}
	lower := strings.ToLower(clean)
	if strings.HasPrefix(lower, "0x") || strings.HasPrefix(lower, "0o") || strings.HasPrefix(lower, "0b") {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[lower[1]]
		v, err := strconv.ParseInt(lower[2:], base, 64)
		if err != nil {
			return bad()
		}
		if neg {
			v = -v
		}
		return strconv.FormatInt(v, 10), true, nil
	}
	if strings.ContainsAny(lower, ".e") {
		if strings.ContainsAny(lower, "j") {
			return bad()
		}
		f, err := strconv.ParseFloat(lower, 64)
		if err != nil {
			return bad()
		}
		if neg {
			f = -f
		}
		return pyFloat(f), true, nil
	}
	for _, r := range lower {
		if r < '0' || r > '9' {
			return bad()
		}
	}
	if len(lower) > 1 && lower[0] == '0' && strings.Trim(lower, "0") != "" {
		return bad() // "01": leading zeros are a SyntaxError in Python 3
	}
	lower = strings.TrimLeft(lower, "0")
	if lower == "" {
		lower = "0"
	}
	if neg && lower != "0" {
		lower = "-" + lower
	}
	return lower, true, nil
}

// unquotePy decodes a single Python string literal with ' or " quotes
// (common escapes only). Triple-quoted and prefixed literals are treated
// as not literals by the caller's rules.
func unquotePy(s string) (string, bool) {
	if len(s) < 2 {
		return "", false
	}
	q := s[0]
	if s[len(s)-1] != q {
		return "", false
	}
	body := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q {
			return "", false // the literal ended early: SyntaxError
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", false
		}
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\', '\'', '"':
			b.WriteByte(body[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(body[i])
		}
	}
	return b.String(), true
}
