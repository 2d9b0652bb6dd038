package store

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, in   string
		dialect    Dialect
		dsnHas     []string
		redacted   string
		wantErrHas string
	}{
		{name: "pymysql", in: "mysql+pymysql://keystone:s3cret@127.0.0.1:3306/keystone?charset=utf8mb4", dialect: MySQL,
			dsnHas:   []string{"keystone:s3cret@tcp(127.0.0.1:3306)/keystone", "charset=utf8mb4", "parseTime=true", "multiStatements=true"},
			redacted: "mysql+pymysql://keystone:***@127.0.0.1:3306/keystone?charset=utf8mb4"},
		{name: "mysql default port and socket", in: "mysql://k:p@localhost/ks?unix_socket=/run/mysqld/mysqld.sock", dialect: MySQL,
			dsnHas: []string{"unix(/run/mysqld/mysqld.sock)/ks"}},
		{name: "psycopg2", in: "postgresql+psycopg2://keystone:pw@127.0.0.1:5432/keystone", dialect: Postgres,
			dsnHas: []string{"postgres://keystone:pw@127.0.0.1:5432/keystone", "sslmode=disable", "DateStyle=ISO%2C+MDY"}, redacted: "postgresql+psycopg2://keystone:***@127.0.0.1:5432/keystone"},
		{name: "postgres require TLS kept", in: "postgresql://k:p@db/ks?sslmode=require", dialect: Postgres, dsnHas: []string{"sslmode=require"}},
		{name: "sqlite relative", in: "sqlite:///keystone.db", dialect: SQLite, dsnHas: []string{"file:keystone.db?", "busy_timeout"}},
		{name: "sqlite absolute", in: "sqlite:////var/lib/keystone/keystone.db", dialect: SQLite, dsnHas: []string{"file:/var/lib/keystone/keystone.db?"}},
		{name: "sqlite memory", in: "sqlite://", dialect: SQLite, dsnHas: []string{":memory:"}},
		{name: "unsupported", in: "oracle://x", wantErrHas: "not supported"},
		{name: "not a URL", in: "keystone.db", wantErrHas: "not an SQLAlchemy URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURL(tc.in)
			if tc.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrHas) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != tc.dialect {
				t.Fatalf("dialect %s, want %s", got.Dialect, tc.dialect)
			}
			for _, h := range tc.dsnHas {
				if !strings.Contains(got.DSN, h) {
					t.Errorf("DSN %q lacks %q", got.DSN, h)
				}
			}
			if tc.redacted != "" && got.Redacted != tc.redacted {
				t.Errorf("redacted %q, want %q", got.Redacted, tc.redacted)
			}
			if strings.Contains(got.Redacted, "s3cret") {
				t.Errorf("password in redacted form %q", got.Redacted)
			}
		})
	}
}
