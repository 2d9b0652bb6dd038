package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	. "github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

// fakeBackend serves the users of domain ldapDom (as an LDAP directory
// would) and says nothing of the others.
type fakeBackend struct {
	users  map[string]*keystone.User // public id -> user (nil entry: deleted)
	groups map[string][]string
	calls  int
	err    error
}

func (f *fakeBackend) LookupUser(_ context.Context, id string, sqlUser *keystone.User) (*BackendUser, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if sqlUser != nil && sqlUser.DomainID != ldapDom {
		return nil, nil
	}
	u, ok := f.users[id]
	if !ok {
		return nil, nil
	}
	if u == nil {
		return &BackendUser{Backend: "ldap", LocalID: "local-" + id}, nil
	}
	c := *u
	return &BackendUser{Backend: "ldap", LocalID: "local-" + id, User: &c, GroupIDs: f.groups[id]}, nil
}

const (
	ldapDom = "1dab0000000000000000000000000000"
	trustID = "7a000000000000000000000000000001"
)

func TestBackendIdentity(t *testing.T) {
	const ldapUser = "ldapuser"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	setup := func() (*tokentest.MemStore, *fakeBackend) {
		st := fixture()
		st.Projects[ldapDom] = &keystone.Project{ID: ldapDom, Name: "LDAP", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true}
		// The shadow row Python left: stale name, enabled, in a SQL group
		// that LDAP does not know.
		st.Users[ldapUser] = &keystone.User{ID: ldapUser, Name: "stale", DomainID: ldapDom, Enabled: true}
		st.Memberships = map[string][]keystone.Membership{ldapUser: {{GroupID: "sqlgroup"}}}
		st.Grants = append(st.Grants,
			keystone.Assignment{Type: "GroupProject", ActorID: "ldapgroup", TargetID: projectID, RoleID: "m", RoleName: "member"},
			keystone.Assignment{Type: "GroupProject", ActorID: "sqlgroup", TargetID: projectID, RoleID: "a", RoleName: "admin"},
			keystone.Assignment{Type: "GroupDomain", ActorID: "ldapgroup", TargetID: ldapDom, RoleID: "m", RoleName: "member"})
		b := &fakeBackend{
			users:  map[string]*keystone.User{ldapUser: {ID: ldapUser, Name: "Alice", DomainID: ldapDom, Enabled: true}},
			groups: map[string][]string{ldapUser: {"ldapgroup"}},
		}
		return st, b
	}
	validate := func(t *testing.T, st *tokentest.MemStore, b IdentityBackend, p *payload.Payload) (*Token, *apierror.Error) {
		t.Helper()
		v, ks := newTestValidator(t, st, now)
		v.Identity = b
		got, err := v.Validate(context.Background(), Request{Token: mint(t, ks, p, now.Add(-time.Minute))})
		if err != nil {
			return nil, apierror.As(err)
		}
		return got, nil
	}
	project := func(user string) *payload.Payload {
		return &payload.Payload{Version: 2, UserID: user, Methods: []string{"password"}, ProjectID: projectID,
			ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	}

	t.Run("roles through the directory's groups, never the shadow row's", func(t *testing.T) {
		st, b := setup()
		tok, err := validate(t, st, b, project(ldapUser))
		if err != nil {
			t.Fatal(err)
		}
		if tok.User.Name != "Alice" || tok.UserDomain.ID != ldapDom {
			t.Errorf("user %+v in %+v", tok.User, tok.UserDomain)
		}
		for _, r := range tok.Roles {
			if r.Name == "admin" {
				t.Errorf("role of the SQL group granted: %v", tok.Roles)
			}
		}
		if len(tok.Roles) != 2 {
			t.Errorf("roles %v, want member and reader", tok.Roles)
		}
	})
	t.Run("removed from the group", func(t *testing.T) {
		st, b := setup()
		b.groups = nil
		if _, err := validate(t, st, b, project(ldapUser)); err == nil || err.Code != 404 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("deleted from the directory: Python's message names the local id", func(t *testing.T) {
		st, b := setup()
		b.users[ldapUser] = nil
		_, err := validate(t, st, b, project(ldapUser))
		if err == nil || err.Code != 404 || err.Message != "Could not find user: local-"+ldapUser+"." {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("disabled in the directory", func(t *testing.T) {
		st, b := setup()
		b.users[ldapUser].Enabled = false
		if _, err := validate(t, st, b, project(ldapUser)); err == nil || err.Code != 404 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no shadow row: the domain is read", func(t *testing.T) {
		st, b := setup()
		delete(st.Users, ldapUser)
		tok, err := validate(t, st, b, project(ldapUser))
		if err != nil || tok.UserDomain.Name != "LDAP" {
			t.Fatalf("tok %+v err %v", tok, err)
		}
	})
	t.Run("domain token through a directory group", func(t *testing.T) {
		st, b := setup()
		p := project(ldapUser)
		p.Version, p.ProjectID, p.DomainID = payload.VersionDomainScoped, "", ldapDom
		tok, err := validate(t, st, b, p)
		if err != nil || len(tok.Roles) != 2 {
			t.Fatalf("tok %+v err %v", tok, err)
		}
	})
	t.Run("trust token of a directory user: left to Python", func(t *testing.T) {
		st, b := setup()
		p := project(ldapUser)
		p.Version, p.TrustID = payload.VersionTrustScoped, trustID
		st.Trusts = map[string]*keystone.Trust{trustID: {ID: trustID, TrustorUserID: userID, TrusteeUserID: ldapUser, ProjectID: projectID}}
		_, err := validate(t, st, b, p)
		if err == nil || err.Code != 500 || !errors.Is(err, ErrBackendUnserved) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("trust of a directory trustor: left to Python", func(t *testing.T) {
		st, b := setup()
		p := project(userID)
		p.Version, p.TrustID = payload.VersionTrustScoped, trustID
		st.Trusts = map[string]*keystone.Trust{trustID: {ID: trustID, TrustorUserID: ldapUser, TrusteeUserID: userID, ProjectID: projectID}}
		_, err := validate(t, st, b, p)
		if err == nil || err.Code != 500 || !errors.Is(err, ErrBackendUnserved) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("directory unreachable: 500", func(t *testing.T) {
		st, b := setup()
		b.err = errors.New("LDAP server unreachable")
		if _, err := validate(t, st, b, project(ldapUser)); err == nil || err.Code != 500 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("SQL user: the SQL answer stands", func(t *testing.T) {
		st, b := setup()
		tok, err := validate(t, st, b, project(userID))
		if err != nil || tok.User.Name != "alice" {
			t.Fatalf("tok %+v err %v", tok, err)
		}
	})
}

// TestBackendIdentityRedelegation: a redelegated trust whose earlier
// trustee or original trustor is a directory user is left to Python; one
// of SQL users only validates as before.
func TestBackendIdentityRedelegation(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ldap string // the user the backend serves ("": none)
		code int
	}{
		{"SQL users only", "", 200},
		{"first trustee from the directory", uT1, 500},
		{"original trustor from the directory", uOrig, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := redelegationFixture()
			b := &fakeBackend{users: map[string]*keystone.User{}}
			if tc.ldap != "" {
				st.Users[tc.ldap].DomainID = ldapDom
				st.Projects[ldapDom] = &keystone.Project{ID: ldapDom, Name: "LDAP", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true}
				b.users[tc.ldap] = &keystone.User{ID: tc.ldap, Name: "dir", DomainID: ldapDom, Enabled: true}
			}
			v, ks := newTestValidator(t, st, now)
			v.Settings.MaxRedelegationCount = 3
			v.Identity = b
			p := &payload.Payload{Version: payload.VersionTrustScoped, UserID: uT3, Methods: []string{"password"}, ProjectID: projectID, TrustID: trC,
				ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
			_, err := v.Validate(context.Background(), Request{Token: mint(t, ks, p, now.Add(-time.Minute))})
			code := 200
			if err != nil {
				code = apierror.As(err).Code
			}
			if code != tc.code {
				t.Fatalf("code %d (%v), want %d", code, err, tc.code)
			}
		})
	}
}
