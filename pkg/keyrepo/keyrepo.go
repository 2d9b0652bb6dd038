// Package keyrepo keeps a key repository directory current while the
// service runs: the Fernet key repository ([fernet_tokens] key_repository,
// [credential] key_repository) and the JWS public key repository
// ([jwt_tokens] jws_public_key_repository) are reloaded by the same rule
// (docs/design.md §4: keys reloaded within a second without a restart).
//
// The rule: poll a cheap fingerprint of the directory (the key entries'
// names, sizes, modification times, inodes and modes); when it changes,
// read the keys between two equal fingerprints and swap the key set in
// use atomically. A failed read keeps the previous keys and is retried on
// the next poll.
package keyrepo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Set is a loaded key set.
type Set interface {
	// Len is the number of usable keys.
	Len() int
	// String describes the keys for logs, without key material.
	String() string
}

// Kind describes one kind of key repository.
type Kind[T Set] struct {
	// Name names the repository in logs ("fernet key repository").
	Name string
	// IsKey reports whether a directory entry name is a key file; only
	// those entries make the fingerprint.
	IsKey func(name string) bool
	// Load reads the whole directory into a key set, or fails; it must
	// fail rather than return an empty set.
	Load func(dir string) (T, error)
}

// ErrChanging means the directory kept changing while it was read (a
// rotation in progress); the read is retried on the next poll.
var ErrChanging = errors.New("key repository changed while being read")

// Error reports a problem with the directory itself. It never contains
// key material.
type Error struct {
	Name string // the Kind's Name
	Dir  string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Name, e.Dir, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Fingerprint summarises dir cheaply: the entries isKey accepts with the
// size, modification time, inode and mode of what they point to. A
// rotation (write, rename, delete) or a Kubernetes secret update (a
// symlink swap) changes it; an unchanged fingerprint means no key needs
// re-reading.
func Fingerprint(dir string, isKey func(string) bool) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range entries {
		if !isKey(e.Name()) {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			fmt.Fprintf(&b, "%s:!%v;", e.Name(), err)
			continue
		}
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
		fmt.Fprintf(&b, "%s:%d:%d:%d:%d;", e.Name(), st.Size(), st.ModTime().UnixNano(), ino, st.Mode())
	}
	return b.String(), nil
}

// loadStable reads dir between two equal fingerprints, so that the set is
// a snapshot of one state of the directory. Without this, a read racing a
// Fernet rotation could list "0" before the rename and read the new staged
// key, missing the new primary (a torn read seen in the Fernet package's
// TestRotationWhileDecrypting).
func loadStable[T Set](k *Kind[T], dir string) (T, string, error) {
	var zero T
	fp, err := Fingerprint(dir, k.IsKey)
	if err != nil {
		return zero, "", &Error{Name: k.Name, Dir: dir, Err: err}
	}
	for range 5 {
		set, err := k.Load(dir)
		if err != nil {
			return zero, "", err
		}
		after, err := Fingerprint(dir, k.IsKey)
		if err != nil {
			return zero, "", &Error{Name: k.Name, Dir: dir, Err: err}
		}
		if after == fp {
			return set, fp, nil
		}
		fp = after
	}
	return zero, "", &Error{Name: k.Name, Dir: dir, Err: ErrChanging}
}

// Repository is a key repository kept current: the set in use is swapped
// atomically, so a request uses either the old or the new set, never a
// half-read one.
type Repository[T Set] struct {
	kind *Kind[T]
	dir  string
	cur  atomic.Pointer[T]

	// OnReload, when set before Watch starts, is called after every
	// reload attempt triggered by a change (ok=false: the change left the
	// repository unusable and the previous keys stay in use; keys is the
	// number of keys in use afterwards). Wire it to Prometheus counters.
	OnReload func(ok bool, keys int)
	// Logger receives reload events; nil means slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex // serialises Reload
	fp      string
	lastErr string

	reloads  atomic.Uint64
	failures atomic.Uint64
}

// Open loads dir with k (between two equal fingerprints) and returns a
// Repository serving it. An error means the service must not start
// (docs/design.md §9).
func Open[T Set](k *Kind[T], dir string) (*Repository[T], error) {
	set, fp, err := loadStable(k, dir)
	if err != nil {
		return nil, err
	}
	r := &Repository[T]{kind: k, dir: dir, fp: fp}
	r.cur.Store(&set)
	return r, nil
}

// Dir returns the repository directory.
func (r *Repository[T]) Dir() string { return r.dir }

// Current returns the key set in use.
func (r *Repository[T]) Current() T { return *r.cur.Load() }

// Stats returns how many reloads succeeded and failed so far.
func (r *Repository[T]) Stats() (reloads, failures uint64) {
	return r.reloads.Load(), r.failures.Load()
}

func (r *Repository[T]) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Reload re-reads the repository if its fingerprint changed. On failure
// the previous set stays in use and the next call retries (a copy in
// progress, e.g. rsync from the node that rotated, may be half written).
// changed reports whether a reload was attempted.
func (r *Repository[T]) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, err := Fingerprint(r.dir, r.kind.IsKey)
	if err == nil && fp == r.fp {
		return false, nil
	}
	set, fp, err := loadStable(r.kind, r.dir)
	log := r.logger()
	if err != nil {
		r.failures.Add(1)
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			log.Warn(r.kind.Name+" reload failed; keeping previous keys",
				"dir", r.dir, "error", msg, "keys", r.Current().String())
		}
		if r.OnReload != nil {
			r.OnReload(false, r.Current().Len())
		}
		return true, err
	}
	r.fp, r.lastErr = fp, ""
	r.cur.Store(&set)
	r.reloads.Add(1)
	log.Info(r.kind.Name+" reloaded", "dir", r.dir, "keys", set.String())
	if r.OnReload != nil {
		r.OnReload(true, set.Len())
	}
	return true, nil
}

// Watch polls the repository every interval (500ms when interval <= 0, so a
// change is picked up within a second) until ctx is done. Polling the
// listing and file metadata is cheap and, unlike inotify, works on NFS,
// Kubernetes secret volumes and config-management rsyncs alike.
func (r *Repository[T]) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Reload()
		}
	}
}
