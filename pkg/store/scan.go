package store

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

// nullTime scans the naive-UTC DATETIME/DATE values Python writes, whatever
// form the driver hands over: time.Time (MySQL with parseTime, PostgreSQL)
// or text (SQLite stores "2006-01-02 15:04:05.000000").
type nullTime struct {
	Time  time.Time
	Valid bool
}

func (t *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = nullTime{}
		return nil
	case time.Time:
		// Naive values: keep the wall clock, declare it UTC.
		t.Time = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		t.Valid = true
		return nil
	case []byte:
		return t.parse(string(x))
	case string:
		return t.parse(x)
	}
	return fmt.Errorf("store: cannot scan %T into a time", v)
}

func (t *nullTime) parse(s string) error {
	p, err := sqldialect.ParseDateTime(s)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	t.Time, t.Valid = p, true
	return nil
}

func (t nullTime) ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// nullBool scans booleans from TINYINT (MySQL), BOOLEAN (PostgreSQL) and
// INTEGER (SQLite).
type nullBool struct {
	Bool  bool
	Valid bool
}

func (b *nullBool) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*b = nullBool{}
		return nil
	case bool:
		*b = nullBool{x, true}
		return nil
	case int64:
		*b = nullBool{x != 0, true}
		return nil
	case []byte:
		return b.parse(string(x))
	case string:
		return b.parse(x)
	}
	return fmt.Errorf("store: cannot scan %T into a bool", v)
}

func (b *nullBool) parse(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes", "on":
		*b = nullBool{true, true}
	case "0", "f", "false", "n", "no", "off":
		*b = nullBool{false, true}
	default:
		return fmt.Errorf("store: unrecognised boolean %q", s)
	}
	return nil
}

// nullInt64 scans integers that may arrive as text.
type nullInt64 struct {
	Int64 int64
	Valid bool
}

func (n *nullInt64) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = nullInt64{}
		return nil
	case int64:
		*n = nullInt64{x, true}
		return nil
	case []byte:
		return n.parse(string(x))
	case string:
		return n.parse(x)
	case float64:
		*n = nullInt64{int64(x), true}
		return nil
	}
	return fmt.Errorf("store: cannot scan %T into an integer", v)
}

func (n *nullInt64) parse(s string) error {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return err
	}
	*n = nullInt64{i, true}
	return nil
}

// nullString scans text columns from any driver.
type nullString struct {
	String string
	Valid  bool
}

func (s *nullString) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s = nullString{}
	case string:
		*s = nullString{x, true}
	case []byte:
		*s = nullString{string(x), true}
	case int64:
		*s = nullString{strconv.FormatInt(x, 10), true}
	default:
		return fmt.Errorf("store: cannot scan %T into a string", v)
	}
	return nil
}

func (s nullString) ptr() *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

var (
	_ interface{ Scan(any) error } = (*nullTime)(nil)
	_ driver.Valuer                = nil
)
