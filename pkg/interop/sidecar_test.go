package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// TestMain only cleans up the shared build directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// sidecarBinary returns KSNG_BIN, or builds ./cmd/keystone-ng once per test run.
func sidecarBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("KSNG_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		root := moduleRoot(t)
		buildDir, buildErr = os.MkdirTemp("", "ksng-interop-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "keystone-ng")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/keystone-ng")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/keystone-ng: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("cannot build keystone-ng: %v", buildErr)
	}
	return builtBin
}

// sidecar is a running keystone-ng serving the same database and keys as Python.
type sidecar struct {
	*ksClient
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSidecar starts `keystone-ng serve --config-file $KSPY_CONF --config-file ng.conf`
// and waits for GET /healthz = 200. It is stopped when the test ends; its log
// goes to t.Log when the test failed.
func startSidecar(t *testing.T, env *pyEnv) *sidecar {
	t.Helper()
	return startSidecarWith(t, env, "", "")
}

// loopbackIdPs is the [keystone_ng] line of a test whose identity
// providers listen on loopback: keystone-ng's outbound client refuses
// loopback unless the operator allows it (docs/security.md, "Outbound
// requests").
const loopbackIdPs = "outbound_allowed_networks = 127.0.0.0/8,::1/128\n"

// startSidecarWith is startSidecar with extra configuration: keystoneNG is
// appended to the [keystone_ng] section, extra (whole sections such as
// [webauthn]) after it; "{port}" in either stands for the listening port.
func startSidecarWith(t *testing.T, env *pyEnv, keystoneNG, extra string) *sidecar {
	t.Helper()
	bin := sidecarBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	ngConf := filepath.Join(dir, "ng.conf")
	p := strconv.Itoa(port)
	conf := fmt.Sprintf("[keystone_ng]\nlisten = 127.0.0.1:%d\nlog_format = json\n%s\n%s\n", port,
		strings.ReplaceAll(keystoneNG, "{port}", p), strings.ReplaceAll(extra, "{port}", p))
	if err := os.WriteFile(ngConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "keystone-ng.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config-file", env.Conf, "--config-file", ngConf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	sc := &sidecar{
		ksClient: newClient("keystone-ng", fmt.Sprintf("http://127.0.0.1:%d", port)),
		cmd:      cmd, logPath: logPath, done: make(chan struct{}),
	}
	go func() { sc.waitErr = cmd.Wait(); logf.Close(); close(sc.done) }()
	t.Cleanup(func() {
		sc.stop()
		if t.Failed() {
			sc.dumpLog(t, 300)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-sc.done:
			sc.dumpLog(t, 100)
			t.Fatalf("keystone-ng exited during startup: %v (log above)", sc.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", sc.base+"/healthz", nil)
		resp, err := sc.http.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			sc.dumpLog(t, 100)
			t.Fatalf("keystone-ng did not answer GET /healthz with 200 within 30s (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("keystone-ng serving on %s (pid %d, config %s + %s)", sc.base, cmd.Process.Pid, env.Conf, ngConf)
	return sc
}

func (sc *sidecar) stop() {
	select {
	case <-sc.done:
		return
	default:
	}
	_ = sc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sc.done:
	case <-time.After(10 * time.Second):
		_ = sc.cmd.Process.Kill()
		<-sc.done
	}
}

func (sc *sidecar) dumpLog(t testing.TB, maxLines int) {
	t.Helper()
	b, err := os.ReadFile(sc.logPath)
	if err != nil {
		t.Logf("keystone-ng log unreadable: %v", err)
		return
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	t.Logf("---- keystone-ng log (last %d lines) ----\n%s\n---- end of keystone-ng log ----", len(lines), strings.Join(lines, "\n"))
}
