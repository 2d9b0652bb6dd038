package fernet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	// ErrNoKeys means the repository holds no usable key file. Python
	// raises KeysNotFound (HTTP 500) then; keystone-ng refuses to start
	// (docs/design.md §9).
	ErrNoKeys = errors.New("fernet: no usable keys in key repository")
	// ErrMalformedKey means a key file does not decode to 32 bytes.
	ErrMalformedKey = errors.New("fernet: key is not 32 URL-safe base64-encoded bytes")
)

// RepositoryError reports a problem with the key repository directory or
// one of its files. It never contains key material.
type RepositoryError struct {
	Dir  string
	File string // empty when the directory itself is the problem
	Err  error  // ErrNoKeys, ErrMalformedKey or an *fs.PathError
}

func (e *RepositoryError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("fernet key repository %s: file %s: %v", e.Dir, e.File, e.Err)
	}
	return fmt.Sprintf("fernet key repository %s: %v", e.Dir, e.Err)
}

func (e *RepositoryError) Unwrap() error { return e.Err }

// parseKeyID parses a key file name the way Python's int(filename) does in
// fernet_utils.py _get_key_files for ASCII names: surrounding whitespace,
// an optional sign and single underscores between digits are allowed
// ("1", "01", " 2", "1_0"). Names such as "0.tmp" or ".keep" are not keys.
func parseKeyID(name string) (int64, bool) {
	s := strings.Trim(name, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	s = strings.ReplaceAll(s, "_", "")
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// LoadRepository reads a Fernet key repository with Python's rules
// (fernet_utils.py FernetUtils.load_keys, docs/python-compat.md §1.2): only regular files
// (symlinks followed, as os.path.isfile does; Kubernetes secret volumes are
// symlinks) whose name is an integer are keys, empty files are skipped,
// each key file must decode to 32 bytes (Python's lenient URL-safe base64,
// so surrounding whitespace is ignored), and keys are ordered numerically
// descending: highest (primary) first, staged key 0 last. A missing or
// unreadable directory, an unreadable or malformed key file, or no key at
// all is an error: Python would fail every token operation in those cases.
// When two names parse to the same number ("1" and "01"), the one sorting
// last by name wins, like the dictionary overwrite in Python.
func LoadRepository(dir string) (*KeySet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &RepositoryError{Dir: dir, Err: err}
	}
	type file struct {
		id   int64
		name string
	}
	var files []file
	for _, e := range entries { // ReadDir sorts by name
		id, ok := parseKeyID(e.Name())
		if !ok {
			continue
		}
		files = append(files, file{id, e.Name()})
	}
	byID := map[int64]*key{}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // dangling symlink or removed meanwhile: not a file
			}
			return nil, &RepositoryError{Dir: dir, File: f.name, Err: err}
		}
		if !st.Mode().IsRegular() {
			continue
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return nil, &RepositoryError{Dir: dir, File: f.name, Err: err}
		}
		if len(content) == 0 {
			continue // Python logs "Ignoring empty key" and skips it
		}
		raw, err := DecodeURLSafeBase64(string(content))
		clear(content)
		if err != nil || len(raw) != 32 {
			return nil, &RepositoryError{Dir: dir, File: f.name, Err: ErrMalformedKey}
		}
		k, err := newKey(f.id, raw)
		clear(raw)
		if err != nil {
			return nil, &RepositoryError{Dir: dir, File: f.name, Err: err}
		}
		byID[f.id] = k
	}
	if len(byID) == 0 {
		return nil, &RepositoryError{Dir: dir, Err: ErrNoKeys}
	}
	ks := &KeySet{}
	for _, k := range byID {
		ks.keys = append(ks.keys, k)
	}
	slices.SortFunc(ks.keys, func(a, b *key) int {
		switch {
		case a.id > b.id:
			return -1
		case a.id < b.id:
			return 1
		}
		return 0
	})
	return ks, nil
}

// fingerprint summarises the directory cheaply: the integer-named entries
// with the size, modification time and inode of what they point to. A
// rotation (keystone-manage fernet_rotate: write 0.tmp, rename 0 to max+1,
// rename 0.tmp to 0, delete the oldest) or a Kubernetes secret update
// changes it; an unchanged fingerprint means no key needs re-reading.
func fingerprint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range entries {
		if _, ok := parseKeyID(e.Name()); !ok {
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

// Repository is a key repository kept current while the service runs: the
// KeySet in use is swapped atomically, so a request decrypts either with
// the old or the new set, never with a half-read one (docs/design.md §4: keys
// reloaded within a second without a restart).
type Repository struct {
	dir string
	cur atomic.Pointer[KeySet]

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

// ErrRepositoryChanging means the directory kept changing while it was
// read (a rotation in progress); the read is retried on the next poll.
var ErrRepositoryChanging = errors.New("fernet: key repository changed while being read")

// loadStable reads dir between two equal fingerprints, so that the KeySet
// is a snapshot of one state of the directory. Without this, a read racing
// a rotation could list "0" before the rename and read the new staged key,
// missing the new primary (a torn read seen in TestRotationWhileDecrypting).
func loadStable(dir string) (*KeySet, string, error) {
	fp, err := fingerprint(dir)
	if err != nil {
		return nil, "", &RepositoryError{Dir: dir, Err: err}
	}
	for range 5 {
		ks, err := LoadRepository(dir)
		if err != nil {
			return nil, "", err
		}
		after, err := fingerprint(dir)
		if err != nil {
			return nil, "", &RepositoryError{Dir: dir, Err: err}
		}
		if after == fp {
			return ks, fp, nil
		}
		fp = after
	}
	return nil, "", &RepositoryError{Dir: dir, Err: ErrRepositoryChanging}
}

// OpenRepository loads dir (see LoadRepository) and returns a Repository
// serving it. An error means the service must not start (docs/design.md §9).
func OpenRepository(dir string) (*Repository, error) {
	ks, fp, err := loadStable(dir)
	if err != nil {
		return nil, err
	}
	r := &Repository{dir: dir, fp: fp}
	r.cur.Store(ks)
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o005 != 0 {
		// fernet_utils.py validate_key_repository warns the same way.
		slog.Default().Warn("fernet key repository is world readable", "dir", dir)
	}
	return r, nil
}

// Dir returns the repository directory.
func (r *Repository) Dir() string { return r.dir }

// KeySet returns the keys currently in use.
func (r *Repository) KeySet() *KeySet { return r.cur.Load() }

// Decrypt is KeySet().Decrypt.
func (r *Repository) Decrypt(token string) ([]byte, time.Time, error) {
	return r.cur.Load().Decrypt(token)
}

// Encrypt is KeySet().Encrypt (primary key).
func (r *Repository) Encrypt(plaintext []byte, now time.Time) (string, error) {
	return r.cur.Load().Encrypt(plaintext, now)
}

// Stats returns how many reloads succeeded and failed so far.
func (r *Repository) Stats() (reloads, failures uint64) {
	return r.reloads.Load(), r.failures.Load()
}

func (r *Repository) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Reload re-reads the repository if its fingerprint changed. On failure
// the previous KeySet stays in use and the next call retries (a copy in
// progress, e.g. rsync from the node that rotated, may be half written).
// changed reports whether a reload was attempted.
func (r *Repository) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, err := fingerprint(r.dir)
	if err == nil && fp == r.fp {
		return false, nil
	}
	ks, fp, err := loadStable(r.dir)
	log := r.logger()
	if err != nil {
		r.failures.Add(1)
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			log.Warn("fernet key repository reload failed; keeping previous keys",
				"dir", r.dir, "error", msg, "keys", r.cur.Load().String())
		}
		if r.OnReload != nil {
			r.OnReload(false, r.cur.Load().Len())
		}
		return true, err
	}
	r.fp, r.lastErr = fp, ""
	r.cur.Store(ks)
	r.reloads.Add(1)
	log.Info("fernet key repository reloaded", "dir", r.dir, "keys", ks.String())
	if r.OnReload != nil {
		r.OnReload(true, ks.Len())
	}
	return true, nil
}

// Watch polls the repository every interval (500ms when interval <= 0, so a
// rotation is picked up within a second) until ctx is done. Polling the
// listing and file metadata is cheap and, unlike inotify, works on NFS,
// Kubernetes secret volumes and config-management rsyncs alike.
func (r *Repository) Watch(ctx context.Context, interval time.Duration) {
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
