package ldapidentity

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

type fakeMap struct {
	rows    map[string]Mapping
	public  map[[3]string]string
	lookups int
}

func (m *fakeMap) IDMapping(_ context.Context, id string) (Mapping, bool, error) {
	m.lookups++
	r, ok := m.rows[id]
	return r, ok, nil
}

func (m *fakeMap) PublicIDs(_ context.Context, dom, typ string, locals []string) (map[string]string, error) {
	m.lookups++
	out := map[string]string{}
	for _, l := range locals {
		if p, ok := m.public[[3]string{dom, typ, l}]; ok {
			out[l] = p
		}
	}
	return out, nil
}

type fakeDir struct {
	users  map[string]*User
	groups map[string][]Group
}

func (d *fakeDir) GetUser(_ context.Context, id string) (*User, error) { return d.users[id], nil }
func (d *fakeDir) GroupsForUser(_ context.Context, u *User) ([]Group, error) {
	return d.groups[u.LocalID], nil
}
func (d *fakeDir) Close() {}

func TestRouterLookupUser(t *testing.T) {
	ctx := context.Background()
	alicePub := PublicID("ldapdom", "user", "alice")
	ghostPub := PublicID("ldapdom", "user", "ghost")
	dir := &fakeDir{
		users:  map[string]*User{"alice": {LocalID: "alice", Name: "Alice", Enabled: true, DN: "cn=alice,ou=Users,dc=x"}},
		groups: map[string][]Group{"alice": {{LocalID: "devs", Name: "devs"}, {LocalID: "ops", Name: "ops"}}},
	}
	newRouter := func() (*Router, *fakeMap) {
		m := &fakeMap{
			rows: map[string]Mapping{
				alicePub: {DomainID: "ldapdom", LocalID: "alice", EntityType: "user"},
				ghostPub: {DomainID: "ldapdom", LocalID: "ghost", EntityType: "user"},
			},
			// ops has a row written by an older generator; devs none.
			public: map[[3]string]string{{"ldapdom", "group", "ops"}: "opspublic"},
		}
		return &Router{DefaultDomainID: "default", DomainSpecific: true, BackwardCompatibleIDs: true,
			Default: &Backend{Kind: KindSQL}, Domains: map[string]*Backend{"ldapdom": {Kind: KindLDAP, Dir: dir}}, Map: m}, m
	}

	t.Run("SQL user of an SQL domain: no statement", func(t *testing.T) {
		r, m := newRouter()
		bu, err := r.LookupUser(ctx, "0123456789abcdef0123456789abcdef", &keystone.User{DomainID: "default"})
		if bu != nil || err != nil || m.lookups != 0 {
			t.Fatalf("got %+v, %v after %d lookups", bu, err, m.lookups)
		}
	})
	t.Run("LDAP user through its shadow row", func(t *testing.T) {
		r, _ := newRouter()
		bu, err := r.LookupUser(ctx, alicePub, &keystone.User{ID: alicePub, DomainID: "ldapdom", Name: "stale", Enabled: true})
		if err != nil || bu == nil || bu.User == nil {
			t.Fatalf("got %+v, %v", bu, err)
		}
		want := &keystone.User{ID: alicePub, Name: "Alice", DomainID: "ldapdom", Enabled: true}
		if !reflect.DeepEqual(bu.User, want) {
			t.Errorf("user %+v, want %+v", bu.User, want)
		}
		if wantG := []string{PublicID("ldapdom", "group", "devs"), "opspublic"}; !reflect.DeepEqual(bu.GroupIDs, wantG) {
			t.Errorf("groups %v, want %v", bu.GroupIDs, wantG)
		}
	})
	t.Run("group public ids are remembered", func(t *testing.T) {
		r, m := newRouter()
		for range 3 {
			if _, err := r.LookupUser(ctx, alicePub, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Three user mappings, one group mapping read.
		if m.lookups != 4 {
			t.Errorf("%d lookups, want 4", m.lookups)
		}
	})
	t.Run("LDAP user without a shadow row", func(t *testing.T) {
		r, _ := newRouter()
		bu, err := r.LookupUser(ctx, alicePub, nil)
		if err != nil || bu == nil || bu.User == nil || bu.User.Name != "Alice" {
			t.Fatalf("got %+v, %v", bu, err)
		}
	})
	t.Run("deleted from LDAP", func(t *testing.T) {
		r, _ := newRouter()
		bu, err := r.LookupUser(ctx, ghostPub, &keystone.User{ID: ghostPub, DomainID: "ldapdom", Enabled: true})
		if err != nil || bu == nil || bu.User != nil || bu.LocalID != "ghost" {
			t.Fatalf("got %+v, %v", bu, err)
		}
	})
	t.Run("unknown public id: SQL's", func(t *testing.T) {
		r, _ := newRouter()
		bu, err := r.LookupUser(ctx, "nope", nil)
		if bu != nil || err != nil {
			t.Fatalf("got %+v, %v", bu, err)
		}
	})
	t.Run("unsupported backend: left to Python", func(t *testing.T) {
		r, _ := newRouter()
		r.Domains["ldapdom"] = &Backend{Kind: KindUnsupported, Reason: "custom driver"}
		_, err := r.LookupUser(ctx, alicePub, &keystone.User{DomainID: "ldapdom"})
		if !errors.Is(err, token.ErrBackendUnserved) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("default LDAP driver, backward compatible ids", func(t *testing.T) {
		m := &fakeMap{}
		r := &Router{DefaultDomainID: "default", BackwardCompatibleIDs: true, Default: &Backend{Kind: KindLDAP, Dir: dir}, Map: m}
		bu, err := r.LookupUser(ctx, "alice", &keystone.User{ID: "alice", DomainID: "default"})
		if err != nil || bu == nil || bu.User == nil || bu.User.DomainID != "default" || !reflect.DeepEqual(bu.GroupIDs, []string{"devs", "ops"}) {
			t.Fatalf("got %+v, %v", bu, err)
		}
		if m.lookups != 0 {
			t.Errorf("%d id_mapping lookups, want 0", m.lookups)
		}
	})
	t.Run("default LDAP driver without backward compatible ids", func(t *testing.T) {
		m := &fakeMap{rows: map[string]Mapping{"pub": {DomainID: "default", LocalID: "alice"}}}
		r := &Router{DefaultDomainID: "default", Default: &Backend{Kind: KindLDAP, Dir: dir}, Map: m}
		bu, err := r.LookupUser(ctx, "pub", nil)
		if err != nil || bu == nil || bu.User == nil || bu.GroupIDs[0] != PublicID("default", "group", "devs") {
			t.Fatalf("got %+v, %v", bu, err)
		}
		bu, err = r.LookupUser(ctx, "unmapped", nil)
		if err != nil || bu == nil || bu.User != nil || bu.LocalID != "unmapped" {
			t.Fatalf("unmapped: got %+v, %v", bu, err)
		}
	})
	t.Run("Needed", func(t *testing.T) {
		r, _ := newRouter()
		if !r.Needed() {
			t.Error("an LDAP domain needs the router")
		}
		r.Domains = map[string]*Backend{"x": {Kind: KindSQL}}
		if r.Needed() {
			t.Error("all SQL needs no router")
		}
		r.Domains["ldapdom"] = &Backend{Kind: KindLDAP}
		r.DomainSpecific = false
		if r.Needed() {
			t.Error("domain configs are ignored without domain_specific_drivers_enabled")
		}
	})
}
