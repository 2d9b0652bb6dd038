package store

import (
	"context"

	"github.com/uptrace/bun/dialect"
)

// PreparedStatements reports how many statements r keeps prepared.
func PreparedStatements(r *Reader) int {
	if r.prep == nil {
		return 0
	}
	r.prep.mu.Lock()
	defer r.prep.mu.Unlock()
	return len(r.prep.stmts)
}

// PreparedSQL lists the statements r keeps prepared.
func PreparedSQL(r *Reader) []string {
	if r.prep == nil {
		return nil
	}
	r.prep.mu.Lock()
	defer r.prep.mu.Unlock()
	var out []string
	for q := range r.prep.stmts {
		out = append(out, q)
	}
	return out
}

// RunMisdeclared runs, as one round, two statements on project and role
// ids of which the first declares one column fewer than it selects: the
// combined statement then has branches of different widths, which the
// server refuses to prepare. It returns what each statement read and
// whether the reader gave up combining.
func RunMisdeclared(ctx context.Context, r *Reader, projectID, roleID string) (projects, roles []string, combinedOff bool, err error) {
	read := func(out *[]string) func(rowReader) error {
		return func(rows rowReader) error {
			for rows.Next() {
				var id, other nullString
				dest := []any{&id}
				if out == &projects {
					dest = append(dest, &other)
				}
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				*out = append(*out, id.String)
			}
			return nil
		}
	}
	sts := []stmt{
		{sql: "SELECT id, name FROM project WHERE id = ?", args: []any{projectID}, cols: 1, scan: read(&projects)},
		{sql: "SELECT id FROM role WHERE id = ?", args: []any{roleID}, cols: 1, scan: read(&roles)},
	}
	err = r.runAll(ctx, sts)
	return projects, roles, r.prep != nil && r.prep.noUnion.Load(), err
}

// RunPattern runs, as one round, a statement matching project names
// against a regular expression (MySQL/MariaDB REGEXP, PostgreSQL ~) and one reading a
// role by id. An invalid expression fails when the statement runs, not
// when it is prepared, which is how a running combined statement's error
// is provoked in tests.
func RunPattern(ctx context.Context, r *Reader, pattern, roleID string) (projects, roles []string, combinedOff bool, err error) {
	read := func(out *[]string) func(rowReader) error {
		return func(rows rowReader) error {
			for rows.Next() {
				var id nullString
				if err := rows.Scan(&id); err != nil {
					return err
				}
				*out = append(*out, id.String)
			}
			return nil
		}
	}
	sts := []stmt{
		{sql: PatternSQL(r.db.Dialect().Name()), args: []any{pattern}, cols: 1, scan: read(&projects)},
		{sql: "SELECT id FROM role WHERE id = ?", args: []any{roleID}, cols: 1, scan: read(&roles)},
	}
	err = r.runAll(ctx, sts)
	return projects, roles, r.prep != nil && r.prep.noUnion.Load(), err
}

// PatternSQL is RunPattern's first statement on a dialect (MySQL's
// REGEXP, PostgreSQL's ~).
func PatternSQL(d dialect.Name) string {
	if d == dialect.PG {
		return "SELECT id FROM project WHERE name ~ ?"
	}
	return "SELECT id FROM project WHERE name REGEXP ?"
}

// HoldBatchSlots takes every statement slot of r's batcher as if
// statements were running, so that the rounds started next wait in line.
// queued reports how many wait; release hands the slots back, and the
// waiting rounds go, sharing statements. ok is false when r does not
// batch.
func HoldBatchSlots(r *Reader) (queued func() int, release func(), ok bool) {
	b := r.batch
	if b == nil {
		return nil, nil, false
	}
	b.mu.Lock()
	held := b.slots - b.busy
	b.busy = b.slots
	b.mu.Unlock()
	queued = func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue)
	}
	release = func() {
		for range held {
			b.handOff()
		}
	}
	return queued, release, true
}

// The preparer's bounds (prepared.go), for tests that drive them.
const (
	MaxPrepared       = maxPrepared
	MaxSharedPrepared = maxSharedPrepared
)
