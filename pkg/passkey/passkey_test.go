package passkey_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

func wantStatus(t *testing.T, err error, code int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d, got success", code)
	}
	var ae *apierror.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want *apierror.Error %d, got %T %v", code, err, err)
	}
	if ae.Code != code || (msg != "" && ae.Message != msg) {
		t.Fatalf("want %d %q, got %d %q (cause %v)", code, msg, ae.Code, ae.Message, ae.Cause)
	}
}

func TestRegisterAndLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		alice := e.addUser(t, "alice", "default")
		a, p := e.register(t, alice, "laptop")
		if p.Name != "laptop" || p.UserID != alice || !p.BackupEligible || !p.BackupState || p.LastUsedAt != nil {
			t.Fatalf("stored passkey %+v", p)
		}
		if p.AAGUID != "6b736e67-2d74-6573-742d-617574686e21" || !reflect.DeepEqual(p.Transports, []string{"hybrid", "internal"}) {
			t.Fatalf("aaguid %q transports %q", p.AAGUID, p.Transports)
		}
		for _, tc := range []struct {
			name  string
			ref   *passkey.UserRef
			scope *issue.ScopeRequest
		}{
			{name: "usernameless", ref: nil},
			{name: "by id", ref: &passkey.UserRef{ID: alice}},
			{name: "by name and domain id", ref: &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{ID: "default"}}},
			{name: "by name and domain name, domain scope", ref: &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{Name: "Default"}},
				scope: &issue.ScopeRequest{Domain: &issue.NamedRef{Name: "Default"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.now = e.now.Add(time.Minute)
				begun := e.beginLogin(t, tc.ref)
				cred, err := a.Get(mustJSON(t, begun.Options))
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.finishLogin(begun.CeremonyID, cred, tc.scope)
				if err != nil {
					t.Fatalf("finish login: %v", err)
				}
				g := e.issuer.grants[len(e.issuer.grants)-1]
				if out.ID == "" || g.UserID != alice || !reflect.DeepEqual(g.Methods, []string{"external"}) {
					t.Fatalf("grant %+v", g)
				}
				if tc.scope != nil && g.Scope.DomainID != "default" {
					t.Fatalf("scope %+v", g.Scope)
				}
				got, err := e.svc.Get(e.ctx, alice, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.SignCount != a.Counter || got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.now) {
					t.Fatalf("after login: count %d (authenticator %d) last used %v", got.SignCount, a.Counter, got.LastUsedAt)
				}
			})
		}
		// Management: rename, list, delete.
		r, err := e.svc.Rename(e.ctx, alice, p.ID, "  work phone ")
		if err != nil || r.Name != "work phone" {
			t.Fatalf("rename: %v %+v", err, r)
		}
		if _, err := e.svc.Rename(e.ctx, "someone-else", p.ID, "x"); err == nil {
			t.Fatal("renamed another user's passkey")
		}
		list, err := e.svc.List(e.ctx, alice)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %d", err, len(list))
		}
		wantStatus(t, e.svc.Delete(e.ctx, "someone-else", p.ID), http.StatusNotFound, "Could not find passkey: "+p.ID+".")
		if err := e.svc.Delete(e.ctx, alice, p.ID); err != nil {
			t.Fatal(err)
		}
		if n := storetest.Count(t, e.db, "ng_passkeys"); n != 0 {
			t.Fatalf("%d passkeys after delete", n)
		}
	})
}

func TestRegistrationRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		alice := e.addUser(t, "alice", "default")
		bob := e.addUser(t, "bob", "default")
		a, _ := e.register(t, alice, "")
		u := e.user(t, alice)

		// Existing credentials are excluded; a discoverable credential
		// is required.
		begun, err := e.svc.BeginRegistration(e.ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				ExcludeCredentials []struct {
					ID string `json:"id"`
				} `json:"excludeCredentials"`
				AuthenticatorSelection struct {
					ResidentKey        string `json:"residentKey"`
					RequireResidentKey bool   `json:"requireResidentKey"`
					UserVerification   string `json:"userVerification"`
				} `json:"authenticatorSelection"`
				User struct {
					ID string `json:"id"`
				} `json:"user"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(mustJSON(t, begun.Options), &opts); err != nil {
			t.Fatal(err)
		}
		pk := opts.PublicKey
		if len(pk.ExcludeCredentials) != 1 || pk.AuthenticatorSelection.ResidentKey != "required" || !pk.AuthenticatorSelection.RequireResidentKey ||
			pk.AuthenticatorSelection.UserVerification != "required" {
			t.Fatalf("creation options %+v", pk)
		}

		// The same credential again: 409.
		cred, err := a.Create(mustJSON(t, begun.Options))
		if err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		_, err = e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred)
		wantStatus(t, err, http.StatusConflict, "")
		if e.snapshot(t) != before {
			t.Fatal("database changed")
		}

		for _, tc := range []struct {
			name   string
			tweak  func(a *passkeytest.Authenticator)
			finish func(begun *passkey.Begun, cred json.RawMessage) error
		}{
			{name: "wrong origin", tweak: func(a *passkeytest.Authenticator) { a.Origin = "https://evil.example.org" }},
			{name: "wrong rp id", tweak: func(a *passkeytest.Authenticator) { a.RPID = "evil.example.org" }},
			{name: "tampered client data", tweak: func(a *passkeytest.Authenticator) { a.TamperClientData = true }},
			{name: "no user verification", tweak: func(a *passkeytest.Authenticator) { a.UserVerified = false }},
			{name: "ceremony of another user", finish: func(begun *passkey.Begun, cred json.RawMessage) error {
				_, err := e.svc.FinishRegistration(e.ctx, e.user(t, bob), begun.CeremonyID, "", cred)
				return err
			}},
			{name: "expired ceremony", finish: func(begun *passkey.Begun, cred json.RawMessage) error {
				e.now = e.now.Add(6 * time.Minute)
				_, err := e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred)
				return err
			}},
			{name: "replayed ceremony", finish: func(begun *passkey.Begun, cred json.RawMessage) error {
				if _, err := e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred); err != nil {
					t.Fatalf("first finish: %v", err)
				}
				before = e.snapshot(t)
				_, err := e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred)
				return err
			}},
			{name: "garbage credential", finish: func(begun *passkey.Begun, _ json.RawMessage) error {
				_, err := e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", json.RawMessage(`{"id":"x"}`))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := passkeytest.New(origin)
				if tc.tweak != nil {
					tc.tweak(n)
				}
				begun, err := e.svc.BeginRegistration(e.ctx, u, "")
				if err != nil {
					t.Fatal(err)
				}
				cred, err := n.Create(mustJSON(t, begun.Options))
				if err != nil {
					t.Fatal(err)
				}
				before = e.snapshot(t)
				if tc.finish != nil {
					err = tc.finish(begun, cred)
				} else {
					_, err = e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred)
				}
				wantStatus(t, err, http.StatusBadRequest, "The passkey could not be verified; start the registration again.")
				if e.snapshot(t) != before {
					t.Fatal("passkeys changed")
				}
			})
		}
	})
}

const msg401 = "The request you have made requires authentication."

func TestLoginRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		alice := e.addUser(t, "alice", "default")
		bob := e.addUser(t, "bob", "default")
		aliceKey, _ := e.register(t, alice, "")
		bobKey, _ := e.register(t, bob, "")
		aliceRef := &passkey.UserRef{ID: alice}
		bobHandle := bobKey.UserHandle
		defer func() { bobKey.UserHandle = bobHandle }()
		for i, tc := range []struct {
			name string
			ref  *passkey.UserRef
			key  *passkeytest.Authenticator
			// prepare changes the authenticator or clock before the
			// answer; finish (optional) replaces the single finish.
			prepare    func()
			finish     func(begun *passkey.Begun, cred json.RawMessage) error
			log        string
			failsCount string // user whose failure count goes up
		}{
			{name: "wrong origin", ref: aliceRef, key: aliceKey, prepare: func() { aliceKey.Origin = "https://evil.example.org" }, failsCount: alice},
			{name: "wrong rp id", ref: aliceRef, key: aliceKey, prepare: func() { aliceKey.RPID = "evil.example.org" }, failsCount: alice},
			{name: "tampered client data", ref: nil, key: aliceKey, prepare: func() { aliceKey.TamperClientData = true }, failsCount: alice},
			{name: "counter going backwards", ref: aliceRef, key: aliceKey, prepare: func() { aliceKey.Counter = 0 },
				log: "possible cloned authenticator", failsCount: alice},
			{name: "expired ceremony", ref: aliceRef, key: aliceKey, prepare: func() { e.now = e.now.Add(5 * time.Minute) }},
			{name: "another user's credential", ref: aliceRef, key: bobKey, failsCount: alice},
			{name: "usernameless with a forged user handle", ref: nil, key: bobKey, prepare: func() { bobKey.UserHandle = []byte(alice) }, failsCount: bob},
			{name: "unknown user (decoy)", ref: &passkey.UserRef{Name: "mallory", Domain: &passkey.DomainRef{ID: "default"}}, key: aliceKey},
			{name: "replayed assertion", ref: aliceRef, key: aliceKey, finish: func(begun *passkey.Begun, cred json.RawMessage) error {
				_, err := e.finishLogin(begun.CeremonyID, cred, nil)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// A good login first, so counters are not zero.
				for _, k := range []*passkeytest.Authenticator{aliceKey, bobKey} {
					k.Origin, k.RPID, k.TamperClientData = origin, "", false
					k.Counter = uint32(10000 * (i + 1))
					bobKey.UserHandle = bobHandle
					b := e.beginLogin(t, nil)
					c, _ := k.Get(mustJSON(t, b.Options))
					if _, err := e.finishLogin(b.CeremonyID, c, nil); err != nil {
						t.Fatalf("good login: %v", err)
					}
				}
				begun := e.beginLogin(t, tc.ref)
				if tc.finish != nil { // replay: use it once first
					cred, _ := tc.key.Get(mustJSON(t, begun.Options))
					if _, err := e.finishLogin(begun.CeremonyID, cred, nil); err != nil {
						t.Fatalf("first use: %v", err)
					}
				}
				if tc.prepare != nil {
					tc.prepare()
				}
				cred, err := tc.key.Get(mustJSON(t, begun.Options))
				if err != nil {
					t.Fatal(err)
				}
				before, grants := e.snapshot(t), len(e.issuer.grants)
				ceremonies := storetest.Count(t, e.db, "ng_passkey_ceremonies")
				fails := map[string]int{alice: e.failedCount(t, alice), bob: e.failedCount(t, bob)}
				if tc.finish != nil {
					err = tc.finish(begun, cred)
				} else {
					_, err = e.finishLogin(begun.CeremonyID, cred, nil)
				}
				wantStatus(t, err, http.StatusUnauthorized, msg401)
				if e.snapshot(t) != before || len(e.issuer.grants) != grants {
					t.Fatalf("passkeys changed or token issued:\n%s\n%s", before, e.snapshot(t))
				}
				wantCeremonies := ceremonies - 1 // consumed
				if tc.finish != nil {
					wantCeremonies = ceremonies // already gone
				}
				if n := storetest.Count(t, e.db, "ng_passkey_ceremonies"); n != wantCeremonies {
					t.Fatalf("ceremonies %d, want %d", n, wantCeremonies)
				}
				for _, u := range []string{alice, bob} {
					want := fails[u]
					if u == tc.failsCount {
						want++
					}
					if got := e.failedCount(t, u); got != want {
						t.Fatalf("failed_auth_count of %s = %d, want %d", u, got, want)
					}
				}
				if tc.log != "" && !strings.Contains(e.log.String(), tc.log) {
					t.Fatalf("log lacks %q:\n%s", tc.log, e.log.String())
				}
				// Reset the failure counts for the next case.
				e.exec(t, `UPDATE local_user SET failed_auth_count = 0, failed_auth_at = NULL`)
			})
		}
	})
}

func TestLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		alice := e.addUser(t, "alice", "default")
		key, _ := e.register(t, alice, "")
		login := func(bad bool) error {
			b := e.beginLogin(t, &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{ID: "default"}})
			key.Origin = origin
			if bad {
				key.Origin = "https://evil.example.org"
			}
			c, err := key.Get(mustJSON(t, b.Options))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.finishLogin(b.CeremonyID, c, nil)
			return err
		}
		// Two failures, then a success resets the counter.
		for i := 0; i < 2; i++ {
			wantStatus(t, login(true), http.StatusUnauthorized, msg401)
		}
		if n := e.failedCount(t, alice); n != 2 {
			t.Fatalf("count %d", n)
		}
		if err := login(false); err != nil {
			t.Fatal(err)
		}
		if n := e.failedCount(t, alice); n != 0 {
			t.Fatalf("count %d after success", n)
		}
		// Three failures lock: a good assertion is refused too.
		for i := 0; i < 3; i++ {
			wantStatus(t, login(true), http.StatusUnauthorized, msg401)
		}
		before := e.snapshot(t)
		wantStatus(t, login(false), http.StatusUnauthorized, msg401)
		if e.snapshot(t) != before {
			t.Fatal("locked login changed the passkey")
		}
		if !strings.Contains(e.log.String(), "account locked") {
			t.Fatalf("log: %s", e.log.String())
		}
		// An administrator unlocks (as Python's PATCH user does).
		e.exec(t, `UPDATE local_user SET failed_auth_count = 0, failed_auth_at = NULL`)
		if err := login(false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDisabledAndDeleted(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name   string
			domain string
			breakF func(t *testing.T, userID string)
		}{
			{name: "disabled user", domain: "default", breakF: func(t *testing.T, id string) {
				e.exec(t, `UPDATE `+e.userTable()+` SET enabled = ? WHERE id = ?`, false, id)
			}},
			{name: "disabled domain", domain: "dom2", breakF: func(t *testing.T, _ string) {
				e.exec(t, `UPDATE project SET enabled = ? WHERE id = 'dom2'`, false)
			}},
			{name: "deleted user", domain: "default", breakF: func(t *testing.T, id string) {
				e.exec(t, `DELETE FROM local_user WHERE user_id = ?`, id)
				e.exec(t, `DELETE FROM `+e.userTable()+` WHERE id = ?`, id)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := e.addUser(t, "u-"+strings.ReplaceAll(tc.name, " ", "-"), tc.domain)
				key, _ := e.register(t, id, "")
				tc.breakF(t, id)
				b := e.beginLogin(t, nil)
				c, _ := key.Get(mustJSON(t, b.Options))
				before := e.snapshot(t)
				_, err := e.finishLogin(b.CeremonyID, c, nil)
				wantStatus(t, err, http.StatusUnauthorized, msg401)
				if e.snapshot(t) != before {
					t.Fatal("passkeys changed")
				}
			})
		}
		// The purger removes the deleted user's passkey, and only that.
		n, err := passkey.OrphanPurger{Store: passkey.NewSQLStore(e.db)}.Purge(e.ctx, e.now)
		if err != nil || n != 1 {
			t.Fatalf("orphans purged: %d %v", n, err)
		}
		if c := storetest.Count(t, e.db, "ng_passkeys"); c != 2 {
			t.Fatalf("%d passkeys left", c)
		}
	})
}

func TestDecoy(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		alice := e.addUser(t, "alice", "default")
		e.register(t, alice, "")
		e.addUser(t, "carol", "default") // no passkey
		shape := func(b *passkey.Begun) (keys []string, ids []string) {
			var m map[string]map[string]any
			if err := json.Unmarshal(mustJSON(t, b.Options), &m); err != nil {
				t.Fatal(err)
			}
			for k := range m["publicKey"] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, c := range m["publicKey"]["allowCredentials"].([]any) {
				d := c.(map[string]any)
				ids = append(ids, d["id"].(string))
				if d["type"] != "public-key" || len(d["transports"].([]any)) == 0 {
					t.Fatalf("descriptor %v", d)
				}
			}
			return keys, ids
		}
		realKeys, _ := shape(e.beginLogin(t, &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{ID: "default"}}))
		for _, tc := range []struct {
			name string
			ref  *passkey.UserRef
		}{
			{name: "unknown name", ref: &passkey.UserRef{Name: "mallory", Domain: &passkey.DomainRef{ID: "default"}}},
			{name: "unknown name, domain by name", ref: &passkey.UserRef{Name: "mallory", Domain: &passkey.DomainRef{Name: "Default"}}},
			{name: "unknown domain", ref: &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{Name: "Nowhere"}}},
			{name: "unknown id", ref: &passkey.UserRef{ID: "0123456789abcdef0123456789abcdef"}},
			{name: "user without passkeys", ref: &passkey.UserRef{Name: "carol", Domain: &passkey.DomainRef{ID: "default"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := storetest.Count(t, e.db, "ng_passkey_ceremonies")
				k1, ids1 := shape(e.beginLogin(t, tc.ref))
				_, ids2 := shape(e.beginLogin(t, tc.ref))
				if !reflect.DeepEqual(k1, realKeys) {
					t.Fatalf("decoy options keys %v, real %v", k1, realKeys)
				}
				if len(ids1) == 0 || !reflect.DeepEqual(ids1, ids2) {
					t.Fatalf("fake credentials not stable: %v vs %v", ids1, ids2)
				}
				if got := storetest.Count(t, e.db, "ng_passkey_ceremonies"); got != n+2 {
					t.Fatalf("ceremonies %d, want %d", got, n+2)
				}
			})
		}
		// A second service on the same database (another instance) gives
		// the same fake credentials.
		ref := &passkey.UserRef{Name: "mallory", Domain: &passkey.DomainRef{ID: "default"}}
		_, ids1 := shape(e.beginLogin(t, ref))
		other := newEnvSameDB(t, e)
		_, ids2 := shape(other.beginLogin(t, ref))
		if !reflect.DeepEqual(ids1, ids2) {
			t.Fatalf("instances disagree: %v vs %v", ids1, ids2)
		}
	})
}

func newEnvSameDB(t *testing.T, e *env) *env {
	o := *e
	o.svc = e.newService(t)
	return &o
}

func TestCeremonyPurge(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.beginLogin(t, nil)
		e.now = e.now.Add(10 * time.Minute)
		e.beginLogin(t, nil)
		n, err := passkey.CeremonyPurger{Store: passkey.NewSQLStore(e.db)}.Purge(e.ctx, e.now)
		if err != nil || n != 1 {
			t.Fatalf("purged %d %v", n, err)
		}
		if c := storetest.Count(t, e.db, "ng_passkey_ceremonies"); c != 1 {
			t.Fatalf("%d left", c)
		}
	})
}

func TestLoginStartValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			ref  *passkey.UserRef
		}{
			{name: "empty user", ref: &passkey.UserRef{}},
			{name: "name without domain", ref: &passkey.UserRef{Name: "alice"}},
			{name: "empty domain", ref: &passkey.UserRef{Name: "alice", Domain: &passkey.DomainRef{}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.BeginLogin(e.ctx, tc.ref)
				wantStatus(t, err, http.StatusBadRequest, "")
			})
		}
	})
}

// TestPasswordlessRules: a federated user's passkey stops working when the
// IdP is disabled or deleted, Python's MFA rules apply to a passkey login,
// and a login the issuer refuses records nothing (issue 14, findings 3, 6
// and 8).
func TestPasswordlessRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.exec(t, `INSERT INTO identity_provider (id, enabled, domain_id) VALUES ('idp1', ?, 'default')`, true)
		e.exec(t, `INSERT INTO mapping (id, rules) VALUES ('m1', '[]')`)
		e.exec(t, `INSERT INTO federation_protocol (id, idp_id, mapping_id) VALUES ('openid', 'idp1', 'm1')`)
		federated := func(t *testing.T, name string) string {
			id := e.addUser(t, name, "default")
			e.exec(t, `DELETE FROM local_user WHERE user_id = ?`, id)
			e.exec(t, `INSERT INTO federated_user (user_id, idp_id, protocol_id, unique_id) VALUES (?, 'idp1', 'openid', ?)`, id, name)
			return id
		}
		login := func(t *testing.T, key *passkeytest.Authenticator) error {
			b := e.beginLogin(t, nil)
			c, err := key.Get(mustJSON(t, b.Options))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.finishLogin(b.CeremonyID, c, nil)
			return err
		}
		fed := federated(t, "fed-user")
		fedKey, _ := e.register(t, fed, "")
		if err := login(t, fedKey); err != nil {
			t.Fatalf("federated user, IdP enabled: %v", err)
		}
		e.exec(t, `UPDATE identity_provider SET enabled = ? WHERE id = 'idp1'`, false)
		before := e.snapshot(t)
		wantStatus(t, login(t, fedKey), http.StatusUnauthorized, msg401)
		if e.snapshot(t) != before {
			t.Fatal("refused login changed passkeys")
		}
		// Deleted IdP: Python's delete_idp cascades to federated_user; the
		// shadow user row stays, with no origin left.
		e.exec(t, `UPDATE identity_provider SET enabled = ? WHERE id = 'idp1'`, true)
		e.exec(t, `DELETE FROM federated_user WHERE user_id = ?`, fed)
		wantStatus(t, login(t, fedKey), http.StatusUnauthorized, msg401)

		// MFA: rules asking for password + totp refuse a passkey alone.
		mfa := e.addUser(t, "mfa-user", "default")
		mfaKey, _ := e.register(t, mfa, "")
		e.exec(t, `INSERT INTO user_option (user_id, option_id, option_value) VALUES (?, 'MFAR', ?)`, mfa, `[["password", "totp"]]`)
		wantStatus(t, login(t, mfaKey), http.StatusUnauthorized, msg401)
		e.exec(t, `INSERT INTO user_option (user_id, option_id, option_value) VALUES (?, 'MFAE', 'false')`, mfa)
		if err := login(t, mfaKey); err != nil {
			t.Fatalf("MFA rules disabled: %v", err)
		}

		// The issuer refuses: neither the signature counter nor the
		// lockout state moves.
		plain := e.addUser(t, "plain-user", "default")
		key, _ := e.register(t, plain, "")
		e.exec(t, `UPDATE local_user SET failed_auth_count = 2 WHERE user_id = ?`, plain)
		e.issuer.refuse = apierror.Unauthorized()
		defer func() { e.issuer.refuse = nil }()
		before = e.snapshot(t)
		wantStatus(t, login(t, key), http.StatusUnauthorized, msg401)
		if e.snapshot(t) != before {
			t.Fatal("the signature counter was recorded for a refused login")
		}
		if n := e.failedCount(t, plain); n != 2 {
			t.Fatalf("failed count reset by a refused login: %d", n)
		}
	})
}

// TestPasskeyQuota: max_passkeys_per_user refuses a registration at its
// start and at its finish (403, nothing stored).
func TestPasskeyQuota(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		id := e.addUser(t, "quota-user", "default")
		u := e.user(t, id)
		// Two ceremonies started while the user has none: both may start.
		e.svc = e.newService(t)
		b1, err := e.svc.BeginRegistration(e.ctx, u, "one")
		if err != nil {
			t.Fatal(err)
		}
		b2, err := e.svc.BeginRegistration(e.ctx, u, "two")
		if err != nil {
			t.Fatal(err)
		}
		limited, err := passkey.New(passkey.Config{RPID: rpID, Origins: []string{origin}, CeremonyTimeout: 5 * time.Minute,
			TokenMethods: []string{"external"}, MaxPasskeysPerUser: 1}, passkey.NewSQLStore(e.db), store.NewReader(e.db),
			&identity.Checker{Dir: store.NewReader(e.db), Failures: store.NewLockout(e.db)}, store.NewReader(e.db), nil)
		if err != nil {
			t.Fatal(err)
		}
		limited.Now = func() time.Time { return e.now }
		finish := func(b *passkey.Begun, name string) error {
			key := passkeytest.New(origin)
			c, err := key.Create(mustJSON(t, b.Options))
			if err != nil {
				t.Fatal(err)
			}
			_, err = limited.FinishRegistration(e.ctx, u, b.CeremonyID, name, c)
			return err
		}
		if err := finish(b1, "one"); err != nil {
			t.Fatalf("first passkey: %v", err)
		}
		if err := finish(b2, "two"); apierror.As(err).Code != http.StatusForbidden {
			t.Fatalf("second passkey at finish: %v", err)
		}
		before := storetest.Count(t, e.db, "ng_passkey_ceremonies")
		if _, err := limited.BeginRegistration(e.ctx, u, "three"); apierror.As(err).Code != http.StatusForbidden {
			t.Fatalf("third passkey at start: %v", err)
		}
		if n := storetest.Count(t, e.db, "ng_passkey_ceremonies"); n != before {
			t.Fatalf("ceremony stored by a refused start: %d -> %d", before, n)
		}
		if n := storetest.Count(t, e.db, "ng_passkeys WHERE user_id = '"+id+"'"); n != 1 {
			t.Fatalf("passkeys: %d", n)
		}
	})
}
