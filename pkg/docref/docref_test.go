package docref

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []Ref
	}{
		{"file only", "see docs/performance.md.", []Ref{{Path: "docs/performance.md", Line: 1}}},
		{"one section", "// no answer is stale (docs/design.md §4).", []Ref{{Path: "docs/design.md", Sections: []string{"4"}, Line: 1}}},
		{"range", "(docs/python-compat.md §1.3-§1.5)", []Ref{{Path: "docs/python-compat.md", Sections: []string{"1.3", "1.5"}, Line: 1}}},
		{"list and 'and'", "docs/design.md §1, §9 and §10", []Ref{{Path: "docs/design.md", Sections: []string{"1", "9", "10"}, Line: 1}}},
		{"second line", "x\n  docs/adr/0001-hints-never-grant.md", []Ref{{Path: "docs/adr/0001-hints-never-grant.md", Line: 2}}},
		{"yaml", "[api](docs/openapi-v4.yaml)", []Ref{{Path: "docs/openapi-v4.yaml", Line: 1}}},
		{"two on a line", "docs/a.md §2 and docs/b.md", []Ref{{Path: "docs/a.md", Sections: []string{"2"}, Line: 1}, {Path: "docs/b.md", Line: 1}}},
		{"section on the next line is not read", "docs/design.md\n// §4", []Ref{{Path: "docs/design.md", Line: 1}}},
		{"other folder's docs", "pkg/x/docs/a.md ../docs/b.md", nil},
		{"not a document", "docs/ and docs/design and design.md", nil},
		{"bare name with a section", "// (design.md §7) and [x](python-compat.md §1.5)", []Ref{
			{Path: "design.md", Bare: true, Sections: []string{"7"}, Line: 1},
			{Path: "python-compat.md", Bare: true, Sections: []string{"1.5"}, Line: 1}}},
		{"bare name inside a docs/ path is not bare", "docs/design.md §3", []Ref{{Path: "docs/design.md", Sections: []string{"3"}, Line: 1}}},
		{"RFC section after a citation", "docs/oidc-login.md (RFC 8252 §7.3)", []Ref{{Path: "docs/oidc-login.md", Line: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Refs(tc.text); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Refs(%q)\n got %+v\nwant %+v", tc.text, got, tc.want)
			}
		})
	}
}

func TestSections(t *testing.T) {
	doc := "# Title\n\n## 1. Where\n### 1.5 Payload versions\n## 2 Without dot\n" +
		"##10. No space is not a heading\n## Notes\n```\n## 3. in code\n```\n#### 4.2.1. Deep\n"
	got := Sections(doc)
	want := map[string]bool{"1": true, "1.5": true, "2": true, "4.2.1": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sections = %v, want %v", got, want)
	}
}

func TestAnchors(t *testing.T) {
	doc := "# Design\n## 3. Storage: Python's tables and the `ng_` tables\n" +
		"### 1.5 Payload versions\n## Tests\n## Tests\n```\n## Not a heading\n```\n"
	got := Anchors(doc)
	want := map[string]bool{
		"design": true, "3-storage-pythons-tables-and-the-ng_-tables": true,
		"15-payload-versions": true, "tests": true, "tests-1": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Anchors = %v, want %v", got, want)
	}
}

func TestLinks(t *testing.T) {
	doc := "see [a](python-compat.md#15-payload-versions), [b](#how-it-is-tested),\n" +
		"[c](security.md), [d](https://example.com/x.md#y), [m](mailto:a@b.c) and [e](../design.md#4-no-stale-answers)"
	want := []Link{
		{Target: "python-compat.md", Anchor: "15-payload-versions", Line: 1},
		{Target: "", Anchor: "how-it-is-tested", Line: 1},
		{Target: "security.md", Line: 2},
		{Target: "../design.md", Anchor: "4-no-stale-answers", Line: 2},
	}
	if got := Links(doc); !reflect.DeepEqual(got, want) {
		t.Errorf("Links\n got %+v\nwant %+v", got, want)
	}
}

// root is the repository root, two levels above this package.
const root = "../.."

// scanned are the endings of the files whose citations are checked.
var scanned = []string{".go", ".md", ".sh", ".rego", ".yaml", ".yml"}

// skippedDirs hold no citations of ours (dependencies, build output, test
// output) or, for this package, deliberately broken ones in its tables.
var skippedDirs = map[string]bool{
	".git": true, "node_modules": true, "bin": true, "test-output": true,
	filepath.Join("pkg", "docref"): true,
}

// repoFiles returns the repository's files with a scanned ending, relative
// to root.
func repoFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if skippedDirs[rel] || skippedDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(scanned, filepath.Ext(p)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found %d files under %s: not the repository root?", len(files), root)
	}
	return files
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRepositoryCitations fails on a citation of a docs/ file that does not
// exist, or of a section number no heading of that file carries.
func TestRepositoryCitations(t *testing.T) {
	sections := map[string]map[string]bool{}
	checked := 0
	for _, f := range repoFiles(t) {
		for _, r := range Refs(read(t, f)) {
			checked++
			path := r.Path
			if r.Bare {
				if filepath.Ext(f) != ".md" {
					t.Errorf("%s:%d cites %s by name alone: write its path (docs/...)", f, r.Line, r.Path)
					continue
				}
				path = filepath.ToSlash(filepath.Join(filepath.Dir(f), r.Path))
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(path))); err != nil {
				t.Errorf("%s:%d cites %s, which does not exist", f, r.Line, r.Path)
				continue
			}
			r.Path = path
			if len(r.Sections) == 0 {
				continue
			}
			if !strings.HasSuffix(r.Path, ".md") {
				t.Errorf("%s:%d cites sections of %s, which is not Markdown", f, r.Line, r.Path)
				continue
			}
			if sections[r.Path] == nil {
				sections[r.Path] = Sections(read(t, filepath.FromSlash(r.Path)))
			}
			for _, s := range r.Sections {
				if !sections[r.Path][s] {
					t.Errorf("%s:%d cites %s §%s, which has no heading numbered %s", f, r.Line, r.Path, s, s)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no citation found: the pattern no longer matches the repository's citations")
	}
}

// TestRepositoryLinks fails on a relative link from a Markdown file to a
// file that does not exist, or to a heading anchor its target lacks.
func TestRepositoryLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	for _, f := range repoFiles(t) {
		if filepath.Ext(f) != ".md" {
			continue
		}
		for _, l := range Links(read(t, f)) {
			target := f
			if l.Target != "" {
				target = filepath.Join(filepath.Dir(f), filepath.FromSlash(l.Target))
				if _, err := os.Stat(filepath.Join(root, target)); err != nil {
					t.Errorf("%s:%d links to %s, which does not exist", f, l.Line, l.Target)
					continue
				}
			}
			if l.Anchor == "" || filepath.Ext(target) != ".md" {
				continue
			}
			if anchors[target] == nil {
				b, err := os.ReadFile(filepath.Join(root, target))
				if err != nil {
					t.Errorf("%s:%d links to %s, which does not exist", f, l.Line, l.Target)
					continue
				}
				anchors[target] = Anchors(string(b))
			}
			if !anchors[target][l.Anchor] {
				t.Errorf("%s:%d links to %s#%s, which has no such heading", f, l.Line, target, l.Anchor)
			}
		}
	}
}
