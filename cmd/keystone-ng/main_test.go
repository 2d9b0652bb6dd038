package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"version"}, &out, &errb); rc != 0 || !strings.HasPrefix(out.String(), "keystone-ng ") {
		t.Fatalf("version: rc=%d out=%q", rc, out.String())
	}
	out.Reset()
	if rc := run(nil, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "usage:") {
		t.Fatalf("no args: rc=%d err=%q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"frobnicate"}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: rc=%d err=%q", rc, errb.String())
	}
}

// A configuration with several problems: check lists all of them and
// serve refuses to start.
func TestCheckAndServeRefuseBrokenSetup(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "empty-keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "keystone.conf")
	body := "[database]\nconnection = sqlite:///" + filepath.Join(dir, "missing-dir", "k.db") + "\n" +
		"[fernet_tokens]\nkey_repository = " + keys + "\n" +
		"[oslo_policy]\npolicy_file = " + filepath.Join(dir, "policy.yaml") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	rc := run([]string{"check", "--config-file", conf}, &out, &errb)
	if rc != 1 {
		t.Fatalf("check rc=%d, want 1\nstdout=%s\nstderr=%s", rc, out.String(), errb.String())
	}
	for _, want := range []string{"[fernet_tokens] key_repository", "[database] connection"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, errb.String())
		}
	}
	errb.Reset()
	if rc := run([]string{"serve", "--config-file", conf}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "refusing to start") {
		t.Fatalf("serve rc=%d stderr=%s", rc, errb.String())
	}

	// A typo in keystone-ng's own section is a configuration problem.
	bad := filepath.Join(dir, "ng.conf")
	if err := os.WriteFile(bad, []byte("[keystone_ng]\nlisten = 127.0.0.1:0\nlisten_adress = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if rc := run([]string{"serve", "--config-file", conf, "--config-file", bad}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "listen_adress") {
		t.Fatalf("typo not reported: rc=%d stderr=%s", rc, errb.String())
	}
}

func TestDBUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"db", "frob", "--config-file", "/nonexistent.conf"}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "usage: keystone-ng db") {
		t.Fatalf("rc=%d stderr=%s", rc, errb.String())
	}
	errb.Reset()
	// The subcommand before the flags is understood (and the missing file
	// is then reported as a configuration problem).
	if rc := run([]string{"db", "status", "--config-file", "/nonexistent.conf"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "/nonexistent.conf") {
		t.Fatalf("rc=%d stderr=%s", rc, errb.String())
	}
}
