package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// snapshot is every row a federated login can write, as text.
func snapshot(t *testing.T, b *storetest.Backend) map[string]string {
	t.Helper()
	user := storetest.QuoteIdent(b.Name, "user")
	out := map[string]string{}
	for name, q := range map[string]string{
		"user":       `SELECT id, enabled, domain_id FROM ` + user + ` ORDER BY id`,
		"federated":  `SELECT user_id, idp_id, unique_id, display_name FROM federated_user ORDER BY user_id`,
		"expiring":   `SELECT user_id, group_id, last_verified FROM expiring_user_group_membership ORDER BY user_id, group_id`,
		"assignment": `SELECT type, actor_id, target_id, role_id FROM assignment ORDER BY actor_id, target_id, role_id`,
		"grants":     `SELECT idp_id, actor_id, target_id, role_id, created_at FROM ng_federation_grant ORDER BY actor_id, target_id, role_id`,
		"jti":        `SELECT idp_id, jti FROM ng_jwt_jti ORDER BY jti`,
	} {
		s := ""
		for _, row := range storetest.Rows(t, b.DB, q) {
			for _, v := range row {
				s += fmt.Sprint(v) + "|"
			}
			s += "\n"
		}
		out[name] = s
	}
	return out
}

// TestLoginRollback: a login refused after provisioning (the issuer does
// not mint its token) is undone to the row: the first login of a user and
// a later login that updates and removes what an earlier one made.
func TestLoginRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		pythonTables(t, b)
		ctx := context.Background()
		now := time.Now().Truncate(time.Second)
		svc := New(Options{DB: b.DB, HTTPClient: loopbackClient(), Leeway: 30 * time.Second, Now: func() time.Time { return now }, DisableUserAccountDaysInactive: 30})
		kit := newIssuerKit(t)
		jwks := kit.srv.URL + "/jwks"
		id, iss, dom := "ci", "https://ci.example.com", "d1"
		p, err := svc.CreateIdP(ctx, &IdPFields{ID: &id, Name: &id, Issuer: &iss, JWKSURL: &jwks, DomainID: &dom, Audiences: &[]string{"ks"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateMapping(ctx, p, "m", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "w1"}], "user": {"name": "{name}", "unique_id": "{sub}"},
			"groups": [{"id": "g1"}], "grants": [{"role": {"name": "member"}, "project": {"id": "p1"}}]}]`)); err != nil {
			t.Fatal(err)
		}
		sign := func(jti, name string) string {
			return kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": iss, "aud": "ks", "sub": "w1", "name": name, "jti": jti,
				"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix()})
		}
		// refused runs a login the issuer refuses, and returns the rows
		// as they were while the issuer ran (provisioned).
		refused := func(jti, name string) map[string]string {
			t.Helper()
			var during map[string]string
			issuer := &testIssuer{refuse: apierror.Unauthorized(), provisioned: func() { during = snapshot(t, b) }}
			if _, err := svc.jwtLoginWith(ctx, issuer, id, sign(jti, name), "m"); apierror.As(err).Code != 401 {
				t.Fatalf("login refused by the issuer: %v", err)
			}
			return during
		}
		empty := snapshot(t, b)
		if during := refused("j1", "first"); fmt.Sprint(during) == fmt.Sprint(empty) {
			t.Fatal("the first login provisioned nothing: the test proves nothing")
		}
		if got := snapshot(t, b); fmt.Sprint(got) != fmt.Sprint(empty) {
			t.Fatalf("first login not undone:\nbefore %v\nafter  %v", empty, got)
		}
		// A kept first login, then a second one (new name, a grant the
		// mapping no longer gives removed, the membership re-verified) that
		// is refused: everything back as the first login left it.
		if _, err := svc.JWTLogin(ctx, id, sign("j2", "first"), "m"); err != nil {
			t.Fatalf("login: %v", err)
		}
		now = now.Add(2 * time.Second)
		if _, err := svc.UpdateMapping(ctx, p, "m", json.RawMessage(`[{"match": [{"claim": "sub", "equals": "w1"}], "user": {"name": "{name}", "unique_id": "{sub}"},
			"groups": [{"id": "g1"}], "grants": [{"role": {"name": "reader"}, "project": {"id": "p1"}}]}]`)); err != nil {
			t.Fatal(err)
		}
		kept := snapshot(t, b)
		if during := refused("j3", "renamed"); fmt.Sprint(during) == fmt.Sprint(kept) {
			t.Fatal("the second login changed nothing: the test proves nothing")
		}
		if got := snapshot(t, b); fmt.Sprint(got) != fmt.Sprint(kept) {
			t.Fatalf("second login not undone:\nbefore %v\nafter  %v", kept, got)
		}
		// An existing shadow user passes the one usability rule
		// (identity.Checker.Usable, as validation): disabled, or inactive
		// for disable_user_account_days_inactive (30) days, is refused
		// before anything is written.
		uid := ShadowUserID("d1", "w1")
		user := storetest.QuoteIdent(b.Name, "user")
		for i, tc := range []struct{ name, set, undo string }{
			{"disabled", `UPDATE ` + user + ` SET enabled = FALSE WHERE id = ?`, `UPDATE ` + user + ` SET enabled = TRUE WHERE id = ?`},
			{"inactive", `UPDATE ` + user + ` SET last_active_at = '2020-01-01' WHERE id = ?`, `UPDATE ` + user + ` SET last_active_at = NULL WHERE id = ?`},
		} {
			if _, err := b.DB.ExecContext(ctx, tc.set, uid); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, b)
			raw := kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": iss, "aud": "ks", "sub": "w1", "name": "x", "jti": fmt.Sprintf("u%d", i),
				"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix()})
			if _, err := svc.JWTLogin(ctx, id, raw, "m"); apierror.As(err).Code != 401 {
				t.Fatalf("%s shadow user: %v", tc.name, err)
			}
			if got := snapshot(t, b); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("%s shadow user: the refused login wrote: %v", tc.name, got)
			}
			if _, err := b.DB.ExecContext(ctx, tc.undo, uid); err != nil {
				t.Fatal(err)
			}
		}
		// A new user in a disabled domain is refused before anything is written.
		if _, err := b.DB.ExecContext(ctx, `UPDATE project SET enabled = ? WHERE id = 'd1'`, false); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, b)
		raw := kit.sign(t, jose.RS256, kit.rsa, "k1", map[string]any{"iss": iss, "aud": "ks", "sub": "w1", "name": "x", "jti": "j4",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix()})
		if _, err := svc.JWTLogin(ctx, id, raw, "m"); apierror.As(err).Code != 401 {
			t.Fatalf("disabled domain: %v", err)
		}
		if got := snapshot(t, b); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("refused login wrote: %v", got)
		}
	})
}
