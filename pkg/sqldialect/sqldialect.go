// Package sqldialect holds what keystone-ng must know about the SQL
// backends it shares with Python Keystone (MariaDB/MySQL, PostgreSQL,
// SQLite) and about how Python's SQLAlchemy models store values there:
// which backend a handle talks to, how a reserved table name (Keystone's
// user and group tables) is quoted, and the two time representations
// Keystone's columns use (DateTime text and DateTimeInt microseconds).
// Every package that writes SQL by hand takes these from here, so the
// knowledge lives once.
package sqldialect

import (
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Dialect names the SQL backend.
type Dialect string

// The backends keystone-ng supports (Python Keystone's through
// SQLAlchemy's mysql+pymysql, postgresql and sqlite URLs).
const (
	MySQL    Dialect = "mysql"
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Of is the backend db talks to ("" for one keystone-ng does not support).
func Of(db bun.IDB) Dialect {
	return FromBun(db.Dialect().Name())
}

// FromBun maps bun's dialect name to ours.
func FromBun(n dialect.Name) Dialect {
	switch n {
	case dialect.MySQL:
		return MySQL
	case dialect.PG:
		return Postgres
	case dialect.SQLite:
		return SQLite
	}
	return ""
}

// Quote quotes an identifier for the backend. Keystone's "user" and
// "group" tables are reserved words (MySQL and PostgreSQL both), so every
// statement naming them quotes them: backticks on MySQL (ANSI quotes are
// off by default there), double quotes elsewhere.
func (d Dialect) Quote(name string) string {
	if d == MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// User and Group are Keystone's user and group tables, quoted.
func (d Dialect) User() string  { return d.Quote("user") }
func (d Dialect) Group() string { return d.Quote("group") }

// DateTimeLayout is the text SQLAlchemy's DateTime columns hold for a
// naive UTC datetime (what SQLite stores verbatim; MySQL and PostgreSQL
// accept it as a literal): str(datetime) with microseconds always shown.
const DateTimeLayout = "2006-01-02 15:04:05.000000"

// DateLayout is a Date column's text (user.last_active_at).
const DateLayout = "2006-01-02"

// DateTime formats t as Python's naive-UTC DateTime columns hold it.
func DateTime(t time.Time) string { return t.UTC().Format(DateTimeLayout) }

// Date formats t's UTC day as a Date column holds it
// (datetime.utcnow().date()).
func Date(t time.Time) string { return t.UTC().Format(DateLayout) }

// parseLayouts are the text forms a DateTime or Date value arrives in:
// Python's own, the ISO form with a T, with an offset (PostgreSQL text
// output) and a bare date.
var parseLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	DateLayout,
}

// ParseDateTime reads a DateTime (or Date) column's text as UTC, the
// inverse of DateTime.
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range parseLayouts {
		if p, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return p.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// Micros is Keystone's DateTimeInt (keystone.common.sql.core): the
// microseconds since the Unix epoch, UTC, that its integer time columns
// (and keystone-ng's ng_ tables) hold.
func Micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// FromMicros is the inverse of Micros, exact to the microsecond.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// IsDuplicate reports whether err is a unique-constraint violation on any
// backend: MySQL's 1062 "Duplicate entry", PostgreSQL's 23505 "duplicate
// key value violates unique constraint", SQLite's "UNIQUE constraint
// failed". Drivers differ in error types, so the text decides.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "duplicate") || strings.Contains(m, "unique") || strings.Contains(m, "1062") || strings.Contains(m, "23505")
}

// Truthy reads a boolean column as any driver hands it over: bool
// (PostgreSQL), an integer (MySQL's TINYINT, SQLite's INTEGER) or its
// text; anything else, NULL included, is false.
func Truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case []byte:
		s := string(x)
		return s == "1" || s == "t" || s == "true" || s == "TRUE"
	case string:
		return x == "1" || x == "t" || x == "true" || x == "TRUE"
	}
	return false
}
