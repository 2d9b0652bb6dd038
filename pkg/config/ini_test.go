package config

import (
	"reflect"
	"strings"
	"testing"
)

// flat renders a parsed file as group/key -> values for comparison.
func flat(f *iniFile) map[string][]string {
	out := map[string][]string{}
	for g, keys := range f.sections {
		for k, vals := range keys {
			for _, v := range vals {
				out[g+"/"+k] = append(out[g+"/"+k], v.text)
			}
		}
	}
	return out
}

func TestParseINI(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr []string // substrings, one per expected error, in order
	}{
		{name: "equals and colon", in: "[DEFAULT]\na = 1\nb: 2\nc=3\nd :4\n",
			want: map[string][]string{"DEFAULT/a": {"1"}, "DEFAULT/b": {"2"}, "DEFAULT/c": {"3"}, "DEFAULT/d": {"4"}}},
		{name: "first of = and : splits", in: "[s]\na: b=c\nd=e:f\nurl = mysql://u:p@h/db\n",
			want: map[string][]string{"s/a": {"b=c"}, "s/d": {"e:f"}, "s/url": {"mysql://u:p@h/db"}}},
		{name: "comments only at line start", in: "[s]\n# c1\n; c2\na = b # not a comment\n",
			want: map[string][]string{"s/a": {"b # not a comment"}}},
		{name: "continuation lines join with newline", in: "[s]\na = one\n  two\n\tthree\nb = x\n",
			want: map[string][]string{"s/a": {"one\ntwo\nthree"}, "s/b": {"x"}}},
		{name: "indented comment continues the value", in: "[s]\na = one\n  # two\n",
			want: map[string][]string{"s/a": {"one\n# two"}}},
		{name: "blank line ends a value", in: "[s]\na = one\n\n  two\n",
			want:    map[string][]string{"s/a": {"one"}},
			wantErr: []string{":4: unexpected continuation line"}},
		{name: "continuation after comment is an error", in: "[s]\na = 1\n# c\n  x\n",
			want:    map[string][]string{"s/a": {"1"}},
			wantErr: []string{":4: unexpected continuation line"}},
		{name: "matching quotes stripped", in: "[s]\na = \"x y\"\nb = 'z'\nc = \"q'\nd = \"\ne =\n",
			want: map[string][]string{"s/a": {"x y"}, "s/b": {"z"}, "s/c": {"\"q'"}, "s/d": {""}, "s/e": {""}}},
		{name: "repeated keys kept in order", in: "[s]\na = 1\na = 2\n[s]\na = 3\n",
			want: map[string][]string{"s/a": {"1", "2", "3"}}},
		{name: "group names normalized except DEFAULT", in: "[Database]\na = 1\n[DEFAULT]\nb = 2\n[default]\nc = 3\n[TOKEN]\nd = 4\n",
			want: map[string][]string{"database/a": {"1"}, "DEFAULT/b": {"2"}, "default/c": {"3"}, "token/d": {"4"}}},
		{name: "keys case-sensitive", in: "[s]\nKey = 1\nkey = 2\n",
			want: map[string][]string{"s/Key": {"1"}, "s/key": {"2"}}},
		{name: "CRLF and lone CR", in: "[s]\r\na = 1\r\nb = 2\rc = 3\n",
			want: map[string][]string{"s/a": {"1"}, "s/b": {"2"}, "s/c": {"3"}}},
		{name: "byte order mark", in: "\ufeff[s]\na = 1\n", want: map[string][]string{"s/a": {"1"}}},
		{name: "trailing whitespace stripped", in: "[s]   \na = 1 \t\n", want: map[string][]string{"s/a": {"1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, errs := parseINI("x.conf", []byte(tc.in))
			got := flat(f)
			if tc.want == nil {
				tc.want = map[string][]string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("values = %#v, want %#v", got, tc.want)
			}
			checkErrs(t, errs, tc.wantErr)
		})
	}
}

func TestParseINIMalformed(t *testing.T) {
	in := "  lead\n[DEFAULT]\nnovalue\n= x\n[broken\n[]\n[s] # c\nok = 1\n"
	f, errs := parseINI("x.conf", []byte(in))
	checkErrs(t, errs, []string{
		`x.conf:1: unexpected continuation line: "  lead"`,
		`x.conf:3: no ':' or '=' found in assignment: "novalue"`,
		`x.conf:4: key cannot be empty: "= x"`,
		`x.conf:5: invalid section (must end with ]): "[broken"`,
		`x.conf:6: empty section name: "[]"`,
		`x.conf:7: invalid section (must end with ]): "[s] # c"`,
	})
	// The malformed section headers are skipped, so "ok" stays in the last
	// good section, [DEFAULT].
	if got := flat(f)["DEFAULT/ok"]; !reflect.DeepEqual(got, []string{"1"}) {
		t.Errorf("ok = %v", got)
	}
}

func TestParseININoSection(t *testing.T) {
	_, errs := parseINI("x.conf", []byte("a = 1\nb = 2\n[s]\nc = 3\n"))
	checkErrs(t, errs, []string{"x.conf:1: section must be started before assignment"})
}

func checkErrs(t *testing.T, errs []error, want []string) {
	t.Helper()
	if len(errs) != len(want) {
		t.Fatalf("errors = %v, want %d: %q", errs, len(want), want)
	}
	for i, e := range errs {
		if !strings.Contains(e.Error(), want[i]) {
			t.Errorf("error %d = %q, want it to contain %q", i, e.Error(), want[i])
		}
	}
}

// FuzzParseINI checks that parsing and substituting arbitrary input never
// panics.
func FuzzParseINI(f *testing.F) {
	for _, s := range []string{
		"[DEFAULT]\na = $b\nb = ${a}\n",
		"[s]\nx = ${s.y}$$ \\$z $\ny = ${\n  cont\n",
		"  x\n[\n[]\n=\n:\n[a]b\n\ufeff",
		"[database]\nconnection = mysql+pymysql://u:p@h/db\n[keystone_ng]\nlisten = ${database.connection}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _ := parseINI("fuzz.conf", data)
		probs := &Problems{}
		v, src := layer([]*iniFile{file}, []string{"KEYSTONE_NG_LISTEN=" + string(data)}, probs)
		r := newResolver([]*iniFile{file}, v, src)
		for g, keys := range file.sections {
			for _, vals := range keys {
				for _, v := range vals {
					_, _ = r.substitute(v.text, g)
				}
			}
		}
		for _, o := range schema {
			_, _ = r.resolve(o)
		}
	})
}
