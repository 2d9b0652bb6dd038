package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// A service account's credentials (docs/service-accounts.md §6): public
// keys and client secret hashes in keystone-ng's own tables, and the
// single-use jti of accepted private_key_jwt assertions.

// CredentialRow is one key or secret. Times are UTC; nil when unset.
type CredentialRow struct {
	ID, UserID string
	// Algorithm, Thumbprint and PublicJWK are a key's; SecretHash a
	// secret's.
	Algorithm, Thumbprint, PublicJWK string
	SecretHash                       string
	CreatedBy                        string
	CreatedAt                        time.Time
	ExpiresAt, LastUsedAt            *time.Time
}

// The credential store's errors.
var (
	// ErrCredentialQuota: the account already has the maximum number of
	// credentials (keys and secrets together).
	ErrCredentialQuota = errors.New("store: too many credentials")
	// ErrKeyExists: the account already has this public key.
	ErrKeyExists = errors.New("store: key already registered")
)

func micros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().UnixMicro()
}

func fromMicros(n nullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMicro(n.Int64).UTC()
	return &t
}

// credentialCount counts the account's keys and secrets in tx.
func credentialCount(ctx context.Context, tx bun.Tx, userID string) (int, error) {
	var k, s int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account_key WHERE user_id = ?`, userID).Scan(&k); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account_secret WHERE user_id = ?`, userID).Scan(&s); err != nil {
		return 0, err
	}
	return k + s, nil
}

// addCredential inserts in one transaction after checking the account
// exists and is under max credentials (0: no limit).
func (s *ServiceAccounts) addCredential(ctx context.Context, userID string, max int, insert func(ctx context.Context, tx bun.Tx) error) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account WHERE user_id = ?`, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if max > 0 {
			c, err := credentialCount(ctx, tx, userID)
			if err != nil {
				return err
			}
			if c >= max {
				return ErrCredentialQuota
			}
		}
		return insert(ctx, tx)
	})
}

// CreateKey stores a public key.
func (s *ServiceAccounts) CreateKey(ctx context.Context, k *CredentialRow, max int) error {
	return s.addCredential(ctx, k.UserID, max, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_service_account_key WHERE user_id = ? AND thumbprint = ?`, k.UserID, k.Thumbprint).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrKeyExists
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ng_service_account_key (id, user_id, algorithm, thumbprint, public_jwk, created_by, created_at, expires_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`, k.ID, k.UserID, k.Algorithm, k.Thumbprint, k.PublicJWK, k.CreatedBy, k.CreatedAt.UTC().UnixMicro(), micros(k.ExpiresAt))
		if sqldialect.IsDuplicate(err) {
			return ErrKeyExists
		}
		return err
	})
}

// CreateSecret stores a client secret's hash.
func (s *ServiceAccounts) CreateSecret(ctx context.Context, r *CredentialRow, max int) error {
	return s.addCredential(ctx, r.UserID, max, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ng_service_account_secret (id, user_id, secret_hash, created_by, created_at, expires_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, NULL)`, r.ID, r.UserID, r.SecretHash, r.CreatedBy, r.CreatedAt.UTC().UnixMicro(), micros(r.ExpiresAt))
		return err
	})
}

const (
	keyColumns    = `id, user_id, algorithm, thumbprint, public_jwk, created_by, created_at, expires_at, last_used_at`
	secretColumns = `id, user_id, secret_hash, created_by, created_at, expires_at, last_used_at`
)

func scanKey(r interface{ Scan(...any) error }) (*CredentialRow, error) {
	var (
		k                CredentialRow
		created          int64
		expires, lastUse nullInt64
	)
	if err := r.Scan(&k.ID, &k.UserID, &k.Algorithm, &k.Thumbprint, &k.PublicJWK, &k.CreatedBy, &created, &expires, &lastUse); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = time.UnixMicro(created).UTC(), fromMicros(expires), fromMicros(lastUse)
	return &k, nil
}

func scanSecret(r interface{ Scan(...any) error }) (*CredentialRow, error) {
	var (
		k                CredentialRow
		created          int64
		expires, lastUse nullInt64
	)
	if err := r.Scan(&k.ID, &k.UserID, &k.SecretHash, &k.CreatedBy, &created, &expires, &lastUse); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = time.UnixMicro(created).UTC(), fromMicros(expires), fromMicros(lastUse)
	return &k, nil
}

func (s *ServiceAccounts) listCreds(ctx context.Context, q string, scan func(interface{ Scan(...any) error }) (*CredentialRow, error), args ...any) ([]*CredentialRow, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*CredentialRow
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Keys lists the account's keys by creation.
func (s *ServiceAccounts) Keys(ctx context.Context, userID string) ([]*CredentialRow, error) {
	return s.listCreds(ctx, `SELECT `+keyColumns+` FROM ng_service_account_key WHERE user_id = ? ORDER BY created_at, id`, scanKey, userID)
}

// Secrets lists the account's secrets by creation.
func (s *ServiceAccounts) Secrets(ctx context.Context, userID string) ([]*CredentialRow, error) {
	return s.listCreds(ctx, `SELECT `+secretColumns+` FROM ng_service_account_secret WHERE user_id = ? ORDER BY created_at, id`, scanSecret, userID)
}

// Secret returns one secret by id (whoever owns it); ErrNotFound.
func (s *ServiceAccounts) Secret(ctx context.Context, id string) (*CredentialRow, error) {
	r, err := scanSecret(s.db.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM ng_service_account_secret WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// DeleteKey removes a key of the account; ErrNotFound.
func (s *ServiceAccounts) DeleteKey(ctx context.Context, userID, id string) error {
	return s.deleteCred(ctx, `DELETE FROM ng_service_account_key WHERE user_id = ? AND id = ?`, userID, id)
}

// DeleteSecret removes a secret of the account; ErrNotFound.
func (s *ServiceAccounts) DeleteSecret(ctx context.Context, userID, id string) error {
	return s.deleteCred(ctx, `DELETE FROM ng_service_account_secret WHERE user_id = ? AND id = ?`, userID, id)
}

func (s *ServiceAccounts) deleteCred(ctx context.Context, q, userID, id string) error {
	res, err := s.db.ExecContext(ctx, q, userID, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchKey and TouchSecret record a successful login's time.
func (s *ServiceAccounts) TouchKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE ng_service_account_key SET last_used_at = ? WHERE id = ?`, at.UTC().UnixMicro(), id)
	return err
}

// TouchSecret: see TouchKey.
func (s *ServiceAccounts) TouchSecret(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE ng_service_account_secret SET last_used_at = ? WHERE id = ?`, at.UTC().UnixMicro(), id)
	return err
}

// UseJTI records an assertion's jti until expires; ErrReplayedJTI when the
// account already used it.
func (s *ServiceAccounts) UseJTI(ctx context.Context, userID, jti string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ng_oauth2_jti (user_id, jti, expires_at) VALUES (?, ?, ?)`, userID, jti, expires.UTC().UnixMicro())
	if sqldialect.IsDuplicate(err) {
		return ErrReplayedJTI
	}
	if err != nil {
		return fmt.Errorf("insert ng_oauth2_jti: %w", err)
	}
	return nil
}

// ForgetJTI removes a jti recorded by a login that was refused later, so
// that a refusal leaves the database as it was.
func (s *ServiceAccounts) ForgetJTI(ctx context.Context, userID, jti string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM ng_oauth2_jti WHERE user_id = ? AND jti = ?`, userID, jti)
	return err
}

// ExpiredPurger deletes the rows of one table whose expires_at has passed:
// jti records once their assertion expired, and keys and secrets once they
// expired (refused from that moment on, they can never sign in again).
type ExpiredPurger struct {
	db    *bun.DB
	table string
}

// Purgers are the purgers of the service account tables.
func (s *ServiceAccounts) Purgers() []ExpiredPurger {
	return []ExpiredPurger{{s.db, "ng_oauth2_jti"}, {s.db, "ng_service_account_key"}, {s.db, "ng_service_account_secret"}}
}

// Purge deletes the expired rows.
func (p ExpiredPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	res, err := p.db.ExecContext(ctx, `DELETE FROM `+p.table+` WHERE expires_at < ?`, now.UTC().UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Name names the purged table in logs.
func (p ExpiredPurger) Name() string { return p.table }
