package passkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// UserRef names the user of a login the way a v3 password auth does:
// {"id": ...} or {"name": ..., "domain": {"id" or "name": ...}}.
type UserRef struct {
	ID     string     `json:"id,omitempty"`
	Name   string     `json:"name,omitempty"`
	Domain *DomainRef `json:"domain,omitempty"`
}

// DomainRef names a domain by id or name.
type DomainRef struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// decoyKey is what a decoy's fake credentials are derived from: the same
// user reference always yields the same fake credentials.
func (r *UserRef) decoyKey() string {
	if r.ID != "" {
		return "id\x00" + r.ID
	}
	d := ""
	if r.Domain != nil {
		d = "id\x00" + r.Domain.ID
		if r.Domain.ID == "" {
			d = "name\x00" + r.Domain.Name
		}
	}
	return "name\x00" + r.Name + "\x00" + d
}

// resolve finds the user; (nil, nil) when there is no such user.
func (s *Service) resolve(ctx context.Context, r *UserRef) (*keystone.User, error) {
	var (
		u   *keystone.User
		err error
	)
	switch {
	case r.ID != "":
		u, err = s.Users.GetUser(ctx, r.ID)
	case r.Name != "":
		if r.Domain == nil || (r.Domain.ID == "" && r.Domain.Name == "") {
			return nil, apierror.Validation("domain", "user")
		}
		domainID := r.Domain.ID
		if domainID == "" {
			d, derr := s.Users.DomainByName(ctx, r.Domain.Name)
			if errors.Is(derr, token.ErrNotFound) {
				return nil, nil
			}
			if derr != nil {
				return nil, apierror.Internal(derr)
			}
			domainID = d.ID
		}
		u, err = s.Users.UserByName(ctx, r.Name, domainID)
	default:
		return nil, apierror.Validation("id or name", "user")
	}
	if errors.Is(err, token.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return u, nil
}

// Decoy derivation: fake credential ids for users that do not exist (or
// have no passkey), stable per user reference, keyed by a secret shared
// through the database so every instance answers alike.
const decoySecretName = "decoy"

// decoyProfiles are the credential shapes real authenticators register,
// with rough weights: the credential id length and the transports
// (lexicographically sorted, as PublicKeyCredential getTransports()
// returns them, WebAuthn L3 §5.2.1.1). A length and transports are drawn
// together, as one authenticator, so that a decoy never shows a
// combination no real authenticator produces (a 20-byte id over USB).
// Platform and synced passkeys: 16, 20 and 32 bytes over internal or
// hybrid; security keys: 16 (discoverable), 48 and 64 bytes (key handles)
// over USB and NFC.
var decoyProfiles = []struct {
	weight     int
	idLen      int
	transports []protocol.AuthenticatorTransport
}{
	{6, 16, []protocol.AuthenticatorTransport{protocol.Hybrid, protocol.Internal}},
	{6, 20, []protocol.AuthenticatorTransport{protocol.Hybrid, protocol.Internal}},
	{4, 32, []protocol.AuthenticatorTransport{protocol.Hybrid, protocol.Internal}},
	{3, 32, []protocol.AuthenticatorTransport{protocol.Internal}},
	{2, 16, []protocol.AuthenticatorTransport{protocol.NFC, protocol.USB}},
	{1, 16, []protocol.AuthenticatorTransport{protocol.USB}},
	{1, 48, []protocol.AuthenticatorTransport{protocol.USB}},
	{2, 64, []protocol.AuthenticatorTransport{protocol.NFC, protocol.USB}},
	{1, 64, []protocol.AuthenticatorTransport{protocol.USB}},
}

// decoyCounts weighs how many passkeys a decoy user has: most users have
// one, some a second (a security key as backup), few a third.
var decoyCounts = []int{1, 1, 1, 1, 1, 2, 2, 3}

// DecoyCredentials derives the fake allowCredentials of key, as a real
// user's list looks: one to three credentials, each with the id length and
// transports of a real authenticator (decoyProfiles). Everything is drawn
// from HMAC(secret, key), so the same user reference always gets the same
// list and a caller cannot tell a repeated decoy from a real user by its
// changing.
func DecoyCredentials(secret []byte, key string) []protocol.CredentialDescriptor {
	block := func(i byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte{i})
		m.Write([]byte(key))
		return m.Sum(nil)
	}
	seed := block(0)
	total := 0
	for _, p := range decoyProfiles {
		total += p.weight
	}
	pick := func(b0, b1 byte) int {
		r := (int(b0)<<8 | int(b1)) % total
		for i, p := range decoyProfiles {
			if r < p.weight {
				return i
			}
			r -= p.weight
		}
		return 0
	}
	n := decoyCounts[int(seed[0])%len(decoyCounts)]
	out := make([]protocol.CredentialDescriptor, 0, n)
	for i := 0; i < n; i++ {
		p := decoyProfiles[pick(seed[1+2*i], seed[2+2*i])]
		id := append(block(byte(2*i+1)), block(byte(2*i+2))...)[:p.idLen]
		out = append(out, protocol.CredentialDescriptor{
			Type:         protocol.PublicKeyCredentialType,
			CredentialID: id,
			Transport:    append([]protocol.AuthenticatorTransport(nil), p.transports...),
		})
	}
	return out
}

// BeginLogin starts a login. With ref nil it is usernameless (the
// authenticator picks a discoverable credential). With a user reference
// the options list that user's credentials; for a user that does not
// exist, or has no passkey, they list stable fake credentials instead
// (a decoy ceremony, stored like a real one, that can never finish).
func (s *Service) BeginLogin(ctx context.Context, ref *UserRef) (*Begun, error) {
	var (
		assertion *protocol.CredentialAssertion
		sess      *webauthn.SessionData
		err       error
		userID    string
		decoy     bool
	)
	if ref == nil {
		assertion, sess, err = s.wa.BeginDiscoverableLogin()
	} else {
		u, rerr := s.resolve(ctx, ref)
		if rerr != nil {
			return nil, rerr
		}
		var pks []*Passkey
		if u != nil {
			if pks, err = s.Store.ListPasskeys(ctx, u.ID); err != nil {
				return nil, apierror.Internal(err)
			}
		}
		if len(pks) == 0 {
			secret, serr := s.Store.Secret(ctx, decoySecretName)
			if serr != nil {
				return nil, apierror.Internal(serr)
			}
			decoy = true
			if u != nil {
				userID = u.ID
			}
			assertion, sess, err = s.wa.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(DecoyCredentials(secret, ref.decoyKey())))
		} else {
			userID = u.ID
			assertion, sess, err = s.wa.BeginLogin(s.waUserOf(u, pks))
		}
	}
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("begin login: %w", err))
	}
	id, err := s.saveCeremony(ctx, KindLogin, userID, "", decoy, sess)
	if err != nil {
		return nil, err
	}
	return &Begun{CeremonyID: id, Options: assertion}, nil
}

// loginRefused is the generic 401 of every failed login; the cause is
// only logged.
func loginRefused(cause error) *apierror.Error {
	e := apierror.Unauthorized()
	e.Cause = fmt.Errorf("passkey login refused: %w", cause)
	return e
}

// ErrClone marks an assertion whose signature counter did not increase.
var ErrClone = errors.New("signature counter did not increase: possible cloned authenticator")

// Assertion is a passkey login as an authenticator (pkg/login): the
// assertion is checked against its ceremony, the user must pass the
// pipeline's usability rule before the signature is looked at (Python
// checks lockout first), and the signature counter and lockout state are
// recorded only once the token is minted, so that a login the issuer
// refuses (a scope without roles, a disabled project) leaves them as they
// were. Every refusal is the generic 401; failures of a known user count
// towards lockout as Python's failed passwords do.
func (s *Service) Assertion(ceremonyID string, credential json.RawMessage, scope *issue.ScopeRequest) login.Authenticator {
	return &assertion{s: s, ceremonyID: ceremonyID, credential: credential, scope: scope}
}

type assertion struct {
	s          *Service
	ceremonyID string
	credential json.RawMessage
	scope      *issue.ScopeRequest
}

// Authenticate finds the ceremony, the credential and its owner; the
// signature is verified by Confirm.
func (a *assertion) Authenticate(ctx context.Context) (*login.Attempt, error) {
	s := a.s
	c, sess, err := s.takeCeremony(ctx, a.ceremonyID, KindLogin)
	if err != nil {
		if ae := (*apierror.Error)(nil); errors.As(err, &ae) {
			return nil, ae
		}
		return nil, loginRefused(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(a.credential)
	if err != nil {
		return nil, s.failed(ctx, c.UserID, fmt.Errorf("parse assertion: %w", describe(err)))
	}
	if c.Decoy {
		return nil, s.failed(ctx, c.UserID, errors.New("decoy ceremony (unknown user or user without passkeys)"))
	}
	pk, err := s.Store.PasskeyByCredentialID(ctx, parsed.RawID)
	if errors.Is(err, ErrNotFound) {
		return nil, s.failed(ctx, c.UserID, errors.New("unknown credential"))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	userID := c.UserID
	if userID == "" {
		userID = pk.UserID
	}
	if pk.UserID != userID {
		return nil, s.failed(ctx, userID, fmt.Errorf("credential %s belongs to another user than the ceremony's", pk.ID))
	}
	v := &verification{s: s, sess: sess, parsed: parsed, pk: pk, scope: a.scope}
	att := &login.Attempt{Kind: "passkey", UserID: userID, Grant: issue.Grant{Methods: s.cfg.TokenMethods}}
	att.Confirm = func(ctx context.Context, u *keystone.User) error {
		sc, err := v.confirm(ctx, u)
		att.Grant.Scope = sc
		return err
	}
	att.Record = v.record
	return att, nil
}

// verification is the part of a passkey login that runs once the user
// passed the usability rule.
type verification struct {
	s      *Service
	sess   *webauthn.SessionData
	parsed *protocol.ParsedCredentialAssertionData
	pk     *Passkey
	scope  *issue.ScopeRequest
	cred   *webauthn.Credential
}

// confirm verifies the signature and the counter, then the account's
// origin and MFA rules, and resolves the requested scope.
func (v *verification) confirm(ctx context.Context, u *keystone.User) (issue.Scope, error) {
	s, userID, pk := v.s, u.ID, v.pk
	pks, err := s.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return issue.Scope{}, apierror.Internal(err)
	}
	wu := s.waUserOf(u, pks)
	if len(v.sess.UserID) == 0 {
		_, v.cred, err = s.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if string(userHandle) != userID {
				return nil, fmt.Errorf("user handle does not name the credential's owner")
			}
			return wu, nil
		}, *v.sess, v.parsed)
	} else {
		v.cred, err = s.wa.ValidateLogin(wu, *v.sess, v.parsed)
	}
	if err != nil {
		return issue.Scope{}, s.failed(ctx, userID, fmt.Errorf("verify assertion with passkey %s: %w", pk.ID, describe(err)))
	}
	if v.cred.Authenticator.CloneWarning {
		s.Log.WarnContext(ctx, "passkey signature counter did not increase: possible cloned authenticator; login refused",
			"user_id", userID, "passkey_id", pk.ID, "stored_count", pk.SignCount, "presented_count", v.parsed.Response.AuthenticatorData.Counter)
		return issue.Scope{}, s.failed(ctx, userID, fmt.Errorf("passkey %s: %w", pk.ID, ErrClone))
	}
	// The origin of the account (a federated user's IdP still enabled)
	// and Python's MFA rules for the token's methods.
	if err := s.Checker.Passwordless(ctx, userID, s.cfg.TokenMethods); err != nil {
		ae := apierror.As(err)
		if ae.Code >= 500 {
			return issue.Scope{}, ae
		}
		s.Log.InfoContext(ctx, "passkey login refused", "user_id", userID, "reason", fmt.Sprint(ae.Cause))
		return issue.Scope{}, loginRefused(ae)
	}
	return issue.Resolve(ctx, s.Scopes, v.scope)
}

// record writes the new signature counter and resets the lockout state,
// once the login's token is minted.
func (v *verification) record(ctx context.Context, issued *issue.Issued) error {
	s, pk := v.s, v.pk
	now := s.now().UTC()
	if err := s.Store.RecordUse(ctx, pk.ID, pk.SignCount, v.cred.Authenticator.SignCount, v.cred.Flags.BackupState, now); err != nil {
		if errors.Is(err, ErrConflict) {
			// A concurrent login used the same assertion's counter
			// first: this one is refused and its token never handed out.
			return s.failed(ctx, pk.UserID, err)
		}
		return apierror.Internal(err)
	}
	if err := s.Checker.Succeeded(ctx, pk.UserID); err != nil {
		return apierror.Internal(err)
	}
	s.Log.InfoContext(ctx, "passkey login", "user_id", pk.UserID, "passkey_id", pk.ID)
	return nil
}

// failed records a failed attempt against userID (when known) and returns
// the generic 401.
func (s *Service) failed(ctx context.Context, userID string, cause error) error {
	if userID != "" {
		if err := s.Checker.Failed(ctx, userID); err != nil {
			return apierror.Internal(fmt.Errorf("record failed passkey login: %w (after %v)", err, cause))
		}
	}
	s.Log.InfoContext(ctx, "passkey login failed", "user_id", userID, "reason", cause.Error())
	return loginRefused(cause)
}

// CeremonyPurger deletes expired ceremonies.
type CeremonyPurger struct{ Store Store }

// Purge deletes ceremonies expired at now.
func (p CeremonyPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	return p.Store.PurgeCeremonies(ctx, now)
}

// Name names the purged table.
func (p CeremonyPurger) Name() string { return "ng_passkey_ceremonies" }

// OrphanPurger deletes passkeys whose user was deleted in Python Keystone.
type OrphanPurger struct{ Store Store }

// Purge deletes passkeys without a user row.
func (p OrphanPurger) Purge(ctx context.Context, _ time.Time) (int64, error) {
	return p.Store.PurgeOrphans(ctx)
}

// Name names the purged table.
func (p OrphanPurger) Name() string { return "ng_passkeys" }
