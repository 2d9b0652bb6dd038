package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun/driver/pgdriver"
)

// Combined statements (MySQL/MariaDB and PostgreSQL, prepared).
//
// The first round of a validation is five to seven independent SELECTs.
// Sent as one prepared UNION ALL, each row tagged with the index of the
// statement it belongs to and padded with NULLs to the widest statement,
// they cost MariaDB one statement execution and one network round trip
// instead of one each: measured on the first round of a project token,
// about a third less server CPU and two thirds less client CPU than the
// same statements prepared one by one (docs/performance.md). Each branch
// is the statement as it runs alone, so the rows are the same; the
// scanners see only their statement's rows, in the order the server sent
// them.
//
// UNION ALL needs one type per column across branches, so values may
// arrive as text where the statement alone gives numbers or times; the
// scanners' types (nullTime, nullBool, nullInt64, nullString) read both.
// A server that will not prepare the combination gets the statements one
// by one from then on. (MariaDB 10.11 accepts branches whose columns come
// from tables of different character sets and collations: checked with
// latin1, utf8mb3, utf8mb4 and ucs2 columns, text and prepared.)

// selectList finds the select list of one SELECT (none of the statements
// combined has a subquery or the word FROM in its select list).
var selectList = regexp.MustCompile(`(?s)^\s*SELECT\s+(.*?)\s+FROM\s`)

// combine builds the tagged UNION ALL of sts (the arguments are the
// statements' in order); width is the number of columns after the tag.
// With asText (PostgreSQL) every column is cast to text: PostgreSQL, unlike
// MariaDB, refuses a UNION whose branches put a boolean, a timestamp and a
// string in the same column ("UNION types ... cannot be matched"), and the
// scanners read text for every type (scan.go).
func combine(sts []stmt, asText bool) (q string, width int, err error) {
	for _, st := range sts {
		width = max(width, st.cols)
	}
	var b strings.Builder
	for i, st := range sts {
		if st.cols <= 0 {
			return "", 0, fmt.Errorf("store: statement %d has no column count", i)
		}
		for _, part := range strings.Split(st.sql, "UNION ALL") {
			m := selectList.FindStringSubmatchIndex(part)
			if m == nil {
				return "", 0, fmt.Errorf("store: statement %d is not a plain SELECT", i)
			}
			if b.Len() > 0 {
				b.WriteString("\nUNION ALL\n")
			}
			list, pad := part[m[2]:m[3]], ", NULL"
			if asText {
				cols := splitSelectList(list)
				if len(cols) != st.cols {
					return "", 0, fmt.Errorf("store: statement %d selects %d columns, declares %d", i, len(cols), st.cols)
				}
				for j, c := range cols {
					cols[j] = "CAST(" + c + " AS text)"
				}
				list, pad = strings.Join(cols, ", "), ", CAST(NULL AS text)"
			}
			fmt.Fprintf(&b, "SELECT %d, %s%s FROM %s", i, list, strings.Repeat(pad, width-st.cols), part[m[1]:])
		}
	}
	return b.String(), width, nil
}

// splitSelectList splits a select list at its top-level commas (not those
// inside parentheses or quoted literals), trimming each expression.
func splitSelectList(list string) []string {
	var (
		out   []string
		depth int
		quote bool
		start int
	)
	for i := 0; i < len(list); i++ {
		switch c := list[i]; {
		case c == '\'':
			quote = !quote
		case quote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(list[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(list[start:]))
}

// combinedSQL is a combined statement with its IN lists expanded, cached
// by the statements' text and list sizes: building it (a regular
// expression over every branch, a pass over the whole text) cost more
// than a tenth of keystone-ng's CPU per validation when done per request.
type combinedSQL struct {
	q     string
	width int
	ok    bool // false: an IN list too long to prepare
	// asText: every column cast to text (PostgreSQL; see combine).
	asText bool
	// shape is what the entry was built from, compared on every hit so
	// that a hash collision can never hand out another statement's SQL.
	shape []shapePart
	// sts are the statements it was built from (their arguments are
	// ignored), for building batches of it.
	sts []stmt
	// flat is how many flat arguments (flattenArgs) each statement of the
	// shape takes: a call's args are these runs one after the other.
	flat []int

	batchMu sync.Mutex
	batches map[string]*combinedSQL // by branches per statement (batch.go)
}

// maxVariants bounds the batched statements kept per shape whose rounds
// share branches: one per pattern of branches per statement that batches
// of the shape have had.
const maxVariants = 64

// batched returns the statement carrying counts[j] branches of statement j
// of cs's shape, statement by statement: the branches of statement 0
// first, tagged 0 to counts[0]-1, then those of statement 1, and so on
// (branchLayout gives each round its tags). Built once per pattern; nil
// if it cannot be built (never the case for a shape that combined alone)
// or the shape has maxVariants patterns already.
func (cs *combinedSQL) batched(counts []int) *combinedSQL {
	key := fmt.Sprint(counts)
	cs.batchMu.Lock()
	defer cs.batchMu.Unlock()
	if b, ok := cs.batches[key]; ok {
		return b
	}
	if len(counts) != len(cs.sts) || (len(cs.batches) >= maxVariants && !sameCounts(counts)) {
		// Past the bound only patterns with as many branches of every
		// statement are built (those of batches sharing nothing among
		// them: one per batch size, at most db_batch_size).
		return nil
	}
	var sts []stmt
	for j, n := range counts {
		for range n {
			sts = append(sts, cs.sts[j])
		}
	}
	var b *combinedSQL
	if q, width, err := combine(sts, cs.asText); err == nil {
		if eq, _, ok := expandIn(q, concatArgs(sts)); ok {
			b = &combinedSQL{q: eq, width: width, ok: true, asText: cs.asText}
		}
	}
	if cs.batches == nil {
		cs.batches = map[string]*combinedSQL{}
	}
	cs.batches[key] = b
	return b
}

// sameCounts reports whether every statement has as many branches as the
// first: a batch whose rounds share no branch.
func sameCounts(counts []int) bool {
	for _, n := range counts {
		if n != counts[0] {
			return false
		}
	}
	return true
}

// flatLens is how many flat arguments each of sts takes (appendFlat).
func flatLens(sts []stmt) []int {
	out := make([]int, len(sts))
	for i, st := range sts {
		for _, a := range st.args {
			if l, ok := a.(inList); ok {
				out[i] += paddedLen(len(l))
			} else {
				out[i]++
			}
		}
	}
	return out
}

// concatArgs is the arguments of sts one statement after the other, IN
// lists unexpanded (expandIn's input).
func concatArgs(sts []stmt) []any {
	var out []any
	for _, st := range sts {
		out = append(out, st.args...)
	}
	return out
}

// shapePart is one statement of a combined statement's shape: its text and
// the padded length of each of its IN lists.
type shapePart struct {
	sql  string
	lens []int
}

// maxCombined bounds the cache; the statements' text varies only with the
// token kind and the revocation pre-filter's form, so a few dozen shapes
// exist.
const maxCombined = 256

// combinedCache maps a shape's hash to its entry. The hash is computed
// over the statements without building a key: the texts are a few
// kilobytes per validation, and concatenating them per request was a tenth
// of keystone-ng's allocations.
type combinedCache struct {
	// asText is combine's asText for every entry (PostgreSQL).
	asText bool
	seed   maphash.Seed
	once   sync.Once
	mu     sync.Mutex
	m      map[uint64]*combinedSQL
}

func (c *combinedCache) hash(sts []stmt) uint64 {
	c.once.Do(func() { c.seed = maphash.MakeSeed() })
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, st := range sts {
		h.WriteString(st.sql)
		h.WriteByte(0)
		for _, a := range st.args {
			if l, ok := a.(inList); ok {
				n := paddedLen(len(l))
				h.WriteByte(1)
				h.WriteByte(byte(n)) // a collision is caught by matches
				h.WriteByte(byte(n >> 8))
			}
		}
	}
	return h.Sum64()
}

// matches reports whether cs was built from statements of sts's shape.
func (cs *combinedSQL) matches(sts []stmt) bool {
	if len(cs.shape) != len(sts) {
		return false
	}
	for i, st := range sts {
		part := cs.shape[i]
		if part.sql != st.sql {
			return false
		}
		j := 0
		for _, a := range st.args {
			if l, ok := a.(inList); ok {
				if j >= len(part.lens) || part.lens[j] != paddedLen(len(l)) {
					return false
				}
				j++
			}
		}
		if j != len(part.lens) {
			return false
		}
	}
	return true
}

// shapeStmts copies sts without scanners (which belong to one request).
func shapeStmts(sts []stmt) []stmt {
	out := make([]stmt, len(sts))
	for i, st := range sts {
		out[i] = stmt{sql: st.sql, args: st.args, cols: st.cols}
	}
	return out
}

func shapeOf(sts []stmt) []shapePart {
	out := make([]shapePart, len(sts))
	for i, st := range sts {
		out[i].sql = st.sql
		for _, a := range st.args {
			if l, ok := a.(inList); ok {
				out[i].lens = append(out[i].lens, paddedLen(len(l)))
			}
		}
	}
	return out
}

func (c *combinedCache) get(sts []stmt) (*combinedSQL, []any, error) {
	k := c.hash(sts)
	c.mu.Lock()
	cs := c.m[k]
	c.mu.Unlock()
	if cs != nil && !cs.matches(sts) {
		cs = nil // a collision: build this one without caching it
		k = 0
	}
	if cs == nil {
		q, width, err := combine(sts, c.asText)
		if err != nil {
			return nil, nil, err
		}
		eq, _, ok := expandIn(q, concatArgs(sts))
		cs = &combinedSQL{q: eq, width: width, ok: ok, asText: c.asText, shape: shapeOf(sts), sts: shapeStmts(sts), flat: flatLens(sts)}
		if k != 0 {
			c.mu.Lock()
			if c.m == nil {
				c.m = map[uint64]*combinedSQL{}
			}
			switch prev := c.m[k]; {
			case prev == nil && len(c.m) < maxCombined:
				c.m[k] = cs
			case prev != nil && prev.matches(sts):
				// Built meanwhile by another request: use that one, so
				// that rounds of one shape share one entry (batch.go
				// batches rounds by entry).
				cs = prev
			}
			c.mu.Unlock()
		}
	}
	if !cs.ok {
		return cs, nil, nil
	}
	return cs, flattenArgs(sts), nil
}

// flattenArgs is flattenIn over the arguments of every statement in turn.
func flattenArgs(sts []stmt) []any {
	n := 0
	for _, st := range sts {
		n += len(st.args) + 2
	}
	out := make([]any, 0, n)
	for _, st := range sts {
		out = appendFlat(out, st.args)
	}
	return out
}

// runCombined runs sts as one prepared statement, shared with other
// validations' statements of the same shape when batching is on
// (batch.go). done is false when they should be sent otherwise (not
// preparable, or the server refused the combination).
func (r *Reader) runCombined(ctx context.Context, sts []stmt) (done bool, err error) {
	cs, args, err := r.combined.get(sts)
	if err != nil {
		// A statement combine cannot rewrite (a programming error the
		// conformance suite would show): serve the request anyway.
		if !r.prep.noUnion.Swap(true) {
			slog.Error("cannot combine the validation statements; sending them one by one from now on", "error", err)
		}
		return false, nil
	}
	if !cs.ok {
		return false, nil
	}
	c := &combinedCall{sts: sts, cs: cs, args: args}
	if r.batch == nil {
		r.execCombined(cs, args, [][]*combinedCall{{c}}, aloneLayout(len(sts)))
	} else if err := r.batch.run(ctx, c); err != nil {
		return true, err
	}
	return c.done, c.err
}

// combinedCall is one validation round's statements on their way to the
// database, alone or in a batch; done and err are its outcome.
type combinedCall struct {
	sts  []stmt
	cs   *combinedSQL
	args []any
	// key hashes args (argsKey), set when the call may wait in line
	// with others: equal keys are where sameArgs is worth asking.
	key  uint64
	done bool
	err  error
}

// execCombined runs cs with args, the statement of groups (one group, or a
// batch of groups of one shape, batch.go), and hands each call its rows:
// those of the branch lay gives for its group and statement. The calls of
// a group ask for the same rows (sameArgs) and scan the same branches.
// ran is false when the statement did not run (not prepared, refused by
// the server, or an error of this execution such as a lock wait): the
// calls are then left undone (done false: sent otherwise).
func (r *Reader) execCombined(cs *combinedSQL, args []any, groups [][]*combinedCall, lay branchLayout) (ran bool) {
	set := func(err error) {
		for _, g := range groups {
			for _, c := range g {
				c.done, c.err = true, err
			}
		}
	}
	width := cs.width
	rows, ok, err := r.prep.queryExpanded(context.Background(), cs.q, args)
	if !ok {
		return false
	}
	if err != nil {
		var pe *prepareError
		switch {
		case errors.As(err, &pe):
			// The server cannot run this combination at all.
			if len(groups) > 1 {
				if !r.batch.off.Swap(true) {
					slog.Warn("the database refused a batched validation statement; validations wait for a statement each from now on", "rounds", len(groups), "error", err)
				}
			} else if !r.prep.noUnion.Swap(true) {
				slog.Warn("the database refused the combined validation statement; sending its parts one by one from now on", "error", err)
			}
			return false
		case serverError(err):
			// An error of this execution (a lock wait, a killed query):
			// these rounds go their own way, the next try the
			// combination again.
			return false
		}
		set(err)
		return true
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		set(err)
		return true
	}
	if len(cols) != width+1 {
		set(fmt.Errorf("store: combined statement returned %d columns, want %d", len(cols), width+1))
		return true
	}
	buf := make([]bufferedRows, lay.tags)
	vals := make([]rawValue, width+1)
	dest := make([]any, width+1)
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			set(err)
			return true
		}
		tag, err := tagIndex(vals[0].v)
		if err != nil || tag >= len(buf) {
			set(fmt.Errorf("store: combined statement row with tag %v", vals[0].v))
			return true
		}
		b := &buf[tag]
		b.cols = groups[0][0].sts[lay.stmtOf[tag]].cols
		for _, v := range vals[1 : 1+b.cols] {
			b.cells = append(b.cells, v.v)
		}
	}
	if err := rows.Err(); err != nil {
		if serverError(err) {
			// Raised while the rows came (PostgreSQL's generic plans
			// evaluate a parameter only then): as above, these rounds
			// go their own way; no scanner has seen a row yet.
			return false
		}
		set(err)
		return true
	}
	// Each call reads its group's rows through its own cursor (the cells,
	// immutable strings and numbers, are shared); a scanner's error is
	// its call's.
	for i, g := range groups {
		for _, c := range g {
			c.done = true
			for j, st := range c.sts {
				b := &buf[lay.tag[i][j]]
				rows := bufferedRows{cells: b.cells, cols: b.cols}
				if err := st.scan(&rows); err != nil {
					c.err = err
					break
				}
			}
		}
	}
	return true
}

// serverError reports an error the database server raised while running
// a statement (MySQL's or PostgreSQL's error packet), as opposed to a
// network or driver failure.
func serverError(err error) bool {
	var (
		me  *mysql.MySQLError
		pge pgdriver.Error
	)
	return errors.As(err, &me) || errors.As(err, &pge)
}

func tagIndex(v any) (int, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("negative tag")
		}
		return int(x), nil
	case []byte:
		return strconv.Atoi(string(x))
	}
	return 0, fmt.Errorf("tag of type %T", v)
}

// rawValue keeps one driver value. Bytes are copied, as a string: the
// driver reuses its buffer on the next row, and every scanner reads
// strings, so the text columns (most of them) are converted once here
// rather than copied here and converted again there.
type rawValue struct{ v any }

func (r *rawValue) Scan(v any) error {
	if b, ok := v.([]byte); ok {
		r.v = string(b)
		return nil
	}
	r.v = v
	return nil
}

// bufferedRows replays one statement's rows of a combined statement: cols
// values per row, one row after another in one slice.
type bufferedRows struct {
	cells []any
	cols  int
	i     int // rows handed out by Next
}

var _ rowReader = (*bufferedRows)(nil)

func (b *bufferedRows) rows() int {
	if b.cols == 0 {
		return 0
	}
	return len(b.cells) / b.cols
}

func (b *bufferedRows) Next() bool {
	if b.i >= b.rows() {
		return false
	}
	b.i++
	return true
}

func (b *bufferedRows) Err() error { return nil }

func (b *bufferedRows) Scan(dest ...any) error {
	if b.i == 0 || b.i > b.rows() {
		return errors.New("store: Scan called without a row")
	}
	row := b.cells[(b.i-1)*b.cols : b.i*b.cols]
	if len(dest) != len(row) {
		return fmt.Errorf("store: %d destinations for %d columns", len(dest), len(row))
	}
	for j, d := range dest {
		if err := assign(d, row[j]); err != nil {
			return fmt.Errorf("column %d: %w", j+1, err)
		}
	}
	return nil
}

// assign stores a driver value in one of the destination types the
// scanners use.
func assign(dest, v any) error {
	switch d := dest.(type) {
	case interface{ Scan(any) error }:
		return d.Scan(v)
	case *string:
		var s nullString
		if err := s.Scan(v); err != nil {
			return err
		}
		if !s.Valid {
			return errors.New("store: NULL for a non-null string")
		}
		*d = s.String
		return nil
	case *int64:
		var n nullInt64
		if err := n.Scan(v); err != nil {
			return err
		}
		if !n.Valid {
			return errors.New("store: NULL for a non-null integer")
		}
		*d = n.Int64
		return nil
	}
	return fmt.Errorf("store: cannot scan into %T", dest)
}
