package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// resolver performs oslo.config's $substitution and type conversion for the
// options keystone-ng reads.
type resolver struct {
	files  []*iniFile
	v      *viper.Viper
	src    map[*option]string // where a non-default value came from
	done   map[*option]value
	failed map[*option]error
	active map[string]bool // "group\x00name" being resolved: cycle detection
}

func newResolver(files []*iniFile, v *viper.Viper, src map[*option]string) *resolver {
	return &resolver{files: files, v: v, src: src, done: map[*option]value{}, failed: map[*option]error{}, active: map[string]bool{}}
}

// errCycle marks a circular $reference (Python would recurse until
// RecursionError).
type errCycle struct{ at string }

func (e *errCycle) Error() string {
	return "template substitution error: circular $reference via " + e.at
}

// subError is a failed substitution or conversion of one option.
type subError struct {
	opt   string // "[group] name"
	where string // file:line or environment variable; "" for a default
	err   error
}

func (e *subError) Unwrap() error { return e.err }

func (e *subError) Error() string {
	if e.where == "" {
		return fmt.Sprintf("%s: %v", e.opt, e.err)
	}
	return fmt.Sprintf("%s (from %s): %v", e.opt, e.where, e.err)
}

// resolve returns the effective, substituted and converted value of o.
func (r *resolver) resolve(o *option) (value, error) {
	if v, ok := r.done[o]; ok {
		return v, nil
	}
	if err, ok := r.failed[o]; ok {
		return value{}, err
	}
	id := o.section + "\x00" + o.name
	if r.active[id] {
		return value{}, &errCycle{at: o.String()}
	}
	r.active[id] = true
	defer delete(r.active, id)

	fail := func(err error) (value, error) {
		se := &subError{opt: o.String(), where: r.src[o], err: err}
		r.failed[o] = se
		return value{}, se
	}
	raw := r.v.Get(vkey(o))
	var subst any
	switch x := raw.(type) {
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			t, err := r.substitute(s, o.section)
			if err != nil {
				return fail(err)
			}
			out[i] = t
		}
		subst = out
	case []any: // viper may hand back a generic slice
		out := make([]string, len(x))
		for i, e := range x {
			t, err := r.substitute(fmt.Sprint(e), o.section)
			if err != nil {
				return fail(err)
			}
			out[i] = t
		}
		subst = out
	default:
		s := fmt.Sprint(raw)
		if raw == nil {
			s = ""
		}
		t, err := r.substitute(s, o.section)
		if err != nil {
			return fail(err)
		}
		subst = t
	}
	var val value
	if s, ok := subst.(string); ok && o.none && s == "" {
		// Python's default None, or an empty value: unset.
		val = value{v: zeroOf(o.kind), none: true}
	} else {
		var err error
		val, err = o.convert(subst)
		if err != nil {
			if o.isSecret() {
				return fail(err)
			}
			if s, ok := subst.(string); ok && len(s) <= 200 {
				return fail(fmt.Errorf("%q: %w", s, err))
			}
			return fail(err)
		}
	}
	r.done[o] = val
	return val, nil
}

// substitute implements oslo.config's ConfigOpts._substitute, which uses
// Python's string.Template.safe_substitute with the identifier pattern
// [_a-z][._a-z0-9]* (case-insensitive, as Template's flags are):
//
//   - `\$` is first rewritten to `$$`;
//   - `$$` is a literal `$`;
//   - `$name` and `${name}` are replaced by the value of option name, looked
//     up in group first, then in [DEFAULT] (StrSubWrapper.__getitem__);
//   - `$group.name` and `${group.name}` name an option of another group;
//     the dot is part of the identifier, so "$host.example.com" refers to
//     option "example.com" of group "host";
//   - a `$` not followed by one of the above is kept as is.
//
// A reference to an option Python does not know is an error in oslo
// (NoSuchOptError / NoSuchGroupError escape safe_substitute). keystone-ng
// does not know all of Keystone's options, so a reference resolves only to an
// option keystone-ng reads or to a value present in the loaded files;
// anything else is reported as an error rather than guessed.
func (r *resolver) substitute(s, group string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	s = strings.ReplaceAll(s, `\$`, "$$")
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		if n := identLen(s[i+1:]); n > 0 {
			v, err := r.lookup(s[i+1:i+1+n], group)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += 1 + n
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			if n := identLen(s[i+2:]); n > 0 && i+2+n < len(s) && s[i+2+n] == '}' {
				v, err := r.lookup(s[i+2:i+2+n], group)
				if err != nil {
					return "", err
				}
				b.WriteString(v)
				i += 3 + n
				continue
			}
		}
		b.WriteByte('$') // invalid placeholder: safe_substitute keeps it
		i++
	}
	return b.String(), nil
}

// identLen is the length of the longest prefix of s matching
// [_a-zA-Z][._a-zA-Z0-9]*.
func identLen(s string) int {
	isStart := func(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
	if s == "" || !isStart(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && (isStart(s[n]) || s[n] == '.' || (s[n] >= '0' && s[n] <= '9')) {
		n++
	}
	return n
}

// lookup resolves one $reference the way StrSubWrapper.__getitem__ does and
// formats it as Python's str() of the option's value would.
func (r *resolver) lookup(key, group string) (string, error) {
	if g, name, dotted := strings.Cut(key, "."); dotted {
		// OptGroup(name=g) is looked up by exact name among registered
		// groups; Keystone's are lower case and [DEFAULT] is not a group.
		if g == "DEFAULT" || g != strings.ToLower(g) || !r.knownGroup(g) {
			return "", fmt.Errorf("template substitution error: no such group [%s] (in $%s)", g, key)
		}
		if s, ok, err := r.lookupIn(g, name); ok || err != nil {
			return s, err
		}
		return "", fmt.Errorf("template substitution error: no such option %q in group [%s] (in $%s)", name, g, key)
	}
	if s, ok, err := r.lookupIn(group, key); ok || err != nil {
		return s, err
	}
	if group != "DEFAULT" {
		if s, ok, err := r.lookupIn("DEFAULT", key); ok || err != nil {
			return s, err
		}
	}
	return "", fmt.Errorf("template substitution error: no such option %q in group [%s] or [DEFAULT]", key, group)
}

func (r *resolver) knownGroup(g string) bool {
	if schemaIndex[g] != nil {
		return true
	}
	for _, f := range r.files {
		if _, ok := f.sections[g]; ok {
			return true
		}
	}
	return false
}

// lookupIn resolves option name of group: an option keystone-ng reads (its
// effective value, defaults and overrides included), else a value from the
// files, itself substituted within its group.
func (r *resolver) lookupIn(group, name string) (string, bool, error) {
	if o := lookupOption(group, name); o != nil {
		v, err := r.resolve(o)
		if err != nil {
			var cyc *errCycle
			if errors.As(err, &cyc) {
				return "", true, cyc
			}
			return "", true, fmt.Errorf("template substitution error: the referenced option %s is itself invalid", o)
		}
		return pyStr(v, o), true, nil
	}
	raw, ok := rawFileValue(r.files, group, name)
	if !ok {
		return "", false, nil
	}
	id := group + "\x00" + name
	if r.active[id] {
		return "", true, &errCycle{at: "[" + group + "] " + name}
	}
	r.active[id] = true
	defer delete(r.active, id)
	s, err := r.substitute(raw, group)
	return s, true, err
}

// pyStr formats a converted value as Python's str() would when
// string.Template inserts it: None is "" (oslo's StrSubWrapper), booleans
// are True/False, lists are ['a', 'b'].
func pyStr(v value, o *option) string {
	if v.none {
		return ""
	}
	switch x := v.v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = pyRepr(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	// keystone-ng's own types (durations) have no Python equivalent: use
	// the configured text.
	raw := fmt.Sprint(v.v)
	return raw
}

// pyRepr is Python's repr() of a str, for the printable ASCII cases that
// occur in config values.
func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	s = strings.ReplaceAll(s, "\n", `\n`)
	s = strings.ReplaceAll(s, "\t", `\t`)
	return q + s + q
}
