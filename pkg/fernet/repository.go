package fernet

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keyrepo"
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

// isKeyName reports whether a directory entry is a key file by name.
func isKeyName(name string) bool {
	_, ok := parseKeyID(name)
	return ok
}

// repositoryKind is the Fernet key repository for pkg/keyrepo: reloaded by
// the same rule as the JWS public key repository.
var repositoryKind = &keyrepo.Kind[*KeySet]{
	Name:  "fernet key repository",
	IsKey: isKeyName,
	Load:  LoadRepository,
}

// Repository is a key repository kept current while the service runs
// (pkg/keyrepo): the KeySet in use is swapped atomically, so a request
// decrypts either with the old or the new set, never with a half-read one
// (docs/design.md §4: keys reloaded within a second without a restart).
// Reload, Watch, Stats, Dir, OnReload and Logger are keyrepo's.
type Repository struct {
	*keyrepo.Repository[*KeySet]
}

// ErrRepositoryChanging means the directory kept changing while it was
// read (a rotation in progress); the read is retried on the next poll.
var ErrRepositoryChanging = keyrepo.ErrChanging

// OpenRepository loads dir (see LoadRepository) and returns a Repository
// serving it. An error means the service must not start (docs/design.md §9).
func OpenRepository(dir string) (*Repository, error) {
	r, err := keyrepo.Open(repositoryKind, dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o005 != 0 {
		// fernet_utils.py validate_key_repository warns the same way.
		slog.Default().Warn("fernet key repository is world readable", "dir", dir)
	}
	return &Repository{r}, nil
}

// KeySet returns the keys currently in use.
func (r *Repository) KeySet() *KeySet { return r.Current() }

// Decrypt is KeySet().Decrypt.
func (r *Repository) Decrypt(token string) ([]byte, time.Time, error) {
	return r.Current().Decrypt(token)
}

// Encrypt is KeySet().Encrypt (primary key).
func (r *Repository) Encrypt(plaintext []byte, now time.Time) (string, error) {
	return r.Current().Encrypt(plaintext, now)
}
