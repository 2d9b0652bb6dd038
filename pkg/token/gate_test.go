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
			if err := g.enter(context.Background()); err != nil {
				t.Fatal(err)
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
				if err := g.enter(context.Background()); err != nil {
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
		_ = g.enter(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := g.enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		g.leave()
		if len(g) != 0 {
			t.Fatalf("%d places held after the holder left", len(g))
		}
	})
}
