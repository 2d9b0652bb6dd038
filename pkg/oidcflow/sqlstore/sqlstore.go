// Package sqlstore is the SQL StateStore of pkg/oidcflow: table
// ng_oidc_login_state (migrations/*/0004_ng_oidc_login.sql) on
// MySQL/MariaDB, PostgreSQL and SQLite, through bun.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

const table = "ng_oidc_login_state"

// Store is an oidcflow.StateStore (and a purger for keystone-ng serve).
type Store struct {
	db *bun.DB
}

var _ oidcflow.StateStore = (*Store)(nil)

// New returns a Store on db, which must be migrated.
func New(db *bun.DB) *Store { return &Store{db: db} }

// Name implements the Purger interface of cmd/keystone-ng.
func (s *Store) Name() string { return table }

// fmtTime writes Python's DateTime text (sqldialect.DateTime): fixed
// width, so that SQLite, which stores text, orders and compares the values
// correctly; MySQL and PostgreSQL parse it.
func fmtTime(t time.Time) string { return sqldialect.DateTime(t) }

// ParseTime reads a time as the drivers hand it over as text (SQLite).
func ParseTime(s string) (time.Time, error) {
	t, err := sqldialect.ParseDateTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlstore: %w", err)
	}
	return t, nil
}

// dbTime scans DATETIME/TIMESTAMP values, naive UTC, from any driver.
type dbTime struct {
	t     time.Time
	valid bool
}

func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d = dbTime{}
		return nil
	case time.Time:
		d.t = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		d.valid = true
		return nil
	case []byte:
		return d.parse(string(x))
	case string:
		return d.parse(x)
	}
	return fmt.Errorf("sqlstore: cannot scan %T into a time", v)
}

func (d *dbTime) parse(s string) error {
	t, err := ParseTime(s)
	if err != nil {
		return err
	}
	d.t, d.valid = t, true
	return nil
}

const columns = "id, kind, idp_id, redirect_uri, nonce, pkce_verifier, device_code, poll_interval, next_poll_at, extra, created_at, expires_at"

// Put implements oidcflow.StateStore.
func (s *Store) Put(ctx context.Context, st *oidcflow.LoginState) error {
	var next, extra any
	if !st.NextPollAt.IsZero() {
		next = fmtTime(st.NextPollAt)
	}
	if len(st.Extra) > 0 {
		extra = string(st.Extra)
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO "+table+" ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		st.ID, string(st.Kind), st.IdPID, st.RedirectURI, st.Nonce, st.PKCEVerifier, st.DeviceCode,
		st.PollInterval, next, extra, fmtTime(st.CreatedAt), fmtTime(st.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert login state: %w", err)
	}
	return nil
}

// Get implements oidcflow.StateStore.
func (s *Store) Get(ctx context.Context, id string) (*oidcflow.LoginState, error) {
	var (
		st                 oidcflow.LoginState
		kind               string
		next, created, exp dbTime
		extra              sql.NullString
	)
	err := s.db.QueryRowContext(ctx, "SELECT "+columns+" FROM "+table+" WHERE id = ?", id).Scan(
		&st.ID, &kind, &st.IdPID, &st.RedirectURI, &st.Nonce, &st.PKCEVerifier, &st.DeviceCode,
		&st.PollInterval, &next, &extra, &created, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oidcflow.ErrStateNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read login state: %w", err)
	}
	st.Kind = oidcflow.Kind(kind)
	if next.valid {
		st.NextPollAt = next.t
	}
	if extra.Valid && extra.String != "" {
		st.Extra = []byte(extra.String)
	}
	st.CreatedAt, st.ExpiresAt = created.t, exp.t
	return &st, nil
}

// Take implements oidcflow.StateStore: read, then DELETE ... WHERE id = ?;
// the DELETE is the point of decision: of concurrent takers only the one
// whose DELETE removed the row (RowsAffected == 1) gets the state, on
// every backend (the row is immutable but for the device flow's poll
// pacing, which does not matter to the taker).
func (s *Store) Take(ctx context.Context, id string) (*oidcflow.LoginState, error) {
	st, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: delete login state: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: delete login state: %w", err)
	}
	if n != 1 {
		return nil, oidcflow.ErrStateNotFound
	}
	return st, nil
}

// ClaimPoll implements oidcflow.StateStore with one conditional UPDATE.
func (s *Store) ClaimPoll(ctx context.Context, id string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE "+table+" SET next_poll_at = ? WHERE id = ? AND (next_poll_at IS NULL OR next_poll_at <= ?)",
		fmtTime(until), id, fmtTime(now))
	if err != nil {
		return false, fmt.Errorf("sqlstore: claim poll: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: claim poll: %w", err)
	}
	return n == 1, nil
}

// SetPoll implements oidcflow.StateStore.
func (s *Store) SetPoll(ctx context.Context, id string, interval int, next time.Time) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE "+table+" SET poll_interval = ?, next_poll_at = ? WHERE id = ?", interval, fmtTime(next), id); err != nil {
		return fmt.Errorf("sqlstore: set poll: %w", err)
	}
	return nil
}

// Delete implements oidcflow.StateStore.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlstore: delete login state: %w", err)
	}
	return nil
}

// Purge deletes the states that expired at or before now.
func (s *Store) Purge(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+table+" WHERE expires_at <= ?", fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge login state: %w", err)
	}
	return res.RowsAffected()
}
