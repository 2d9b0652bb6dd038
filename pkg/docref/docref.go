// Package docref checks that the repository's references to its own
// documentation resolve. Code comments and documents cite design facts as
// "docs/design.md §5" or "docs/python-compat.md §1.3-§1.5"; a citation of
// a file or section that does not exist sends a reader nowhere, which is
// how comments came to cite files outside the repository. The tests of
// this package walk the repository and fail on a cited file or section
// that does not exist, on a section cited by file name alone outside
// Markdown ("design.md §4" in a comment), and on a relative Markdown link
// to a missing file or heading anchor; `make lint` runs them.
//
// Refs finds the citations in a text, Sections lists the numbered headings
// of a Markdown document, Anchors the link anchors GitHub derives from its
// headings, and Links a document's relative links. All are pure functions.
package docref

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Ref is one citation of a documentation file, with the sections it names
// (empty when it cites the whole file).
type Ref struct {
	// Path is as written: relative to the repository root, e.g.
	// "docs/design.md", or for a Bare citation a file name alone.
	Path string
	// Bare is a citation of a section by file name alone ("design.md §4"):
	// in Markdown it names a file beside the document, anywhere else it
	// names nothing (it must say docs/).
	Bare bool
	// Sections are the section numbers cited, e.g. ["1.3", "1.5"].
	Sections []string
	// Line is the 1-based line of the citation in its text.
	Line int
}

// refPattern matches "docs/<path>.md" or ".yaml", not preceded by a path
// character (so "x/docs/a.md" and "../docs/a.md" are not citations of the
// repository's docs/), and the run of section numbers after it: "§4",
// "§1.1-§1.2", "§1, §7", "§4 and §7". A section list continues across
// spaces only, so "§4" on the next comment line is not part of it.
var refPattern = regexp.MustCompile(`(?:^|[^\w./-])(docs/[\w./-]*\w\.(?:md|yaml))((?:[ \t]*(?:,|-|–|and)?[ \t]*§[ \t]*\d+(?:\.\d+)*)*)`)

// barePattern matches "<name>.md §N..." without a folder: a section cited
// by file name alone. Without a section a bare name is prose, not a
// citation.
var barePattern = regexp.MustCompile(`(?:^|[^\w./-])([\w-]+\.md)((?:[ \t]*(?:,|-|–|and)?[ \t]*§[ \t]*\d+(?:\.\d+)*)+)`)

// sectionNumber picks the numbers out of a section list.
var sectionNumber = regexp.MustCompile(`§[ \t]*(\d+(?:\.\d+)*)`)

// Refs returns every documentation citation in text, in order.
func Refs(text string) []Ref {
	var out []Ref
	for i, line := range strings.Split(text, "\n") {
		for _, p := range []*regexp.Regexp{refPattern, barePattern} {
			for _, m := range p.FindAllStringSubmatch(line, -1) {
				r := Ref{Path: m[1], Bare: p == barePattern, Line: i + 1}
				for _, s := range sectionNumber.FindAllStringSubmatch(m[2], -1) {
					r.Sections = append(r.Sections, s[1])
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// headingNumber matches a Markdown heading that starts with a section
// number: "## 4. No stale answers", "### 1.5 Payload versions".
var headingNumber = regexp.MustCompile(`^#{1,6}[ \t]+(\d+(?:\.\d+)*)\.?(?:[ \t]|$)`)

// Sections returns the set of section numbers of a Markdown document's
// headings. Headings inside fenced code blocks are not headings.
func Sections(markdown string) map[string]bool {
	out := map[string]bool{}
	for _, line := range headingLines(markdown) {
		if m := headingNumber.FindStringSubmatch(line); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// Anchors returns the set of anchors GitHub gives a Markdown document's
// headings: lower case, spaces as hyphens, punctuation other than hyphens
// and underscores dropped, "-1", "-2" appended to repeats.
func Anchors(markdown string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range headingLines(markdown) {
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := slug(text)
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// headingLines returns the ATX heading lines outside fenced code blocks.
func headingLines(markdown string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(markdown, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(line, "#") {
			if h := strings.TrimLeft(line, "#"); h == "" || h[0] == ' ' || h[0] == '\t' {
				out = append(out, line)
			}
		}
	}
	return out
}

// slug is GitHub's heading anchor for text.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Link is a relative Markdown link: a file of the repository, a heading
// anchor, or both.
type Link struct {
	// Target is the path relative to the linking document; empty for a
	// heading of the same document.
	Target string
	// Anchor is the part after '#', empty when there is none.
	Anchor string
	Line   int
}

// linkPattern matches "](target#anchor)", "](target)" and "](#anchor)".
var linkPattern = regexp.MustCompile(`\]\(([^)\s#]*)(?:#([^)\s]*))?\)`)

// Links returns the relative links of a Markdown document (links with a
// scheme, such as https: or mailto:, are not the repository's).
func Links(markdown string) []Link {
	var out []Link
	for i, line := range strings.Split(markdown, "\n") {
		for _, m := range linkPattern.FindAllStringSubmatch(line, -1) {
			if strings.Contains(m[1], ":") || (m[1] == "" && m[2] == "") {
				continue
			}
			out = append(out, Link{Target: m[1], Anchor: m[2], Line: i + 1})
		}
	}
	return out
}
