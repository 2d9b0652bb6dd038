package store

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

func TestExpandIn(t *testing.T) {
	long := make(inList, maxPreparedIn+1)
	for i := range long {
		long[i] = "x"
	}
	tests := []struct {
		name     string
		q        string
		args     []any
		wantQ    string
		wantArgs []any
		ok       bool
	}{
		{name: "no lists unchanged", q: "SELECT 1 FROM t WHERE a = ? AND b = ?", args: []any{"x", 1},
			wantQ: "SELECT 1 FROM t WHERE a = ? AND b = ?", wantArgs: []any{"x", 1}, ok: true},
		{name: "one element", q: "WHERE a IN (?)", args: []any{inList{"a"}},
			wantQ: "WHERE a IN (?)", wantArgs: []any{"a"}, ok: true},
		{name: "three padded to four with the last", q: "WHERE a IN (?) AND b = ?", args: []any{inList{"a", "b", "c"}, "z"},
			wantQ: "WHERE a IN (?, ?, ?, ?) AND b = ?", wantArgs: []any{"a", "b", "c", "c", "z"}, ok: true},
		{name: "two lists", q: "a IN (?) AND b IN (?)", args: []any{inList{"a", "b"}, inList{"c", "d", "e", "f", "g"}},
			wantQ: "a IN (?, ?) AND b IN (?, ?, ?, ?, ?, ?, ?, ?)", wantArgs: []any{"a", "b", "c", "d", "e", "f", "g", "g", "g", "g"}, ok: true},
		{name: "quoted question mark is not a placeholder", q: "SELECT '?' WHERE a IN (?)", args: []any{inList{"a", "b"}},
			wantQ: "SELECT '?' WHERE a IN (?, ?)", wantArgs: []any{"a", "b"}, ok: true},
		{name: "empty list refused", q: "a IN (?)", args: []any{inList{}}},
		{name: "list over the bound refused", q: "a IN (?)", args: []any{long}},
		{name: "more arguments than placeholders", q: "a IN (?)", args: []any{inList{"a"}, "b"}},
		{name: "fewer arguments than placeholders", q: "a IN (?) AND b = ?", args: []any{inList{"a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, args, ok := expandIn(tc.q, tc.args)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if q != tc.wantQ || !reflect.DeepEqual(args, tc.wantArgs) {
				t.Fatalf("got %q %v, want %q %v", q, args, tc.wantQ, tc.wantArgs)
			}
			// The combined statements' cache expands the text once and
			// the arguments per request: both must agree.
			if got := flattenIn(tc.args); !reflect.DeepEqual(got, tc.wantArgs) {
				t.Fatalf("flattenIn = %v, want %v", got, tc.wantArgs)
			}
		})
	}
}

func TestBunArgsLeavesInputAlone(t *testing.T) {
	in := []any{"a", inList{"b", "c"}}
	out := bunArgs(in)
	if _, ok := in[1].(inList); !ok {
		t.Fatal("bunArgs modified its input")
	}
	if _, ok := out[1].(inList); ok {
		t.Fatal("inList not converted")
	}
	plain := []any{"a"}
	if got := bunArgs(plain); &got[0] != &plain[0] {
		t.Fatal("arguments without lists should be passed through")
	}
}

func TestPreparerFallbacks(t *testing.T) {
	full := &mysql.MySQLError{Number: erMaxPreparedStmtCount, Message: "Can't create more than max_prepared_stmt_count statements"}
	reprepare := &mysql.MySQLError{Number: erNeedReprepare, Message: "Prepared statement needs to be re-prepared"}
	other := &mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}
	for _, tc := range []struct {
		name               string
		err                error
		refused, reprepare bool
	}{
		{name: "server full turns prepared statements off", err: fmt.Errorf("wrapped: %w", full), refused: true},
		{name: "re-prepare falls back once", err: reprepare, reprepare: true},
		{name: "other server error is returned", err: other},
		{name: "network error is returned", err: errors.New("connection reset")},
		{name: "no error", err: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPreparer(nil, sqldialect.MySQL, new(atomic.Uint64))
			if got := p.refused(tc.err); got != tc.refused {
				t.Fatalf("refused = %v, want %v", got, tc.refused)
			}
			if p.off.Load() != tc.refused {
				t.Fatalf("off = %v after refused, want %v", p.off.Load(), tc.refused)
			}
			if got := needsReprepare(tc.err); got != tc.reprepare {
				t.Fatalf("needsReprepare = %v, want %v", got, tc.reprepare)
			}
			if tc.refused {
				// Once off, nothing is prepared any more.
				if _, ok, err := p.query(t.Context(), "SELECT 1", nil); ok || err != nil {
					t.Fatalf("query after refusal: ok=%v err=%v, want text fallback", ok, err)
				}
			}
		})
	}
}

func TestNumberPlaceholders(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT a FROM t WHERE id = ?":                        "SELECT a FROM t WHERE id = $1",
		"SELECT a FROM t WHERE id IN (?, ?, ?) AND k = ?":     "SELECT a FROM t WHERE id IN ($1, $2, $3) AND k = $4",
		"SELECT a FROM t WHERE x = '?' AND y = ?":             "SELECT a FROM t WHERE x = '?' AND y = $1",
		"SELECT 1 FROM t":                                     "SELECT 1 FROM t",
		"SELECT ? UNION ALL SELECT ? FROM t WHERE o = '1004'": "SELECT $1 UNION ALL SELECT $2 FROM t WHERE o = '1004'",
	} {
		if got := numberPlaceholders(in); got != want {
			t.Errorf("numberPlaceholders(%q) = %q, want %q", in, got, want)
		}
	}
}
