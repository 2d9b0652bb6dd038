package login

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

func TestLoginEvent(t *testing.T) {
	req := audit.Initiator{Address: "192.0.2.1", Agent: "ua", RequestID: "req-1", ProjectID: "from-a-token"}
	issued := &issue.Issued{ID: "tok", Token: &token.Token{
		Payload: &payload.Payload{UserID: "u1", AuditIDs: []string{"AUD1", "PARENT"}},
		User:    &keystone.User{ID: "u1", Name: "alice"}}}
	fed := &issue.Federation{IdentityProviderID: "idp1", ProtocolID: "jwt", GroupIDs: []string{"g1"}}
	tests := []struct {
		name    string
		att     *Attempt
		issued  *issue.Issued
		err     error
		outcome string
		user    string
		cred    *audit.Credential
	}{
		{"passkey success: audit id as the credential's token", &Attempt{Kind: "passkey", UserID: "u1"}, issued, nil,
			audit.OutcomeSuccess, "u1", &audit.Credential{Type: audit.CredentialPasskey, Token: "AUD1"}},
		{"refused before anyone was known", nil, nil, errors.New("bad assertion"), audit.OutcomeFailure, "", nil},
		{"refused known user: no token, no credential", &Attempt{Kind: "passkey", UserID: "u2"}, nil, errors.New("locked"),
			audit.OutcomeFailure, "u2", nil},
		{"federated success", &Attempt{Kind: "jwt", Grant: issue.Grant{Federation: fed}}, issued, nil, audit.OutcomeSuccess, "u1",
			audit.FederatedCredential("AUD1", "idp1", "u1", []string{"g1"})},
		{"federated refusal: token unknown as Python's", &Attempt{Kind: "oidc", Grant: issue.Grant{Federation: fed}}, nil, errors.New("no"),
			audit.OutcomeFailure, "", audit.FederatedCredential("unknown", "idp1", "", []string{"g1"})},
		{"service account", &Attempt{Kind: "service_account", UserID: "u1"}, issued, nil, audit.OutcomeSuccess, "u1",
			&audit.Credential{Type: audit.CredentialServiceAccount, Token: "AUD1"}},
	}
	locked := loginEvent(req, &Attempt{Kind: "passkey", UserID: "u3"}, nil, fmt.Errorf("passkey login refused: %w", identity.ErrLocked))
	if locked.Reason == nil || locked.Reason.Type != "The account is locked for user: u3." || locked.Reason.Code != "401" {
		t.Errorf("a lockout's reason: %+v", locked.Reason)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := loginEvent(req, tc.att, tc.issued, tc.err)
			if l.Outcome != tc.outcome || l.Initiator.UserID != tc.user {
				t.Errorf("outcome %q user %q, want %q %q", l.Outcome, l.Initiator.UserID, tc.outcome, tc.user)
			}
			if l.Initiator.Address != "192.0.2.1" || l.Initiator.Agent != "ua" || l.Initiator.RequestID != "req-1" || l.Initiator.ProjectID != "" {
				t.Errorf("initiator %+v", l.Initiator)
			}
			if tc.cred == nil {
				if l.Initiator.Credential != nil {
					t.Errorf("credential %+v, want none", l.Initiator.Credential)
				}
				return
			}
			if l.Initiator.Credential == nil || !sameFed(l.Initiator.Credential, tc.cred) {
				t.Errorf("credential %+v, want %+v", l.Initiator.Credential, tc.cred)
			}
		})
	}
}

func sameFed(a, b *audit.Credential) bool {
	return a.Type == b.Type && a.Token == b.Token && a.IdentityProvider == b.IdentityProvider && a.User == b.User &&
		len(a.Groups) == len(b.Groups)
}

type recAuditor struct{ got []audit.Login }

func (r *recAuditor) Authenticated(_ context.Context, l audit.Login) { r.got = append(r.got, l) }

// Every login through the pipeline, refused or not, reaches the audit
// trail exactly once.
func TestPipelineAudits(t *testing.T) {
	rec := &recAuditor{}
	p := &Pipeline{Audit: rec}
	_, err := p.Login(context.Background(), failing{})
	if err == nil {
		t.Fatal("the login succeeded")
	}
	if len(rec.got) != 1 || rec.got[0].Outcome != audit.OutcomeFailure {
		t.Errorf("audit got %+v", rec.got)
	}
}

type failing struct{}

func (failing) Authenticate(context.Context) (*Attempt, error) {
	return nil, errors.New("bad signature")
}
