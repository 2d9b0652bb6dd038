package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// inList is the argument of an "IN (?)": one placeholder per element in a
// prepared statement, bun.In when bun formats the statement.
type inList []string

// bunArgs converts inList arguments for bun's formatter.
func bunArgs(args []any) []any {
	var out []any
	for i, a := range args {
		if l, ok := a.(inList); ok {
			if out == nil {
				out = append([]any(nil), args...)
			}
			out[i] = bun.In([]string(l))
		}
	}
	if out == nil {
		return args
	}
	return out
}

// Server-side prepared statements (MySQL/MariaDB and PostgreSQL).
//
// MariaDB spends a large share of a validation's CPU parsing the statements
// (each read is a few index lookups; the text it has to lex, parse and
// resolve is the larger part). A statement prepared once per connection
// and executed with the binary protocol skips that: measured on the
// validation's first round, MariaDB's CPU per round fell from about 335 to
// 260 us, with no more client CPU for the four extra round trips than the
// multi-statement query cost (docs/performance.md).
//
// The number of distinct statements is bounded so that the server's
// prepared-statement count (max_prepared_stmt_count, 16382 by default,
// shared by every client of the server) stays small: IN lists are padded to
// a power of two by repeating their last element (same rows, few shapes),
// lists longer than maxPreparedIn and statements beyond maxPrepared are
// sent as text as before. Batches of several validations' rounds
// (batch.go) are prepared only while fewer than maxBatchPrepared
// statements are, so that single rounds always find room. database/sql
// prepares each statement on a connection the first time it runs there
// and re-prepares on reconnection; the connections validation keeps busy
// are about db_concurrency plus the pool's idle ones.
const (
	maxPrepared      = 128
	maxBatchPrepared = maxPrepared / 2
	// maxSharedPrepared: batches whose rounds share some branches (one
	// text per pattern of branch counts, batch.go) are prepared only
	// while fewer statements than this are, so that the plain batches of
	// shapes met later still find room.
	maxSharedPrepared = maxBatchPrepared * 3 / 4
	maxPreparedIn     = 32
)

// MySQL error numbers: ER_MAX_PREPARED_STMT_COUNT_REACHED and
// ER_NEED_REPREPARE.
const (
	erMaxPreparedStmtCount = 1461
	erNeedReprepare        = 1615
)

type preparer struct {
	db *sql.DB
	// numbered: the server wants $1, $2, ... where the statements say ?
	// (PostgreSQL).
	numbered bool
	mu       sync.Mutex
	stmts    map[string]*sql.Stmt
	// off is set when the server refuses more prepared statements; the
	// process then sends text only, which needs none.
	off atomic.Bool
	// noUnion is set when the server refuses a combined statement (see
	// combine.go).
	noUnion atomic.Bool
	// executed counts executions (Reader.Queries).
	executed *atomic.Uint64
}

func newPreparer(db *sql.DB, d sqldialect.Dialect, executed *atomic.Uint64) *preparer {
	return &preparer{db: db, numbered: d == sqldialect.Postgres, stmts: map[string]*sql.Stmt{}, executed: executed}
}

// query runs q prepared. ok is false when q cannot or should not be
// prepared; the caller then sends it as text.
func (p *preparer) query(ctx context.Context, q string, args []any) (rows *sql.Rows, ok bool, err error) {
	if p.off.Load() {
		return nil, false, nil
	}
	q, args, ok = expandIn(q, args)
	if !ok {
		return nil, false, nil
	}
	return p.queryExpanded(ctx, q, args)
}

// queryExpanded is query for a statement whose IN lists are expanded
// already (args hold no inList).
func (p *preparer) queryExpanded(ctx context.Context, q string, args []any) (rows *sql.Rows, ok bool, err error) {
	if p.off.Load() {
		return nil, false, nil
	}
	st, ok, err := p.stmt(ctx, q)
	if !ok || err != nil {
		return nil, ok, err
	}
	p.executed.Add(1)
	rows, err = st.QueryContext(ctx, args...)
	if p.refused(err) || needsReprepare(err) {
		return nil, false, nil
	}
	if stalePlan(err) {
		p.forget(q, st)
		return nil, false, nil
	}
	return rows, true, err
}

// stalePlan reports PostgreSQL's refusal to run a prepared statement whose
// tables changed shape under it ("cached plan must not change result
// type", 0A000) or that the server no longer holds (26000, after a
// pooler's DISCARD ALL): the statement is prepared again on next use and
// sent as text this once.
func stalePlan(err error) bool {
	var pe pgdriver.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Field('C') {
	case "0A000", "26000":
		return true
	}
	return false
}

// forget drops q's statement (if it is still st) so that it is prepared
// afresh.
func (p *preparer) forget(q string, st *sql.Stmt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmts[q] == st {
		delete(p.stmts, q)
		_ = st.Close()
	}
}

// roomForBatch reports whether q, a batched statement, may run prepared:
// it is already, or the preparer holds fewer than maxBatchPrepared
// (maxSharedPrepared for a batch whose rounds share branches).
func (p *preparer) roomForBatch(q string, sharing bool) bool {
	limit := maxBatchPrepared
	if sharing {
		limit = maxSharedPrepared
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[q] != nil || len(p.stmts) < limit
}

// needsReprepare reports MySQL's ER_NEED_REPREPARE, which the server can
// return when its table definition cache is too small to keep the
// statement valid: the statement is then sent as text this once.
func needsReprepare(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == erNeedReprepare
}

func (p *preparer) stmt(ctx context.Context, q string) (*sql.Stmt, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.stmts[q]; st != nil {
		return st, true, nil
	}
	if len(p.stmts) >= maxPrepared {
		return nil, false, nil
	}
	text := q
	if p.numbered {
		text = numberPlaceholders(q)
	}
	st, err := p.db.PrepareContext(ctx, text)
	if err != nil {
		if p.refused(err) {
			return nil, false, nil
		}
		return nil, true, &prepareError{err}
	}
	p.stmts[q] = st
	return st, true, nil
}

// refused reports (and remembers) that the server has no room for more
// prepared statements.
func (p *preparer) refused(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != erMaxPreparedStmtCount {
		return false
	}
	if !p.off.Swap(true) {
		slog.Warn("the database refuses more prepared statements (max_prepared_stmt_count); sending statements as text from now on", "error", me.Message)
	}
	return true
}

// expandIn rewrites each "?" whose argument is an inList into one
// placeholder per element, padded to a power of two, and flattens the
// arguments to match (flattenIn). ok is false for a list longer than
// maxPreparedIn or an empty one (not valid SQL either way; the callers
// never send one), or when placeholders and arguments disagree.
// Placeholders inside quoted literals are not placeholders: the statements
// here only quote short constants.
func expandIn(q string, args []any) (string, []any, bool) {
	hasList := false
	for _, a := range args {
		if l, ok := a.(inList); ok {
			if len(l) == 0 || len(l) > maxPreparedIn {
				return "", nil, false
			}
			hasList = true
		}
	}
	if !hasList {
		return q, args, true
	}
	out, n, ok := replacePlaceholders(q, 32, func(b *strings.Builder, i int) bool {
		if i >= len(args) {
			return false
		}
		b.WriteByte('?')
		if l, isList := args[i].(inList); isList {
			b.WriteString(strings.Repeat(", ?", paddedLen(len(l))-1))
		}
		return true
	})
	if !ok || n != len(args) {
		return "", nil, false
	}
	return out, flattenIn(args), true
}

// numberPlaceholders rewrites each ? outside quoted literals as $1, $2, ...
// in order, PostgreSQL's form of the statements written here with ?.
func numberPlaceholders(q string) string {
	out, _, _ := replacePlaceholders(q, 16, func(b *strings.Builder, i int) bool {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i + 1))
		return true
	})
	return out
}

// replacePlaceholders copies q, writing emit(b, i) in place of its i-th
// placeholder (from 0): a ? outside quoted literals, the one rule of what
// a placeholder is. n is how many there were; ok is false when emit
// refused one.
func replacePlaceholders(q string, grow int, emit func(b *strings.Builder, i int) bool) (out string, n int, ok bool) {
	var (
		b     strings.Builder
		quote bool
	)
	b.Grow(len(q) + grow)
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			quote = !quote
		}
		if c != '?' || quote {
			b.WriteByte(c)
			continue
		}
		if !emit(&b, n) {
			return "", n, false
		}
		n++
	}
	return b.String(), n, true
}

// paddedLen is the length an IN list of n elements is padded to.
func paddedLen(n int) int {
	size := 1
	for size < n {
		size *= 2
	}
	return size
}

// flattenIn replaces each inList argument by its elements, padded as
// expandIn pads its placeholders.
func flattenIn(args []any) []any {
	return appendFlat(make([]any, 0, len(args)+4), args)
}

func appendFlat(out, args []any) []any {
	for _, a := range args {
		l, ok := a.(inList)
		if !ok {
			out = append(out, a)
			continue
		}
		for j := range paddedLen(len(l)) {
			out = append(out, l[min(j, len(l)-1)])
		}
	}
	return out
}

// prepareError is a statement the server would not prepare (as opposed to
// one that failed while running): for a combined statement it means the
// server cannot run the combination at all.
type prepareError struct{ err error }

func (e *prepareError) Error() string { return "prepare: " + e.err.Error() }
func (e *prepareError) Unwrap() error { return e.err }
