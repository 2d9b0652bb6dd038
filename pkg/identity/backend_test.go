package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// dirStub is a Directory with one SQL row per user.
type dirStub struct{ users map[string]*keystone.User }

func (d dirStub) GetUser(_ context.Context, id string) (*keystone.User, error) {
	if u, ok := d.users[id]; ok {
		c := *u
		return &c, nil
	}
	return nil, token.ErrNotFound
}
func (dirStub) UserByName(context.Context, string, string) (*keystone.User, error) {
	return nil, token.ErrNotFound
}
func (dirStub) DomainByName(context.Context, string) (*keystone.Project, error) {
	return nil, token.ErrNotFound
}
func (dirStub) LocalAuth(context.Context, string) (*LocalAuth, error) { return nil, nil }
func (dirStub) Account(context.Context, string) (*Account, error) {
	return &Account{NonLocal: true}, nil
}

// backendStub answers for users of domain "ldapdom".
type backendStub struct {
	users map[string]*keystone.User // nil entry: gone from the directory
	err   error
}

func (b backendStub) LookupUser(_ context.Context, id string, sqlUser *keystone.User) (*token.BackendUser, error) {
	if b.err != nil {
		return nil, b.err
	}
	if sqlUser != nil && sqlUser.DomainID != "ldapdom" {
		return nil, nil
	}
	u, ok := b.users[id]
	if !ok {
		return nil, nil
	}
	if u == nil {
		return &token.BackendUser{Backend: "ldap", LocalID: id}, nil
	}
	c := *u
	return &token.BackendUser{Backend: "ldap", User: &c}, nil
}

// TestUsableFollowsTheBackend: a /v4 login (passkey) of a user of an LDAP
// domain follows the directory: refused once the user is disabled or
// deleted there, whatever the shadow row says, and refused (500) when the
// directory cannot be read.
func TestUsableFollowsTheBackend(t *testing.T) {
	dom := &keystone.Project{ID: "ldapdom", Enabled: true, IsDomain: true}
	sqlDom := &keystone.Project{ID: "default", Enabled: true, IsDomain: true}
	rows := map[string]*keystone.User{
		"l": {ID: "l", Name: "shadow", DomainID: "ldapdom", Enabled: true, Domain: dom},
		"s": {ID: "s", Name: "sql", DomainID: "default", Enabled: true, Domain: sqlDom},
	}
	for _, tc := range []struct {
		name    string
		user    string
		backend backendStub
		code    int
	}{
		{"enabled in the directory", "l", backendStub{users: map[string]*keystone.User{"l": {ID: "l", Name: "L", DomainID: "ldapdom", Enabled: true}}}, 0},
		{"disabled in the directory", "l", backendStub{users: map[string]*keystone.User{"l": {ID: "l", DomainID: "ldapdom", Enabled: false}}}, 401},
		{"deleted from the directory", "l", backendStub{users: map[string]*keystone.User{"l": nil}}, 401},
		{"directory unreachable", "l", backendStub{err: errors.New("down")}, 500},
		{"SQL user", "s", backendStub{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Dir: dirStub{users: rows}, Backend: tc.backend, Now: func() time.Time { return time.Unix(1e9, 0) }}
			u, err := c.Usable(context.Background(), tc.user)
			if tc.code == 0 {
				if err != nil || u == nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.user == "l" && u.Name != "L" {
					t.Errorf("name %q: not the directory's", u.Name)
				}
				return
			}
			if got := apierror.As(err); got == nil || got.Code != tc.code {
				t.Fatalf("err = %v, want %d", err, tc.code)
			}
		})
	}
}
