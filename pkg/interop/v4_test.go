package interop

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// migrateOwn applies keystone-ng's own migrations to Python's database
// (the /v4 features keep their state in ng_ tables).
func migrateOwn(t *testing.T, env *pyEnv) {
	t.Helper()
	out, err := exec.Command(sidecarBinary(t), "db", "migrate", "--config-file", env.Conf).CombinedOutput()
	if err != nil {
		t.Fatalf("keystone-ng db migrate: %v\n%s", err, out)
	}
}

// outputDir is where a test writes artefacts a person may want to look at
// (screenshots): $KSNG_TEST_OUTPUT/<name>, by default
// <module>/test-output/<name>. It is emptied first.
func outputDir(t *testing.T, name string) string {
	t.Helper()
	base := os.Getenv("KSNG_TEST_OUTPUT")
	if base == "" {
		base = filepath.Join(moduleRoot(t), "test-output")
	}
	dir := filepath.Join(base, name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshots numbers the screenshots of one browser test in its output
// directory, across every browser it drives.
type screenshots struct {
	dir  string
	step int
}

// take saves a full-page screenshot of the browser ctx as
// <dir>/<NN>-<name>.png.
func (s *screenshots) take(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	s.step++
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.step, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// chromiumPath finds Debian's Chromium (deploy/keystone-py/run-interop.sh
// installs it). Missing, it skips the test, or fails it under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("KSNG_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found (apt-get install chromium; run-interop.sh does it)")
	}
	t.Skip("Chromium not found (apt-get install chromium)")
	return ""
}

// browser starts a headless Chromium with the flags this machine needs (no
// sandbox as root, no background networking to Google's hosts) and a fresh
// profile; it is closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var logs []string
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(f string, a ...any) {
		logs = append(logs, "chromedp: "+strings.TrimSpace(sprintf(f, a...)))
	}))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		if t.Failed() && len(logs) > 0 {
			t.Logf("%s", strings.Join(logs, "\n"))
		}
	})
	// Start the browser now (without a deadline: the first call's context
	// owns the browser) so a launch failure is reported here.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
