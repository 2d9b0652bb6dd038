package keyrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// names is a toy key set: the key files' names.
type names []string

func (n names) Len() int       { return len(n) }
func (n names) String() string { return strings.Join(n, ",") }

var errEmpty = errors.New("no key")

// toy: files ending in .key are keys; a file containing "bad" fails the load.
var toy = &Kind[names]{
	Name:  "toy key repository",
	IsKey: func(n string) bool { return strings.HasSuffix(n, ".key") },
	Load: func(dir string) (names, error) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		var out names
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".key") {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if string(b) == "bad" {
				return nil, errors.New("bad key " + e.Name())
			}
			out = append(out, e.Name())
		}
		if len(out) == 0 {
			return nil, errEmpty
		}
		return out, nil
	},
}

func put(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadRule: open, reload only on change, keep the previous set on a
// failed reload, report through OnReload, and stop watching with ctx.
func TestReloadRule(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(toy, dir); !errors.Is(err, errEmpty) {
		t.Fatalf("empty: %v", err)
	}
	var e *Error
	if _, err := Open(toy, filepath.Join(dir, "missing")); !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "toy key repository ") {
		t.Fatalf("missing dir: %v", err)
	}
	put(t, dir, "a.key", "k")
	r, err := Open(toy, dir)
	if err != nil {
		t.Fatal(err)
	}
	var oks, fails atomic.Int32
	r.OnReload = func(ok bool, n int) {
		if ok {
			oks.Add(1)
		} else {
			fails.Add(1)
		}
	}
	if changed, _ := r.Reload(); changed {
		t.Fatal("unchanged directory reloaded")
	}
	put(t, dir, "notes.txt", "ignored")
	if changed, _ := r.Reload(); changed {
		t.Fatal("a non-key file triggered a reload")
	}
	put(t, dir, "b.key", "bad")
	if changed, err := r.Reload(); !changed || err == nil {
		t.Fatalf("bad key: %v %v", changed, err)
	}
	if got := r.Current().String(); got != "a.key" {
		t.Fatalf("after a failed reload: %s", got)
	}
	put(t, dir, "b.key", "good")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for r.Current().Len() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up b.key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if ok, failed := r.Stats(); ok != 1 || failed != 1 || oks.Load() != 1 || fails.Load() != 1 {
		t.Fatalf("stats %d/%d, callbacks %d/%d", ok, failed, oks.Load(), fails.Load())
	}
}
