package issue

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

func TestPayloadVersions(t *testing.T) {
	fed := &Federation{IdentityProviderID: "idp", ProtocolID: "openid", GroupIDs: []string{"g"}}
	now := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name    string
		g       Grant
		want    int
		wantErr bool
	}{
		{name: "unscoped", g: Grant{UserID: "u", Methods: []string{"external"}}, want: payload.VersionUnscoped},
		{name: "project", g: Grant{UserID: "u", Methods: []string{"external"}, Scope: Scope{ProjectID: "p"}}, want: payload.VersionProjectScoped},
		{name: "domain", g: Grant{UserID: "u", Methods: []string{"external"}, Scope: Scope{DomainID: "d"}}, want: payload.VersionDomainScoped},
		{name: "system", g: Grant{UserID: "u", Methods: []string{"external"}, Scope: Scope{System: true}}, want: payload.VersionSystemScoped},
		{name: "federated unscoped", g: Grant{UserID: "u", Methods: []string{"mapped"}, Federation: fed}, want: payload.VersionFederatedUnscoped},
		{name: "federated project", g: Grant{UserID: "u", Methods: []string{"mapped"}, Scope: Scope{ProjectID: "p"}, Federation: fed}, want: payload.VersionFederatedProject},
		{name: "federated domain", g: Grant{UserID: "u", Methods: []string{"mapped"}, Scope: Scope{DomainID: "d"}, Federation: fed}, want: payload.VersionFederatedDomain},
		{name: "federated system refused", g: Grant{UserID: "u", Methods: []string{"mapped"}, Scope: Scope{System: true}, Federation: fed}, wantErr: true},
		{name: "two scopes refused", g: Grant{UserID: "u", Methods: []string{"external"}, Scope: Scope{ProjectID: "p", DomainID: "d"}}, wantErr: true},
		{name: "no user refused", g: Grant{Methods: []string{"external"}}, wantErr: true},
		{name: "no method refused", g: Grant{UserID: "u"}, wantErr: true},
		{name: "application credential", g: Grant{UserID: "u", Methods: []string{"application_credential"}, Scope: Scope{ProjectID: "p"}, ApplicationCredentialID: "ac"}, want: payload.VersionAppCredScoped},
		{name: "application credential without project refused", g: Grant{UserID: "u", Methods: []string{"application_credential"}, Scope: Scope{DomainID: "d"}, ApplicationCredentialID: "ac"}, wantErr: true},
		{name: "federated application credential refused", g: Grant{UserID: "u", Methods: []string{"mapped"}, Scope: Scope{ProjectID: "p"}, Federation: fed, ApplicationCredentialID: "ac"}, wantErr: true},
		{name: "not after before now refused", g: Grant{UserID: "u", Methods: []string{"external"}, NotAfter: now.Add(-time.Second)}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := &Issuer{Expiration: time.Hour}
			p, err := i.Payload(tc.g, now)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got payload v%d", p.Version)
				}
				return
			}
			if err != nil || p.Version != tc.want {
				t.Fatalf("got %+v, %v; want version %d", p, err, tc.want)
			}
			if len(p.AuditIDs) != 1 || len(p.AuditIDs[0]) != 22 {
				t.Fatalf("audit ids %v", p.AuditIDs)
			}
			if want := now.Add(time.Hour).Truncate(time.Microsecond); !p.ExpiresAt.Equal(want) {
				t.Fatalf("expires %v, want %v", p.ExpiresAt, want)
			}
		})
	}
	p, _ := (&Issuer{Expiration: time.Hour}).Payload(Grant{UserID: "u", Methods: []string{"mapped"}, MaxLifetime: 10 * time.Minute}, now)
	if got := p.ExpiresAt.Sub(now); got > 10*time.Minute {
		t.Fatalf("MaxLifetime not applied: %v", got)
	}
	// A restricted token: the source's expiry caps it, and it joins the
	// source's audit chain.
	notAfter := now.Add(5 * time.Minute)
	p, err := (&Issuer{Expiration: time.Hour}).Payload(Grant{UserID: "u", Methods: []string{"application_credential"},
		Scope: Scope{ProjectID: "p"}, ApplicationCredentialID: "ac", NotAfter: notAfter, ParentAuditID: "parent"}, now)
	if err != nil || !p.ExpiresAt.Equal(notAfter.Truncate(time.Microsecond)) || p.AppCredID != "ac" || p.ProjectID != "p" ||
		len(p.AuditIDs) != 2 || p.AuditIDs[1] != "parent" {
		t.Fatalf("restricted payload %+v, %v", p, err)
	}
}

// lookup is an in-memory ScopeLookup.
type lookup map[string]*keystone.Project

func (l lookup) GetProjects(_ context.Context, ids ...string) (map[string]*keystone.Project, error) {
	out := map[string]*keystone.Project{}
	for _, id := range ids {
		if p := l[id]; p != nil {
			out[id] = p
		}
	}
	return out, nil
}

func (l lookup) ProjectByName(_ context.Context, name, domainID string) (*keystone.Project, error) {
	for _, p := range l {
		if !p.IsDomain && p.Name == name && p.DomainID == domainID {
			return p, nil
		}
	}
	return nil, token.ErrNotFound
}

func (l lookup) DomainByName(_ context.Context, name string) (*keystone.Project, error) {
	for _, p := range l {
		if p.IsDomain && p.Name == name {
			return p, nil
		}
	}
	return nil, token.ErrNotFound
}

func TestResolve(t *testing.T) {
	l := lookup{
		"d1": {ID: "d1", Name: "Dom", Enabled: true, IsDomain: true},
		"d2": {ID: "d2", Name: "Off", Enabled: false, IsDomain: true},
		"p1": {ID: "p1", Name: "app", DomainID: "d1", Enabled: true},
		"p2": {ID: "p2", Name: "off", DomainID: "d1", Enabled: false},
		"p3": {ID: "p3", Name: "in-off-domain", DomainID: "d2", Enabled: true},
	}
	for _, tc := range []struct {
		name string
		r    *ScopeRequest
		want Scope
		code int
	}{
		{name: "nil is unscoped", r: nil},
		{name: "unscoped", r: &ScopeRequest{Unscoped: map[string]any{}}},
		{name: "project by id", r: &ScopeRequest{Project: &NamedRef{ID: "p1"}}, want: Scope{ProjectID: "p1"}},
		{name: "project by name", r: &ScopeRequest{Project: &NamedRef{Name: "app", Domain: &NamedRef{Name: "Dom"}}}, want: Scope{ProjectID: "p1"}},
		{name: "domain by name", r: &ScopeRequest{Domain: &NamedRef{Name: "Dom"}}, want: Scope{DomainID: "d1"}},
		{name: "system", r: &ScopeRequest{System: map[string]bool{"all": true}}, want: Scope{System: true}},
		{name: "system without all", r: &ScopeRequest{System: map[string]bool{}}, code: http.StatusBadRequest},
		{name: "two scopes", r: &ScopeRequest{Project: &NamedRef{ID: "p1"}, Domain: &NamedRef{ID: "d1"}}, code: http.StatusBadRequest},
		{name: "empty scope", r: &ScopeRequest{}, code: http.StatusBadRequest},
		{name: "trust refused", r: &ScopeRequest{Trust: map[string]any{"id": "t"}}, code: http.StatusBadRequest},
		{name: "project name without domain", r: &ScopeRequest{Project: &NamedRef{Name: "app"}}, code: http.StatusBadRequest},
		{name: "project without id or name", r: &ScopeRequest{Project: &NamedRef{}}, code: http.StatusBadRequest},
		{name: "unknown project", r: &ScopeRequest{Project: &NamedRef{ID: "nope"}}, code: http.StatusUnauthorized},
		{name: "domain id given as project", r: &ScopeRequest{Project: &NamedRef{ID: "d1"}}, code: http.StatusUnauthorized},
		{name: "disabled project", r: &ScopeRequest{Project: &NamedRef{ID: "p2"}}, code: http.StatusUnauthorized},
		{name: "project in disabled domain", r: &ScopeRequest{Project: &NamedRef{ID: "p3"}}, code: http.StatusUnauthorized},
		{name: "disabled domain", r: &ScopeRequest{Domain: &NamedRef{ID: "d2"}}, code: http.StatusUnauthorized},
		{name: "unknown domain name", r: &ScopeRequest{Domain: &NamedRef{Name: "x"}}, code: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(context.Background(), l, tc.r)
			if tc.code != 0 {
				if ae := apierror.As(err); ae.Code != tc.code {
					t.Fatalf("got %v, want status %d", err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
