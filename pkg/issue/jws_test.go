package issue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/jws"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

// jwsOpener opens JWS tokens with a fixed key set, as the JWS public key
// repository does.
type jwsOpener struct{ keys *jws.PublicKeys }

func (o jwsOpener) Open(tok string, now time.Time) (*payload.Payload, time.Time, error) {
	p, iat, err := o.keys.Verify(tok, now)
	if err != nil {
		return nil, time.Time{}, jws.ClientError(tok, err)
	}
	return p, iat, nil
}

// TestIssueJWS: with a Signer the issuer mints a JWS token with Python's
// header, and validates it through the Opener like any other token.
func TestIssueJWS(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := &tokentest.MemStore{
		Users: map[string]*keystone.User{"u1": {ID: "u1", Name: "alice", DomainID: "default", Enabled: true}},
		Projects: map[string]*keystone.Project{
			"default": {ID: "default", Name: "Default", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true},
			"p1":      {ID: "p1", Name: "demo", DomainID: "default", ParentID: "default", Enabled: true},
		},
		Grants: []keystone.Assignment{{Type: "UserProject", ActorID: "u1", TargetID: "p1", RoleID: "m", RoleName: "member"}},
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC)
	v := &token.Validator{Opener: jwsOpener{jws.NewPublicKeys(&k.PublicKey)}, Codec: &payload.Codec{}, Store: st,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	i := &Issuer{Signer: jws.NewPrivateKey(k), Validator: v, Expiration: time.Hour, Now: func() time.Time { return now }}
	got, err := i.Issue(context.Background(), Grant{UserID: "u1", Methods: []string{"external"}, Scope: Scope{ProjectID: "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.") {
		t.Fatalf("not a JWS token with Python's header: %s", got.ID)
	}
	if got.Token.Payload.ProjectID != "p1" || len(got.Token.Roles) == 0 || !got.Token.IssuedAt.Equal(now.Truncate(time.Second)) {
		t.Fatalf("validated token: %+v", got.Token)
	}
	// A grant validation refuses (no role on the project) is a 401.
	st.Grants = nil
	if _, err := i.Issue(context.Background(), Grant{UserID: "u1", Methods: []string{"external"}, Scope: Scope{ProjectID: "p1"}}); err == nil {
		t.Fatal("a project without a role was granted")
	}
}
