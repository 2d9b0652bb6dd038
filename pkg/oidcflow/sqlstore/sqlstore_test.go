package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func codeState(id string, exp time.Time) *oidcflow.LoginState {
	return &oidcflow.LoginState{
		ID: id, Kind: oidcflow.KindCode, IdPID: "idp1",
		RedirectURI: "https://ks.example/v4/federation/oidc/callback", Nonce: "n-" + id, PKCEVerifier: "v-" + id,
		Extra: json.RawMessage(`{"scope":{"project":{"id":"p1"}}}`), CreatedAt: t0, ExpiresAt: exp,
	}
}

func TestConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		s := sqlstore.New(b.DB)
		if s.Name() != "ng_oidc_login_state" {
			t.Fatalf("Name() = %q", s.Name())
		}

		t.Run("round trip", func(t *testing.T) {
			in := codeState("AAAroundtrip", t0.Add(10*time.Minute))
			if err := s.Put(ctx, in); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != in.ID || got.Kind != in.Kind || got.IdPID != in.IdPID || got.RedirectURI != in.RedirectURI ||
				got.Nonce != in.Nonce || got.PKCEVerifier != in.PKCEVerifier || string(got.Extra) != string(in.Extra) ||
				!got.CreatedAt.Equal(in.CreatedAt) || !got.ExpiresAt.Equal(in.ExpiresAt) || !got.NextPollAt.IsZero() {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
			}
			if _, err := s.Take(ctx, in.ID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("case-sensitive ids", func(t *testing.T) {
			if err := s.Put(ctx, codeState("caseSENSITIVE", t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "casesensitive"); !errors.Is(err, oidcflow.ErrStateNotFound) {
				t.Fatalf("lower-case lookup: %v", err)
			}
			if _, err := s.Take(ctx, "caseSENSITIVE"); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("take is single use", func(t *testing.T) {
			if err := s.Put(ctx, codeState("once", t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Take(ctx, "once"); err != nil {
				t.Fatal(err)
			}
			for _, f := range []func() error{
				func() error { _, err := s.Take(ctx, "once"); return err },
				func() error { _, err := s.Get(ctx, "once"); return err },
			} {
				if err := f(); !errors.Is(err, oidcflow.ErrStateNotFound) {
					t.Fatalf("after take: %v", err)
				}
			}
			if _, err := s.Take(ctx, "never-existed"); !errors.Is(err, oidcflow.ErrStateNotFound) {
				t.Fatalf("unknown: %v", err)
			}
		})

		t.Run("concurrent take: exactly one wins", func(t *testing.T) {
			for round := range 10 {
				id := "race" + string(rune('a'+round))
				if err := s.Put(ctx, codeState(id, t0.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
				const n = 4
				var wg sync.WaitGroup
				errs := make([]error, n)
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = s.Take(ctx, id)
					}()
				}
				close(start)
				wg.Wait()
				wins := 0
				for _, err := range errs {
					switch {
					case err == nil:
						wins++
					case errors.Is(err, oidcflow.ErrStateNotFound):
					default:
						t.Fatalf("round %d: unexpected error %v", round, err)
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d winners, want exactly 1", round, wins)
				}
			}
		})

		t.Run("claim poll", func(t *testing.T) {
			st := &oidcflow.LoginState{ID: "dev1", Kind: oidcflow.KindDevice, IdPID: "idp1", DeviceCode: "idp-device-code",
				PollInterval: 5, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
			if err := s.Put(ctx, st); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name string
				now  time.Time
				want bool
			}{
				{"first poll", t0, true},
				{"within the lease", t0.Add(4 * time.Second), false},
				{"lease over", t0.Add(5 * time.Second), true},
			}
			for _, c := range cases {
				ok, err := s.ClaimPoll(ctx, "dev1", c.now, c.now.Add(5*time.Second))
				if err != nil || ok != c.want {
					t.Fatalf("%s: ClaimPoll = %v, %v; want %v", c.name, ok, err, c.want)
				}
			}
			// concurrent claims: one winner
			now := t0.Add(time.Minute)
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.ClaimPoll(ctx, "dev1", now, now.Add(5*time.Second))
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("concurrent ClaimPoll: %d winners", wins)
			}
			if err := s.SetPoll(ctx, "dev1", 10, t0.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "dev1")
			if err != nil {
				t.Fatal(err)
			}
			if got.PollInterval != 10 || !got.NextPollAt.Equal(t0.Add(2*time.Minute)) || got.DeviceCode != "idp-device-code" || got.Kind != oidcflow.KindDevice {
				t.Fatalf("after SetPoll: %+v", got)
			}
			if ok, _ := s.ClaimPoll(ctx, "missing", now, now); ok {
				t.Fatal("claimed a missing state")
			}
			if err := s.Delete(ctx, "dev1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "dev1"); err != nil {
				t.Fatalf("second delete: %v", err)
			}
		})

		t.Run("purge", func(t *testing.T) {
			for i, d := range []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour} {
				if err := s.Put(ctx, codeState("purge"+string(rune('a'+i)), t0.Add(d))); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.Purge(ctx, t0)
			if err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Fatalf("purged %d, want 3 (expired at or before now)", n)
			}
			if c := storetest.Count(t, b.DB, "ng_oidc_login_state"); c != 2 {
				t.Fatalf("%d rows left, want 2", c)
			}
			if n, err := s.Purge(ctx, t0.Add(2*time.Hour)); err != nil || n != 2 {
				t.Fatalf("second purge: %d, %v", n, err)
			}
		})
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-03-01 12:00:00.123456", "2026-03-01T12:00:00Z", "2026-03-01 12:00:00+02:00", "", "garbage", "2026-13-45 99:99:99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := sqlstore.ParseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		// What we write we read back identically.
		w := tm.Truncate(time.Microsecond).Format("2006-01-02 15:04:05.000000")
		back, err := sqlstore.ParseTime(w)
		if tm.Year() >= 0 && tm.Year() <= 9999 && (err != nil || !back.Equal(tm.Truncate(time.Microsecond))) {
			t.Fatalf("%q: %q reads back as %v, %v", s, w, back, err)
		}
	})
}
