package authz

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRegoUnitTests runs the shipped *_test.rego files, as `opa test pkg/authz/rego` would.
func TestRegoUnitTests(t *testing.T) {
	ctx := context.Background()
	mods := map[string]*ast.Module{}
	nTestFiles := 0
	for base, text := range Modules() {
		name := path.Join(regoDir, base)
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods[name] = m
		if isTestFile(base) {
			nTestFiles++
		}
	}
	if nTestFiles == 0 {
		t.Fatal("no *_test.rego files shipped")
	}
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(mods).
		RunTests(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for r := range ch {
		if r.Skip {
			t.Logf("SKIP %s.%s", r.Package, r.Name)
			continue
		}
		ran++
		switch {
		case r.Error != nil:
			t.Errorf("ERROR %s (%s): %v", r.Name, r.Location, r.Error)
		case r.Fail:
			t.Errorf("FAIL %s (%s)%s", r.Name, r.Location, output(r.Output))
		default:
			t.Logf("PASS %s", r.Name)
		}
	}
	if ran == 0 {
		t.Fatal("no Rego tests ran")
	}
	t.Logf("%d Rego tests ran", ran)
}

func output(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return "\n" + strings.TrimSpace(string(b))
}
