package serviceaccount

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// CredentialStore keeps keys, secrets and assertion ids
// (*store.ServiceAccounts).
type CredentialStore interface {
	CreateKey(ctx context.Context, k *store.CredentialRow, max int) error
	CreateSecret(ctx context.Context, r *store.CredentialRow, max int) error
	Keys(ctx context.Context, userID string) ([]*store.CredentialRow, error)
	Secrets(ctx context.Context, userID string) ([]*store.CredentialRow, error)
	Secret(ctx context.Context, id string) (*store.CredentialRow, error)
	DeleteKey(ctx context.Context, userID, id string) error
	DeleteSecret(ctx context.Context, userID, id string) error
	TouchKey(ctx context.Context, id string, at time.Time) error
	TouchSecret(ctx context.Context, id string, at time.Time) error
	UseJTI(ctx context.Context, userID, jti string, expires time.Time) error
	ForgetJTI(ctx context.Context, userID, jti string) error
}

var _ CredentialStore = (*store.ServiceAccounts)(nil)

// Credential is a key or a secret as the API shows it.
type Credential = store.CredentialRow

// KeyRequest is the body of POST .../keys: a public key (PEM string or
// JWK object), or none and an algorithm for a key pair made here.
type KeyRequest struct {
	PublicKey json.RawMessage `json:"public_key"`
	Algorithm string          `json:"algorithm"`
	ExpiresAt *string         `json:"expires_at"`
}

// SecretRequest is the body of POST .../secrets.
type SecretRequest struct {
	ExpiresAt *string `json:"expires_at"`
}

// NewKey is a created key; PrivateKey is set only for a generated pair.
type NewKey struct {
	Key        *Credential
	PrivateKey string
}

// NewSecret is a created secret with the secret itself (shown once).
type NewSecret struct {
	Secret *Credential
	Value  string
}

// parseExpiry reads an optional expires_at, which must lie in the future.
func parseExpiry(s *string, now time.Time) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, badRequest("Invalid input for field 'expires_at': an RFC 3339 time such as 2027-01-01T00:00:00Z.")
	}
	if !t.After(now) {
		return nil, badRequest("Invalid input for field 'expires_at': the time has passed.")
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t, nil
}

func quotaError(max int) *apierror.Error {
	return apierror.Forbidden("You are not authorized to perform the requested action: the service account already has " +
		itoa(max) + " credentials ([keystone_ng] max_credentials_per_service_account); delete one first.")
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (s *Service) creds() CredentialStore {
	c, _ := s.st.(CredentialStore)
	return c
}

// CreateKey adds a public key to acct, or a generated key pair.
func (s *Service) CreateKey(ctx context.Context, acct *Account, r *KeyRequest, createdBy string) (*NewKey, error) {
	now := s.now()
	exp, err := parseExpiry(r.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	var (
		pub  *PublicKey
		priv string
	)
	if len(r.PublicKey) > 0 && string(r.PublicKey) != "null" {
		if r.Algorithm != "" {
			return nil, badRequest("Invalid input: give public_key or algorithm (to generate a key pair), not both.")
		}
		pub, err = ParsePublicKey(r.PublicKey)
	} else {
		pub, priv, err = GenerateKey(r.Algorithm)
	}
	var ke *errKey
	if errors.As(err, &ke) {
		return nil, badRequest("Invalid input for field 'public_key': " + ke.msg + ".")
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	row := &store.CredentialRow{ID: newID(), UserID: acct.ID, Algorithm: pub.Algorithm, Thumbprint: pub.Thumbprint, PublicJWK: pub.JWK,
		CreatedBy: createdBy, CreatedAt: now.Truncate(time.Microsecond), ExpiresAt: exp}
	switch err := s.creds().CreateKey(ctx, row, s.opt.MaxCredentials); {
	case errors.Is(err, store.ErrCredentialQuota):
		return nil, quotaError(s.opt.MaxCredentials)
	case errors.Is(err, store.ErrKeyExists):
		return nil, apierror.New(http.StatusConflict, "Conflict occurred attempting to store key - the service account already has this public key.")
	case errors.Is(err, store.ErrNotFound):
		return nil, apierror.NotFound("Could not find service account: " + acct.ID + ".")
	case err != nil:
		return nil, apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account key added", "service_account_id", acct.ID, "key_id", row.ID, "algorithm", row.Algorithm, "created_by", createdBy)
	return &NewKey{Key: row, PrivateKey: priv}, nil
}

// CreateSecret adds a client secret to acct.
func (s *Service) CreateSecret(ctx context.Context, acct *Account, r *SecretRequest, createdBy string) (*NewSecret, error) {
	now := s.now()
	exp, err := parseExpiry(r.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	id := newID()
	value, hash, err := newSecret(id, s.iterations())
	if err != nil {
		return nil, apierror.Internal(err)
	}
	row := &store.CredentialRow{ID: id, UserID: acct.ID, SecretHash: hash, CreatedBy: createdBy, CreatedAt: now.Truncate(time.Microsecond), ExpiresAt: exp}
	switch err := s.creds().CreateSecret(ctx, row, s.opt.MaxCredentials); {
	case errors.Is(err, store.ErrCredentialQuota):
		return nil, quotaError(s.opt.MaxCredentials)
	case errors.Is(err, store.ErrNotFound):
		return nil, apierror.NotFound("Could not find service account: " + acct.ID + ".")
	case err != nil:
		return nil, apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account secret added", "service_account_id", acct.ID, "secret_id", id, "created_by", createdBy)
	return &NewSecret{Secret: row, Value: value}, nil
}

func (s *Service) iterations() int {
	if s.opt.SecretIterations > 0 {
		return s.opt.SecretIterations
	}
	return SecretIterations
}

// Keys lists acct's keys.
func (s *Service) Keys(ctx context.Context, acct *Account) ([]*Credential, error) {
	ks, err := s.creds().Keys(ctx, acct.ID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return ks, nil
}

// Key returns one of acct's keys.
func (s *Service) Key(ctx context.Context, acct *Account, id string) (*Credential, error) {
	ks, err := s.Keys(ctx, acct)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if k.ID == id {
			return k, nil
		}
	}
	return nil, apierror.NotFound("Could not find key: " + id + ".")
}

// Secrets lists acct's secrets (never their values; the hash neither).
func (s *Service) Secrets(ctx context.Context, acct *Account) ([]*Credential, error) {
	ss, err := s.creds().Secrets(ctx, acct.ID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return ss, nil
}

// DeleteKey removes one of acct's keys; its logins are refused at once.
func (s *Service) DeleteKey(ctx context.Context, acct *Account, id string) error {
	err := s.creds().DeleteKey(ctx, acct.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("Could not find key: " + id + ".")
	}
	if err != nil {
		return apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account key deleted", "service_account_id", acct.ID, "key_id", id)
	return nil
}

// DeleteSecret removes one of acct's secrets.
func (s *Service) DeleteSecret(ctx context.Context, acct *Account, id string) error {
	err := s.creds().DeleteSecret(ctx, acct.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("Could not find secret: " + id + ".")
	}
	if err != nil {
		return apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account secret deleted", "service_account_id", acct.ID, "secret_id", id)
	return nil
}

// usable reports whether a credential may sign in at now (not expired).
func usable(c *Credential, now time.Time) bool {
	return c.ExpiresAt == nil || now.Before(*c.ExpiresAt)
}
