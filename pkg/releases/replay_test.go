package releases

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// recorded is one entry of a release's cases.json: a validation request
// made to the real release and its exact answer.
type recorded struct {
	Name           string            `json:"name"`
	AuthToken      *string           `json:"auth_token"`
	SubjectToken   *string           `json:"subject_token"`
	Query          string            `json:"query"`
	Method         string            `json:"method"`
	Status         int               `json:"status"`
	Body           string            `json:"body"`
	Headers        map[string]string `json:"headers"`
	RequestHeaders map[string]string `json:"request_headers"`
}

// detected is the release keystone-ng must name from each dump's
// migration versions (store.Schema.Release).
var detected = map[string]string{
	"queens": "Queens (13)", "rocky": "Rocky (14)", "train": "Train (16)", "ussuri": "Ussuri (17)",
	"wallaby": "Victoria (18) to Yoga (21)", "xena": "Victoria (18) to Yoga (21)", "yoga": "Victoria (18) to Yoga (21)",
	"zed": "Zed (22) or 2023.1 (23)", "2023_1": "Zed (22) or 2023.1 (23)", "2023_2": "2023.2 (24)",
	"2024_1": "2024.1 (25) to 2025.2 (28)", "2025_1": "2024.1 (25) to 2025.2 (28)", "2025_2": "2024.1 (25) to 2025.2 (28)",
	"2026_1": "2026.1 (29)",
}

// comparedHeaders are the response headers cases.json recorded.
var comparedHeaders = []string{"X-Subject-Token", "Content-Type"}

func releaseDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 14 {
		t.Fatalf("testdata holds %d releases, want the 14 recorded ones", len(dirs))
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	return dirs
}

// TestReleasesReplay is the replay described in the package comment: every
// recorded answer of every release must be keystone-ng's answer too.
func TestReleasesReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts keystone-ng on fourteen databases")
	}
	my := mariadb(t)
	bin := buildBinary(t)
	only := os.Getenv("KSNG_RELEASES") // a space-separated subset, for debugging
	for _, dir := range releaseDirs(t) {
		release := filepath.Base(dir)
		if only != "" && !slices.Contains(strings.Fields(only), release) {
			continue
		}
		t.Run(release, func(t *testing.T) {
			cases := readCases(t, dir)
			db := "keystone_ng_release_" + release
			my.load(t, db, filepath.Join(dir, "dump.sql"))
			conf := releaseConf(t, dir, my.url(db))
			ng, migrateOut := start(t, bin, conf)
			// `keystone-ng db migrate` names the release it detected.
			if want := "Keystone release (from the schema): " + detected[release] + " ("; detected[release] == "" || !strings.Contains(migrateOut, want) {
				t.Errorf("keystone-ng db migrate does not say %q:\n%s", want, migrateOut)
			}
			agree := 0
			for _, c := range cases {
				if diff := replay(ng, c); diff != "" {
					t.Errorf("%s: %s", c.Name, diff)
					continue
				}
				agree++
			}
			t.Logf("%s: %d of %d recorded answers agree", release, agree, len(cases))
		})
	}
}

func readCases(t *testing.T, dir string) []recorded {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []recorded
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("%s/cases.json: %v", dir, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s/cases.json: no cases", dir)
	}
	return cases
}

// replay sends one recorded request to keystone-ng and says how the answer
// differs from the release's ("" when it does not).
func replay(baseURL string, c recorded) string {
	req, err := http.NewRequest(c.Method, baseURL+"/v3/auth/tokens"+c.Query, nil)
	if err != nil {
		return err.Error()
	}
	if c.AuthToken != nil {
		req.Header.Set("X-Auth-Token", *c.AuthToken)
	}
	if c.SubjectToken != nil {
		req.Header.Set("X-Subject-Token", *c.SubjectToken)
	}
	for k, v := range c.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	var diffs []string
	if resp.StatusCode != c.Status {
		diffs = append(diffs, fmt.Sprintf("status %d, release answered %d", resp.StatusCode, c.Status))
	}
	for _, h := range comparedHeaders {
		want, recorded := c.Headers[h]
		got := resp.Header.Get(h)
		if recorded && got != want {
			diffs = append(diffs, fmt.Sprintf("header %s %q, release answered %q", h, got, want))
		}
		if !recorded && got != "" && h == "X-Subject-Token" {
			diffs = append(diffs, fmt.Sprintf("header %s sent, release sent none", h))
		}
	}
	if d := compareBodies(body, []byte(c.Body)); d != "" {
		diffs = append(diffs, d)
	}
	return strings.Join(diffs, "; ")
}

// compareBodies compares a body with the recorded one: byte for byte,
// except that the lists Python builds in an order that varies between its
// processes (a token's roles, its catalog and each catalog entry's
// endpoints) are compared without regard to order. Everything else (key
// order, spacing, a trailing newline) must be identical.
func compareBodies(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	g, w := canonical(got), canonical(want)
	if g != "" && g == w {
		return ""
	}
	return fmt.Sprintf("body\n  got  %s\n  want %s", clip(got), clip(want))
}

// unordered names the lists compared without regard to order.
var unordered = map[string]bool{"roles": true, "catalog": true, "endpoints": true}

// canonical re-renders a JSON body with the unordered lists sorted, keeping
// the body's own spacing style and trailing newline so that a difference of
// format still shows; "" when the body is not JSON.
func canonical(body []byte) string {
	trimmed := bytes.TrimRight(body, "\n")
	v, err := pyjson.Parse(trimmed)
	if err != nil {
		return ""
	}
	sortLists(v, "")
	out := string(pyjson.Marshal(v))
	// Record the original format: compact (Flask's jsonify) or spaced
	// (json.dumps), and the trailing newline.
	compact := !bytes.Contains(trimmed, []byte(": "))
	return fmt.Sprintf("compact=%v newline=%d %s", compact, len(body)-len(trimmed), out)
}

func sortLists(v pyjson.Value, key string) {
	switch x := v.(type) {
	case pyjson.Object:
		for _, m := range x {
			sortLists(m.Value, m.Key)
		}
	case []pyjson.Value:
		for _, e := range x {
			sortLists(e, "")
		}
		if unordered[key] {
			sort.SliceStable(x, func(i, j int) bool {
				return string(pyjson.Marshal(x[i])) < string(pyjson.Marshal(x[j]))
			})
		}
	}
}

func clip(b []byte) string {
	if len(b) > 1500 {
		return string(b[:1500]) + "..."
	}
	return string(b)
}

// releaseConf writes the release's keystone.conf with its database and a
// private copy of its key repositories (keystone-ng, like Python, wants
// keys only its owner can read).
func releaseConf(t *testing.T, dir, dbURL string) string {
	t.Helper()
	tmp := t.TempDir()
	for _, repo := range []string{"fernet-keys", "credential-keys"} {
		copyDir(t, filepath.Join(dir, repo), filepath.Join(tmp, repo))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "keystone.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	conf = regexp.MustCompile(`(?m)^connection = .*$`).ReplaceAllString(conf, "connection = "+dbURL)
	conf = regexp.MustCompile(`(?m)^key_repository = (fernet|credential)-keys/?$`).
		ReplaceAllStringFunc(conf, func(line string) string {
			name := strings.TrimSuffix(strings.TrimPrefix(line, "key_repository = "), "/")
			return "key_repository = " + filepath.Join(tmp, name)
		})
	if strings.Contains(conf, "/DBNAME") || strings.Contains(conf, "= fernet-keys") {
		t.Fatalf("%s/keystone.conf: a placeholder was left:\n%s", dir, conf)
	}
	path := filepath.Join(tmp, "keystone.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// --- MariaDB

type mariaDB struct{ user, host, port string }

// mariadb is the test machine's MariaDB (KSNG_TEST_MYSQL, default
// root@127.0.0.1:3306, as the store's conformance suite uses), reached
// with its command-line client, which loads the dumps as mysqldump wrote
// them. Unreachable: skipped, except under CI=true where it fails.
func mariadb(t *testing.T) mariaDB {
	t.Helper()
	spec := os.Getenv("KSNG_TEST_MYSQL")
	if spec == "" {
		spec = "root@127.0.0.1:3306"
	}
	user, hostPort, ok := strings.Cut(spec, "@")
	host, port, err := net.SplitHostPort(hostPort)
	if !ok || err != nil || strings.Contains(user, ":") {
		t.Fatalf("KSNG_TEST_MYSQL=%q: want user@host:port (no password)", spec)
	}
	m := mariaDB{user: user, host: host, port: port}
	if out, err := m.exec("", "SELECT 1"); err != nil {
		msg := fmt.Sprintf("MariaDB at %s unavailable: %v %s", spec, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return m
}

func (m mariaDB) client() string {
	if p, err := exec.LookPath("mariadb"); err == nil {
		return p
	}
	return "mysql"
}

func (m mariaDB) command(db string) *exec.Cmd {
	args := []string{"--protocol=tcp", "-h", m.host, "-P", m.port, "-u", m.user}
	if db != "" {
		args = append(args, db)
	}
	return exec.Command(m.client(), args...)
}

func (m mariaDB) exec(db, sql string) ([]byte, error) {
	cmd := m.command(db)
	cmd.Stdin = strings.NewReader(sql)
	return cmd.CombinedOutput()
}

// load creates db afresh from a dump and drops it when the test ends.
func (m mariaDB) load(t *testing.T, db, dump string) {
	t.Helper()
	if out, err := m.exec("", "DROP DATABASE IF EXISTS "+db+"; CREATE DATABASE "+db+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database %s: %v %s", db, err, out)
	}
	t.Cleanup(func() {
		if out, err := m.exec("", "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Logf("drop database %s: %v %s", db, err, out)
		}
	})
	f, err := os.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := m.command(db)
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load %s into %s: %v %s", dump, db, err, out)
	}
}

func (m mariaDB) url(db string) string {
	return fmt.Sprintf("mysql+pymysql://%s@%s/%s?charset=utf8mb4", m.user, net.JoinHostPort(m.host, m.port), db)
}

// --- keystone-ng

func buildBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("KSNG_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "keystone-ng")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/keystone-ng")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// start runs `keystone-ng db migrate` (its own tables, as an operator
// would) and `keystone-ng serve` on the release's configuration, and
// returns the base URL once /healthz answers, and what db migrate
// printed. The process is stopped when the test ends; its log is shown
// when the test failed.
func start(t *testing.T, bin, conf string) (string, string) {
	t.Helper()
	dir := filepath.Dir(conf)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ngConf := filepath.Join(dir, "ng.conf")
	if err := os.WriteFile(ngConf, []byte("[keystone_ng]\nlisten = "+addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config-file", conf, "--config-file", ngConf}
	migrateOut, err := exec.Command(bin, append([]string{"db", "migrate"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("keystone-ng db migrate: %v\n%s", err, migrateOut)
	}
	logPath := filepath.Join(dir, "keystone-ng.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("keystone-ng log (end):\n%s", b)
		}
	})
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("keystone-ng exited at start:\n%s", b)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, string(migrateOut)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("keystone-ng did not answer /healthz within 30s")
	return "", ""
}
