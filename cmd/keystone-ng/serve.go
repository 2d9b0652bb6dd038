package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/ratelimit"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

func serve(ctx context.Context, o *cliOptions, stderr io.Writer) int {
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "keystone-ng: configuration problems:\n%v\n", err)
		return 1
	}
	log := newLogger(cfg, stderr)
	gcPercent, gcLimit := gcDefaults(os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")).apply()
	a, err := assemble(ctx, cfg, log)
	if err != nil {
		log.Error("refusing to start", "error", err)
		return 1
	}
	defer a.close()

	var (
		m     *httpapi.Metrics
		waits store.Waits
	)
	if cfg.KeystoneNG.MetricsEnabled {
		m = httpapi.NewMetrics(a.db.DB)
		m.CountDBQueries(a.reader.Queries)
		m.CountDBBatches(a.reader.Batched)
		m.CountDBCoalesced(a.reader.Coalesced)
		waits = store.Waits{Round: m.DBWait, Statement: m.DBStatementWait}
		if a.identity != nil {
			a.identity.OnSearch(m.LDAPSearch)
		}
		a.keys.onReload(func(ok bool, n int) {
			if ok {
				m.KeyReloads.WithLabelValues("ok").Inc()
			} else {
				m.KeyReloads.WithLabelValues("failed").Inc()
			}
		})
	}
	// The one limits value of the database reads of validation: the
	// store admits rounds and statements by it (store.Reader.Limit).
	lim := cfg.DBLimits(runtime.GOMAXPROCS(0))
	a.reader.Limit(lim, waits)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	a.keys.watch(watchCtx, cfg.KeystoneNG.KeyReloadInterval)
	if a.identity != nil {
		// Domain configuration stored in the database is reread as it
		// changes (files are read at start-up, as Python reads them).
		go a.identity.Watch(watchCtx, a.log)
	}

	srv := a.server(m)
	// Rate limits of the unauthenticated login endpoints, per client
	// address (X-Forwarded-For believed only from trusted_proxies).
	if srv.TrustedProxies, err = ratelimit.ParseProxies(cfg.KeystoneNG.TrustedProxies); err != nil {
		log.Error("refusing to start", "error", fmt.Errorf("[keystone_ng] %w", err))
		return 1
	}
	srv.LoginLimiter = ratelimit.New(cfg.KeystoneNG.LoginRateLimit, cfg.KeystoneNG.LoginRateBurst, 0)
	v4, purgers, err := a.v4(watchCtx, srv)
	if err != nil {
		log.Error("refusing to start", "error", err)
		return 1
	}
	srv.V4 = v4
	go purgeLoop(watchCtx, log, cfg.KeystoneNG.PurgeInterval, purgers)
	e := srv.Echo()
	hs := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.KeystoneNG.ReadHeaderTimeout,
		ReadTimeout:       cfg.KeystoneNG.RequestTimeout,
		WriteTimeout:      cfg.KeystoneNG.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", cfg.KeystoneNG.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.KeystoneNG.Listen, "error", err)
		return 1
	}
	log.Info("keystone-ng serving", "listen", ln.Addr().String(), "version", version,
		"config_files", cfg.Files, "token_provider", cfg.Token.Provider, "keys", a.keys.count(), "pid", os.Getpid(),
		"gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gcPercent, "gomemlimit", gcLimit,
		"db_concurrency", lim.Statements, "db_batch_size", lim.Batch)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server failed", "error", err)
			return 1
		}
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.KeystoneNG.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.KeystoneNG.ShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			log.Error("graceful shutdown incomplete", "error", err)
			return 1
		}
	}
	log.Info("stopped")
	return 0
}
