package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	. "github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

const (
	testKey   = "xKSbOjKeoFqcuDzVmnNOqCNmA9DbYXUIfaSYp3CgxwQ="
	userID    = "0123456789abcdef0123456789abcdef"
	projectID = "fedcba9876543210fedcba9876543210"
)

func fixture() *tokentest.MemStore {
	region := "RegionOne"
	return &tokentest.MemStore{
		Users: map[string]*keystone.User{userID: {ID: userID, Name: "alice", DomainID: "default", Enabled: true}},
		Projects: map[string]*keystone.Project{
			"default": {ID: "default", Name: "Default", DomainID: "<<keystone.domain.root>>", Enabled: true, IsDomain: true},
			projectID: {ID: projectID, Name: "demo", DomainID: "default", ParentID: "default", Enabled: true},
		},
		Grants:  []keystone.Assignment{{Type: "UserProject", ActorID: userID, TargetID: projectID, RoleID: "m", RoleName: "member"}},
		Implied: []keystone.Implied{{PriorID: "m", ImpliedID: "r", ImpliedName: "reader"}},
		Catalog: []keystone.Service{{ID: "s1", Type: "compute", Extra: pyjson.Object{{Key: "name", Value: "nova"}}, Endpoints: []keystone.Endpoint{
			{ID: "e1", Interface: "public", RegionID: &region, URL: "http://nova/v2.1/$(project_id)s", Enabled: true, Extra: pyjson.Object{}},
			{ID: "e2", Interface: "admin", RegionID: &region, URL: "http://nova/off", Enabled: false, Extra: pyjson.Object{}},
		}}},
	}
}

// deepTree moves the test project under three projects of its domain
// (default > a > b > c > project).
func deepTree(m *tokentest.MemStore) {
	parent := "default"
	for _, id := range []string{"a", "b", "c"} {
		m.Projects[id] = &keystone.Project{ID: id, Name: "level " + id, DomainID: "default", ParentID: parent, Enabled: true}
		parent = id
	}
	m.Projects[projectID].ParentID = parent
}

// deepGrant moves the test project down a deep tree and leaves the user one
// role, assigned on target.
func deepGrant(typ, target string, inherited bool) func(*tokentest.MemStore, *payload.Payload) {
	return func(m *tokentest.MemStore, _ *payload.Payload) {
		deepTree(m)
		m.Grants = []keystone.Assignment{{Type: typ, ActorID: userID, TargetID: target, RoleID: "m", RoleName: "member", Inherited: inherited}}
	}
}

func newTestValidator(t testing.TB, st Store, now time.Time) (*Validator, *fernet.KeySet) {
	ks, err := fernet.NewKeySet(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return &Validator{
		Keys: ks, Codec: &payload.Codec{}, Store: st,
		Settings: Settings{ReturnAllEndpointsIfNoFilter: true},
		Now:      func() time.Time { return now },
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, ks
}

func ptrTime(t time.Time) *time.Time { return &t }

func mint(t testing.TB, ks *fernet.KeySet, p *payload.Payload, issued time.Time) string {
	b, err := (&payload.Codec{}).Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ks.Encrypt(b, issued)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestValidateOutcomes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	issued := now.Add(-time.Minute)
	projectPayload := func() *payload.Payload {
		return &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
			ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	}
	tests := []struct {
		name   string
		mutate func(*tokentest.MemStore, *payload.Payload)
		window time.Duration
		// inactiveDays is [security_compliance] disable_user_account_days_inactive.
		inactiveDays int
		garbage      bool
		code         int
		message      string
	}{
		{name: "valid project token", code: 200},
		{name: "garbage", garbage: true, code: 404, message: "Could not recognize Fernet token"},
		{name: "expired", mutate: func(_ *tokentest.MemStore, p *payload.Payload) { p.ExpiresAt = now.Add(-time.Second) }, code: 404, message: "Failed to validate token"},
		{name: "expired within allow_expired window", mutate: func(_ *tokentest.MemStore, p *payload.Payload) { p.ExpiresAt = now.Add(-time.Second) }, window: time.Hour, code: 200},
		{name: "user deleted", mutate: func(m *tokentest.MemStore, _ *payload.Payload) { delete(m.Users, userID) }, code: 404, message: "Could not find user: " + userID + "."},
		{name: "user disabled", mutate: func(m *tokentest.MemStore, _ *payload.Payload) { m.Users[userID].Enabled = false }, code: 404},
		{name: "project disabled", mutate: func(m *tokentest.MemStore, _ *payload.Payload) { m.Projects[projectID].Enabled = false },
			code: 404, message: "Unable to validate token because project " + projectID + " is disabled"},
		{name: "domain disabled", mutate: func(m *tokentest.MemStore, _ *payload.Payload) { m.Projects["default"].Enabled = false },
			code: 404, message: "Unable to validate token because domain default is disabled"},
		{name: "no role left", mutate: func(m *tokentest.MemStore, _ *payload.Payload) { m.Grants = nil }, code: 404},
		{name: "inactive longer than disable_user_account_days_inactive", inactiveDays: 30, mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Users[userID].LastActiveAt = ptrTime(now.AddDate(0, 0, -40))
		}, code: 404},
		{name: "inactive but exempt by option 1004", inactiveDays: 30, mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Users[userID].LastActiveAt = ptrTime(now.AddDate(0, 0, -40))
			m.Users[userID].IgnoreInactivity = true
		}, code: 200},
		{name: "active within disable_user_account_days_inactive", inactiveDays: 30, mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Users[userID].LastActiveAt = ptrTime(now.AddDate(0, 0, -10))
		}, code: 200},
		{name: "never active, created too long ago", inactiveDays: 30, mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Users[userID].CreatedAt = ptrTime(now.AddDate(0, 0, -31))
		}, code: 404},
		{name: "inactivity rule off", mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Users[userID].LastActiveAt = ptrTime(now.AddDate(-1, 0, 0))
		}, code: 200},
		// A project four levels under its domain, its only role assigned
		// on one level of its lineage.
		{name: "deep tree, role inherited from the domain", mutate: deepGrant("UserDomain", "default", true), code: 200},
		{name: "deep tree, role inherited from the top project", mutate: deepGrant("UserProject", "a", true), code: 200},
		{name: "deep tree, role inherited from the parent", mutate: deepGrant("UserProject", "c", true), code: 200},
		{name: "deep tree, domain role not inherited", mutate: deepGrant("UserDomain", "default", false), code: 404},
		{name: "revoked by audit id", mutate: func(m *tokentest.MemStore, _ *payload.Payload) {
			m.Events = []keystone.RevocationEvent{{AuditID: "x6uZfnRGQ9yDp0-FBsdj5A", IssuedBefore: now}}
		}, code: 404, message: "Failed to validate token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := fixture()
			p := projectPayload()
			if tc.mutate != nil {
				tc.mutate(st, p)
			}
			v, ks := newTestValidator(t, st, now)
			v.Settings.DisableUserAccountDaysInactive = tc.inactiveDays
			tok := mint(t, ks, p, issued)
			if tc.garbage {
				tok = "gAAAAAgarbage"
			}
			got, err := v.Validate(context.Background(), Request{Token: tok, Window: tc.window, Catalog: true})
			if tc.code == 200 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if len(got.Roles) != 2 {
					t.Fatalf("roles = %v, want member and reader", got.Roles)
				}
				return
			}
			ae := apierror.As(err)
			if ae.Code != tc.code {
				t.Fatalf("code = %d (%v), want %d", ae.Code, err, tc.code)
			}
			if tc.message != "" && ae.Message != tc.message {
				t.Fatalf("message = %q, want %q", ae.Message, tc.message)
			}
		})
	}
}

// A project token's second validation reads its assignments with the first
// round, as the first validation's needs hint; a hint never decides what
// counts: each step changes the data and checks both the outcome and
// whether the assignments needed a second round.
func TestAssignmentHints(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := fixture()
	v, ks := newTestValidator(t, st, now)
	tok := mint(t, ks, &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}, now)
	member := keystone.Assignment{Type: "UserProject", ActorID: userID, TargetID: projectID, RoleID: "m", RoleName: "member"}
	for _, step := range []struct {
		name   string
		change func(m *tokentest.MemStore)
		code   int
		// secondRound: the assignments were read after the first round
		// (no hint, or one that lacked an actor or a target).
		secondRound bool
	}{
		{name: "first validation, no hint", code: 200, secondRound: true},
		{name: "second validation, hinted", code: 200},
		{name: "assignment removed", change: func(m *tokentest.MemStore) { m.Grants = nil }, code: 404},
		{name: "assignment back", change: func(m *tokentest.MemStore) { m.Grants = []keystone.Assignment{member} }, code: 200},
		{name: "role now only through a new group", change: func(m *tokentest.MemStore) {
			m.Memberships = map[string][]keystone.Membership{userID: {{GroupID: "g1"}}}
			m.Grants = []keystone.Assignment{{Type: "GroupProject", ActorID: "g1", TargetID: projectID, RoleID: "m", RoleName: "member"}}
		}, code: 200, secondRound: true},
		{name: "group left, its assignment still read by the hint", change: func(m *tokentest.MemStore) {
			m.Memberships = nil
		}, code: 404},
		{name: "role now inherited from a new parent", change: func(m *tokentest.MemStore) {
			m.Projects["a"] = &keystone.Project{ID: "a", Name: "a", DomainID: "default", ParentID: "default", Enabled: true}
			m.Projects[projectID].ParentID = "a"
			m.Grants = []keystone.Assignment{{Type: "UserProject", ActorID: userID, TargetID: "a", RoleID: "m", RoleName: "member", Inherited: true}}
		}, code: 200, secondRound: true},
		{name: "project moved out from under that parent", change: func(m *tokentest.MemStore) {
			m.Projects[projectID].ParentID = "default"
		}, code: 404},
		{name: "direct assignment again", change: func(m *tokentest.MemStore) { m.Grants = []keystone.Assignment{member} }, code: 200},
	} {
		if step.change != nil {
			step.change(st)
		}
		before := st.AssignmentReads.Load()
		_, err := v.Validate(context.Background(), Request{Token: tok})
		code := 200
		if err != nil {
			code = apierror.As(err).Code
		}
		if code != step.code {
			t.Fatalf("%s: code %d (%v), want %d", step.name, code, err, step.code)
		}
		if second := st.AssignmentReads.Load() > before; second != step.secondRound {
			t.Fatalf("%s: second round = %v, want %v", step.name, second, step.secondRound)
		}
	}
	if st.HintedReads.Load() == 0 {
		t.Fatal("no hinted read")
	}
}

// A user without a local_user row (LDAP, federated shadow user) has its
// names read after the first round once; later validations ask for them
// with it. The hint follows the user's rows when they change.
func TestNonLocalUserNamesHint(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := fixture()
	st.NonLocal = map[string]bool{userID: true}
	v, ks := newTestValidator(t, st, now)
	tok := mint(t, ks, &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}, now)
	for i, step := range []struct {
		nonLocal bool
		late     int64 // LateNameReads after the validation
	}{
		{nonLocal: true, late: 1}, // first seen: read late
		{nonLocal: true, late: 1}, // hinted
		{nonLocal: true, late: 1},
		{nonLocal: false, late: 1}, // now local: no names needed
		{nonLocal: false, late: 1},
		{nonLocal: true, late: 2}, // non-local again: read late once more
		{nonLocal: true, late: 2},
	} {
		st.NonLocal[userID] = step.nonLocal
		if _, err := v.Validate(context.Background(), Request{Token: tok}); err != nil {
			t.Fatalf("validation %d: %v", i, err)
		}
		if got := st.LateNameReads.Load(); got != step.late {
			t.Fatalf("validation %d: %d late name reads, want %d", i, got, step.late)
		}
	}
}

// Validation reads in rounds the store admits (Store.Round): a project
// token's first validation reads its assignments in a second round, later
// ones need only the first (the assignment hint).
func TestValidateRunsRoundsThroughTheStore(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := fixture()
	v, ks := newTestValidator(t, st, now)
	tok := mint(t, ks, &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}, now)
	for i, want := range []int64{2, 1, 1} {
		before := st.Rounds.Load()
		if _, err := v.Validate(context.Background(), Request{Token: tok}); err != nil {
			t.Fatal(err)
		}
		if got := st.Rounds.Load() - before; got != want {
			t.Fatalf("validation %d: %d rounds, want %d", i, got, want)
		}
	}
}

func TestRenderProjectToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v, ks := newTestValidator(t, fixture(), now)
	p := &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	tok := mint(t, ks, p, now)
	got, err := v.Validate(context.Background(), Request{Token: tok, Catalog: true})
	if err != nil {
		t.Fatal(err)
	}
	body := pyjson.Marshal(v.Render(got, true))
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("invalid JSON %s: %v", body, err)
	}
	// Key order and separators as Python's json.dumps writes them.
	wantPrefix := `{"token": {"methods": ["password"], "user": {"domain": {"id": "default", "name": "Default"}, "id": "` + userID +
		`", "name": "alice", "password_expires_at": null}, "audit_ids": ["x6uZfnRGQ9yDp0-FBsdj5A"], "expires_at": "2026-03-01T13:00:00.000000Z", "issued_at": "2026-03-01T12:00:00.000000Z", "project": {"domain": {"id": "default", "name": "Default"}, "id": "` + projectID + `", "name": "demo"}, "is_domain": false, "roles": [`
	if string(body[:len(wantPrefix)]) != wantPrefix {
		t.Fatalf("body:\n%s\nwant prefix:\n%s", body, wantPrefix)
	}
	wantCatalog := `"catalog": [{"endpoints": [{"id": "e1", "interface": "public", "region_id": "RegionOne", "url": "http://nova/v2.1/` + projectID + `", "region": "RegionOne"}], "id": "s1", "type": "compute", "name": "nova"}]}}`
	if s := string(body); s[len(s)-len(wantCatalog):] != wantCatalog {
		t.Fatalf("catalog:\n%s\nwant suffix:\n%s", s, wantCatalog)
	}
	if _, ok := doc["token"].(map[string]any)["catalog"]; !ok {
		t.Fatal("no catalog")
	}
	if noCat := pyjson.Marshal(v.Render(got, false)); json.Valid(noCat) && string(noCat) == string(body) {
		t.Fatal("nocatalog rendering still has the catalog")
	}
	_ = http.StatusOK
}

// BenchmarkValidateInMemory measures validation and rendering without a
// database: decrypt, decode, role computation, revocation, catalog, JSON.
func BenchmarkValidateInMemory(b *testing.B) {
	now := time.Now().UTC()
	v, ks := newTestValidator(b, fixture(), now)
	p := &payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: now.Add(time.Hour), AuditIDs: []string{"x6uZfnRGQ9yDp0-FBsdj5A"}}
	tok := mint(b, ks, p, now)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		t, err := v.Validate(ctx, Request{Token: tok, Catalog: true})
		if err != nil {
			b.Fatal(err)
		}
		_ = pyjson.Marshal(v.Render(t, true))
	}
}

// TestUnrecognizedTokenKeptOutOfLogs: Queens and Rocky answer an
// undecryptable token by naming it; the answer keeps that, the error's
// text (what log lines print) does not.
func TestUnrecognizedTokenKeptOutOfLogs(t *testing.T) {
	v, _ := newTestValidator(t, &tokentest.MemStore{}, time.Now())
	v.Settings.UnrecognizedNamesToken = true
	const tok = "gAAAAABsecretlookingtokenthatnokeyopens"
	_, err := v.Validate(context.Background(), Request{Token: tok})
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Code != 404 || !strings.Contains(ae.Message, tok) {
		t.Fatalf("answer %v", err)
	}
	if strings.Contains(err.Error(), "secretlooking") || strings.Contains(fmt.Sprint(err), "secretlooking") {
		t.Fatalf("the error's text names the token: %v", err)
	}
}
