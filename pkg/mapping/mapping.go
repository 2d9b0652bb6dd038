// Package mapping is keystone-ng's federation rule language: a mapping
// matches the claims of a verified identity (an OIDC ID token or a
// workload JWT) and says who the caller becomes (a shadow user or an
// existing user), which groups they join, which roles they are granted
// and how the issued token is scoped and capped. Everything here is a pure
// function: Parse validates a JSON document and names the bad field in
// its error; Evaluate picks the first rule whose conditions all hold.
// Names of roles, groups, projects and domains are resolved to ids by the
// caller (pkg/federation), which owns the database.
//
// A document:
//
//	{"rules": [{
//	   "match": [{"claim": "repository", "equals": "org/app"},
//	             {"claim": "ref", "any_of": ["refs/heads/main"]}],
//	   "user": {"name": "gh-{repository}"},
//	   "groups": [{"name": "deployers", "domain": {"name": "ci"}}],
//	   "grants": [{"role": {"name": "member"}, "project": {"name": "app", "domain": {"name": "ci"}}}],
//	   "scope": {"project": {"name": "app", "domain": {"name": "ci"}}},
//	   "max_token_lifetime": 900}]}
//
// Claim paths: a string whose segments are separated by "." ("a.b" is
// claim b inside object a); a literal dot or backslash in a key is
// escaped with a backslash ("kubernetes\\.io.namespace" in JSON), or the
// path is given as an array of keys (["kubernetes.io", "namespace"]).
// Templates ("gh-{repository}") use the string form between braces; "{{"
// and "}}" are literal braces.
package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits that keep a mapping small enough to evaluate on every login.
const (
	MaxRules       = 64
	MaxConditions  = 32
	MaxListItems   = 256
	MaxStringBytes = 1024
	// MaxTokenLifetime caps max_token_lifetime (one day); the issuer's
	// [token] expiration caps it further.
	MaxTokenLifetime = 24 * 60 * 60
)

// registeredClaims bind nothing about who the caller is: a rule must match
// at least one other claim (GitHub uses one issuer for every repository).
var registeredClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "azp": true}

// FieldError is a validation failure of one field, e.g.
// "rules[0].match[1].regex: invalid regular expression ...".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ErrNoMatch is Evaluate's answer when no rule matches.
var ErrNoMatch = errors.New("mapping: no rule matches the claims")

// Path is a claim path: the keys from the top-level claims object down.
type Path []string

// String renders the path in the escaped dotted form.
func (p Path) String() string {
	parts := make([]string, len(p))
	for i, s := range p {
		s = strings.ReplaceAll(s, `\`, `\\`)
		parts[i] = strings.ReplaceAll(s, ".", `\.`)
	}
	return strings.Join(parts, ".")
}

// ParsePath parses the dotted form with backslash escapes.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, errors.New("empty claim path")
	}
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '.' && s[i+1] != '\\') {
				return nil, fmt.Errorf("claim path %q: a backslash must escape '.' or '\\'", s)
			}
			cur.WriteByte(s[i+1])
			i++
		case '.':
			if cur.Len() == 0 {
				return nil, fmt.Errorf("claim path %q has an empty segment", s)
			}
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() == 0 {
		return nil, fmt.Errorf("claim path %q has an empty segment", s)
	}
	return append(out, cur.String()), nil
}

// lookup finds the value at p in claims.
func (p Path) lookup(claims map[string]any) (any, bool) {
	var cur any = claims
	for _, k := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// scalar renders a JSON scalar as a string; objects and arrays are not
// scalars.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// values are the strings a condition tests: a scalar claim, or each scalar
// element of an array claim (GitLab's groups, for instance).
func values(v any) []string {
	if s, ok := scalar(v); ok {
		return []string{s}
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			if s, ok := scalar(e); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Condition tests one claim with exactly one operator.
type Condition struct {
	Claim Path
	// Op is "equals", "any_of", "glob" or "regex".
	Op string
	// Values holds the operand(s): one for equals/glob/regex.
	Values []string
	re     *regexp.Regexp
}

func (c *Condition) test(s string) bool {
	switch c.Op {
	case "equals":
		return s == c.Values[0]
	case "any_of":
		for _, v := range c.Values {
			if s == v {
				return true
			}
		}
		return false
	default:
		return c.re.MatchString(s)
	}
}

// Match reports whether the claim satisfies the condition (for an array
// claim: any element).
func (c *Condition) Match(claims map[string]any) bool {
	v, ok := c.Claim.lookup(claims)
	if !ok {
		return false
	}
	for _, s := range values(v) {
		if c.test(s) {
			return true
		}
	}
	return false
}

// Template is a string with {claim.path} placeholders.
type Template struct {
	Raw   string
	parts []tmplPart
}

type tmplPart struct {
	lit  string
	path Path
}

// ParseTemplate parses s.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{Raw: s}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '{' at byte %d", i)
			}
			p, err := ParsePath(s[i+1 : i+1+end])
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tmplPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, tmplPart{path: p})
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("unmatched '}' at byte %d (write '}}' for a literal brace)", i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tmplPart{lit: lit.String()})
	}
	return t, nil
}

// Render fills the placeholders; a missing or non-scalar claim is an error.
func (t *Template) Render(claims map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		v, ok := p.path.lookup(claims)
		if !ok {
			return "", fmt.Errorf("claim %s is missing", p.path)
		}
		s, ok := scalar(v)
		if !ok {
			return "", fmt.Errorf("claim %s is not a string, number or boolean", p.path)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Ref names an object by id, or by name (with its domain for groups and
// projects).
type Ref struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Domain *Ref   `json:"domain,omitempty"`
}

// UserSpec is who the caller becomes: an existing user by id, or a
// federated shadow user named from claims.
type UserSpec struct {
	ID       string
	Name     *Template
	UniqueID *Template
}

// Grant is a role on a project or a domain.
type Grant struct {
	Role    Ref
	Project *Ref
	Domain  *Ref
}

// Scope is the scope of the issued token (nil: unscoped).
type Scope struct {
	Project *Ref
	Domain  *Ref
}

// Rule is one rule of a mapping.
type Rule struct {
	Match            []*Condition
	User             UserSpec
	Groups           []Ref
	Grants           []Grant
	Scope            *Scope
	MaxTokenLifetime time.Duration
}

// Mapping is a parsed, valid mapping document.
type Mapping struct {
	Rules []*Rule
	// Canonical is the document re-encoded (compact JSON) for storage.
	Canonical []byte
}

// Result is what Evaluate yields for the first matching rule.
type Result struct {
	Rule int
	// UserID is set for an existing user; otherwise UserName and UniqueID
	// describe the shadow user.
	UserID           string
	UserName         string
	UniqueID         string
	Groups           []Ref
	Grants           []Grant
	Scope            *Scope
	MaxTokenLifetime time.Duration
}

// Evaluate returns the outcome of the first rule whose conditions all
// hold; ErrNoMatch when none does, another error when the matching rule
// cannot render its user from the claims.
func (m *Mapping) Evaluate(claims map[string]any) (*Result, error) {
	for i, r := range m.Rules {
		ok := true
		for _, c := range r.Match {
			if !c.Match(claims) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		res := &Result{Rule: i, Groups: r.Groups, Grants: r.Grants, Scope: r.Scope, MaxTokenLifetime: r.MaxTokenLifetime}
		if r.User.ID != "" {
			res.UserID = r.User.ID
			return res, nil
		}
		name, err := r.User.Name.Render(claims)
		if err != nil {
			return nil, fmt.Errorf("rules[%d].user.name: %w", i, err)
		}
		uid := name
		if r.User.UniqueID != nil {
			if uid, err = r.User.UniqueID.Render(claims); err != nil {
				return nil, fmt.Errorf("rules[%d].user.unique_id: %w", i, err)
			}
		}
		if name == "" || uid == "" || len(name) > 255 || len(uid) > 255 {
			return nil, fmt.Errorf("rules[%d].user: rendered name or unique_id is empty or longer than 255 bytes", i)
		}
		res.UserName, res.UniqueID = name, uid
		return res, nil
	}
	return nil, ErrNoMatch
}

// Parse validates a mapping document ({"rules": [...]}) and compiles it.
// Every error is a *FieldError naming the offending field.
func Parse(data []byte) (*Mapping, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fieldErr("", "not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fieldErr("", "unexpected data after the JSON document")
	}
	return ParseValue(doc)
}

// ParseValue is Parse for an already decoded document (numbers as
// json.Number or float64).
func ParseValue(doc any) (*Mapping, error) {
	o, err := object("", doc, "rules")
	if err != nil {
		return nil, err
	}
	rules, err := o.list("rules", true, MaxRules)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, fieldErr("rules", "at least one rule is required")
	}
	m := &Mapping{}
	for i, rv := range rules {
		r, err := parseRule(fmt.Sprintf("rules[%d]", i), rv)
		if err != nil {
			return nil, err
		}
		m.Rules = append(m.Rules, r)
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, fieldErr("", "cannot encode: %v", err)
	}
	m.Canonical = canon
	return m, nil
}

func parseRule(path string, v any) (*Rule, error) {
	o, err := object(path, v, "match", "user", "groups", "grants", "scope", "max_token_lifetime")
	if err != nil {
		return nil, err
	}
	r := &Rule{}
	conds, err := o.list("match", true, MaxConditions)
	if err != nil {
		return nil, err
	}
	binds := false
	for i, cv := range conds {
		c, err := parseCondition(fmt.Sprintf("%s.match[%d]", path, i), cv)
		if err != nil {
			return nil, err
		}
		if !registeredClaims[c.Claim[0]] || len(c.Claim) > 1 {
			if c.binds() {
				binds = true
			}
		}
		r.Match = append(r.Match, c)
	}
	if !binds {
		return nil, fieldErr(path+".match", "must bind at least one claim other than iss, aud, exp, nbf, iat, jti and azp with a condition that pins its value: equals, any_of, or a glob or regex whose matches begin or end with literal text (one issuer can serve many tenants)")
	}
	uv, ok := o.m["user"]
	if !ok {
		return nil, fieldErr(path+".user", "is required")
	}
	if r.User, err = parseUser(path+".user", uv); err != nil {
		return nil, err
	}
	groups, err := o.list("groups", false, MaxListItems)
	if err != nil {
		return nil, err
	}
	for i, gv := range groups {
		g, err := parseRef(fmt.Sprintf("%s.groups[%d]", path, i), gv, domainRequired)
		if err != nil {
			return nil, err
		}
		r.Groups = append(r.Groups, g)
	}
	grants, err := o.list("grants", false, MaxListItems)
	if err != nil {
		return nil, err
	}
	for i, gv := range grants {
		g, err := parseGrant(fmt.Sprintf("%s.grants[%d]", path, i), gv)
		if err != nil {
			return nil, err
		}
		r.Grants = append(r.Grants, g)
	}
	if sv, ok := o.m["scope"]; ok && sv != nil {
		s, err := parseScope(path+".scope", sv)
		if err != nil {
			return nil, err
		}
		r.Scope = s
	}
	if lv, ok := o.m["max_token_lifetime"]; ok && lv != nil {
		n, ok := integer(lv)
		if !ok || n < 1 || n > MaxTokenLifetime {
			return nil, fieldErr(path+".max_token_lifetime", "must be an integer number of seconds between 1 and %d", MaxTokenLifetime)
		}
		r.MaxTokenLifetime = time.Duration(n) * time.Second
	}
	return r, nil
}

// binds reports whether the condition pins the claim's value: an exact
// value (equals, any_of), or a pattern whose every match begins or ends
// with literal text holding a letter or digit ("repo:acme/*",
// "*@example.com"). A pattern that only constrains the shape of a value
// (".+", "*", "*/*", "*acme*") binds nothing an attacker cannot satisfy:
// one issuer (GitHub, GitLab, a cloud's Kubernetes) serves every tenant.
func (c *Condition) binds() bool {
	switch c.Op {
	case "equals", "any_of":
		return true
	}
	re, err := syntax.Parse(c.re.String(), syntax.Perl)
	if err != nil {
		return false
	}
	return pinned(re.Simplify())
}

// pinned reports whether every string re matches (anchored at both ends)
// starts or ends with literal text that has a letter or digit.
func pinned(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return hasAlnum(re.Rune)
	case syntax.OpCapture:
		return pinned(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !pinned(s) {
				return false
			}
		}
		return len(re.Sub) > 0
	case syntax.OpConcat:
		subs := re.Sub
		for len(subs) > 0 && anchor(subs[0]) {
			subs = subs[1:]
		}
		for len(subs) > 0 && anchor(subs[len(subs)-1]) {
			subs = subs[:len(subs)-1]
		}
		if len(subs) == 0 {
			return false
		}
		return pinned(subs[0]) || pinned(subs[len(subs)-1])
	}
	return false
}

func anchor(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEmptyMatch:
		return true
	}
	return false
}

func hasAlnum(rs []rune) bool {
	for _, r := range rs {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

func parseCondition(path string, v any) (*Condition, error) {
	o, err := object(path, v, "claim", "equals", "any_of", "glob", "regex")
	if err != nil {
		return nil, err
	}
	c := &Condition{}
	cv, ok := o.m["claim"]
	if !ok {
		return nil, fieldErr(path+".claim", "is required")
	}
	switch x := cv.(type) {
	case string:
		p, err := ParsePath(x)
		if err != nil {
			return nil, fieldErr(path+".claim", "%v", err)
		}
		c.Claim = p
	case []any:
		if len(x) == 0 || len(x) > 16 {
			return nil, fieldErr(path+".claim", "a path array must have 1 to 16 keys")
		}
		for i, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, fieldErr(fmt.Sprintf("%s.claim[%d]", path, i), "must be a non-empty string")
			}
			c.Claim = append(c.Claim, s)
		}
	default:
		return nil, fieldErr(path+".claim", "must be a string path or an array of keys")
	}
	var ops []string
	for _, op := range []string{"equals", "any_of", "glob", "regex"} {
		if _, ok := o.m[op]; ok {
			ops = append(ops, op)
		}
	}
	if len(ops) != 1 {
		return nil, fieldErr(path, "needs exactly one of equals, any_of, glob, regex (has %d)", len(ops))
	}
	c.Op = ops[0]
	f := path + "." + c.Op
	switch c.Op {
	case "any_of":
		list, ok := o.m["any_of"].([]any)
		if !ok || len(list) == 0 || len(list) > MaxListItems {
			return nil, fieldErr(f, "must be a non-empty array of at most %d strings", MaxListItems)
		}
		for i, e := range list {
			s, ok := scalar(e)
			if !ok {
				return nil, fieldErr(fmt.Sprintf("%s[%d]", f, i), "must be a string, number or boolean")
			}
			if len(s) > MaxStringBytes {
				return nil, fieldErr(fmt.Sprintf("%s[%d]", f, i), "is longer than %d bytes", MaxStringBytes)
			}
			c.Values = append(c.Values, s)
		}
	default:
		s, ok := scalar(o.m[c.Op])
		if !ok {
			return nil, fieldErr(f, "must be a string")
		}
		if len(s) > MaxStringBytes {
			return nil, fieldErr(f, "is longer than %d bytes", MaxStringBytes)
		}
		if c.Op != "equals" && s == "" {
			return nil, fieldErr(f, "must not be empty")
		}
		c.Values = []string{s}
		switch c.Op {
		case "regex":
			re, err := regexp.Compile(`^(?:` + s + `)$`)
			if err != nil {
				return nil, fieldErr(f, "invalid regular expression: %v", err)
			}
			c.re = re
		case "glob":
			c.re = regexp.MustCompile(globRegexp(s))
		}
	}
	return c, nil
}

// globRegexp translates a glob: "*" is any run of characters except "/",
// "**" any run including "/", "?" one character except "/", "\" escapes
// the next character; everything else is literal.
func globRegexp(g string) string {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				b.WriteString(`.*`)
				i++
			} else {
				b.WriteString(`[^/]*`)
			}
		case '?':
			b.WriteString(`[^/]`)
		case '\\':
			if i+1 < len(g) {
				b.WriteString(regexp.QuoteMeta(g[i+1 : i+2]))
				i++
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(g[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return "(?s)" + b.String()
}

func parseUser(path string, v any) (UserSpec, error) {
	o, err := object(path, v, "id", "name", "unique_id")
	if err != nil {
		return UserSpec{}, err
	}
	id, err := o.str("id", false)
	if err != nil {
		return UserSpec{}, err
	}
	name, err := o.str("name", false)
	if err != nil {
		return UserSpec{}, err
	}
	uid, err := o.str("unique_id", false)
	if err != nil {
		return UserSpec{}, err
	}
	switch {
	case id != "" && (name != "" || uid != ""):
		return UserSpec{}, fieldErr(path, "give either id (an existing user) or name (a federated user), not both")
	case id != "":
		return UserSpec{ID: id}, nil
	case name == "":
		return UserSpec{}, fieldErr(path, "needs id or name")
	}
	u := UserSpec{}
	if u.Name, err = ParseTemplate(name); err != nil {
		return UserSpec{}, fieldErr(path+".name", "invalid template: %v", err)
	}
	if uid != "" {
		if u.UniqueID, err = ParseTemplate(uid); err != nil {
			return UserSpec{}, fieldErr(path+".unique_id", "invalid template: %v", err)
		}
	}
	return u, nil
}

// Domain rules of a Ref.
const (
	noDomain       = 0
	domainRequired = 1 // by name: groups and projects
	domainOptional = 2 // by name: roles (none = a global role)
)

// parseRef parses {"id"} or {"name", "domain": {"id"|"name"}}.
func parseRef(path string, v any, mode int) (Ref, error) {
	withDomain := mode != noDomain
	keys := []string{"id", "name"}
	if withDomain {
		keys = append(keys, "domain")
	}
	o, err := object(path, v, keys...)
	if err != nil {
		return Ref{}, err
	}
	var r Ref
	if r.ID, err = o.str("id", false); err != nil {
		return Ref{}, err
	}
	if r.Name, err = o.str("name", false); err != nil {
		return Ref{}, err
	}
	_, hasDomain := o.m["domain"]
	switch {
	case r.ID != "" && (r.Name != "" || hasDomain):
		return Ref{}, fieldErr(path, "give either id or name, not both")
	case r.ID == "" && r.Name == "":
		return Ref{}, fieldErr(path, "needs id or name")
	case r.Name != "" && withDomain:
		if !hasDomain && mode == domainOptional {
			return r, nil
		}
		if !hasDomain {
			return Ref{}, fieldErr(path+".domain", "is required with name")
		}
		d, err := parseRef(path+".domain", o.m["domain"], noDomain)
		if err != nil {
			return Ref{}, err
		}
		r.Domain = &d
	}
	return r, nil
}

func parseTarget(path string, o *obj) (project, domain *Ref, err error) {
	pv, hasP := o.m["project"]
	dv, hasD := o.m["domain"]
	if hasP == hasD {
		return nil, nil, fieldErr(path, "needs exactly one of project, domain")
	}
	if hasP {
		p, err := parseRef(path+".project", pv, domainRequired)
		return &p, nil, err
	}
	d, err := parseRef(path+".domain", dv, noDomain)
	return nil, &d, err
}

func parseGrant(path string, v any) (Grant, error) {
	o, err := object(path, v, "role", "project", "domain")
	if err != nil {
		return Grant{}, err
	}
	rv, ok := o.m["role"]
	if !ok {
		return Grant{}, fieldErr(path+".role", "is required")
	}
	g := Grant{}
	if g.Role, err = parseRef(path+".role", rv, domainOptional); err != nil {
		return Grant{}, err
	}
	g.Project, g.Domain, err = parseTarget(path, o)
	return g, err
}

func parseScope(path string, v any) (*Scope, error) {
	o, err := object(path, v, "project", "domain")
	if err != nil {
		return nil, err
	}
	s := &Scope{}
	s.Project, s.Domain, err = parseTarget(path, o)
	return s, err
}

// obj is a JSON object being validated at path.
type obj struct {
	path string
	m    map[string]any
}

func object(path string, v any, allowed ...string) (*obj, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(path, "must be an object")
	}
	ok2 := map[string]bool{}
	for _, k := range allowed {
		ok2[k] = true
	}
	var unknown []string
	for k := range m {
		if !ok2[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		f := unknown[0]
		if path != "" {
			f = path + "." + f
		}
		return nil, fieldErr(f, "unknown field (allowed: %s)", strings.Join(allowed, ", "))
	}
	return &obj{path: path, m: m}, nil
}

func (o *obj) field(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

func (o *obj) str(k string, required bool) (string, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		if required {
			return "", fieldErr(o.field(k), "is required")
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(o.field(k), "must be a string")
	}
	if s == "" {
		return "", fieldErr(o.field(k), "must not be empty")
	}
	if len(s) > MaxStringBytes {
		return "", fieldErr(o.field(k), "is longer than %d bytes", MaxStringBytes)
	}
	return s, nil
}

func (o *obj) list(k string, required bool, max int) ([]any, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		if required {
			return nil, fieldErr(o.field(k), "is required")
		}
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fieldErr(o.field(k), "must be an array")
	}
	if len(l) > max {
		return nil, fieldErr(o.field(k), "has more than %d items", max)
	}
	return l, nil
}

func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}
