package policy

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func evalRule(t *testing.T, rules map[string]any, target Target, creds Credentials) (bool, error) {
	t.Helper()
	rs, err := buildRuleSet(nil, rules, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := rs.lookup("r")
	if n == nil {
		return false, nil
	}
	c := evalCtx{target: target, creds: creds, rules: rs}
	return n.eval(&c, 0)
}

func TestSyntax(t *testing.T) {
	creds := Credentials{
		"user_id": "u1", "roles": []string{"Member", "reader"}, "project_id": "p1",
		"is_admin": false, "system_scope": "", "tags": []any{"a", "b"},
		"token": map[string]any{"project": map[string]any{"domain": map[string]any{"id": "d1"}}},
		"n":     3, "flag": true,
	}
	target := Target{
		"target.token.user_id": "u1",
		"target":               map[string]any{"domain": map[string]any{"id": "d1"}},
		"enabled":              true,
		"name":                 "Member",
	}
	cases := []struct {
		name    string
		rule    any
		extra   map[string]any
		want    bool
		wantErr bool
	}{
		{name: "always_at", rule: "@", want: true},
		{name: "never_bang", rule: "!", want: false},
		{name: "empty_always", rule: "", want: true},
		{name: "blank_is_malformed", rule: " \t", want: false},
		{name: "role_case_insensitive", rule: "role:MEMBER", want: true},
		{name: "role_absent", rule: "role:admin", want: false},
		{name: "role_substituted", rule: "role:%(name)s", want: true},
		{name: "generic_literal", rule: "project_id:p1", want: true},
		{name: "generic_substitution", rule: "user_id:%(target.token.user_id)s", want: true},
		{name: "generic_missing_target_key", rule: "user_id:%(target.nope)s", want: false},
		{name: "generic_nested_target", rule: "token.project.domain.id:%(target.domain.id)s", want: true},
		{name: "generic_dotted_creds", rule: "token.project.domain.id:d1", want: true},
		{name: "generic_list_any", rule: "tags:b", want: true},
		{name: "generic_list_none", rule: "tags:c", want: false},
		{name: "generic_int_str", rule: "n:3", want: true},
		{name: "generic_bool_is_True", rule: "flag:True", want: true},
		{name: "is_admin_false_not_1", rule: "is_admin:1", want: false},
		{name: "left_literal_quoted", rule: "'Member':%(name)s", want: true},
		{name: "left_literal_True", rule: "True:%(enabled)s", want: true},
		{name: "left_literal_False", rule: "False:%(enabled)s", want: false},
		{name: "right_quote_not_stripped", rule: "project_id:'p1'", want: false},
		{name: "keywords_case_insensitive", rule: "role:reader AND NOT role:admin", want: true},
		{name: "and", rule: "role:reader and project_id:p2", want: false},
		{name: "or", rule: "role:admin or project_id:p1", want: true},
		{name: "not", rule: "not role:admin", want: true},
		{name: "prec_and_over_or", rule: "role:reader or role:admin and project_id:p2", want: true},
		{name: "prec_and_over_or_2", rule: "role:admin and project_id:p2 or role:reader", want: true},
		{name: "prec_parens", rule: "(role:reader or role:admin) and project_id:p2", want: false},
		{name: "prec_not_over_and", rule: "not role:admin and role:reader", want: true},
		{name: "not_parens", rule: "not (role:admin or role:reader)", want: false},
		{name: "rule_ref", rule: "rule:x", extra: map[string]any{"x": "role:reader"}, want: true},
		{name: "rule_undefined_false", rule: "rule:nope", want: false},
		{name: "rule_undefined_uses_default", rule: "rule:nope", extra: map[string]any{"default": "@"}, want: true},
		{name: "malformed_unbalanced", rule: "(role:reader", want: false},
		{name: "malformed_no_colon_is_false_check", rule: "reader or role:reader", want: true},
		{name: "malformed_adjacent_checks", rule: "role:reader role:Member", want: false},
		{name: "malformed_dangling_or", rule: "role:reader or", want: false},
		{name: "http_unsupported", rule: "http://example.com/ or role:reader", want: true},
		{name: "https_false", rule: "https://example.com/", want: false},
		{name: "list_or", rule: []any{[]any{"role:admin"}, []any{"role:reader"}}, want: true},
		{name: "list_and", rule: []any{[]any{"role:reader", "project_id:p2"}}, want: false},
		{name: "list_empty_true", rule: []any{}, want: true},
		{name: "list_only_empty_false", rule: []any{[]any{}}, want: false},
		{name: "null_rule_true", rule: nil, want: true},
		{name: "cycle_error", rule: "rule:a", extra: map[string]any{"a": "rule:r"}, wantErr: true},
		{name: "keyword_only_error", rule: "and", wantErr: true},
		{name: "bare_string_error", rule: "'role:reader'", wantErr: true},
		{name: "kind_syntax_error", rule: "'x:1", wantErr: true},
		{name: "index_into_string_error", rule: "user_id.x:1", wantErr: true},
		{name: "bad_format_error", rule: "user_id:%d", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := map[string]any{"r": c.rule}
			for k, v := range c.extra {
				rules[k] = v
			}
			got, err := evalRule(t, rules, target, creds)
			if c.wantErr {
				if err == nil {
					t.Fatalf("want error, got %v", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestParseRuleString(t *testing.T) {
	cases := map[string]string{
		"a:1 or b:2 and c:3":           "(a:1 or (b:2 and c:3))",
		"not a:1 and b:2 or c:3":       "((not a:1 and b:2) or c:3)",
		"a:1 or (b:2 and c:3) and d:4": "(a:1 or (b:2 and c:3 and d:4))",
		"(a:1":                         "!",
		"":                             "@",
	}
	for in, want := range cases {
		if got := ParseRule(in); got != want {
			t.Errorf("ParseRule(%q) = %q, want %q", in, got, want)
		}
	}
}

func subjectTarget() Target {
	return Target{"target.token.user_id": "u-subject", "target.token.user.domain.id": "default"}
}

func TestDefaults(t *testing.T) {
	type persona struct {
		name  string
		creds Credentials
		// expected for validate (GET) and check (HEAD), identical for
		// enforce_new_defaults false and true with keystone's defaults.
		validate, check bool
	}
	personas := []persona{
		{"admin_project", Credentials{"user_id": "u-a", "roles": []string{"admin", "member", "reader"}, "project_id": "p1"}, true, true},
		{"admin_domain", Credentials{"user_id": "u-a", "roles": []string{"admin"}, "domain_id": "d1"}, true, true},
		{"service", Credentials{"user_id": "u-s", "roles": []string{"service"}, "project_id": "p-svc"}, true, false},
		{"reader_on_system", Credentials{"user_id": "u-r", "roles": []string{"reader"}, "system_scope": "all"}, true, true},
		{"reader_on_project", Credentials{"user_id": "u-r", "roles": []string{"reader"}, "project_id": "p1"}, false, false},
		{"member_project", Credentials{"user_id": "u-m", "roles": []string{"member", "reader"}, "project_id": "p1"}, false, false},
		{"subject_user", Credentials{"user_id": "u-subject", "roles": []string{"member"}, "project_id": "p1"}, true, true},
		{"subject_unscoped", Credentials{"user_id": "u-subject", "roles": []string{}}, true, true},
		{"other_user", Credentials{"user_id": "u-other", "roles": []string{}}, false, false},
		{"is_admin_bool", Credentials{"user_id": "u-x", "is_admin": true, "roles": []string{}}, false, false},
	}
	for _, newDefaults := range []bool{false, true} {
		for _, scope := range []bool{false, true} {
			e, err := New(Options{PolicyFile: "/nonexistent/policy.yaml", PolicyDirs: []string{}, EnforceNewDefaults: newDefaults, EnforceScope: scope})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range personas {
				for rule, want := range map[string]bool{RuleValidateToken: p.validate, RuleCheckToken: p.check} {
					got, err := e.Enforce(rule, subjectTarget(), p.creds)
					if err != nil || got != want {
						t.Errorf("new_defaults=%v scope=%v %s %s: got %v, %v; want %v", newDefaults, scope, p.name, rule, got, err, want)
					}
				}
			}
		}
	}
}

func TestDeprecatedOr(t *testing.T) {
	old, _ := New(Options{PolicyFile: "/nonexistent", PolicyDirs: []string{}})
	nw, _ := New(Options{PolicyFile: "/nonexistent", PolicyDirs: []string{}, EnforceNewDefaults: true})
	wantOld := "((rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject) or rule:service_admin_or_token_subject)"
	wantNew := "(rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject)"
	if got := old.cur.Load().rules[RuleValidateToken].String(); got != wantOld {
		t.Errorf("enforce_new_defaults=false: %s", got)
	}
	if got := nw.cur.Load().rules[RuleValidateToken].String(); got != wantNew {
		t.Errorf("enforce_new_defaults=true: %s", got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOverrides(t *testing.T) {
	member := Credentials{"user_id": "u-m", "roles": []string{"member"}, "project_id": "p1"}
	admin := Credentials{"user_id": "u-a", "roles": []string{"admin"}, "project_id": "p1"}
	cases := []struct {
		name       string
		file       string // policy.yaml under the search dir ("" = none)
		fileName   string
		dir        map[string]string
		opts       Options
		creds      Credentials
		rule       string
		want       bool
		wantNewErr bool
	}{
		{name: "yaml_override", file: "\"identity:validate_token\": \"role:member\"\n", creds: member, rule: RuleValidateToken, want: true},
		{name: "yaml_override_replaces_entirely", file: "\"identity:validate_token\": \"role:member\"\n", creds: admin, rule: RuleValidateToken, want: false},
		{name: "json_override", fileName: "policy.json", file: `{"identity:check_token": "role:member"}`, opts: Options{PolicyFile: "policy.json"}, creds: member, rule: RuleCheckToken, want: true},
		{name: "json_fallback_when_unset", fileName: "policy.json", file: `{"identity:check_token": "role:member"}`, creds: member, rule: RuleCheckToken, want: true},
		{name: "explicit_yaml_no_json_fallback", fileName: "policy.json", file: `{"identity:check_token": "role:member"}`, opts: Options{PolicyFile: "policy.yaml"}, creds: member, rule: RuleCheckToken, want: false},
		{name: "base_rule_override", file: "admin_required: role:boss\n", creds: admin, rule: RuleValidateToken, want: false},
		{name: "policy_d_sorted_last_wins",
			file: "\"identity:validate_token\": \"!\"\n",
			dir: map[string]string{
				"policy.d/10.yaml":    "\"identity:validate_token\": \"role:nobody\"\n",
				"policy.d/20.json":    `{"identity:validate_token": "role:member"}`,
				"policy.d/.skip.yaml": "\"identity:validate_token\": \"!\"\n",
			}, creds: member, rule: RuleValidateToken, want: true},
		{name: "policy_d_without_file", dir: map[string]string{"policy.d/a.yaml": "\"identity:check_token\": \"role:member\"\n"}, creds: member, rule: RuleCheckToken, want: true},
		{name: "custom_policy_dir", dir: map[string]string{"extra/a.yaml": "\"identity:check_token\": \"role:member\"\n"}, opts: Options{PolicyDirs: []string{"extra"}}, creds: member, rule: RuleCheckToken, want: true},
		{name: "missing_file_defaults", creds: admin, rule: RuleValidateToken, want: true},
		{name: "empty_file_defaults", file: "\n", creds: admin, rule: RuleValidateToken, want: true},
		{name: "default_rule_for_unknown", file: "default: role:member\n", creds: member, rule: "identity:whatever", want: true},
		{name: "unknown_without_default", creds: admin, rule: "identity:whatever", want: false},
		{name: "malformed_yaml", file: "a: [unclosed\n", wantNewErr: true},
		{name: "not_a_mapping", file: "- a\n- b\n", wantNewErr: true},
		{name: "bad_rule_value", file: "a: 5\n", wantNewErr: true},
		{name: "policy_dir_is_file", dir: map[string]string{"policy.d": "x: y\n"}, wantNewErr: true},
		{name: "malformed_rule_is_never", file: "\"identity:validate_token\": \"role:admin or\"\n", creds: admin, rule: RuleValidateToken, want: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.file != "" {
				name := c.fileName
				if name == "" {
					name = "policy.yaml"
				}
				writeFile(t, filepath.Join(dir, name), c.file)
			}
			for p, content := range c.dir {
				writeFile(t, filepath.Join(dir, p), content)
			}
			opts := c.opts
			opts.SearchDirs = []string{filepath.Join(dir, "nonexistent"), dir}
			e, err := New(opts)
			if c.wantNewErr {
				if err == nil {
					t.Fatal("want error from New")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Enforce(c.rule, subjectTarget(), c.creds)
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	member := Credentials{"user_id": "u-m", "roles": []string{"member"}, "project_id": "p1"}
	var logs bytes.Buffer
	e, err := New(Options{PolicyFile: pf, PolicyDirs: []string{filepath.Join(dir, "policy.d")},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	e.now = clk.now
	e.nextCheck.Store(clk.now().Add(reloadInterval).UnixNano())
	check := func(step string, want bool) {
		t.Helper()
		got, err := e.Enforce(RuleValidateToken, subjectTarget(), member)
		if err != nil || got != want {
			t.Fatalf("%s: got %v, %v; want %v", step, got, err, want)
		}
	}
	bump := func(path string, n int) {
		mt := time.Now().Add(time.Duration(n) * time.Minute)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	check("no file", false)

	writeFile(t, pf, "\"identity:validate_token\": \"role:member\"\n")
	check("created, within interval", false)
	clk.add(1100 * time.Millisecond)
	check("created, after interval", true)

	writeFile(t, pf, "\"identity:validate_token\": \"!\"\n")
	bump(pf, 1)
	clk.add(1100 * time.Millisecond)
	check("changed", false)

	writeFile(t, filepath.Join(dir, "policy.d", "z.yaml"), "\"identity:validate_token\": \"role:member\"\n")
	clk.add(1100 * time.Millisecond)
	check("policy.d file added", true)

	writeFile(t, pf, "a: [broken\n")
	bump(pf, 2)
	clk.add(1100 * time.Millisecond)
	check("malformed on reload keeps previous rules", true)
	if !strings.Contains(logs.String(), "keeping previous rules") {
		t.Errorf("no error logged: %s", logs.String())
	}

	writeFile(t, pf, "{}")
	bump(pf, 3)
	if err := os.Remove(filepath.Join(dir, "policy.d", "z.yaml")); err != nil {
		t.Fatal(err)
	}
	clk.add(1100 * time.Millisecond)
	check("fixed and policy.d removed: defaults", false)

	if err := os.Remove(pf); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "policy.d", "y.yaml"), "\"identity:validate_token\": \"@\"\n")
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	check("explicit Reload", true)
}

func TestReloadConcurrent(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	writeFile(t, pf, "\"identity:validate_token\": \"role:member\"\n")
	e, err := New(Options{PolicyFile: pf})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	e.now = clk.now
	member := Credentials{"user_id": "u-m", "roles": []string{"member"}}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, err := e.Enforce(RuleValidateToken, subjectTarget(), member); err != nil {
					t.Error(err)
					return
				}
				if g == 0 && i%50 == 0 {
					clk.add(2 * time.Second)
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		writeFile(t, pf, "\"identity:validate_token\": \"role:member or role:x"+strings.Repeat(" or role:y", i)+"\"\n")
		mt := time.Now().Add(time.Duration(i+1) * time.Minute)
		_ = os.Chtimes(pf, mt, mt)
	}
	wg.Wait()
}

func TestScope(t *testing.T) {
	cases := []struct {
		name  string
		creds Credentials
		want  string
	}{
		{"system", Credentials{"system_scope": "all"}, "system"},
		{"system_key", Credentials{"system": "all"}, "system"},
		{"domain", Credentials{"domain_id": "d1"}, "domain"},
		{"project", Credentials{"project_id": "p1"}, "project"},
		{"unscoped_is_project", Credentials{}, "project"},
		{"empty_system_scope", Credentials{"system_scope": "", "domain_id": "d"}, "domain"},
	}
	for _, c := range cases {
		if got := tokenScope(c.creds); got != c.want {
			t.Errorf("%s: %s want %s", c.name, got, c.want)
		}
	}
	// A rule registered with scope_types that exclude the token's scope
	// is denied only with enforce_scope.
	defs := []ruleDefault{{name: "r", checkStr: "@", scopeTypes: []string{"system"}}}
	for _, enforce := range []bool{false, true} {
		e := &Enforcer{opts: Options{EnforceScope: enforce}, log: slog.New(slog.DiscardHandler), now: time.Now}
		rs, err := buildRuleSet(defs, nil, false, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.cur.Store(rs)
		e.nextCheck.Store(time.Now().Add(time.Hour).UnixNano())
		got, _ := e.Enforce("r", nil, Credentials{"project_id": "p"})
		if got != !enforce {
			t.Errorf("enforce_scope=%v: got %v", enforce, got)
		}
		got, _ = e.Enforce("r", nil, Credentials{"system_scope": "all"})
		if !got {
			t.Errorf("enforce_scope=%v system: denied", enforce)
		}
	}
}

func TestHTTPLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policy.yaml"), "a: http://x/ or role:y\nb: https://z/\n")
	var logs bytes.Buffer
	_, err := New(Options{SearchDirs: []string{dir}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "not supported"); n != 1 {
		t.Errorf("http warning logged %d times:\n%s", n, logs.String())
	}
}

func TestErrorsAreWrapped(t *testing.T) {
	_, err := evalRule(t, map[string]any{"r": "rule:r"}, nil, Credentials{})
	if !errors.Is(err, ErrRecursion) {
		t.Errorf("got %v", err)
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"", "@", "!", "role:admin or (a:1 and not b:%(c)s)", "((", "))", "'x'", "a:%(", "not", "rule:x and", "'a':b", "1e5:x", "-0x1f:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		if utf8.ValidString(rule) && !lowerEq(rule, strings.ToLower(rule)) {
			t.Fatalf("lowerEq(%q) disagrees with strings.ToLower", rule)
		}
		n := parseText(rule, func(string, string) {})
		_ = n.String()
		rs, err := buildRuleSet(nil, map[string]any{"r": rule, "x": "role:a"}, false, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := evalCtx{target: Target{"c": "v", "a.b": 1}, creds: Credentials{"roles": []string{"a"}, "a": "b"}, rules: rs}
		_, _ = rs.lookup("r").eval(&c, 0)
	})
}

func BenchmarkEnforceValidateToken(b *testing.B) {
	e, err := New(Options{PolicyFile: "/nonexistent", PolicyDirs: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	target := subjectTarget()
	personas := map[string]Credentials{
		"subject": {"user_id": "u-subject", "roles": []string{"member", "reader"}, "project_id": "p1", "system_scope": nil, "domain_id": nil},
		"denied":  {"user_id": "u-other", "roles": []string{"member", "reader"}, "project_id": "p1", "system_scope": nil, "domain_id": nil},
	}
	for name, creds := range personas {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Enforce(RuleValidateToken, target, creds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
