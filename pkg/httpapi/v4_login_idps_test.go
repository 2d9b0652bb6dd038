package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// idpsFed serves a fixed set of IdPs through ListIdPs, honouring the
// filter as the SQL does.
type idpsFed struct {
	FederationService
	all []*federation.IdP
}

func (f *idpsFed) ListIdPs(_ context.Context, flt federation.IdPFilter) ([]*federation.IdP, error) {
	out := []*federation.IdP{}
	for _, p := range f.all {
		switch {
		case flt.Global && p.DomainID != nil:
			continue
		case !flt.Global && flt.DomainID != nil && (p.DomainID == nil || *p.DomainID != *flt.DomainID):
			continue
		case flt.Enabled != nil && p.Enabled != *flt.Enabled:
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// domains is a ScopeLookup of domains only.
type domains map[string]*keystone.Project

func (d domains) GetProjects(_ context.Context, ids ...string) (map[string]*keystone.Project, error) {
	out := map[string]*keystone.Project{}
	for _, id := range ids {
		if p, ok := d[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}
func (d domains) ProjectByName(context.Context, string, string) (*keystone.Project, error) {
	return nil, token.ErrNotFound
}
func (d domains) DomainByName(_ context.Context, name string) (*keystone.Project, error) {
	for _, p := range d {
		if p.Name == name && p.IsDomain {
			return p, nil
		}
	}
	return nil, token.ErrNotFound
}

func TestLoginIdPsPerDomain(t *testing.T) {
	str := func(s string) *string { return &s }
	idp := func(id string, dom *string, enabled bool, client bool) *federation.IdP {
		p := &federation.IdP{ID: id, Name: id, DomainID: dom, Enabled: enabled}
		if client {
			p.ClientID = str("client")
		}
		return p
	}
	fed := &idpsFed{all: []*federation.IdP{
		idp("global", nil, true, true),
		idp("global-disabled", nil, false, true),
		idp("global-jwt-only", nil, true, false),
		idp("acme-sso", str("acme"), true, true),
		idp("acme-off", str("acme"), false, true),
		idp("acme-ci", str("acme"), true, false),
		idp("evil-phish", str("evil"), true, true),
		idp("frozen-sso", str("frozen"), true, true),
	}}
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), V4: &V4{Federation: fed, Scopes: domains{
		"acme":   {ID: "acme", Name: "Acme", IsDomain: true, Enabled: true},
		"evil":   {ID: "evil", Name: "Evil", IsDomain: true, Enabled: true},
		"frozen": {ID: "frozen", Name: "Frozen", IsDomain: true, Enabled: false},
		"proj":   {ID: "proj", Name: "Proj", DomainID: "acme", Enabled: true},
	}}}
	h := s.Echo()
	for _, tc := range []struct {
		query string
		want  []string
	}{
		// Without a domain only the system admins' IdPs: no domain's IdP
		// (evil-phish) appears on the cloud's login page.
		{"", []string{"global"}},
		{"?domain_id=acme", []string{"acme-sso", "global"}},
		{"?domain=Acme", []string{"acme-sso", "global"}},
		{"?domain_id=acme&domain=Evil", []string{"acme-sso", "global"}},
		{"?domain=Evil", []string{"evil-phish", "global"}},
		// Unknown, disabled, or a project rather than a domain: the same
		// answer as a domain without IdPs.
		{"?domain=Nowhere", []string{"global"}},
		{"?domain_id=0123456789abcdef", []string{"global"}},
		{"?domain_id=frozen", []string{"global"}},
		{"?domain_id=proj", []string{"global"}},
		{"?origin=https://horizon.example.com/", []string{"global"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v4/login/identity_providers"+tc.query, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var body struct {
				IdentityProviders []struct {
					ID       string  `json:"id"`
					DomainID *string `json:"domain_id"`
					LoginURL string  `json:"login_url"`
				} `json:"identity_providers"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, p := range body.IdentityProviders {
				got = append(got, p.ID)
				if p.LoginURL != "/v4/federation/identity_providers/"+p.ID+"/login" {
					t.Errorf("login_url %q", p.LoginURL)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}
