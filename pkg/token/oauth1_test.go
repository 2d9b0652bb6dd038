package token_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	. "github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

// TestValidateOAuth1 covers OAuth1-scoped (v7) tokens the way Python
// Keystone 22 answers them (checked against it in pkg/interop,
// TestOAuth1Interop): the delegated roles plus the roles they imply, kept
// only while the authorizing user still holds them on the project; a
// deleted access token is a 404 with Python's literal message; revocation
// by consumer_id; the project checks come before the access token lookup.
func TestValidateOAuth1(t *testing.T) {
	const (
		accessTokenID = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
		consumerID    = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
		audit         = "x6uZfnRGQ9yDp0-FBsdj5A"
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	issued := now.Add(-time.Minute)
	store := func(roleIDs ...string) *tokentest.MemStore {
		st := fixture()
		st.Roles = map[string]*keystone.Role{"m": {ID: "m", Name: "member"}, "r": {ID: "r", Name: "reader"}, "x": {ID: "x", Name: "extra"}}
		st.AccessTokens = map[string]*keystone.AccessToken{accessTokenID: {ID: accessTokenID, ConsumerID: consumerID, RoleIDs: roleIDs}}
		return st
	}
	tests := []struct {
		name      string
		delegated []string // role_ids of the access token
		mutate    func(*tokentest.MemStore)
		code      int
		message   string   // 404 message ("" = not checked)
		roles     []string // role names when valid, sorted
	}{
		{name: "delegated role and the role it implies", delegated: []string{"m"}, code: 200, roles: []string{"member", "reader"}},
		{name: "implied role delegated alone", delegated: []string{"r"}, code: 200, roles: []string{"reader"}},
		{name: "delegated role the user no longer holds is dropped", delegated: []string{"m", "x"}, code: 200, roles: []string{"member", "reader"}},
		{name: "no delegated role held any more", delegated: []string{"x"}, code: 404},
		{name: "access token deleted", delegated: []string{"m"},
			mutate: func(m *tokentest.MemStore) { m.AccessTokens = nil }, code: 404, message: "Access token not found"},
		{name: "consumer deleted (revocation event by consumer_id)", delegated: []string{"m"},
			mutate: func(m *tokentest.MemStore) {
				m.Events = []keystone.RevocationEvent{{ConsumerID: consumerID, IssuedBefore: now}}
			}, code: 404, message: "Failed to validate token"},
		{name: "another consumer revoked", delegated: []string{"m"},
			mutate: func(m *tokentest.MemStore) {
				m.Events = []keystone.RevocationEvent{{ConsumerID: strings.Repeat("d", 32), IssuedBefore: now}}
			}, code: 200, roles: []string{"member", "reader"}},
		{name: "disabled project is reported before the missing access token", delegated: []string{"m"},
			mutate: func(m *tokentest.MemStore) { m.AccessTokens = nil; m.Projects[projectID].Enabled = false },
			code:   404, message: "Unable to validate token because project " + projectID + " is disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := store(tc.delegated...)
			if tc.mutate != nil {
				tc.mutate(st)
			}
			v, ks := newTestValidator(t, st, now)
			tok := mint(t, ks, &payload.Payload{Version: payload.VersionOAuth1Scoped, UserID: userID, Methods: []string{"oauth1"},
				ProjectID: projectID, AccessTokenID: accessTokenID, ExpiresAt: now.Add(time.Hour), AuditIDs: []string{audit}}, issued)
			got, err := v.Validate(context.Background(), Request{Token: tok, Catalog: true})
			if tc.code != 200 {
				ae := apierror.As(err)
				if ae.Code != tc.code {
					t.Fatalf("code = %d (%v), want %d", ae.Code, err, tc.code)
				}
				if tc.message != "" && ae.Message != tc.message {
					t.Fatalf("message = %q, want %q", ae.Message, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			var doc struct {
				Token struct {
					Roles  []struct{ ID, Name string }
					OAuth1 map[string]string `json:"OS-OAUTH1"`
					Method []string          `json:"methods"`
				}
			}
			if err := json.Unmarshal(pyjson.Marshal(v.Render(got, false)), &doc); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range doc.Token.Roles {
				names = append(names, r.Name)
			}
			sort.Strings(names)
			if strings.Join(names, ",") != strings.Join(tc.roles, ",") {
				t.Errorf("roles = %v, want %v", names, tc.roles)
			}
			if want := map[string]string{"access_token_id": accessTokenID, "consumer_id": consumerID}; len(doc.Token.OAuth1) != 2 ||
				doc.Token.OAuth1["access_token_id"] != want["access_token_id"] || doc.Token.OAuth1["consumer_id"] != want["consumer_id"] {
				t.Errorf("OS-OAUTH1 = %v, want %v", doc.Token.OAuth1, want)
			}
			if strings.Join(doc.Token.Method, ",") != "oauth1" {
				t.Errorf("methods = %v, want [oauth1]", doc.Token.Method)
			}
		})
	}
}
