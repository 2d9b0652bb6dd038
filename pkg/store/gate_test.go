package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

func TestRoundGate(t *testing.T) {
	t.Run("nil gate never waits", func(t *testing.T) {
		g := newRoundGate(0)
		if g != nil {
			t.Fatal("newRoundGate(0) should be nil")
		}
		for range 100 {
			if waited, err := g.enter(context.Background()); err != nil || waited != 0 {
				t.Fatal(waited, err)
			}
		}
		g.leave()
	})
	t.Run("never more than n inside", func(t *testing.T) {
		const n, callers = 3, 40
		g := newRoundGate(n)
		var (
			mu       sync.Mutex
			in, most int
			wg       sync.WaitGroup
			admitted int
		)
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := g.enter(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				in++
				admitted++
				most = max(most, in)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				in--
				mu.Unlock()
				g.leave()
			}()
		}
		wg.Wait()
		if most > n || admitted != callers {
			t.Fatalf("at most %d inside (bound %d), %d of %d admitted", most, n, admitted, callers)
		}
	})
	t.Run("a cancelled wait gives up", func(t *testing.T) {
		g := newRoundGate(1)
		if waited, err := g.enter(context.Background()); err != nil || waited != 0 {
			t.Fatalf("first place: waited %v, err %v", waited, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		waited, err := g.enter(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		// The wait is reported even when it was given up.
		if waited < 10*time.Millisecond {
			t.Fatalf("waited %v, want about the 20ms deadline", waited)
		}
		g.leave()
		if len(g) != 0 {
			t.Fatalf("%d places held after the holder left", len(g))
		}
	})
}

// Each round reports its wait at the gate: zero when a place is free, the
// time spent in line otherwise; and a round runs all its lookups.
func TestRoundWaitReported(t *testing.T) {
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	r := &Reader{}
	r.Limit(config.DBLimits{Rounds: 1}, Waits{Round: func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}})
	var ran atomic.Int32
	look := func() error { ran.Add(1); return nil }
	if err := r.Round(context.Background(), look, look, look); err != nil || ran.Load() != 3 {
		t.Fatalf("round: err %v, %d of 3 lookups ran", err, ran.Load())
	}
	mu.Lock()
	if len(waits) != 1 || waits[0] != 0 {
		t.Fatalf("waits with a free place = %v, want one zero", waits)
	}
	waits = nil
	mu.Unlock()

	r.gate <- struct{}{} // the only place is taken
	done := make(chan error, 1)
	go func() { done <- r.Round(context.Background(), look) }()
	time.Sleep(5 * time.Millisecond)
	<-r.gate
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 1 || waits[0] <= 0 {
		t.Fatalf("waits after queueing = %v, want one positive wait", waits)
	}
}

// A round whose wait ends with its context fails without running.
func TestRoundGivesUp(t *testing.T) {
	r := &Reader{}
	r.Limit(config.DBLimits{Rounds: 1}, Waits{})
	r.gate <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Round(ctx, func() error { t.Error("a lookup ran"); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
