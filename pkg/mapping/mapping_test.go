package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	user := `"user": {"name": "u-{sub}"}`
	cases := []struct {
		name, doc, field, msg string
	}{
		{"not json", `{`, "", "not valid JSON"},
		{"not object", `[]`, "", "must be an object"},
		{"no rules", `{}`, "rules", "is required"},
		{"empty rules", `{"rules": []}`, "rules", "at least one rule"},
		{"unknown top", `{"rules": [], "x": 1}`, "x", "unknown field"},
		{"rule not object", `{"rules": [1]}`, "rules[0]", "must be an object"},
		{"unknown rule field", `{"rules": [{"match": [], "usr": {}}]}`, "rules[0].usr", "unknown field"},
		{"no match", `{"rules": [{` + user + `}]}`, "rules[0].match", "is required"},
		{"iss only", `{"rules": [{"match": [{"claim": "iss", "equals": "https://x"}], ` + user + `}]}`, "rules[0].match", "must bind at least one claim"},
		{"aud and iss only", `{"rules": [{"match": [{"claim": "iss", "equals": "a"}, {"claim": "aud", "equals": "b"}], ` + user + `}]}`, "rules[0].match", "must bind"},
		{"match-all glob", `{"rules": [{"match": [{"claim": "repository", "glob": "**"}], ` + user + `}]}`, "rules[0].match", "must bind"},
		{"match-all regex", `{"rules": [{"match": [{"claim": "sub", "regex": "(?s).*"}], ` + user + `}]}`, "rules[0].match", "must bind"},
		{"bad regex", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}, {"claim": "ref", "regex": "refs/(heads"}], ` + user + `}]}`, "rules[0].match[1].regex", "invalid regular expression"},
		{"two ops", `{"rules": [{"match": [{"claim": "sub", "equals": "x", "glob": "y*"}], ` + user + `}]}`, "rules[0].match[0]", "exactly one of"},
		{"no op", `{"rules": [{"match": [{"claim": "sub"}], ` + user + `}]}`, "rules[0].match[0]", "exactly one of"},
		{"empty any_of", `{"rules": [{"match": [{"claim": "sub", "any_of": []}], ` + user + `}]}`, "rules[0].match[0].any_of", "non-empty array"},
		{"any_of object item", `{"rules": [{"match": [{"claim": "sub", "any_of": ["a", {}]}], ` + user + `}]}`, "rules[0].match[0].any_of[1]", "must be a string"},
		{"bad claim path", `{"rules": [{"match": [{"claim": "a..b", "equals": "x"}], ` + user + `}]}`, "rules[0].match[0].claim", "empty segment"},
		{"bad claim escape", `{"rules": [{"match": [{"claim": "a\\b", "equals": "x"}], ` + user + `}]}`, "rules[0].match[0].claim", "backslash"},
		{"claim array item", `{"rules": [{"match": [{"claim": ["a", 1], "equals": "x"}], ` + user + `}]}`, "rules[0].match[0].claim[1]", "non-empty string"},
		{"no user", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}]}]}`, "rules[0].user", "is required"},
		{"user id and name", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], "user": {"id": "a", "name": "b"}}]}`, "rules[0].user", "either id"},
		{"user template", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], "user": {"name": "gh-{repository"}}]}`, "rules[0].user.name", "unclosed"},
		{"user template brace", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], "user": {"name": "gh-}"}}]}`, "rules[0].user.name", "unmatched"},
		{"group name without domain", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "groups": [{"name": "g"}]}]}`, "rules[0].groups[0].domain", "is required"},
		{"grant without target", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "grants": [{"role": {"name": "member"}}]}]}`, "rules[0].grants[0]", "exactly one of project, domain"},
		{"grant two targets", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "grants": [{"role": {"id": "r"}, "project": {"id": "p"}, "domain": {"id": "d"}}]}]}`, "rules[0].grants[0]", "exactly one of"},
		{"grant role missing", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "grants": [{"project": {"id": "p"}}]}]}`, "rules[0].grants[0].role", "is required"},
		{"project by name without domain", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "scope": {"project": {"name": "p"}}}]}`, "rules[0].scope.project.domain", "is required"},
		{"lifetime zero", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "max_token_lifetime": 0}]}`, "rules[0].max_token_lifetime", "between 1"},
		{"lifetime fraction", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `, "max_token_lifetime": 1.5}]}`, "rules[0].max_token_lifetime", "integer"},
		{"second rule bad", `{"rules": [{"match": [{"claim": "sub", "equals": "x"}], ` + user + `}, {"match": [{"claim": "sub", "glob": ""}], ` + user + `}]}`, "rules[1].match[0].glob", "must not be empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want FieldError, got %v", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got field %q msg %q; want field %q containing %q", fe.Field, fe.Msg, tc.field, tc.msg)
			}
			if tc.field != "" && !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Fatalf("error %q does not start with the field", err)
			}
		})
	}
}

const sample = `{"rules": [
 {"match": [{"claim": "repository", "equals": "acme/app"}, {"claim": "ref", "any_of": ["refs/heads/main", "refs/heads/release"]}],
  "user": {"name": "gh-{repository}", "unique_id": "{repository_id}"},
  "groups": [{"id": "g1"}, {"name": "deployers", "domain": {"name": "ci"}}],
  "grants": [{"role": {"name": "member"}, "project": {"name": "app", "domain": {"id": "d1"}}}],
  "scope": {"project": {"name": "app", "domain": {"id": "d1"}}},
  "max_token_lifetime": 900},
 {"match": [{"claim": "repository_owner", "equals": "acme"}, {"claim": "ref", "glob": "refs/heads/*"}],
  "user": {"name": "gh-{repository_owner}-branch"}},
 {"match": [{"claim": "kubernetes\\.io.namespace", "glob": "prod-*"}, {"claim": ["kubernetes.io", "serviceaccount", "name"], "regex": "deploy(er)?"}],
  "user": {"name": "k8s-{kubernetes\\.io.namespace}-{kubernetes\\.io.serviceaccount.name}"},
  "scope": {"domain": {"name": "k8s"}}},
 {"match": [{"claim": "groups", "any_of": ["ops", "sre"]}, {"claim": "project_path", "regex": "infra/.+"}],
  "user": {"id": "svc-user-id"}},
 {"match": [{"claim": "run_number", "equals": "42"}, {"claim": "email_verified", "equals": "true"}],
  "user": {"name": "num-{run_number}"}}
]}`

func TestEvaluate(t *testing.T) {
	m, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		claims   string
		rule     int
		userName string
		uniqueID string
		userID   string
		err      error
	}{
		{"github main", `{"iss": "x", "repository": "acme/app", "repository_id": "123", "ref": "refs/heads/main"}`, 0, "gh-acme/app", "123", "", nil},
		{"github branch falls to rule 1", `{"repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/feature"}`, 1, "gh-acme-branch", "gh-acme-branch", "", nil},
		{"github glob does not cross slash", `{"repository_owner": "acme", "ref": "refs/heads/feat/x"}`, 0, "", "", "", ErrNoMatch},
		{"github other owner", `{"repository": "evil/app", "repository_owner": "evil", "ref": "refs/heads/main"}`, 0, "", "", "", ErrNoMatch},
		{"github missing unique claim", `{"repository": "acme/app", "ref": "refs/heads/main"}`, 0, "", "", "", errors.New("unique_id")},
		{"kubernetes", `{"sub": "system:serviceaccount:prod-a:deployer", "kubernetes.io": {"namespace": "prod-a", "serviceaccount": {"name": "deployer"}}}`, 2, "k8s-prod-a-deployer", "k8s-prod-a-deployer", "", nil},
		{"kubernetes regex anchored", `{"kubernetes.io": {"namespace": "prod-a", "serviceaccount": {"name": "xdeployer"}}}`, 0, "", "", "", ErrNoMatch},
		{"kubernetes wrong ns", `{"kubernetes.io": {"namespace": "dev", "serviceaccount": {"name": "deploy"}}}`, 0, "", "", "", ErrNoMatch},
		{"array claim any element", `{"groups": ["dev", "sre"], "project_path": "infra/net"}`, 3, "", "", "svc-user-id", nil},
		{"array claim none", `{"groups": ["dev"], "project_path": "infra/net"}`, 0, "", "", "", ErrNoMatch},
		{"object claim never matches", `{"groups": {"sre": true}, "project_path": "infra/net"}`, 0, "", "", "", ErrNoMatch},
		{"number and bool claims", `{"run_number": 42, "email_verified": true}`, 4, "num-42", "num-42", "", nil},
		{"empty claims", `{}`, 0, "", "", "", ErrNoMatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var claims map[string]any
			dec := json.NewDecoder(strings.NewReader(tc.claims))
			dec.UseNumber()
			if err := dec.Decode(&claims); err != nil {
				t.Fatal(err)
			}
			res, err := m.Evaluate(claims)
			if tc.err != nil {
				if err == nil || (!errors.Is(err, tc.err) && !strings.Contains(err.Error(), tc.err.Error())) {
					t.Fatalf("want error %v, got %v (%+v)", tc.err, err, res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Rule != tc.rule || res.UserName != tc.userName || res.UniqueID != tc.uniqueID || res.UserID != tc.userID {
				t.Fatalf("got rule %d user %q/%q id %q", res.Rule, res.UserName, res.UniqueID, res.UserID)
			}
		})
	}
	r0 := m.Rules[0]
	if r0.MaxTokenLifetime != 900*time.Second || len(r0.Groups) != 2 || r0.Groups[1].Domain.Name != "ci" || r0.Scope.Project.Name != "app" || r0.Grants[0].Role.Name != "member" {
		t.Fatalf("rule 0 parsed wrongly: %+v", r0)
	}
}

func TestPathRoundTrip(t *testing.T) {
	for _, s := range []string{"a", "a.b", `kubernetes\.io.namespace`, `a\\.b`, `x\\\.y`} {
		p, err := ParsePath(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if p.String() != s {
			t.Fatalf("%q -> %q -> %q", s, []string(p), p.String())
		}
	}
}

func TestTemplateLiteralBraces(t *testing.T) {
	tp, err := ParseTemplate("{{x}}-{a.b}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tp.Render(map[string]any{"a": map[string]any{"b": "v"}})
	if err != nil || got != "{x}-v" {
		t.Fatalf("got %q %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"rules": [{"match": [{"claim": "a", "regex": "(a|b)*"}], "user": {"name": "{a}"}}]}`))
	f.Add([]byte(`{"rules": [{"match": [{"claim": ["x.y"], "glob": "**/?\\*"}], "user": {"id": "u"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		// A valid mapping re-parses from its canonical form and evaluates
		// without panicking.
		m2, err := Parse(m.Canonical)
		if err != nil || len(m2.Rules) != len(m.Rules) {
			t.Fatalf("canonical form does not re-parse: %v", err)
		}
		var claims map[string]any
		_ = json.Unmarshal(data, &claims)
		_, _ = m.Evaluate(claims)
		_, _ = m.Evaluate(map[string]any{"a": "a", "x.y": "q"})
	})
}

// TestBinds: a condition binds only when it pins the value (issue 14,
// finding 8: ".+", "*" and "*/*" used to pass a probe-based check).
func TestBinds(t *testing.T) {
	for _, tc := range []struct {
		op, pattern string
		want        bool
	}{
		{"regex", ".+", false},
		{"regex", "(?s).*", false},
		{"regex", "x.*|.+", false},
		{"regex", ".*acme.*", false},
		{"regex", "[a-z]+/[a-z]+", false},
		{"regex", "::", false},
		{"regex", "repo:acme/.*", true},
		{"regex", ".*@example\\.com", true},
		{"regex", "(repo:acme/app|repo:acme/web):ref:.*", true},
		{"regex", "(repo:acme/app|.*):ref:.*", false},
		{"regex", "acme", true},
		{"glob", "*", false},
		{"glob", "**", false},
		{"glob", "*/*", false},
		{"glob", "?", false},
		{"glob", "*acme*", false},
		{"glob", "repo:acme/*", true},
		{"glob", "*@example.com", true},
		{"glob", "refs/heads/*", true},
		{"equals", "x", true},
	} {
		t.Run(tc.op+" "+tc.pattern, func(t *testing.T) {
			doc := `{"rules": [{"match": [{"claim": "sub", "` + tc.op + `": ` + jsonString(tc.pattern) + `}], "user": {"name": "u"}}]}`
			_, err := Parse([]byte(doc))
			if got := err == nil; got != tc.want {
				t.Fatalf("binds = %v, want %v (err %v)", got, tc.want, err)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
