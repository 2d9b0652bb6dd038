package identity

import (
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

func TestMFASatisfied(t *testing.T) {
	conf := []string{"external", "password", "token", "totp", "mapped"}
	for _, tc := range []struct {
		name    string
		enabled bool
		rules   [][]string
		used    []string
		want    bool
	}{
		{"no rules", true, nil, []string{"external"}, true},
		{"rules disabled", false, [][]string{{"password", "totp"}}, []string{"external"}, true},
		{"passkey alone against password+totp", true, [][]string{{"password", "totp"}}, []string{"external"}, false},
		{"one rule of two matches", true, [][]string{{"password", "totp"}, {"external"}}, []string{"external"}, true},
		{"superset of a rule", true, [][]string{{"password"}}, []string{"password", "totp"}, true},
		{"a rule of methods [auth] does not enable counts as empty", true, [][]string{{"webauthn"}}, []string{"external"}, true},
		{"unconfigured methods dropped from a rule", true, [][]string{{"totp", "webauthn"}}, []string{"totp"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MFASatisfied(tc.enabled, tc.rules, conf, tc.used); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseMFARules(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{``, 0},
		{`[]`, 0},
		{`{"a": 1}`, 0},
		{`"not json"`, 0},
		{`[["password", "totp"], ["external"]]`, 2},
		{`[["password", 1], [], "x", ["totp"]]`, 1},
		{`"[[\"password\", \"totp\"]]"`, 1},
	} {
		if got := ParseMFARules([]byte(tc.raw)); len(got) != tc.want {
			t.Errorf("ParseMFARules(%s) = %v, want %d rules", tc.raw, got, tc.want)
		}
	}
}

func TestAccountMaySignIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    *Account
		want bool
	}{
		{"nil", nil, false},
		{"local", &Account{Local: true}, true},
		{"non-local (LDAP)", &Account{NonLocal: true}, true},
		{"federated, IdP enabled", &Account{IdPs: []FederatedIdP{{"a", false}, {"b", true}}}, true},
		{"federated, every IdP disabled", &Account{IdPs: []FederatedIdP{{"a", false}}}, false},
		{"shadow user whose IdP was deleted", &Account{}, false},
	} {
		if got := AccountMaySignIn(tc.a); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEnabledIsValidationsRule: a /v4 login and validation disable the
// same users (the created_at fallback, and "maxDays or more").
func TestEnabledIsValidationsRule(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	day := func(d int) *time.Time { x := now.AddDate(0, 0, -d); return &x }
	c := &Checker{DisableUserAccountDaysInactive: 10}
	for _, u := range []*keystone.User{
		{Enabled: true, LastActiveAt: day(9)},
		{Enabled: true, LastActiveAt: day(10)},
		{Enabled: true, CreatedAt: day(10)},
		{Enabled: true, CreatedAt: day(3)},
		{Enabled: true},
		{Enabled: true, LastActiveAt: day(30), IgnoreInactivity: true},
		{Enabled: false},
	} {
		if got, want := c.enabled(u, now), token.UserEnabled(u, now, 10); got != want {
			t.Errorf("%+v: login says %v, validation %v", u, got, want)
		}
	}
	if c.enabled(&keystone.User{Enabled: true, LastActiveAt: day(10)}, now) {
		t.Error("10 days inactive with a 10-day limit must be disabled (Python: >=)")
	}
	if c.enabled(&keystone.User{Enabled: true, CreatedAt: day(11)}, now) {
		t.Error("a never-active user falls back to created_at")
	}
}
