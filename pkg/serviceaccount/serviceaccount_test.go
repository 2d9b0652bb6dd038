package serviceaccount

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

func sp(s string) *string { return &s }
func bp(b bool) *bool     { return &b }

func TestCheckCreate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     CreateRequest
		bad     string // part of the 400 message; "" when valid
		wantRow store.ServiceAccountRow
	}{
		{name: "minimal: enabled by default, name stripped as Python strips it", req: CreateRequest{Name: "  ci  ", DomainID: "d1"},
			wantRow: store.ServiceAccountRow{Name: "ci", DomainID: "d1", Enabled: true}},
		{name: "all fields", req: CreateRequest{Name: "ci", DomainID: "d1", Description: "x", Enabled: bp(false), DefaultProjectID: sp("p1")},
			wantRow: store.ServiceAccountRow{Name: "ci", DomainID: "d1", Description: "x", DefaultProjectID: "p1"}},
		{name: "empty name", req: CreateRequest{Name: "   ", DomainID: "d1"}, bad: "'name'"},
		{name: "name too long", req: CreateRequest{Name: strings.Repeat("é", 256), DomainID: "d1"}, bad: "'name'"},
		{name: "name of 255 characters", req: CreateRequest{Name: strings.Repeat("é", 255), DomainID: "d1"},
			wantRow: store.ServiceAccountRow{Name: strings.Repeat("é", 255), DomainID: "d1", Enabled: true}},
		{name: "no domain", req: CreateRequest{Name: "ci"}, bad: "'domain_id'"},
		{name: "domain id too long", req: CreateRequest{Name: "ci", DomainID: strings.Repeat("d", 65)}, bad: "'domain_id'"},
		{name: "description too long", req: CreateRequest{Name: "ci", DomainID: "d1", Description: strings.Repeat("x", 1025)}, bad: "'description'"},
		{name: "project id too long", req: CreateRequest{Name: "ci", DomainID: "d1", DefaultProjectID: sp(strings.Repeat("p", 65))}, bad: "'default_project_id'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, err := CheckCreate(&tc.req)
			if tc.bad != "" {
				if ae := apierror.As(err); ae.Code != 400 || !strings.Contains(ae.Message, tc.bad) {
					t.Fatalf("error %v, want a 400 naming %s", err, tc.bad)
				}
				return
			}
			if err != nil || *row != tc.wantRow {
				t.Fatalf("row %+v, %v; want %+v", row, err, tc.wantRow)
			}
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	cur := &store.ServiceAccountRow{ID: "sa1", Name: "ci", DomainID: "d1"}
	for _, tc := range []struct {
		name  string
		req   UpdateRequest
		bad   string
		check func(p store.ServiceAccountPatch) bool
	}{
		{name: "nothing", check: func(p store.ServiceAccountPatch) bool {
			return p.Name == nil && p.Description == nil && p.Enabled == nil && p.DefaultProjectID == nil
		}},
		{name: "same domain accepted", req: UpdateRequest{DomainID: sp("d1"), Enabled: bp(false)},
			check: func(p store.ServiceAccountPatch) bool { return p.Enabled != nil && !*p.Enabled }},
		{name: "moving to another domain refused", req: UpdateRequest{DomainID: sp("d2")}, bad: "'domain_id'"},
		{name: "name stripped", req: UpdateRequest{Name: sp(" ci2 ")}, check: func(p store.ServiceAccountPatch) bool { return *p.Name == "ci2" }},
		{name: "empty name", req: UpdateRequest{Name: sp("")}, bad: "'name'"},
		{name: "project cleared", req: UpdateRequest{DefaultProjectID: sp("")}, check: func(p store.ServiceAccountPatch) bool { return *p.DefaultProjectID == "" }},
		{name: "description too long", req: UpdateRequest{Description: sp(strings.Repeat("x", 1025))}, bad: "'description'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := CheckUpdate(cur, &tc.req)
			if tc.bad != "" {
				if ae := apierror.As(err); ae.Code != 400 || !strings.Contains(ae.Message, tc.bad) {
					t.Fatalf("error %v, want a 400 naming %s", err, tc.bad)
				}
				return
			}
			if err != nil || !tc.check(p) {
				t.Fatalf("patch %+v, %v", p, err)
			}
		})
	}
}

// sqlDomainStore records whether Create reached the store.
type sqlDomainStore struct {
	Store
	created int
}

func (s *sqlDomainStore) Create(context.Context, *store.ServiceAccountRow, bool) error {
	s.created++
	return errors.New("stop here")
}

type oneDomain struct{}

func (oneDomain) GetProjects(_ context.Context, ids ...string) (map[string]*keystone.Project, error) {
	out := map[string]*keystone.Project{}
	for _, id := range ids {
		out[id] = &keystone.Project{ID: id, IsDomain: true, Enabled: true}
	}
	return out, nil
}

// TestCreateOnlyInSQLDomains: an account in a domain Python reads from LDAP
// would be a row Python never looks at; it is refused before anything is
// written.
func TestCreateOnlyInSQLDomains(t *testing.T) {
	st := &sqlDomainStore{}
	svc := New(st, oneDomain{}, Options{SQLDomain: func(d string) bool { return d != "ldapdom" }}, nil)
	_, err := svc.Create(context.Background(), &CreateRequest{Name: "ci", DomainID: "ldapdom"}, "admin", true)
	if ae := apierror.As(err); ae == nil || ae.Code != 400 || !strings.Contains(ae.Message, "SQL domains only") {
		t.Fatalf("Create in an LDAP domain = %v, want a 400", err)
	}
	if st.created != 0 {
		t.Fatal("the store was asked to create the account")
	}
	if _, err := svc.Create(context.Background(), &CreateRequest{Name: "ci", DomainID: "sqldom"}, "admin", true); st.created != 1 {
		t.Fatalf("Create in an SQL domain did not reach the store: %v", err)
	}
}
