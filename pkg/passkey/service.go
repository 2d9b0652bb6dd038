// Package passkey is keystone-ng's passkey (WebAuthn) feature: registration
// and login ceremonies verified with go-webauthn, passkeys and ceremonies
// stored in keystone-ng's own tables, decoy challenges for unknown users,
// signature-counter checks, and the same lockout rules as Python's
// password logins (docs/design.md §9).
//
// Every ceremony lives in the database and is single-use, so any instance
// can finish a ceremony another started. The WebAuthn user handle is the
// Keystone user id.
package passkey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// Config is the [webauthn] section.
type Config struct {
	RPID             string
	RPName           string
	Origins          []string
	UserVerification string // required|preferred|discouraged
	Attestation      string // none|indirect|direct|enterprise
	CeremonyTimeout  time.Duration
	// TokenMethods are the [auth] methods a passkey token carries.
	TokenMethods []string
	// MaxPasskeysPerUser is [keystone_ng] max_passkeys_per_user (0 = no
	// limit).
	MaxPasskeysPerUser int
}

// Service runs the ceremonies.
type Service struct {
	Store Store
	// Users reads Keystone users and domains (*store.Reader).
	Users identity.Directory
	// Checker applies the login checks and the lockout counter.
	Checker *identity.Checker
	Scopes  issue.ScopeLookup
	Log     *slog.Logger
	Now     func() time.Time

	cfg Config
	wa  *webauthn.WebAuthn
}

// New builds a service for cfg.
func New(cfg Config, st Store, users identity.Directory, checker *identity.Checker, scopes issue.ScopeLookup, log *slog.Logger) (*Service, error) {
	if cfg.RPID == "" {
		return nil, errors.New("passkey: relying party id not set")
	}
	if cfg.RPName == "" {
		cfg.RPName = "OpenStack"
	}
	if cfg.CeremonyTimeout <= 0 {
		cfg.CeremonyTimeout = 5 * time.Minute
	}
	if cfg.UserVerification == "" {
		cfg.UserVerification = string(protocol.VerificationRequired)
	}
	if cfg.Attestation == "" {
		cfg.Attestation = string(protocol.PreferNoAttestation)
	}
	if len(cfg.TokenMethods) == 0 {
		cfg.TokenMethods = []string{"external"}
	}
	required := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.ConveyancePreference(cfg.Attestation),
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &required,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.UserVerificationRequirement(cfg.UserVerification),
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.CeremonyTimeout, TimeoutUVD: cfg.CeremonyTimeout},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.CeremonyTimeout, TimeoutUVD: cfg.CeremonyTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{Store: st, Users: users, Checker: checker, Scopes: scopes, Log: log, cfg: cfg, wa: wa}, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// waUser adapts a Keystone user and its passkeys to go-webauthn.
type waUser struct {
	id, name, display string
	creds             []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.display }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func credentialOf(p *Passkey) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, 0, len(p.Transports))
	for _, t := range p.Transports {
		ts = append(ts, protocol.AuthenticatorTransport(t))
	}
	aaguid, _ := parseAAGUID(p.AAGUID)
	return webauthn.Credential{
		ID:                p.CredentialID,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Transport:         ts,
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   p.UserVerified,
			BackupEligible: p.BackupEligible,
			BackupState:    p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: p.SignCount},
	}
}

func (s *Service) waUserOf(u *keystone.User, pks []*Passkey) *waUser {
	w := &waUser{id: u.ID, name: u.Name, display: u.Name}
	if u.Domain != nil && u.Domain.Name != "" {
		w.display = u.Name + " (" + u.Domain.Name + ")"
	}
	for _, p := range pks {
		w.creds = append(w.creds, credentialOf(p))
	}
	return w
}

// Begun is what a ceremony start returns to the client.
type Begun struct {
	CeremonyID string `json:"ceremony_id"`
	// Options is protocol.CredentialCreation or protocol.CredentialAssertion.
	Options any `json:"options"`
}

// NewID returns a Keystone-style id (32 hex characters).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func newCeremonyID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// MaxNameLength bounds a passkey label.
const MaxNameLength = 255

// CleanName validates a passkey label: trimmed, valid UTF-8, no control
// characters, at most 255 characters.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength {
		return "", apierror.New(http.StatusBadRequest, fmt.Sprintf("Invalid input for field 'name': must be at most %d characters of text.", MaxNameLength))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", apierror.New(http.StatusBadRequest, "Invalid input for field 'name': control characters are not allowed.")
		}
	}
	return name, nil
}

// User returns a Keystone user; ErrNotFound when absent.
func (s *Service) User(ctx context.Context, id string) (*keystone.User, error) {
	u, err := s.Users.GetUser(ctx, id)
	if errors.Is(err, token.ErrNotFound) {
		return nil, ErrNotFound
	}
	return u, err
}

func (s *Service) saveCeremony(ctx context.Context, kind, userID, name string, decoy bool, sess *webauthn.SessionData) (string, error) {
	raw, err := json.Marshal(sess)
	if err != nil {
		return "", apierror.Internal(err)
	}
	now := s.now().UTC()
	c := &Ceremony{ID: newCeremonyID(), Kind: kind, UserID: userID, Name: name, Decoy: decoy, Session: raw,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.CeremonyTimeout)}
	if err := s.Store.CreateCeremony(ctx, c); err != nil {
		return "", apierror.Internal(err)
	}
	return c.ID, nil
}

// takeCeremony consumes a ceremony of the given kind. ok is false (with a
// cause for the log) when it is unknown, already used, expired or of the
// wrong kind.
func (s *Service) takeCeremony(ctx context.Context, id, kind string) (*Ceremony, *webauthn.SessionData, error) {
	if id == "" || len(id) > 64 {
		return nil, nil, errors.New("no or malformed ceremony id")
	}
	c, err := s.Store.TakeCeremony(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errors.New("ceremony unknown or already used")
	}
	if err != nil {
		return nil, nil, apierror.Internal(err)
	}
	if c.Kind != kind {
		return nil, nil, fmt.Errorf("ceremony is a %s, not a %s", c.Kind, kind)
	}
	if !s.now().Before(c.ExpiresAt) {
		return nil, nil, fmt.Errorf("ceremony expired at %s", c.ExpiresAt.Format(time.RFC3339))
	}
	var sess webauthn.SessionData
	if err := json.Unmarshal(c.Session, &sess); err != nil {
		return nil, nil, apierror.Internal(fmt.Errorf("ceremony %s: session: %w", c.ID, err))
	}
	return c, &sess, nil
}

// --- registration

// BeginRegistration starts registering a passkey for u: discoverable
// credential required, the user's existing credentials excluded.
func (s *Service) BeginRegistration(ctx context.Context, u *keystone.User, name string) (*Begun, error) {
	name, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	pks, err := s.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	if err := s.quota(len(pks)); err != nil {
		return nil, err
	}
	wu := s.waUserOf(u, pks)
	excl := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, c := range wu.creds {
		excl = append(excl, c.Descriptor())
	}
	opts := []webauthn.RegistrationOption{
		webauthn.WithExclusions(excl),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	}
	creation, sess, err := s.wa.BeginRegistration(wu, opts...)
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("begin registration: %w", err))
	}
	id, err := s.saveCeremony(ctx, KindRegister, u.ID, name, false, sess)
	if err != nil {
		return nil, err
	}
	return &Begun{CeremonyID: id, Options: creation}, nil
}

// quota refuses a new passkey when the user has max_passkeys_per_user
// already (403; 0 = no limit), checked when a registration starts and
// again when it finishes.
func (s *Service) quota(have int) error {
	if s.cfg.MaxPasskeysPerUser > 0 && have >= s.cfg.MaxPasskeysPerUser {
		return apierror.Forbidden(fmt.Sprintf("The user has %d passkeys, the most [keystone_ng] max_passkeys_per_user allows; delete one first.", have))
	}
	return nil
}

// registrationRefused is the 400 of a registration that cannot be
// verified; the cause is logged.
func registrationRefused(cause error) *apierror.Error {
	e := apierror.New(http.StatusBadRequest, "The passkey could not be verified; start the registration again.")
	e.Cause = cause
	return e
}

// FinishRegistration verifies the attestation of a new credential and
// stores the passkey. name, when not empty, overrides the label given at
// the start.
func (s *Service) FinishRegistration(ctx context.Context, u *keystone.User, ceremonyID, name string, credential json.RawMessage) (*Passkey, error) {
	name, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	c, sess, err := s.takeCeremony(ctx, ceremonyID, KindRegister)
	if err != nil {
		if ae := (*apierror.Error)(nil); errors.As(err, &ae) {
			return nil, ae
		}
		return nil, registrationRefused(err)
	}
	if c.UserID != u.ID {
		return nil, registrationRefused(fmt.Errorf("ceremony %s was started for user %s, not %s", c.ID, c.UserID, u.ID))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, registrationRefused(fmt.Errorf("parse attestation: %w", describe(err)))
	}
	pks, err := s.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	if err := s.quota(len(pks)); err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(s.waUserOf(u, pks), *sess, parsed)
	if err != nil {
		return nil, registrationRefused(fmt.Errorf("verify attestation: %w", describe(err)))
	}
	if name == "" {
		name = c.Name
	}
	if name == "" {
		name = "Passkey"
	}
	ts := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		ts = append(ts, string(t))
	}
	p := &Passkey{
		ID:                NewID(),
		UserID:            u.ID,
		CredentialID:      cred.ID,
		PublicKey:         cred.PublicKey,
		Name:              name,
		AAGUID:            formatAAGUID(cred.Authenticator.AAGUID),
		Transports:        ParseTransports(strings.Join(ts, ",")),
		SignCount:         cred.Authenticator.SignCount,
		UserVerified:      cred.Flags.UserVerified,
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		AttestationType:   cred.AttestationType,
		AttestationFormat: cred.AttestationFormat,
		CreatedAt:         s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.Store.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, ErrConflict) {
			e := apierror.New(http.StatusConflict, "This passkey is already registered.")
			e.Cause = err
			return nil, e
		}
		return nil, apierror.Internal(err)
	}
	s.Log.InfoContext(ctx, "passkey registered", "user_id", u.ID, "passkey_id", p.ID, "aaguid", p.AAGUID)
	return p, nil
}

// describe adds go-webauthn's developer detail to an error for the log.
func describe(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w (%s)", err, pe.DevInfo)
	}
	return err
}

// --- management

// List returns a user's passkeys.
func (s *Service) List(ctx context.Context, userID string) ([]*Passkey, error) {
	pks, err := s.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return pks, nil
}

func passkeyNotFound(id string) *apierror.Error {
	return apierror.NotFound("Could not find passkey: " + id + ".")
}

// Get returns one passkey of a user (404 when it belongs to another).
func (s *Service) Get(ctx context.Context, userID, id string) (*Passkey, error) {
	p, err := s.Store.GetPasskey(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && p.UserID != userID) {
		return nil, passkeyNotFound(id)
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return p, nil
}

// Rename changes a passkey's label.
func (s *Service) Rename(ctx context.Context, userID, id, name string) (*Passkey, error) {
	name, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, apierror.New(http.StatusBadRequest, "Invalid input for field 'name': must not be empty.")
	}
	if _, err := s.Get(ctx, userID, id); err != nil {
		return nil, err
	}
	if err := s.Store.RenamePasskey(ctx, id, name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, passkeyNotFound(id)
		}
		return nil, apierror.Internal(err)
	}
	return s.Get(ctx, userID, id)
}

// Delete removes a passkey.
func (s *Service) Delete(ctx context.Context, userID, id string) error {
	if _, err := s.Get(ctx, userID, id); err != nil {
		return err
	}
	if err := s.Store.DeletePasskey(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return passkeyNotFound(id)
		}
		return apierror.Internal(err)
	}
	s.Log.InfoContext(ctx, "passkey deleted", "user_id", userID, "passkey_id", id)
	return nil
}

// --- AAGUID

func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		b = make([]byte, 16)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func parseAAGUID(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("bad AAGUID %q", s)
	}
	return b, nil
}
