package store

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// BenchmarkValidateProjectToken validates and renders a project-scoped
// admin token against a real Keystone database: set KSNG_BENCH_CONF to a
// keystone.conf (for example the one deploy/keystone-py/up.sh writes).
//
//	KSNG_BENCH_CONF=/tmp/keystone-ng-bench-mysql/keystone.conf go test -run '^$' -bench ValidateProjectToken ./pkg/store
func BenchmarkValidateProjectToken(b *testing.B) {
	path := os.Getenv("KSNG_BENCH_CONF")
	if path == "" {
		b.Skip("KSNG_BENCH_CONF not set")
	}
	cfg, err := config.Load(config.LoadOptions{Files: []string{path}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t, err := ParseURL(cfg.Database.Connection)
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(ctx, t, PoolOptions{MaxPoolSize: 5, MaxOverflow: 50})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	keys, err := fernet.LoadRepository(cfg.FernetTokens.KeyRepository)
	if err != nil {
		b.Fatal(err)
	}
	var userID, projectID string
	if err := db.QueryRowContext(ctx, "SELECT user_id FROM local_user WHERE name = 'admin'").Scan(&userID); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT id FROM project WHERE name = 'admin' AND is_domain = ?", false).Scan(&projectID); err != nil {
		b.Fatal(err)
	}
	codec := &payload.Codec{Methods: cfg.Auth.Methods}
	plain, err := codec.Encode(&payload.Payload{Version: 2, UserID: userID, Methods: []string{"password"}, ProjectID: projectID,
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second), AuditIDs: []string{"q2x9fQnLQm-1zP3rV0y0lg"}})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := keys.Encrypt(plain, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	v := &token.Validator{Keys: keys, Codec: codec, Store: NewCachedCatalog(NewReader(db), time.Second), Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settings: token.Settings{ReturnAllEndpointsIfNoFilter: true}}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			got, err := v.Validate(ctx, token.Request{Token: tok, Catalog: true})
			if err != nil {
				b.Fatal(err)
			}
			_ = pyjson.Marshal(v.Render(got, true))
		}
	})
}
