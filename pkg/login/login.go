// Package login is the one pipeline every /v4 login runs through:
//
//	authenticate -> the usability rule -> confirm -> provision -> issue -> record
//
// An Authenticator (a passkey assertion, a workload JWT, the claims of a
// finished OpenID Connect code flow) proves who is logging in and says
// what the login will write. The pipeline then applies the one rule of
// who may obtain a token (identity.Checker.Usable, which applies
// token.UserEnabled, the domain and lockout rules) -- the only place a
// login applies it -- provisions the user's rows, mints the token
// (pkg/issue) and records the login's side effects.
//
// A refused login leaves the database as it found it. Provisioning writes
// in one transaction; issuing validates the minted token through the
// shared reader, which cannot see rows that transaction has not committed,
// so the token is issued after the commit and a refusal from then on runs
// the provisioning's Undo (the only compensation left). Side effects that
// need the minted token (the passkey signature counter, the workload token
// record) are written last.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// Authenticator proves who is logging in. Every refusal is an
// *apierror.Error (the generic 401 with its cause for the log only, or
// what Python answers for a malformed request).
type Authenticator interface {
	Authenticate(ctx context.Context) (*Attempt, error)
}

// Attempt is an authenticated login that the pipeline has not admitted
// yet.
type Attempt struct {
	// Kind names the login in log lines ("passkey", "jwt", "oidc").
	Kind string
	// UserID is who logs in; empty when Provision creates the user (the
	// first login of a federated identity), which is then new and
	// enabled by construction.
	UserID string
	// Confirm, when set, finishes the authentication once the user passed
	// the usability rule: a passkey's signature is checked after the
	// lockout, as Python checks lockout before the password
	// (keystone/identity/backends/sql.py authenticate).
	Confirm func(ctx context.Context, u *keystone.User) error
	// Grant is the token to mint; the pipeline fills in UserID.
	Grant issue.Grant
	// Provision, when set, writes the login's rows in one transaction and
	// returns the user id and the Undo of those writes.
	Provision func(ctx context.Context) (string, Undo, error)
	// Record, when set, writes what the login leaves behind once its
	// token is minted; an error refuses the login.
	Record func(ctx context.Context, issued *issue.Issued) error
}

// Undo reverts a committed provisioning (*store.Undo).
type Undo interface {
	Run(ctx context.Context) error
}

// Users applies the usability rule (*identity.Checker).
type Users interface {
	Usable(ctx context.Context, userID string) (*keystone.User, error)
}

var _ Users = (*identity.Checker)(nil)

// Issuer mints a token (*issue.Issuer).
type Issuer interface {
	Issue(ctx context.Context, g issue.Grant) (*issue.Issued, error)
}

var _ Issuer = (*issue.Issuer)(nil)

// ServiceAccounts tells service accounts apart (*serviceaccount.Service).
type ServiceAccounts interface {
	IsServiceAccount(ctx context.Context, userID string) (bool, error)
}

// serviceAccountKinds are the login kinds a service account may use: its
// own credentials, and a workload JWT whose mapping names it
// (docs/service-accounts.md §2). A passkey or an OIDC login (a person's)
// never yields a service account's token.
var serviceAccountKinds = map[string]bool{"service_account": true, "jwt": true, "token_exchange": true}

// Pipeline runs logins.
type Pipeline struct {
	Users  Users
	Issuer Issuer
	// ServiceAccounts, when set, refuses a service account's logins of
	// kinds outside serviceAccountKinds.
	ServiceAccounts ServiceAccounts
	// Audit, when set, receives identity.authenticate for every login
	// and refusal (*audit.Service; docs/audit.md §2).
	Audit Auditor
	Log   *slog.Logger
}

// Auditor publishes login events (*audit.Service).
type Auditor interface {
	Authenticated(ctx context.Context, l audit.Login)
}

var _ Auditor = (*audit.Service)(nil)

func (p *Pipeline) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// Login runs one login to its token, and reports its outcome to the
// audit trail as Python's CadfNotificationWrapper('authenticate') does:
// success with the issued token, failure with whatever is known of who
// tried.
func (p *Pipeline) Login(ctx context.Context, a Authenticator) (*issue.Issued, error) {
	var att *Attempt
	issued, err := p.login(ctx, a, &att)
	if p.Audit != nil {
		p.Audit.Authenticated(ctx, loginEvent(audit.FromContext(ctx), att, issued, err))
	}
	return issued, err
}

// loginEvent describes a login's outcome for the audit trail: the
// request's initiator with the user who logged in (or tried: the
// attempt's user, unknown when the authentication itself failed) and,
// where a token was issued, its audit id as the credential's token
// (docs/audit.md §2).
func loginEvent(in audit.Initiator, att *Attempt, issued *issue.Issued, err error) audit.Login {
	l := audit.Login{Outcome: audit.OutcomeSuccess}
	if err != nil {
		l.Outcome = audit.OutcomeFailure
	}
	if errors.Is(err, identity.ErrLocked) && att != nil {
		// Python's CadfNotificationWrapper gives a lockout its reason
		// (exception.AccountLocked: message and code), for PCI-DSS.
		l.Reason = &audit.Reason{Type: fmt.Sprintf("The account is locked for user: %s.", att.UserID), Code: "401"}
	}
	var fed *issue.Federation
	kind := ""
	if att != nil {
		in.UserID = att.UserID
		fed = att.Grant.Federation
		kind = att.Kind
	}
	auditID := ""
	if issued != nil && issued.Token != nil {
		in.UserID = issued.Token.Payload.UserID
		if len(issued.Token.Payload.AuditIDs) > 0 {
			auditID = issued.Token.Payload.AuditIDs[0]
		}
		if u := issued.Token.User; u != nil {
			in.Username = u.Name
		}
	}
	// The caller of a login is who logs in, not a token's scope.
	in.ProjectID, in.DomainID = "", ""
	switch {
	case fed != nil:
		// Python's mapped logins: a FederatedCredential, its token
		// "unknown" when none was issued (send_saml_audit_notification).
		tok := auditID
		if tok == "" {
			tok = audit.TypeUnknown
		}
		in.Credential = audit.FederatedCredential(tok, fed.IdentityProviderID, in.UserID, fed.GroupIDs)
	case auditID != "":
		in.Credential = &audit.Credential{Type: credentialTypes[kind], Token: auditID}
		if in.Credential.Type == "" {
			in.Credential.Type = audit.TypeUnknown
		}
	}
	l.Initiator = in
	return l
}

// credentialTypes names the credential of each login kind in events.
var credentialTypes = map[string]string{
	"passkey":         audit.CredentialPasskey,
	"service_account": audit.CredentialServiceAccount,
	"jwt":             audit.CredentialFederated,
	"oidc":            audit.CredentialFederated,
	"token_exchange":  audit.CredentialTokenExchange,
}

// login runs the pipeline; *attp is the authenticated attempt, nil when
// the authentication failed.
func (p *Pipeline) login(ctx context.Context, a Authenticator, attp **Attempt) (*issue.Issued, error) {
	att, err := a.Authenticate(ctx)
	if err != nil {
		return nil, err
	}
	*attp = att
	if err := p.admit(ctx, att); err != nil {
		return nil, err
	}
	g := att.Grant
	g.UserID = att.UserID
	var undo Undo
	if att.Provision != nil {
		id, u, err := att.Provision(ctx)
		if err != nil {
			return nil, err
		}
		g.UserID, undo = id, u
		if err := p.kindAllowed(ctx, att, g.UserID); err != nil {
			return nil, p.refuseAfterProvisioning(ctx, att, g.UserID, undo, err)
		}
	}
	issued, err := p.Issuer.Issue(ctx, g)
	if err == nil && att.Record != nil {
		err = att.Record(ctx, issued)
	}
	if err != nil {
		return nil, p.refuseAfterProvisioning(ctx, att, g.UserID, undo, err)
	}
	return issued, nil
}

// admit applies the usability rule to a known user, then the
// authenticator's confirmation.
func (p *Pipeline) admit(ctx context.Context, att *Attempt) error {
	if att.UserID == "" {
		return nil
	}
	if err := p.kindAllowed(ctx, att, att.UserID); err != nil {
		return err
	}
	u, err := p.Users.Usable(ctx, att.UserID)
	if err != nil {
		ae := apierror.As(err)
		if ae.Code >= 500 {
			return ae
		}
		p.log().InfoContext(ctx, "login refused", "kind", att.Kind, "user_id", att.UserID, "reason", fmt.Sprint(ae.Cause))
		out := apierror.Unauthorized()
		out.Cause = fmt.Errorf("%s login refused: %w", att.Kind, ae)
		return out
	}
	if att.Confirm != nil {
		return att.Confirm(ctx, u)
	}
	return nil
}

// kindAllowed refuses, with the generic 401, a login of a service account
// through a kind it may not use (a passkey planted for it, an OIDC mapping
// naming it), whatever the authenticator proved.
func (p *Pipeline) kindAllowed(ctx context.Context, att *Attempt, userID string) error {
	if p.ServiceAccounts == nil || serviceAccountKinds[att.Kind] {
		return nil
	}
	sa, err := p.ServiceAccounts.IsServiceAccount(ctx, userID)
	if err != nil {
		return apierror.Internal(err)
	}
	if !sa {
		return nil
	}
	p.log().InfoContext(ctx, "login refused", "kind", att.Kind, "user_id", userID, "reason", "a service account cannot use this login")
	out := apierror.Unauthorized()
	out.Cause = fmt.Errorf("%s login refused: user %s is a service account", att.Kind, userID)
	return out
}

// refuseAfterProvisioning undoes the provisioning of a login refused
// once its rows were committed, and returns the refusal (or a 500 when
// the undo itself failed).
func (p *Pipeline) refuseAfterProvisioning(ctx context.Context, att *Attempt, userID string, undo Undo, refusal error) error {
	if undo == nil {
		return refusal
	}
	if err := undo.Run(ctx); err != nil {
		p.log().ErrorContext(ctx, "login refused after provisioning; undoing the provisioning failed",
			"kind", att.Kind, "user_id", userID, "refusal", refusal, "error", err)
		return apierror.Internal(err)
	}
	return refusal
}

// Scoped runs Inner with a requested scope that is resolved before
// anything else: a scope that no longer resolves is refused (400/401 as
// Python answers) before the login is authenticated or writes anything,
// and a resolved one replaces the scope Inner chose.
type Scoped struct {
	Lookup  issue.ScopeLookup
	Request *issue.ScopeRequest
	Inner   Authenticator
}

// Authenticate resolves the scope, then authenticates with Inner.
func (s Scoped) Authenticate(ctx context.Context) (*Attempt, error) {
	if s.Request == nil {
		return s.Inner.Authenticate(ctx)
	}
	if s.Lookup == nil {
		return nil, apierror.Internal(errors.New("no scope lookup configured"))
	}
	sc, err := issue.Resolve(ctx, s.Lookup, s.Request)
	if err != nil {
		return nil, err
	}
	att, err := s.Inner.Authenticate(ctx)
	if err != nil {
		return nil, err
	}
	att.Grant.Scope = sc
	return att, nil
}
