package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// fakeDir is a Directory holding one lockout state.
type fakeDir struct{ auth *LocalAuth }

func (d *fakeDir) GetUser(context.Context, string) (*keystone.User, error) {
	return &keystone.User{ID: "u", Enabled: true, Domain: &keystone.Project{ID: "d", Enabled: true}}, nil
}
func (d *fakeDir) UserByName(context.Context, string, string) (*keystone.User, error) {
	return nil, token.ErrNotFound
}
func (d *fakeDir) DomainByName(context.Context, string) (*keystone.Project, error) {
	return nil, token.ErrNotFound
}
func (d *fakeDir) LocalAuth(context.Context, string) (*LocalAuth, error) { return d.auth, nil }
func (d *fakeDir) Account(context.Context, string) (*Account, error)     { return &Account{}, nil }

// fakeWriter records the writes asked of it.
type fakeWriter struct{ calls []string }

func (w *fakeWriter) RecordFailedAuth(_ context.Context, id string, _ time.Time) error {
	w.calls = append(w.calls, "record "+id)
	return nil
}
func (w *fakeWriter) ResetFailedAuth(_ context.Context, id string) error {
	w.calls = append(w.calls, "reset "+id)
	return nil
}

func TestCheckerWritesThroughFailures(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	old := now.Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		auth    *LocalAuth
		run     func(c *Checker) error
		want    []string
		wantErr error
	}{
		{"failure of a local user is recorded", &LocalAuth{}, func(c *Checker) error { return c.Failed(context.Background(), "u") }, []string{"record u"}, nil},
		{"failure of a user without local_user writes nothing", nil, func(c *Checker) error { return c.Failed(context.Background(), "u") }, nil, nil},
		{"success resets a counter", &LocalAuth{FailedCount: 2, FailedAt: &old}, func(c *Checker) error { return c.Succeeded(context.Background(), "u") }, []string{"reset u"}, nil},
		{"success with a clean counter writes nothing", &LocalAuth{}, func(c *Checker) error { return c.Succeeded(context.Background(), "u") }, nil, nil},
		{"an expired lockout is reset before the user is usable", &LocalAuth{FailedCount: 3, FailedAt: &old}, func(c *Checker) error {
			_, err := c.Usable(context.Background(), "u")
			return err
		}, []string{"reset u"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWriter{}
			c := &Checker{Dir: &fakeDir{auth: tc.auth}, Failures: w, Lockout: Lockout{Attempts: 3, Duration: time.Minute}, Now: func() time.Time { return now }}
			if err := tc.run(c); !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if len(w.calls) != len(tc.want) || (len(w.calls) > 0 && w.calls[0] != tc.want[0]) {
				t.Fatalf("writes %q, want %q", w.calls, tc.want)
			}
			// Without a writer, the same steps fail loudly instead of
			// silently not counting.
			c.Failures = nil
			err := tc.run(c)
			if len(tc.want) > 0 && !errors.Is(err, ErrNoFailureWriter) {
				t.Fatalf("without Failures: error %v, want ErrNoFailureWriter", err)
			}
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("without Failures, nothing to write: error %v", err)
			}
		})
	}
}
