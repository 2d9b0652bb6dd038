package store

import (
	"strings"
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	a := stmt{sql: "SELECT x, y FROM t WHERE id = ?", args: []any{"1"}, cols: 2}
	b := stmt{sql: "SELECT p FROM u WHERE k = ?\n\t\tUNION ALL\n\t\tSELECT q FROM v WHERE k IN (?)", args: []any{"2", inList{"3", "4"}}, cols: 1}
	c := stmt{sql: "SELECT i.a, r.b, r.c, r.d FROM i JOIN r ON r.id = i.r", cols: 4}
	for _, tc := range []struct {
		name      string
		sts       []stmt
		wantQ     []string // the branches, in order
		wantWidth int
		wantErr   string
	}{
		{name: "padded to the widest with the tag first", sts: []stmt{a, b, c},
			wantQ: []string{
				"SELECT 0, x, y, NULL, NULL FROM t WHERE id = ?",
				"SELECT 1, p, NULL, NULL, NULL FROM u WHERE k = ?",
				"SELECT 1, q, NULL, NULL, NULL FROM v WHERE k IN (?)",
				"SELECT 2, i.a, r.b, r.c, r.d FROM i JOIN r ON r.id = i.r"},
			wantWidth: 4},
		{name: "column count missing", sts: []stmt{{sql: "SELECT 1 FROM t"}}, wantErr: "no column count"},
		{name: "not a SELECT", sts: []stmt{{sql: "WITH x AS (SELECT 1) SELECT * FROM x", cols: 1}}, wantErr: "not a plain SELECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, width, err := combine(tc.sts, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, part := range strings.Split(q, "\nUNION ALL\n") {
				got = append(got, strings.Join(strings.Fields(part), " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantQ, "\n") {
				t.Fatalf("branches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantQ, "\n"))
			}
			if width != tc.wantWidth {
				t.Fatalf("width %d, want %d", width, tc.wantWidth)
			}
		})
	}
}

// bufferedOf holds rows of equal width as runCombined fills them.
func bufferedOf(rows ...[]any) *bufferedRows {
	b := &bufferedRows{}
	for _, r := range rows {
		b.cols = len(r)
		b.cells = append(b.cells, r...)
	}
	return b
}

// The combined statement's values arrive as text where the statement alone
// gives typed values; the scanners read both.
func TestBufferedRowsAssign(t *testing.T) {
	b := bufferedOf(
		[]any{[]byte("id-1"), []byte("1"), []byte("2024-01-02 03:04:05.000000"), []byte("42"), nil},
		[]any{"id-2", int64(0), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), int64(7), []byte("x")},
	)
	type row struct {
		id  string
		on  nullBool
		at  nullTime
		n   int64
		opt nullString
	}
	var got []row
	for b.Next() {
		var r row
		if err := b.Scan(&r.id, &r.on, &r.at, &r.n, &r.opt); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []row{
		{id: "id-1", on: nullBool{true, true}, at: nullTime{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), true}, n: 42},
		{id: "id-2", on: nullBool{false, true}, at: nullTime{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), true}, n: 7, opt: nullString{"x", true}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		name string
		dest []any
		row  []any
	}{
		{name: "NULL into a plain string", dest: []any{new(string)}, row: []any{nil}},
		{name: "text into an integer", dest: []any{new(int64)}, row: []any{[]byte("x")}},
		{name: "fewer destinations than columns", dest: []any{new(string)}, row: []any{"a", "b"}},
		{name: "unsupported destination", dest: []any{new(float64)}, row: []any{[]byte("1.5")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bufferedOf(tc.row)
			if !b.Next() {
				t.Fatal("no row")
			}
			if err := b.Scan(tc.dest...); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if (&bufferedRows{}).Next() {
		t.Fatal("Next on no rows")
	}
}

func TestCombinedCache(t *testing.T) {
	var c combinedCache
	mk := func(users ...string) []stmt {
		return []stmt{
			{sql: "SELECT a FROM t WHERE u IN (?)", args: []any{inList(users)}, cols: 1},
			{sql: "SELECT b, c FROM v WHERE k = ?", args: []any{"k"}, cols: 2},
		}
	}
	one, args1, err := c.get(mk("u1"))
	if err != nil {
		t.Fatal(err)
	}
	again, args2, err := c.get(mk("u2"))
	if err != nil {
		t.Fatal(err)
	}
	if one != again {
		t.Fatal("same shape built twice")
	}
	if len(args1) != 2 || args1[0] != "u1" || args2[0] != "u2" {
		t.Fatalf("arguments %v, %v", args1, args2)
	}
	three, args3, err := c.get(mk("u1", "u2", "u3"))
	if err != nil {
		t.Fatal(err)
	}
	if three == one || !strings.Contains(three.q, "u IN (?, ?, ?, ?)") || len(args3) != 5 {
		t.Fatalf("three users: %q %v", three.q, args3)
	}
	long := make([]string, maxPreparedIn+1)
	for i := range long {
		long[i] = "x"
	}
	if cs, _, err := c.get(mk(long...)); err != nil || cs.ok {
		t.Fatalf("a list over the bound must not be prepared: %+v %v", cs, err)
	}
}

// A cache hit allocates only the arguments, whatever the size of the
// statements' text, and an entry is only handed out for statements of
// exactly its shape, whatever the hash says.
func TestCombinedCacheShape(t *testing.T) {
	var c combinedCache
	mk := func(sql string, users ...string) []stmt {
		return []stmt{
			{sql: sql, args: []any{inList(users)}, cols: 1},
			{sql: "SELECT b, c FROM v WHERE k = ?", args: []any{"k"}, cols: 2},
		}
	}
	base := mk("SELECT a FROM t WHERE u IN (?)", "u1", "u2")
	cs, _, err := c.get(base)
	if err != nil {
		t.Fatal(err)
	}
	// The argument slice and the list's two elements boxed as values.
	if n := testing.AllocsPerRun(100, func() { _, _, _ = c.get(base) }); n > 3 {
		t.Fatalf("%v allocations per cache hit, want at most 3", n)
	}
	for _, tc := range []struct {
		name string
		sts  []stmt
		want bool
	}{
		{name: "same shape, other values", sts: mk("SELECT a FROM t WHERE u IN (?)", "u3", "u4"), want: true},
		{name: "list padded to the same size", sts: mk("SELECT a FROM t WHERE u IN (?)", "u3"), want: false},
		{name: "other list size", sts: mk("SELECT a FROM t WHERE u IN (?)", "u1", "u2", "u3"), want: false},
		{name: "other text", sts: mk("SELECT x FROM t WHERE u IN (?)", "u1", "u2"), want: false},
		{name: "fewer statements", sts: base[:1], want: false},
		{name: "list where a value was", sts: []stmt{base[0], {sql: base[1].sql, args: []any{inList{"k"}}, cols: 2}}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cs.matches(tc.sts); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
		})
	}
	// A forged collision: the entry under another shape's hash is not
	// handed out; the statements get their own text.
	other := mk("SELECT z FROM t WHERE u IN (?)", "u1", "u2")
	c.mu.Lock()
	c.m[c.hash(other)] = cs
	c.mu.Unlock()
	got, _, err := c.get(other)
	if err != nil {
		t.Fatal(err)
	}
	if got == cs || !strings.Contains(got.q, "SELECT 0, z,") {
		t.Fatalf("collision handed out %q", got.q)
	}
}

// On PostgreSQL every column of a combined statement is cast to text, as
// its UNION will not match a boolean, a timestamp and a string in one
// column; padding is a text NULL too.
func TestCombineAsText(t *testing.T) {
	a := stmt{sql: "SELECT u.id, COALESCE(u.enabled, 'x,y'), f(a, (b, c)) FROM t u WHERE id = ?", cols: 3}
	b := stmt{sql: "SELECT p FROM u WHERE k = ?", cols: 1}
	q, width, err := combine([]stmt{a, b}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT 0, CAST(u.id AS text), CAST(COALESCE(u.enabled, 'x,y') AS text), CAST(f(a, (b, c)) AS text) FROM t u WHERE id = ?\n" +
		"UNION ALL\n" +
		"SELECT 1, CAST(p AS text), CAST(NULL AS text), CAST(NULL AS text) FROM u WHERE k = ?"
	if q != want || width != 3 {
		t.Fatalf("got (%d)\n%s\nwant (3)\n%s", width, q, want)
	}
	if _, _, err := combine([]stmt{{sql: "SELECT a, b FROM t", cols: 3}}, true); err == nil || !strings.Contains(err.Error(), "declares 3") {
		t.Fatalf("a miscounted statement: err = %v", err)
	}
}

func TestSplitSelectList(t *testing.T) {
	for in, want := range map[string][]string{
		"a":                          {"a"},
		" a ,b, c ":                  {"a", "b", "c"},
		"f(a, b), 'x, y', (c)":       {"f(a, b)", "'x, y'", "(c)"},
		"COALESCE(a, g(b, c)), NULL": {"COALESCE(a, g(b, c))", "NULL"},
	} {
		if got := splitSelectList(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("splitSelectList(%q) = %q, want %q", in, got, want)
		}
	}
}
