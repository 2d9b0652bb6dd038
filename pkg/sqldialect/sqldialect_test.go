package sqldialect

import (
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun/dialect"
)

func TestFromBun(t *testing.T) {
	for _, c := range []struct {
		in   dialect.Name
		want Dialect
	}{
		{dialect.MySQL, MySQL},
		{dialect.PG, Postgres},
		{dialect.SQLite, SQLite},
		{dialect.MSSQL, ""},
		{dialect.Invalid, ""},
	} {
		if got := FromBun(c.in); got != c.want {
			t.Errorf("FromBun(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct {
		d           Dialect
		name        string
		want        string
		user, group string
	}{
		{MySQL, "user", "`user`", "`user`", "`group`"},
		{Postgres, "user", `"user"`, `"user"`, `"group"`},
		{SQLite, "group", `"group"`, `"user"`, `"group"`},
	} {
		if got := c.d.Quote(c.name); got != c.want {
			t.Errorf("%s.Quote(%q) = %s, want %s", c.d, c.name, got, c.want)
		}
		if got := c.d.User(); got != c.user {
			t.Errorf("%s.User() = %s, want %s", c.d, got, c.user)
		}
		if got := c.d.Group(); got != c.group {
			t.Errorf("%s.Group() = %s, want %s", c.d, got, c.group)
		}
	}
}

func TestDateTime(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		in         time.Time
		text, date string
	}{
		{time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), "2026-11-23 10:00:00.000000", "2026-11-23"},
		{time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC), "2026-11-23 10:00:00.123456", "2026-11-23"},
		// A zoned time is written as its UTC wall clock (naive UTC).
		{time.Date(2026, 1, 1, 0, 30, 0, 5000, cet), "2025-12-31 23:30:00.000005", "2025-12-31"},
	} {
		if got := DateTime(c.in); got != c.text {
			t.Errorf("DateTime(%v) = %q, want %q", c.in, got, c.text)
		}
		if got := Date(c.in); got != c.date {
			t.Errorf("Date(%v) = %q, want %q", c.in, got, c.date)
		}
		back, err := ParseDateTime(c.text)
		if err != nil {
			t.Fatalf("ParseDateTime(%q): %v", c.text, err)
		}
		if want := c.in.UTC().Truncate(time.Microsecond); !back.Equal(want) || back.Location() != time.UTC {
			t.Errorf("ParseDateTime(%q) = %v, want %v in UTC", c.text, back, want)
		}
	}
}

func TestParseDateTimeForms(t *testing.T) {
	want := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-03-04 05:06:07.890000", want, true},
		{"2026-03-04 05:06:07.89", want, true},
		{" 2026-03-04T05:06:07.89 ", want, true},
		{"2026-03-04 06:06:07.89+01:00", want, true},
		{"2026-03-04T05:06:07.89Z", want, true},
		{"2026-03-04", time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), true},
		{"04/03/2026", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseDateTime(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseDateTime(%q) error = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && !got.Equal(c.want) {
			t.Errorf("ParseDateTime(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMicros(t *testing.T) {
	for _, c := range []struct {
		in   time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC), 1795428000123456},
		{time.Unix(-1, 999999000), -1},
		{time.Date(2026, 11, 23, 11, 0, 0, 0, time.FixedZone("CET", 3600)), 1795428000000000},
	} {
		got := Micros(c.in)
		if got != c.want {
			t.Errorf("Micros(%v) = %d, want %d", c.in, got, c.want)
		}
		back := FromMicros(got)
		if !back.Equal(c.in.Truncate(time.Microsecond)) || back.Location() != time.UTC {
			t.Errorf("FromMicros(%d) = %v, want %v in UTC", got, back, c.in)
		}
	}
}

func TestIsDuplicate(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("Error 1062 (23000): Duplicate entry 'x' for key 'PRIMARY'"), true},
		{errors.New(`ERROR #23505 duplicate key value violates unique constraint "ng_mapping_pkey"`), true},
		{errors.New("constraint failed: UNIQUE constraint failed: ng_mapping.idp_id, ng_mapping.name (2067)"), true},
		{errors.New("connection refused"), false},
		{errors.New("FOREIGN KEY constraint failed"), false},
	} {
		if got := IsDuplicate(c.err); got != c.want {
			t.Errorf("IsDuplicate(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, c := range []struct {
		in   any
		want bool
	}{
		{true, true}, {false, false},
		{int64(1), true}, {int64(0), false}, {int64(-1), true},
		{1, true}, {0, false},
		{[]byte("1"), true}, {[]byte("t"), true}, {[]byte("0"), false}, {[]byte("f"), false},
		{"true", true}, {"TRUE", true}, {"false", false}, {"yes", false},
		{nil, false}, {1.0, false},
	} {
		if got := Truthy(c.in); got != c.want {
			t.Errorf("Truthy(%#v) = %v, want %v", c.in, got, c.want)
		}
	}
}
