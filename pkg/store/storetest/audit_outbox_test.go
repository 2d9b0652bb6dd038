package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// The outbox gives events back in the order they were queued, removes
// exactly the delivered ones, and lets one drainer at a time hold the
// lease (docs/audit.md §4), on every backend.
func TestAuditOutbox(t *testing.T) {
	Each(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		o := store.NewAuditOutbox(b.DB)
		now := time.Unix(1_800_000_000, 0)
		for i := range 5 {
			if err := o.Append(ctx, "identity.authenticate", []byte(fmt.Sprintf(`{"n": %d}`, i)), now); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := o.Count(ctx); err != nil || n != 5 {
			t.Fatalf("Count = %d, %v; want 5", n, err)
		}
		recs, err := o.Pending(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 {
			t.Fatalf("Pending(3) gave %d records", len(recs))
		}
		for i, r := range recs {
			if want := fmt.Sprintf(`{"n": %d}`, i); string(r.Message) != want || r.EventType != "identity.authenticate" {
				t.Errorf("record %d = %q %q, want %q", i, r.EventType, r.Message, want)
			}
		}
		// The second is removed alone (delivered out of a batch): the
		// others stay, in order.
		if err := o.Remove(ctx, []int64{recs[0].ID, recs[1].ID}); err != nil {
			t.Fatal(err)
		}
		rest, err := o.Pending(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rest {
			got = append(got, string(r.Message))
		}
		if want := []string{`{"n": 2}`, `{"n": 3}`, `{"n": 4}`}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after Remove: %q, want %q", got, want)
		}

		lease := []struct {
			holder string
			until  time.Time
			now    time.Time
			want   bool
		}{
			{"a", now.Add(30 * time.Second), now, true},                        // free (the migration's row expired at 0)
			{"b", now.Add(40 * time.Second), now.Add(10 * time.Second), false}, // a's runs until now+30s
			{"a", now.Add(45 * time.Second), now.Add(15 * time.Second), true},  // a renews
			{"b", now.Add(90 * time.Second), now.Add(60 * time.Second), true},  // a's ran out
			{"a", now.Add(95 * time.Second), now.Add(65 * time.Second), false},
		}
		for i, l := range lease {
			got, err := o.Lease(ctx, l.holder, l.until, l.now)
			if err != nil {
				t.Fatal(err)
			}
			if got != l.want {
				t.Errorf("lease step %d (%s): got %v, want %v", i, l.holder, got, l.want)
			}
		}
	})
}
