package config

import (
	"fmt"
	"strings"
	"unicode"
)

// iniValue is one assignment's value and the line its key was on.
type iniValue struct {
	text string
	line int
}

// iniFile is one parsed config file: normalized group -> key -> every
// assignment of that key in file order (oslo keeps them all: scalar options
// use the last, MultiStrOpt options use all).
type iniFile struct {
	name     string
	sections map[string]map[string][]iniValue
	// keyOrder remembers keys in first-seen order per group, so that
	// problems are reported in file order.
	keyOrder map[string][]string
}

// parseError is a malformed line, reported like oslo's ParseError but with
// the file name first, as compilers do.
type parseError struct {
	file string
	line int
	msg  string
	text string
}

func (e *parseError) Error() string {
	if e.text == "" {
		return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	}
	return fmt.Sprintf("%s:%d: %s: %q", e.file, e.line, e.msg, truncate(e.text, 120))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// normalizeGroup is oslo.config's _normalize_group_name: group names are
// looked up case-insensitively ([DATABASE] is [database]), except that only
// the exact spelling "DEFAULT" is the default group ([default] is a group
// named "default").
func normalizeGroup(name string) string {
	if name == "DEFAULT" {
		return name
	}
	return strings.ToLower(name)
}

// isPySpace is Python's str.isspace for the characters str.strip removes.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// splitLines splits like Python's universal-newline readlines: "\n", "\r\n"
// and a lone "\r" end a line.
func splitLines(data string) []string {
	data = strings.ReplaceAll(data, "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	lines := strings.Split(data, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// parseINI parses one config file with the rules of oslo.config's
// iniparser.BaseParser and cfg.ConfigParser:
//
//   - trailing whitespace is stripped; a blank line ends a multi-line value;
//   - a line starting with a space or tab continues the previous value (its
//     leading whitespace stripped, joined with "\n"); with no previous key it
//     is an error;
//   - "[name]" starts a section ("[a] # x" is an error: the line must end
//     with "]"; "[]" is an error);
//   - a line starting with '#' or ';' is a comment (no inline comments);
//   - otherwise "key = value" or "key: value", split at whichever of '=' and
//     ':' comes first; key and value are stripped, and a value wrapped in a
//     matching pair of ' or " loses them;
//   - an assignment before any section is an error.
//
// Unlike oslo, which stops at the first malformed line, parsing goes on so
// that every problem is reported; malformed lines are skipped. A leading
// UTF-8 byte order mark is ignored.
func parseINI(filename string, data []byte) (*iniFile, []error) {
	f := &iniFile{name: filename, sections: map[string]map[string][]iniValue{}, keyOrder: map[string][]string{}}
	var errs []error
	fail := func(line int, msg, text string) {
		errs = append(errs, &parseError{file: filename, line: line, msg: msg, text: text})
	}

	text := strings.TrimPrefix(string(data), "\ufeff")
	var (
		section      string
		haveSection  bool
		key          string
		haveKey      bool
		keyLine      int
		val          []string
		skipCont     bool // continuation lines of a malformed line are dropped
		reportedNoSe bool // "no section" reported once per file
	)
	flush := func() {
		if !haveKey {
			return
		}
		haveKey = false
		if !haveSection {
			if !reportedNoSe {
				reportedNoSe = true
				fail(keyLine, "section must be started before assignment", "")
			}
			return
		}
		g := normalizeGroup(section)
		if f.sections[g] == nil {
			f.sections[g] = map[string][]iniValue{}
		}
		if _, seen := f.sections[g][key]; !seen {
			f.keyOrder[g] = append(f.keyOrder[g], key)
		}
		f.sections[g][key] = append(f.sections[g][key], iniValue{text: strings.Join(val, "\n"), line: keyLine})
	}

	for i, raw := range splitLines(text) {
		lineno := i + 1
		line := strings.TrimRightFunc(raw, isPySpace)
		if line == "" {
			flush()
			skipCont = false
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			switch {
			case haveKey:
				val = append(val, strings.TrimLeftFunc(line, isPySpace))
			case skipCont:
			default:
				fail(lineno, "unexpected continuation line", line)
				skipCont = true
			}
			continue
		}
		flush()
		skipCont = false

		switch {
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				fail(lineno, "invalid section (must end with ])", line)
				skipCont = true
				continue
			}
			if len(line) <= 2 {
				fail(lineno, "empty section name", line)
				skipCont = true
				continue
			}
			section, haveSection = line[1:len(line)-1], true
			g := normalizeGroup(section)
			if f.sections[g] == nil {
				f.sections[g] = map[string][]iniValue{}
			}
		case line[0] == '#' || line[0] == ';':
			// comment
		default:
			k, v, ok := splitKeyValue(line)
			if !ok {
				fail(lineno, "no ':' or '=' found in assignment", line)
				skipCont = true
				continue
			}
			if k == "" {
				fail(lineno, "key cannot be empty", line)
				skipCont = true
				continue
			}
			key, haveKey, keyLine, val = k, true, lineno, []string{v}
		}
	}
	flush()
	return f, errs
}

// splitKeyValue is iniparser's _split_key_value.
func splitKeyValue(line string) (key, value string, ok bool) {
	colon := strings.IndexByte(line, ':')
	equal := strings.IndexByte(line, '=')
	if colon < 0 && equal < 0 {
		return "", "", false
	}
	var k, v string
	if colon < 0 || (equal >= 0 && equal < colon) {
		k, v = line[:equal], line[equal+1:]
	} else {
		k, v = line[:colon], line[colon+1:]
	}
	v = strings.TrimFunc(v, isPySpace)
	if v != "" && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		// Python's value[1:-1]; a lone quote character becomes "".
		if len(v) == 1 {
			v = ""
		} else {
			v = v[1 : len(v)-1]
		}
	}
	return strings.TrimFunc(k, isPySpace), v, true
}
