package federation

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// fakeStore stands in for the database behind the Store seam: the
// service's answers to what a store reports are checked without one.
// Methods a test does not set panic (the embedded nil Store).
type fakeStore struct {
	Store
	// createErr is what CreateIdP returns after calling admit with
	// ownerIdPs (when admit is set).
	createErr error
	ownerIdPs int
	admitted  *bool
	created   *store.IdPRow
	mapErr    error
}

func (f *fakeStore) CreateIdP(_ context.Context, p *store.IdPRow, _ string, _ time.Time, admit func(int) error) error {
	*f.admitted = admit != nil
	if admit != nil {
		if err := admit(f.ownerIdPs); err != nil {
			return err
		}
	}
	if f.createErr != nil {
		return f.createErr
	}
	f.created = p
	return nil
}

func (f *fakeStore) GetIdP(_ context.Context, id string) (*store.IdPRow, error) {
	if f.created == nil || f.created.ID != id {
		return nil, store.ErrNotFound
	}
	return f.created, nil
}

func (f *fakeStore) CreateMapping(context.Context, string, string, string, time.Time) error {
	return f.mapErr
}
func (f *fakeStore) MappingRules(context.Context, string, string) (string, error) {
	return "", f.mapErr
}
func (f *fakeStore) DeleteMapping(context.Context, string, string) error { return f.mapErr }

func TestCreateIdPAnswersWhatTheStoreReports(t *testing.T) {
	dbDown := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		domain    string
		max       int
		ownerIdPs int
		storeErr  error
		code      int
		msg       string
		admitted  bool
	}{
		{"created", "d1", 0, 0, nil, 0, "", false},
		{"global IdPs are not counted", "", 1, 5, nil, 0, "", true},
		{"under the quota", "d1", 2, 1, nil, 0, "", true},
		{"at the quota", "d1", 2, 2, nil, 403, "Domain d1 has 2 identity providers, the most [keystone_ng] max_identity_providers_per_domain allows.", true},
		{"id taken", "d1", 0, 0, store.ErrIdPExists, 409, "Conflict occurred attempting to store identity_provider - Duplicate entry: idp1.", false},
		{"no such domain", "d1", 0, 0, store.ErrNoSuchDomain, 400, "identity_provider.domain_id: domain d1 not found.", false},
		{"name taken", "d1", 0, 0, store.ErrIdPNameTaken, 409, `Conflict occurred attempting to store identity_provider - an identity provider named "Corp" already exists in this domain.`, false},
		{"another duplicate", "d1", 0, 0, errors.New("Error 1062: Duplicate entry"), 409, "Conflict occurred attempting to store identity_provider.", false},
		{"database down", "d1", 0, 0, dbDown, 500, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admitted := false
			fs := &fakeStore{createErr: tc.storeErr, ownerIdPs: tc.ownerIdPs, admitted: &admitted}
			svc := New(Options{Store: fs, MaxIdPsPerDomain: tc.max})
			id, name, iss := "idp1", "Corp", "https://idp.example.com"
			f := &IdPFields{ID: &id, Name: &name, Issuer: &iss}
			if tc.domain != "" {
				f.DomainID = &tc.domain
			}
			p, err := svc.CreateIdP(context.Background(), f)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if p.ID != id || (tc.domain == "" && p.ShadowDomainID == "") || (tc.domain != "" && p.ShadowDomainID != tc.domain) {
					t.Fatalf("created %+v", p)
				}
			} else {
				ae := apierror.As(err)
				if ae.Code != tc.code || (tc.msg != "" && ae.Message != tc.msg) {
					t.Fatalf("got %d %q, want %d %q", ae.Code, ae.Message, tc.code, tc.msg)
				}
			}
			// A global IdP is never counted, nor is anything without a quota.
			if want := tc.domain != "" && tc.max > 0; admitted != want {
				t.Fatalf("admit passed: %v, want %v", admitted, want)
			}
		})
	}
}

func TestMappingAnswersWhatTheStoreReports(t *testing.T) {
	p := &IdP{ID: "idp1", Scopes: []string{}, RedirectURIs: []string{}, Audiences: []string{}}
	rules := json.RawMessage(`[{"match": [{"claim": "sub", "equals": "x"}], "user": {"name": "x"}}]`)
	for _, tc := range []struct {
		name string
		err  error
		run  func(s *Service) error
		code int
	}{
		{"create: name taken", store.ErrMappingExists, func(s *Service) error {
			_, err := s.CreateMapping(context.Background(), p, "m", rules)
			return err
		}, 409},
		{"create: stored", nil, func(s *Service) error {
			_, err := s.CreateMapping(context.Background(), p, "m", rules)
			return err
		}, 0},
		{"get: none", store.ErrNotFound, func(s *Service) error {
			_, err := s.GetMapping(context.Background(), "idp1", "m")
			return err
		}, 404},
		{"delete: none", store.ErrNotFound, func(s *Service) error { return s.DeleteMapping(context.Background(), "idp1", "m") }, 404},
		{"delete: database down", errors.New("down"), func(s *Service) error { return s.DeleteMapping(context.Background(), "idp1", "m") }, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := New(Options{Store: &fakeStore{mapErr: tc.err}})
			err := tc.run(svc)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := apierror.As(err).Code; got != tc.code {
				t.Fatalf("got %d (%v), want %d", got, err, tc.code)
			}
		})
	}
}

func TestIdPRowRoundTrip(t *testing.T) {
	ttl, jwks, cid, def := 15, "https://idp.example.com/jwks", "client", "default"
	for _, r := range []*store.IdPRow{
		{ID: "g", Name: "global", ShadowDomainID: "s", Issuer: "https://i", DiscoveryURL: "https://i/d", Scopes: []string{"openid"},
			RedirectURIs: []string{}, Audiences: []string{}, PythonMappingID: "pm", Enabled: true},
		{ID: "o", Name: "owned", OwnerDomainID: "d1", ShadowDomainID: "d1", Issuer: "https://i", DiscoveryURL: "https://i/d",
			JWKSURL: &jwks, ClientID: &cid, ClientSecret: "enc", DefaultMapping: &def, Scopes: []string{}, RedirectURIs: []string{"https://cb"},
			Audiences: []string{"a"}, PythonMappingID: "pm2", Description: "d", AuthorizationTTL: &ttl},
	} {
		p := idpFromRow(r)
		if (r.OwnerDomainID == "") != (p.DomainID == nil) || p.ClientSecretSet != (r.ClientSecret != "") {
			t.Errorf("%s: API view %+v", r.ID, p)
		}
		if back := p.row(); !reflect.DeepEqual(back, r) {
			t.Errorf("%s: round trip\n got  %+v\n want %+v", r.ID, back, r)
		}
	}
}
