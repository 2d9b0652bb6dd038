package token

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	t.Run("nil gate never waits", func(t *testing.T) {
		var g Gate = NewGate(0)
		if g != nil {
			t.Fatal("NewGate(0) should be nil")
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
		g := NewGate(n)
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
		g := NewGate(1)
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
