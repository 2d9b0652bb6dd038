package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// provisionRows is every row a federated login can write, one line per
// row, values as text (times in Python's own format).
func provisionRows(t *testing.T, b *storetest.Backend) string {
	t.Helper()
	user := storetest.QuoteIdent(b.Name, "user")
	var out strings.Builder
	for _, q := range []string{
		`SELECT id, extra, enabled, default_project_id, created_at, last_active_at, domain_id FROM ` + user + ` ORDER BY id`,
		`SELECT user_id, idp_id, protocol_id, unique_id, display_name FROM federated_user ORDER BY user_id`,
		`SELECT user_id, group_id, idp_id, last_verified FROM expiring_user_group_membership ORDER BY user_id, group_id`,
		`SELECT type, actor_id, target_id, role_id, inherited FROM assignment ORDER BY actor_id, target_id, role_id`,
		`SELECT idp_id, type, actor_id, target_id, role_id, created_at FROM ng_federation_grant ORDER BY actor_id, target_id, role_id`,
		`SELECT idp_id, jti, expires_at FROM ng_jwt_jti ORDER BY jti`,
	} {
		for _, row := range storetest.Rows(t, b.DB, q) {
			for _, v := range row {
				out.WriteString(rowText(v) + "|")
			}
			out.WriteString("\n")
		}
		out.WriteString("--\n")
	}
	return out.String()
}

// rowText prints a value the same on every backend: booleans as 0/1,
// times as Python writes them (a DATE column as its date).
func rowText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case bool:
		return map[bool]string{true: "1", false: "0"}[x]
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return sqldialect.DateTime(x)
	case string:
		switch x {
		case "true", "t":
			return "1"
		case "false", "f":
			return "0"
		}
		if t, err := time.Parse("2006-01-02 15:04:05", x); err == nil {
			return sqldialect.DateTime(t)
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return rowText(t)
		}
		return x
	}
	return fmt.Sprint(v)
}

// TestProvisioning is the conformance suite of store.Provisioning, the
// SQL of federated logins: Python's rows written as Python writes them,
// refusals that write nothing, and an Undo that restores every row.
func TestProvisioning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		storetest.CreatePythonTables(t, b)
		ctx := context.Background()
		group := storetest.QuoteIdent(b.Name, "group")
		user := storetest.QuoteIdent(b.Name, "user")
		for _, s := range []string{
			`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d1', 'ci', '{}', TRUE, '<<keystone.domain.root>>', TRUE)`,
			`INSERT INTO project (id, name, extra, enabled, domain_id, is_domain) VALUES ('d2', 'off', '{}', FALSE, '<<keystone.domain.root>>', TRUE)`,
			`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g1', 'd1', 'deployers')`,
			`INSERT INTO ` + group + ` (id, domain_id, name) VALUES ('g2', 'd1', 'readers')`,
			`INSERT INTO identity_provider (id, enabled, domain_id) VALUES ('idp1', TRUE, 'd1')`,
			`INSERT INTO federation_protocol (id, idp_id, mapping_id) VALUES ('openid', 'idp1', 'm1')`,
			`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-admin', 'admin', '{}', '<<null>>')`,
			`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-member', 'member', '{}', '<<null>>')`,
			`INSERT INTO role (id, name, extra, domain_id) VALUES ('r-reader', 'reader', '{}', '<<null>>')`,
			// The admin's own assignment, identical to one the mapping gives.
			`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES ('UserProject', 'shadow1', 'p2', 'r-admin', FALSE)`,
		} {
			if _, err := b.DB.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		p := store.NewProvisioning(b.DB)

		for _, tc := range []struct {
			domain          string
			exists, enabled bool
		}{{"d1", true, true}, {"d2", true, false}, {"nope", false, false}} {
			exists, enabled, err := p.DomainEnabled(ctx, tc.domain)
			if err != nil || exists != tc.exists || enabled != tc.enabled {
				t.Fatalf("DomainEnabled(%s) = %v, %v, %v", tc.domain, exists, enabled, err)
			}
		}
		if id, err := p.FederatedUserID(ctx, "idp1", "openid", "w1"); id != "" || err != nil {
			t.Fatalf("FederatedUserID before the first login: %q, %v", id, err)
		}

		now := time.Date(2026, 12, 6, 10, 11, 12, 0, time.UTC)
		first := &store.ProvisionPlan{IdPID: "idp1", ProtocolID: "openid", JTI: "j1", JTIExpires: now.Add(time.Minute),
			ShadowUserID: "shadow1", ShadowDomainID: "d1", UniqueID: "w1", DisplayName: "first", SetLastActive: true,
			GroupIDs: []string{"g1"}, Now: now,
			Grants: []store.ProvisionGrant{{Type: "UserProject", TargetID: "p1", RoleID: "r-member"}, {Type: "UserProject", TargetID: "p2", RoleID: "r-admin"}}}
		empty := provisionRows(t, b)
		id, undo, err := p.Provision(ctx, first)
		if err != nil || id != "shadow1" {
			t.Fatalf("first login: %q, %v", id, err)
		}
		// Python's rows, to the value: user (extra "{}", enabled, created_at
		// with microseconds, last_active_at the date), federated_user,
		// the expiring membership; the mapping's new grant recorded with
		// its time in microseconds, the admin's identical one left alone.
		us := now.UnixMicro()
		want := fmt.Sprintf(`shadow1|{}|1|NULL|2026-12-06 10:11:12.000000|2026-12-06|d1|
--
shadow1|idp1|openid|w1|first|
--
shadow1|g1|idp1|2026-12-06 10:11:12.000000|
--
UserProject|shadow1|p1|r-member|0|
UserProject|shadow1|p2|r-admin|0|
--
idp1|UserProject|shadow1|p1|r-member|%d|
--
idp1|j1|%d|
--
`, us, now.Add(time.Minute).UnixMicro())
		after := provisionRows(t, b)
		if after != want {
			t.Fatalf("first login wrote:\n%s\nwant:\n%s", after, want)
		}
		if got, err := p.FederatedUserID(ctx, "idp1", "openid", "w1"); got != "shadow1" || err != nil {
			t.Fatalf("FederatedUserID after the first login: %q, %v", got, err)
		}

		// A replayed jti is refused and writes nothing.
		if _, _, err := p.Provision(ctx, first); !errors.Is(err, store.ErrReplayedJTI) {
			t.Fatalf("replayed jti: %v", err)
		}
		if got := provisionRows(t, b); got != after {
			t.Fatalf("refused replay wrote:\n%s", got)
		}

		// The undo of the first login restores the empty tables; a second
		// run does nothing.
		if err := undo.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := provisionRows(t, b); got != empty {
			t.Fatalf("undo of the first login left:\n%s\nwant:\n%s", got, empty)
		}
		if err := undo.Run(ctx); err != nil {
			t.Fatal(err)
		}
		var none *store.Undo
		if err := none.Run(ctx); err != nil {
			t.Fatal(err)
		}

		// Kept first login, then a later one: renamed, re-verified, one
		// group more, the mapping's grant changed. Its undo restores the
		// rows as the first login left them.
		if _, _, err := p.Provision(ctx, first); err != nil {
			t.Fatal(err)
		}
		kept := provisionRows(t, b)
		later := now.Add(90 * time.Second)
		second := &store.ProvisionPlan{IdPID: "idp1", ProtocolID: "openid", ShadowUserID: "shadow1", ShadowDomainID: "d1",
			UniqueID: "w1", DisplayName: "renamed", GroupIDs: []string{"g1", "g2"}, Now: later,
			Grants: []store.ProvisionGrant{{Type: "UserProject", TargetID: "p1", RoleID: "r-reader"}}}
		id, undo, err = p.Provision(ctx, second)
		if err != nil || id != "shadow1" {
			t.Fatalf("second login: %q, %v", id, err)
		}
		got := provisionRows(t, b)
		for _, line := range []string{
			"shadow1|idp1|openid|w1|renamed|",
			"shadow1|g1|idp1|2026-12-06 10:12:42.000000|",
			"shadow1|g2|idp1|2026-12-06 10:12:42.000000|",
			"UserProject|shadow1|p1|r-reader|0|",
			"UserProject|shadow1|p2|r-admin|0|", // the admin's, untouched
			fmt.Sprintf("idp1|UserProject|shadow1|p1|r-reader|%d|", later.UnixMicro()),
		} {
			if !strings.Contains(got, line+"\n") {
				t.Fatalf("second login: no row %q in:\n%s", line, got)
			}
		}
		if strings.Contains(got, "r-member") {
			t.Fatalf("second login kept the grant the mapping no longer gives:\n%s", got)
		}
		if err := undo.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := provisionRows(t, b); got != kept {
			t.Fatalf("undo of the second login left:\n%s\nwant:\n%s", got, kept)
		}

		// A mapped existing user gets no shadow user.
		if _, err := b.DB.ExecContext(ctx, `INSERT INTO `+user+` (id, extra, enabled, domain_id) VALUES ('svc1', '{}', TRUE, 'd1')`); err != nil {
			t.Fatal(err)
		}
		before := storetest.Count(t, b.DB, "federated_user")
		if id, _, err := p.Provision(ctx, &store.ProvisionPlan{IdPID: "idp1", ProtocolID: "openid", UserID: "svc1", GroupIDs: []string{"g1"}, Now: now}); err != nil || id != "svc1" {
			t.Fatalf("mapped user: %q, %v", id, err)
		}
		if n := storetest.Count(t, b.DB, "federated_user"); n != before {
			t.Fatalf("mapped user got a shadow user: %d federated_user rows, had %d", n, before)
		}

		// A shadow user id taken by a user this IdP does not know is
		// refused, and writes nothing.
		before2 := provisionRows(t, b)
		_, _, err = p.Provision(ctx, &store.ProvisionPlan{IdPID: "idp1", ProtocolID: "openid", JTI: "j9", JTIExpires: now,
			ShadowUserID: "svc1", ShadowDomainID: "d1", UniqueID: "other", DisplayName: "x", Now: now})
		if !errors.Is(err, store.ErrShadowUserTaken) {
			t.Fatalf("taken shadow user id: %v", err)
		}
		if got := provisionRows(t, b); got != before2 {
			t.Fatalf("refused login wrote:\n%s", got)
		}
	})
}
