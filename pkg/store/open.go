// Package store is keystone-ng's access to the SQL database shared with
// Python Keystone, through bun, on MySQL/MariaDB, PostgreSQL and SQLite:
// opening it from keystone.conf's URL, checking Python's schema, applying
// keystone-ng's own migrations (the ng_ tables), and the reads of token
// validation and of /v4 logins. On MySQL/MariaDB validation's statements
// are combined, prepared and batched (docs/adr/0002-statement-batching.md).
// The only Python columns written here are local_user's lockout counters,
// in the form Python's ORM writes them (docs/python-compat.md §4.2).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// Dialect names the SQL backend (sqldialect.Dialect, so that one type
// names a backend everywhere).
type Dialect = sqldialect.Dialect

// The supported backends.
const (
	MySQL    = sqldialect.MySQL
	Postgres = sqldialect.Postgres
	SQLite   = sqldialect.SQLite
)

// Target is a parsed SQLAlchemy URL: which backend and how to reach it.
type Target struct {
	Dialect Dialect
	// DSN is in the Go driver's own syntax.
	DSN string
	// Redacted is the URL with its password hidden, for logs.
	Redacted string
}

// ParseURL turns an SQLAlchemy URL, as Python Keystone's [database]
// connection holds it, into a Go driver target:
//
//	mysql[+pymysql|+mysqldb|+mysqlconnector]://user:pw@host[:port]/db[?charset=..&unix_socket=..]
//	postgresql[+psycopg2]://user:pw@host[:port]/db[?host=/socket/dir&sslmode=..]
//	sqlite:///relative.db  sqlite:////absolute.db  sqlite:// (memory)
func ParseURL(raw string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("database connection %q is not an SQLAlchemy URL (scheme://...)", redact(raw))
	}
	backend, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch backend {
	case "sqlite":
		return sqliteTarget(rest)
	case "mysql", "mariadb":
		return mysqlTarget(raw)
	case "postgresql", "postgres", "pgsql":
		return postgresTarget(raw)
	}
	return Target{}, fmt.Errorf("database backend %q is not supported (mysql, postgresql or sqlite)", scheme)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		// url.UserPassword would percent-encode the mask.
		u.User = url.User(u.User.Username())
		return strings.Replace(u.String(), "@", ":***@", 1)
	}
	return u.String()
}

func sqliteTarget(rest string) (Target, error) {
	// SQLAlchemy: sqlite:///foo.db is relative, sqlite:////abs/foo.db is
	// absolute, sqlite:// (nothing) is an in-memory database.
	// Query parameters (SQLAlchemy's sqlite options) have no meaning for
	// the Go driver and are dropped.
	path, _, _ := strings.Cut(rest, "?")
	path = strings.TrimPrefix(path, "/")
	pragmas := url.Values{}
	pragmas.Add("_pragma", "busy_timeout(10000)")
	pragmas.Add("_pragma", "foreign_keys(1)")
	// BEGIN IMMEDIATE: a transaction that reads then writes would
	// otherwise fail at once with SQLITE_BUSY when another connection
	// (the audit outbox's drainer, Python) wrote in between; immediate
	// transactions wait for the writer under busy_timeout instead.
	pragmas.Add("_txlock", "immediate")
	if path == "" {
		return Target{Dialect: SQLite, DSN: "file::memory:?cache=shared&" + pragmas.Encode(), Redacted: "sqlite://"}, nil
	}
	if !filepath.IsAbs(path) && strings.HasPrefix(rest, "//") {
		path = "/" + path
	}
	// mode=rw: a missing database file is an error, not a new empty
	// database (Python's db_sync creates it; keystone-ng never should).
	return Target{Dialect: SQLite, DSN: "file:" + path + "?mode=rw&" + pragmas.Encode(), Redacted: "sqlite:///" + strings.TrimPrefix(path, "/")}, nil
}

func mysqlTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("database connection: %v", err)
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	q := u.Query()
	if sock := q.Get("unix_socket"); sock != "" {
		cfg.Net, cfg.Addr = "unix", sock
	} else {
		host := u.Hostname()
		if host == "" {
			host = "localhost"
		}
		port := u.Port()
		if port == "" {
			port = "3306"
		}
		cfg.Net, cfg.Addr = "tcp", host+":"+port
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Params = map[string]string{}
	charset := q.Get("charset")
	if charset == "" {
		charset = "utf8mb4"
	}
	cfg.Params["charset"] = charset
	// Python Keystone stores naive UTC datetimes; make the session agree.
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.InterpolateParams = true
	// Skip the "SELECT @@max_allowed_packet" round trip on every new
	// connection; 64 MiB is MariaDB's default.
	cfg.MaxAllowedPacket = 64 << 20
	// Validation sends its independent lookups as one multi-statement
	// query (Reader.runAll). Every value in them is escaped by bun's
	// formatter, never concatenated.
	cfg.MultiStatements = true
	return Target{Dialect: MySQL, DSN: cfg.FormatDSN(), Redacted: redact(raw)}, nil
}

func postgresTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("database connection: %v", err)
	}
	q := u.Query()
	out := url.URL{Scheme: "postgres", User: u.User, Path: u.Path}
	host := u.Host
	oq := url.Values{}
	if h := q.Get("host"); h != "" && strings.HasPrefix(h, "/") {
		// libpq-style socket directory: pgdriver wants the socket path.
		oq.Set("unix_socket", filepath.Join(h, ".s.PGSQL."+portOr(u.Port(), "5432")))
	}
	if host == "" {
		host = "localhost:5432"
	}
	out.Host = host
	ssl := q.Get("sslmode")
	switch ssl {
	case "", "disable", "allow", "prefer":
		// psycopg2 defaults to "prefer"; a loopback or socket deployment
		// does not offer TLS, so start without it like libpq's fallback.
		oq.Set("sslmode", "disable")
	default:
		oq.Set("sslmode", ssl)
	}
	if an := q.Get("application_name"); an != "" {
		oq.Set("application_name", an)
	} else {
		oq.Set("application_name", "keystone-ng")
	}
	// Times arrive as text (pgdriver reads the text protocol, and the
	// combined statements cast every column to text): ask for the ISO form
	// whatever the server's default DateStyle is.
	oq.Set("DateStyle", "ISO, MDY")
	out.RawQuery = oq.Encode()
	return Target{Dialect: Postgres, DSN: out.String(), Redacted: redact(raw)}, nil
}

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// PoolOptions are oslo.db's pool settings from [database].
type PoolOptions struct {
	MaxPoolSize           int
	MaxOverflow           int
	ConnectionRecycleTime time.Duration
	// IOTimeout bounds every read and write on a MySQL/MariaDB connection
	// (zero: none). The validation reads do not watch the request
	// context (see detach), so this is what stops a stalled server from
	// holding a request; PostgreSQL's driver has its own (10 s).
	IOTimeout time.Duration
}

// Open connects and pings the database.
func Open(ctx context.Context, t Target, pool PoolOptions) (*bun.DB, error) {
	var sqldb *sql.DB
	var db *bun.DB
	switch t.Dialect {
	case MySQL:
		c, err := mysql.ParseDSN(t.DSN)
		if err != nil {
			return nil, err
		}
		if pool.IOTimeout > 0 {
			c.ReadTimeout, c.WriteTimeout = pool.IOTimeout, pool.IOTimeout
		}
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return nil, err
		}
		sqldb = sql.OpenDB(conn)
		db = bun.NewDB(sqldb, mysqldialect.New())
	case Postgres:
		sqldb = sql.OpenDB(genericPlans{pgdriver.NewConnector(pgdriver.WithDSN(t.DSN), pgdriver.WithTimeout(10*time.Second))})
		db = bun.NewDB(sqldb, pgdialect.New())
	case SQLite:
		var err error
		sqldb, err = sql.Open("sqlite", t.DSN)
		if err != nil {
			return nil, err
		}
		db = bun.NewDB(sqldb, sqlitedialect.New())
	default:
		return nil, fmt.Errorf("unknown dialect %q", t.Dialect)
	}
	// oslo.db keeps max_pool_size connections and allows max_overflow more
	// under load; database/sql's idle/open limits express the same.
	idle := pool.MaxPoolSize
	if idle <= 0 {
		idle = 5
	}
	open := idle + max(pool.MaxOverflow, 0)
	// One validation issues its lookups in parallel, so under load every
	// connection of the pool is busy at once; letting the overflow ones
	// close when they go idle (as SQLAlchemy does) would make the service
	// open and close connections continuously. Keep them all; the
	// recycle time still renews them.
	sqldb.SetMaxIdleConns(open)
	sqldb.SetMaxOpenConns(open)
	if pool.ConnectionRecycleTime > 0 {
		sqldb.SetConnMaxLifetime(pool.ConnectionRecycleTime)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Redacted, err)
	}
	return db, nil
}

// genericPlans opens PostgreSQL connections that plan each prepared
// statement once (plan_cache_mode = force_generic_plan, PostgreSQL 12 and
// later). Left to itself, the server plans the first five executions of a
// statement on each connection for their parameters before it settles on a
// generic plan, so every new connection (and every batch size of a combined
// statement, batch.go) spends its first executions planning a UNION ALL of
// dozens of branches: the slowest validations of a bench run's first
// seconds. The statements here look rows up by key, for which the generic
// plan is the plan. An older server, which lacks the setting, refuses the
// SET; the connection is used as it is.
type genericPlans struct{ driver.Connector }

func (g genericPlans) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := g.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if ex, ok := c.(driver.ExecerContext); ok {
		if _, err := ex.ExecContext(ctx, "SET plan_cache_mode = force_generic_plan", nil); err != nil && !undefinedSetting(err) {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// undefinedSetting reports PostgreSQL's 42704 (undefined_object:
// "unrecognized configuration parameter"), the answer of a server older
// than the setting.
func undefinedSetting(err error) bool {
	var pe pgdriver.Error
	return errors.As(err, &pe) && pe.Field('C') == "42704"
}
