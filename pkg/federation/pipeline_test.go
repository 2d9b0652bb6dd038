package federation

import (
	"context"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// testIssuer stands in for the Fernet issuer (which needs Python's whole
// schema and a key repository): it records the grant, calls provisioned
// (the login's rows are committed by then), and refuses with refuse when
// that is set.
type testIssuer struct {
	grants      []issue.Grant
	provisioned func()
	refuse      error
}

func (i *testIssuer) Issue(_ context.Context, g issue.Grant) (*issue.Issued, error) {
	i.grants = append(i.grants, g)
	if i.provisioned != nil {
		i.provisioned()
	}
	if i.refuse != nil {
		return nil, i.refuse
	}
	p := &payload.Payload{UserID: g.UserID, AuditIDs: []string{issue.NewAuditID()}, ExpiresAt: time.Now().Add(time.Hour)}
	return &issue.Issued{ID: "token-of-" + g.UserID, Token: &token.Token{Payload: p}}, nil
}

// Login is the grant a test login handed the issuer.
type Login struct {
	IdPID       string
	UserID      string
	GroupIDs    []string
	Scope       issue.Scope
	MaxLifetime time.Duration
}

// JWTLogin runs a workload login through the login pipeline (with the
// service's usability checker) and returns its grant.
func (s *Service) JWTLogin(ctx context.Context, idpID, raw, mappingName string) (*Login, error) {
	return s.jwtLoginWith(ctx, &testIssuer{}, idpID, raw, mappingName)
}

func (s *Service) jwtLoginWith(ctx context.Context, iss *testIssuer, idpID, raw, mappingName string) (*Login, error) {
	users := &identity.Checker{Dir: store.NewReader(s.db), Failures: store.NewLockout(s.db), DisableUserAccountDaysInactive: s.opt.DisableUserAccountDaysInactive, Now: s.opt.Now}
	p := &login.Pipeline{Users: users, Issuer: iss, Log: s.opt.Log}
	if _, err := p.Login(ctx, s.JWT(idpID, raw, mappingName)); err != nil {
		return nil, err
	}
	g := iss.grants[len(iss.grants)-1]
	return &Login{IdPID: g.Federation.IdentityProviderID, UserID: g.UserID, GroupIDs: g.Federation.GroupIDs, Scope: g.Scope, MaxLifetime: g.MaxLifetime}, nil
}
