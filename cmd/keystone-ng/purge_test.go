package main

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/migrations"
	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
)

// expiringTables are keystone-ng's tables with an expires_at column, read
// from the migrations (so a new one is noticed here).
func expiringTables(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "sqlite/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	create := regexp.MustCompile(`(?is)CREATE TABLE (?:IF NOT EXISTS )?(ng_\w+)\s*\((.*?)\);`)
	var out []string
	for _, f := range files {
		b, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range create.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[2], "expires_at") {
				out = append(out, m[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

func testApp(t *testing.T, passkeys bool) (*app, *storetest.Backend) {
	t.Helper()
	b := storetest.Open(t, "sqlite", storetest.PythonTables("sqlite")...)
	cfg := config.Defaults()
	if passkeys {
		cfg.WebAuthn.RelyingPartyID = "cloud.example.com"
		cfg.WebAuthn.RelyingPartyOrigins = []string{"https://cloud.example.com"}
	}
	return &app{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), db: b.DB, dialect: b.Dialect, reader: store.NewReader(b.DB)}, b
}

// Every table with an expiry has a purger that serve runs, and every
// purger runs on a migrated database.
func TestEveryExpiringTableIsPurged(t *testing.T) {
	tables := expiringTables(t)
	if len(tables) < 3 {
		t.Fatalf("expiring tables %v: the migrations were not read", tables)
	}
	a, _ := testApp(t, true)
	ctx := context.Background()
	v4, purgers, err := a.v4(ctx, a.server(nil))
	if err != nil || v4 == nil {
		t.Fatalf("v4: %v, %v", v4, err)
	}
	have := map[string]bool{}
	for _, p := range purgers {
		have[p.Name()] = true
		if _, err := p.Purge(ctx, time.Now()); err != nil {
			t.Errorf("purger %s: %v", p.Name(), err)
		}
	}
	for _, tb := range tables {
		if !have[tb] {
			t.Errorf("table %s has expires_at but no purger (have %v)", tb, have)
		}
	}
}

// Ceremonies left from when passkeys were on are purged after the
// operator turns them off.
func TestCeremoniesPurgedWithPasskeysOff(t *testing.T) {
	a, b := testApp(t, false)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).UnixMicro()
	if _, err := b.DB.ExecContext(ctx, `INSERT INTO ng_passkey_ceremonies (id, kind, user_id, decoy, name, session, created_at, expires_at)
		VALUES ('old', 'login', NULL, ?, '', '{}', ?, ?)`, false, past, past); err != nil {
		t.Fatal(err)
	}
	_, purgers, err := a.v4(ctx, a.server(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range purgers {
		if _, err := p.Purge(ctx, time.Now()); err != nil {
			t.Fatalf("purger %s: %v", p.Name(), err)
		}
	}
	if n := storetest.Count(t, b.DB, "ng_passkey_ceremonies"); n != 0 {
		t.Fatalf("%d expired ceremonies left with passkeys off", n)
	}
}

type countingPurger struct{ n atomic.Int32 }

func (p *countingPurger) Purge(context.Context, time.Time) (int64, error) { p.n.Add(1); return 1, nil }
func (p *countingPurger) Name() string                                    { return "ng_test" }

// purgeLoop runs every purger each interval until its context ends.
func TestPurgeLoopRunsPurgers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p1, p2 := &countingPurger{}, &countingPurger{}
	done := make(chan struct{})
	go func() {
		purgeLoop(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), 5*time.Millisecond, []Purger{p1, p2})
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for (p1.n.Load() < 2 || p2.n.Load() < 2) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if p1.n.Load() < 2 || p2.n.Load() < 2 {
		t.Fatalf("purgers ran %d and %d times, want at least twice each", p1.n.Load(), p2.n.Load())
	}
}

// Python publishing its notifications to a bus keystone-ng cannot reach
// (Kafka here) leaves /v4 off, so that nothing happens there without an
// audit event; the service still starts (validation emits no event).
func TestV4OffWhenTheAuditBusIsUnsupported(t *testing.T) {
	a, _ := testApp(t, true)
	a.cfg.Notifications.Driver = []string{"messagingv2"}
	a.cfg.Notifications.TransportURL = "kafka://k:9092/"
	v4, purgers, err := a.v4(context.Background(), a.server(nil))
	if err != nil || v4 != nil || purgers != nil {
		t.Fatalf("v4 %v, purgers %v, err %v; want /v4 off without an error", v4, purgers, err)
	}
	a.cfg.Notifications.TransportURL = "rabbit://guest:guest@127.0.0.1:1/"
	if v4, _, err := a.v4(context.Background(), a.server(nil)); err != nil || v4 == nil {
		t.Fatalf("with RabbitMQ: v4 %v, err %v", v4, err)
	}
}
