package interop

import (
	"bufio"
	"context"
	"fmt"
	"github.com/uptrace/bun"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// pyEnv is what deploy/keystone-py/up.sh wrote into $KSPY_STATE_DIR/env.
type pyEnv struct {
	vars map[string]string

	URL           string // http://127.0.0.1:PORT/v3
	BaseURL       string // http://127.0.0.1:PORT
	Conf          string // keystone.conf shared with keystone-ng
	DB            string // mysql | postgresql | sqlite
	DBURL         string // SQLAlchemy URL
	FernetDir     string
	CredentialDir string
	StateDir      string
	AdminUser     string
	AdminPassword string
	AdminProject  string
	ServiceUser   string // system user owning the key repositories ("keystone")
	// TokenProvider is Python's [token] provider, fernet or jws
	// (KSPY_TOKEN_PROVIDER; env files of older up.sh runs lack it: fernet).
	TokenProvider string
	JWSPublicDir  string // [jwt_tokens] jws_public_key_repository (jws only)
	JWSPrivateDir string // [jwt_tokens] jws_private_key_repository (jws only)
}

// jws reports a Python Keystone configured for JWS tokens.
func (e *pyEnv) jws() bool { return e.TokenProvider == "jws" }

// skipUnlessFernet skips a test that only makes sense for Fernet tokens
// (crafted Fernet payloads, Fernet key rotation).
func skipUnlessFernet(t testing.TB, e *pyEnv, why string) {
	t.Helper()
	if e.TokenProvider != "fernet" {
		t.Skipf("Fernet only (%s): Python is configured for [token] provider = %s", why, e.TokenProvider)
	}
}

// loadEnv reads the file named by KSNG_INTEROP_ENV, or skips the test.
func loadEnv(t testing.TB) *pyEnv {
	t.Helper()
	path := os.Getenv("KSNG_INTEROP_ENV")
	if path == "" {
		t.Skip("KSNG_INTEROP_ENV is not set: start Python Keystone with deploy/keystone-py/up.sh " +
			"and set KSNG_INTEROP_ENV=$KSPY_STATE_DIR/env (or run deploy/keystone-py/run-interop.sh)")
	}
	vars, err := parseEnvFile(path)
	if err != nil {
		t.Fatalf("KSNG_INTEROP_ENV=%s: %v", path, err)
	}
	e := &pyEnv{vars: vars}
	need := func(k string) string {
		v := vars[k]
		if v == "" {
			t.Fatalf("KSNG_INTEROP_ENV=%s: %s is missing or empty (was the file written by deploy/keystone-py/up.sh?)", path, k)
		}
		return v
	}
	e.URL = strings.TrimRight(need("KSPY_URL"), "/")
	e.BaseURL = strings.TrimSuffix(e.URL, "/v3")
	e.Conf = need("KSPY_CONF")
	e.DB = need("KSPY_DB")
	e.DBURL = need("KSPY_DB_URL")
	e.FernetDir = need("KSPY_FERNET_DIR")
	e.CredentialDir = need("KSPY_CREDENTIAL_DIR")
	e.StateDir = need("KSPY_STATE_DIR")
	e.AdminUser = need("KSPY_ADMIN_USER")
	e.AdminPassword = need("KSPY_ADMIN_PASSWORD")
	e.AdminProject = need("KSPY_ADMIN_PROJECT")
	e.TokenProvider = vars["KSPY_TOKEN_PROVIDER"]
	if e.TokenProvider == "" {
		e.TokenProvider = "fernet"
	}
	if e.jws() {
		e.JWSPublicDir = need("KSPY_JWS_PUBLIC_DIR")
		e.JWSPrivateDir = need("KSPY_JWS_PRIVATE_DIR")
	}
	e.ServiceUser = vars["KSPY_SERVICE_USER"]
	if e.ServiceUser == "" {
		e.ServiceUser = "keystone"
	}
	return e
}

// parseEnvFile reads KEY=VALUE lines as up.sh writes them: values are bare or
// single-quoted shell words ('...', with '\” standing for one quote); # starts a comment line.
func parseEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		val, err := shellUnquote(v)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %v", n, k, err)
		}
		out[k] = val
	}
	return out, sc.Err()
}

func shellUnquote(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated single quote in %q", s)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case '\\':
			if i+1 < len(s) {
				b.WriteByte(s[i+1])
			}
			i += 2
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// moduleRoot finds the directory holding go.mod, starting at the test's cwd.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// keystoneManage runs keystone-manage with Python's config file as the keystone
// user (so new key files get the owner Python expects), e.g. fernet_rotate.
func keystoneManage(t testing.TB, env *pyEnv, args ...string) string {
	t.Helper()
	return keystoneManageIn(t, env, "", args...)
}

// keystoneManageIn is keystoneManage run in dir ("" = the test's own
// directory): create_jws_keypair writes into its working directory.
func keystoneManageIn(t testing.TB, env *pyEnv, dir string, args ...string) string {
	t.Helper()
	full := append([]string{"--config-file", env.Conf}, args...)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", env.ServiceUser, "--", "keystone-manage"}, full...)...)
	} else {
		cmd = exec.Command("keystone-manage", full...)
	}
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keystone-manage %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fernetRotate runs `keystone-manage fernet_rotate` the way operators do.
func fernetRotate(t testing.TB, env *pyEnv) {
	t.Helper()
	keystoneManage(t, env, "fernet_rotate", "--keystone-user", env.ServiceUser, "--keystone-group", env.ServiceUser)
}

// keyFiles lists the key repository (names only), for logs: the Fernet
// one, or the JWS public keys.
func keyFiles(env *pyEnv) []string {
	dir := env.FernetDir
	if env.jws() {
		dir = env.JWSPublicDir
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestParseEnvFile needs no Keystone: the env file format up.sh writes.
func TestParseEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	content := "# comment\nKSPY_URL=http://127.0.0.1:5000/v3\n" +
		"KSPY_DB_URL='mysql+pymysql://u:p@127.0.0.1:3306/db?charset=utf8mb4'\n" +
		"KSPY_ADMIN_PASSWORD='it'\\''s'\nKSPY_MEMCACHED_PORT=\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parseEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"KSPY_URL":            "http://127.0.0.1:5000/v3",
		"KSPY_DB_URL":         "mysql+pymysql://u:p@127.0.0.1:3306/db?charset=utf8mb4",
		"KSPY_ADMIN_PASSWORD": "it's",
		"KSPY_MEMCACHED_PORT": "",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// openPythonDB opens Python's database with one connection, closed when
// the test ends, for what the tests read or write directly.
func openPythonDB(t *testing.T, env *pyEnv) (*bun.DB, store.Target) {
	t.Helper()
	target, err := store.ParseURL(env.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), target, store.PoolOptions{MaxPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, target
}

// directSQL opens Python's database for states its API cannot produce; the
// returned function runs one statement and fails the test on error. The
// connection closes when the test ends.
func directSQL(t *testing.T, env *pyEnv) func(t *testing.T, q string, args ...any) {
	t.Helper()
	db, _ := openPythonDB(t, env)
	return func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// sideBySide is the start of a test that builds its own entities through
// Python's API and compares Python's answers with a fresh keystone-ng's.
type sideBySide struct {
	env   *pyEnv
	py    *ksClient
	chk   pair
	admin string // Python's bootstrap admin, project-scoped
	sfx   string
	kind  string
}

// testPassword is the password of the users these tests create.
const testPassword = "Interop-pw-1"

func newSideBySide(t *testing.T, kind string) *sideBySide {
	t.Helper()
	env := loadEnv(t)
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	return &sideBySide{env: env, py: py, chk: pair{py: py, ng: ng}, admin: adminLogin(t, py, env).Token, sfx: randSuffix(t), kind: kind}
}

// name is a unique entity name for this test run.
func (s *sideBySide) name(base string) string { return "ng-" + s.kind + "-" + base + "-" + s.sfx }

// project creates a project in the default domain.
func (s *sideBySide) project(t *testing.T, base string) string {
	t.Helper()
	return idOf(s.py.create(t, s.admin, "/v3/projects", "project", map[string]any{"name": s.name(base), "domain_id": "default"}))
}

// user creates a user in the default domain with testPassword.
func (s *sideBySide) user(t *testing.T, base string) string {
	t.Helper()
	return idOf(s.py.create(t, s.admin, "/v3/users", "user", map[string]any{"name": s.name(base), "domain_id": "default", "password": testPassword}))
}
