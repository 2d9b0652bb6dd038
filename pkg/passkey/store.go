package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// Passkey is a stored WebAuthn credential of a Keystone user.
type Passkey struct {
	ID     string
	UserID string
	// CredentialID is the raw WebAuthn credential id.
	CredentialID []byte
	// PublicKey is the COSE public key.
	PublicKey         []byte
	Name              string
	AAGUID            string // canonical UUID form
	Transports        []string
	SignCount         uint32
	UserVerified      bool
	BackupEligible    bool
	BackupState       bool
	AttestationType   string
	AttestationFormat string
	CreatedAt         time.Time
	LastUsedAt        *time.Time
}

// Ceremony kinds.
const (
	KindRegister = "register"
	KindLogin    = "login"
)

// Ceremony is the server side of a registration or login ceremony: the
// challenge and what it was issued for. It is single-use.
type Ceremony struct {
	ID     string
	Kind   string
	UserID string // "" for a usernameless login
	// Decoy marks a login ceremony started for an unknown user (or one
	// without passkeys): it can never finish.
	Decoy bool
	// Name is the label asked for at registration start.
	Name string
	// Session is go-webauthn's SessionData as JSON.
	Session   []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store persists passkeys and ceremonies.
type Store interface {
	CreatePasskey(ctx context.Context, p *Passkey) error
	GetPasskey(ctx context.Context, id string) (*Passkey, error)
	PasskeyByCredentialID(ctx context.Context, credID []byte) (*Passkey, error)
	ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error)
	RenamePasskey(ctx context.Context, id, name string) error
	DeletePasskey(ctx context.Context, id string) error
	// RecordUse stores the new counter, backup state and last use, only if
	// the stored counter is still oldCount (ErrConflict otherwise).
	RecordUse(ctx context.Context, id string, oldCount, newCount uint32, backupState bool, at time.Time) error

	CreateCeremony(ctx context.Context, c *Ceremony) error
	// TakeCeremony reads and deletes a ceremony in one step: of two
	// concurrent callers only one gets it (ErrNotFound for the other).
	TakeCeremony(ctx context.Context, id string) (*Ceremony, error)

	// Secret returns the named server secret, creating it on first use;
	// every instance sharing the database gets the same value.
	Secret(ctx context.Context, name string) ([]byte, error)

	PurgeCeremonies(ctx context.Context, now time.Time) (int64, error)
	PurgeOrphans(ctx context.Context) (int64, error)
}

// ErrNotFound and ErrConflict are the store's sentinel errors.
var (
	ErrNotFound = errors.New("passkey: not found")
	ErrConflict = errors.New("passkey: conflict")
)

// SQLStore is the bun implementation (MariaDB/MySQL, PostgreSQL, SQLite).
type SQLStore struct {
	db    *bun.DB
	tUser string
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db.
func NewSQLStore(db *bun.DB) *SQLStore {
	return &SQLStore{db: db, tUser: sqldialect.Of(db).User()}
}

// CredentialHash is the indexed form of a credential id (ids run up to
// 1023 bytes, too long for a portable unique index).
func CredentialHash(credID []byte) string {
	h := sha256.Sum256(credID)
	return hex.EncodeToString(h[:])
}

var b64 = base64.RawURLEncoding

const passkeyCols = `id, user_id, credential_id, public_key, name, aaguid, transports, sign_count,
	user_verified, backup_eligible, backup_state, attestation_type, attestation_format, created_at, last_used_at`

// CreatePasskey inserts p; ErrConflict when the credential id is taken.
func (s *SQLStore) CreatePasskey(ctx context.Context, p *Passkey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ng_passkeys (id, user_id, credential_hash, credential_id, public_key, name, aaguid,
		transports, sign_count, user_verified, backup_eligible, backup_state, attestation_type, attestation_format, created_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		p.ID, p.UserID, CredentialHash(p.CredentialID), b64.EncodeToString(p.CredentialID), b64.EncodeToString(p.PublicKey),
		p.Name, p.AAGUID, FormatTransports(p.Transports), int64(p.SignCount), p.UserVerified, p.BackupEligible, p.BackupState,
		p.AttestationType, p.AttestationFormat, sqldialect.Micros(p.CreatedAt))
	if err != nil {
		if sqldialect.IsDuplicate(err) {
			return fmt.Errorf("%w: credential already registered", ErrConflict)
		}
		return fmt.Errorf("store passkey: %w", err)
	}
	return nil
}

func scanPasskey(rows *sql.Rows) (*Passkey, error) {
	var (
		p                     Passkey
		credID, pub, tr       string
		count, created        int64
		lastUsed              sql.NullInt64
		uv, be, bs            bool
		attType, attFmt, name string
	)
	if err := rows.Scan(&p.ID, &p.UserID, &credID, &pub, &name, &p.AAGUID, &tr, &count, &uv, &be, &bs, &attType, &attFmt, &created, &lastUsed); err != nil {
		return nil, fmt.Errorf("read passkey: %w", err)
	}
	var err error
	if p.CredentialID, err = b64.DecodeString(credID); err != nil {
		return nil, fmt.Errorf("read passkey %s: credential id: %w", p.ID, err)
	}
	if p.PublicKey, err = b64.DecodeString(pub); err != nil {
		return nil, fmt.Errorf("read passkey %s: public key: %w", p.ID, err)
	}
	p.Transports = ParseTransports(tr)
	p.Name, p.SignCount, p.UserVerified, p.BackupEligible, p.BackupState = name, uint32(count), uv, be, bs
	p.AttestationType, p.AttestationFormat = attType, attFmt
	p.CreatedAt = sqldialect.FromMicros(created)
	if lastUsed.Valid {
		t := sqldialect.FromMicros(lastUsed.Int64)
		p.LastUsedAt = &t
	}
	return &p, nil
}

func (s *SQLStore) queryPasskeys(ctx context.Context, where string, args ...any) ([]*Passkey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+passkeyCols+` FROM ng_passkeys WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read passkeys: %w", err)
	}
	defer rows.Close()
	var out []*Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *SQLStore) onePasskey(ctx context.Context, where string, args ...any) (*Passkey, error) {
	ps, err := s.queryPasskeys(ctx, where, args...)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, ErrNotFound
	}
	return ps[0], nil
}

// GetPasskey reads one passkey by its id.
func (s *SQLStore) GetPasskey(ctx context.Context, id string) (*Passkey, error) {
	return s.onePasskey(ctx, `id = ?`, id)
}

// PasskeyByCredentialID finds the passkey of a WebAuthn credential id.
func (s *SQLStore) PasskeyByCredentialID(ctx context.Context, credID []byte) (*Passkey, error) {
	p, err := s.onePasskey(ctx, `credential_hash = ?`, CredentialHash(credID))
	if err != nil {
		return nil, err
	}
	if string(p.CredentialID) != string(credID) {
		return nil, ErrNotFound
	}
	return p, nil
}

// ListPasskeys lists a user's passkeys, oldest first.
func (s *SQLStore) ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error) {
	return s.queryPasskeys(ctx, `user_id = ? ORDER BY created_at, id`, userID)
}

func (s *SQLStore) execOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RenamePasskey sets a passkey's label.
func (s *SQLStore) RenamePasskey(ctx context.Context, id, name string) error {
	p, err := s.GetPasskey(ctx, id)
	if err != nil {
		return err
	}
	if p.Name == name { // MySQL reports 0 affected rows for an unchanged row
		return nil
	}
	return s.execOne(ctx, "rename passkey", `UPDATE ng_passkeys SET name = ? WHERE id = ?`, name, id)
}

// DeletePasskey removes a passkey.
func (s *SQLStore) DeletePasskey(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete passkey", `DELETE FROM ng_passkeys WHERE id = ?`, id)
}

// RecordUse updates the counter after a successful assertion. The
// compare-and-set on sign_count makes two concurrent assertions with the
// same counter value fail one of them.
func (s *SQLStore) RecordUse(ctx context.Context, id string, oldCount, newCount uint32, backupState bool, at time.Time) error {
	err := s.execOne(ctx, "record passkey use",
		`UPDATE ng_passkeys SET sign_count = ?, backup_state = ?, last_used_at = ? WHERE id = ? AND sign_count = ?`,
		int64(newCount), backupState, sqldialect.Micros(at), id, int64(oldCount))
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	// MySQL counts changed rows only: an update that wrote the values the
	// row already held matched it all the same.
	p, gerr := s.GetPasskey(ctx, id)
	if gerr == nil && p.SignCount == newCount && p.BackupState == backupState && p.LastUsedAt != nil && p.LastUsedAt.Equal(sqldialect.FromMicros(sqldialect.Micros(at))) {
		return nil
	}
	return fmt.Errorf("%w: counter of passkey %s changed concurrently", ErrConflict, id)
}

// CreateCeremony stores a ceremony.
func (s *SQLStore) CreateCeremony(ctx context.Context, c *Ceremony) error {
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ng_passkey_ceremonies (id, kind, user_id, decoy, name, session, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Kind, user, c.Decoy, c.Name, string(c.Session), sqldialect.Micros(c.CreatedAt), sqldialect.Micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store ceremony: %w", err)
	}
	return nil
}

// TakeCeremony reads a ceremony and deletes it; only the caller whose
// DELETE removed the row gets it, so a ceremony is used at most once even
// across instances.
func (s *SQLStore) TakeCeremony(ctx context.Context, id string) (*Ceremony, error) {
	var (
		c                Ceremony
		user             sql.NullString
		session          string
		created, expires int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, kind, user_id, decoy, name, session, created_at, expires_at FROM ng_passkey_ceremonies WHERE id = ?`, id).
		Scan(&c.ID, &c.Kind, &user, &c.Decoy, &c.Name, &session, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read ceremony: %w", err)
	}
	if err := s.execOne(ctx, "consume ceremony", `DELETE FROM ng_passkey_ceremonies WHERE id = ?`, id); err != nil {
		return nil, err
	}
	c.UserID, c.Session = user.String, []byte(session)
	c.CreatedAt, c.ExpiresAt = sqldialect.FromMicros(created), sqldialect.FromMicros(expires)
	return &c, nil
}

// Secret returns (creating once) a random 32-byte secret shared by every
// instance through the database.
func (s *SQLStore) Secret(ctx context.Context, name string) ([]byte, error) {
	read := func() ([]byte, error) {
		var v string
		err := s.db.QueryRowContext(ctx, `SELECT secret FROM ng_passkey_secrets WHERE name = ?`, name).Scan(&v)
		if err != nil {
			return nil, err
		}
		return b64.DecodeString(v)
	}
	v, err := read()
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	_, ierr := s.db.ExecContext(ctx, `INSERT INTO ng_passkey_secrets (name, secret, created_at) VALUES (?, ?, ?)`, name, b64.EncodeToString(b[:]), sqldialect.Micros(time.Now()))
	// Another instance may have won the race: read whatever is stored.
	v, err = read()
	if err != nil {
		if ierr != nil {
			return nil, fmt.Errorf("create secret: %w", ierr)
		}
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return v, nil
}

// PurgeCeremonies deletes expired ceremonies.
func (s *SQLStore) PurgeCeremonies(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ng_passkey_ceremonies WHERE expires_at < ?`, sqldialect.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("purge ceremonies: %w", err)
	}
	return res.RowsAffected()
}

// PurgeOrphans deletes passkeys whose user was deleted in Python Keystone.
func (s *SQLStore) PurgeOrphans(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ng_passkeys WHERE NOT EXISTS (SELECT 1 FROM `+s.tUser+` u WHERE u.id = ng_passkeys.user_id)`)
	if err != nil {
		return 0, fmt.Errorf("purge orphaned passkeys: %w", err)
	}
	return res.RowsAffected()
}
