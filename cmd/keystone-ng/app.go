package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/ldapidentity"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/policy"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/uptrace/bun"
)

// app is the assembled service.
type app struct {
	cfg    *config.Config
	log    *slog.Logger
	db     *bun.DB
	keys   *tokenKeys
	policy *policy.Enforcer
	reader *store.Reader
	// dialect is the database's SQL dialect (for keystone-ng's migrations).
	dialect store.Dialect
	// identity routes users to their domain's identity backend (LDAP);
	// identityNotes are what it could not serve (identity.go).
	identity      *ldapidentity.Router
	identityNotes []string
}

func loadConfig(o *cliOptions) (*config.Config, error) {
	return config.Load(config.LoadOptions{Files: o.files, Dirs: o.dirs, Environ: os.Environ()})
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(cfg.KeystoneNG.LogLevel) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(cfg.KeystoneNG.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// assemble opens everything serve needs. Every failure is reported with
// what to fix: the service refuses to start without usable keys, database
// and policy (docs/design.md §9).
func assemble(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	var problems []error
	keys, err := openTokenKeys(cfg, log)
	if err != nil {
		problems = append(problems, err)
	} else {
		a.keys = keys
	}
	pol, err := policy.New(policy.Options{
		PolicyFile:         cfg.OsloPolicy.PolicyFile,
		PolicyDirs:         cfg.OsloPolicy.PolicyDirs,
		SearchDirs:         cfg.SearchDirs,
		EnforceNewDefaults: cfg.OsloPolicy.EnforceNewDefaults,
		EnforceScope:       cfg.OsloPolicy.EnforceScope,
		Logger:             log,
	})
	if err != nil {
		problems = append(problems, fmt.Errorf("[oslo_policy]: %w", err))
	} else {
		a.policy = pol
	}
	target, err := store.ParseURL(cfg.Database.Connection)
	if err != nil {
		problems = append(problems, fmt.Errorf("[database] connection: %w", err))
	} else {
		db, err := store.Open(ctx, target, store.PoolOptions{
			MaxPoolSize:           cfg.Database.MaxPoolSize,
			MaxOverflow:           cfg.Database.MaxOverflow,
			ConnectionRecycleTime: time.Duration(cfg.Database.ConnectionRecycleTime) * time.Second,
			IOTimeout:             cfg.KeystoneNG.RequestTimeout,
		})
		if err != nil {
			problems = append(problems, fmt.Errorf("[database] connection: %w", err))
		} else {
			a.db = db
			a.dialect = target.Dialect
			a.reader = store.NewReader(db)
			if err := store.CheckSchema(ctx, db); err != nil {
				problems = append(problems, fmt.Errorf("[database] connection %s: %w", target.Redacted, err))
			} else if schema, err := store.DetectSchema(ctx, db); err != nil {
				problems = append(problems, fmt.Errorf("[database] connection %s: %w", target.Redacted, err))
			} else {
				// Every read adapts to the tables and columns the
				// release's schema has (docs/compatibility.md §2).
				a.reader.UseSchema(schema)
				log.Info("Python Keystone schema", "release", schema.Release(), "lacks", schema.Missing())
				if err := a.buildIdentity(ctx); err != nil {
					problems = append(problems, err)
				}
			}
		}
	}
	if len(problems) > 0 {
		a.close()
		return nil, errors.Join(problems...)
	}
	return a, nil
}

func (a *app) close() {
	if a.identity != nil {
		a.identity.Close()
	}
	if a.db != nil {
		_ = a.db.Close()
	}
}

func (a *app) validator() *token.Validator {
	cfg := a.cfg
	v := &token.Validator{
		Identity: a.identityBackend(),
		Codec:    &payload.Codec{Methods: cfg.Auth.Methods, DefaultDomainID: cfg.Identity.DefaultDomainID},
		Store:    store.NewCachedCatalog(a.reader, cfg.KeystoneNG.CatalogCacheTTL),
		Settings: token.Settings{
			DefaultAuthorizationTTL:        cfg.Federation.DefaultAuthorizationTTL,
			DisableUserAccountDaysInactive: cfg.SecurityCompliance.DisableUserAccountDaysInactive,
			ReturnAllEndpointsIfNoFilter:   cfg.EndpointFilter.ReturnAllEndpointsIfNoFilter,
			AdminProjectName:               cfg.Resource.AdminProjectName,
			AdminProjectDomainName:         cfg.Resource.AdminProjectDomainName,
			PublicEndpoint:                 cfg.Default.PublicEndpoint,
			MaxRedelegationCount:           cfg.Trust.MaxRedelegationCount,
			TokenData:                      tokenData(a.reader.Schema()),
			UnrecognizedNamesToken:         a.reader.Schema().LegacyErrorBodies(),
		},
		Now:          time.Now,
		Log:          a.log,
		QueryTimeout: cfg.KeystoneNG.DBQueryTimeout,
	}
	a.keys.validator(v)
	return v
}

func (a *app) server(m *httpapi.Metrics) *httpapi.Server {
	cfg := a.cfg
	v := a.validator()
	return &httpapi.Server{
		Validator:          v,
		Policy:             a.policy,
		Metrics:            m,
		Log:                a.log,
		PublicEndpoint:     cfg.Default.PublicEndpoint,
		AllowExpiredWindow: time.Duration(cfg.Token.AllowExpiredWindow) * time.Second,
		AdminToken:         cfg.Default.AdminToken,
		RequestTimeout:     cfg.KeystoneNG.RequestTimeout,
		MaxBodyBytes:       cfg.KeystoneNG.MaxRequestBodyBytes,
		LegacyErrorBodies:  a.reader.Schema().LegacyErrorBodies(),
		Ready: func(ctx context.Context) error {
			if err := a.reader.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if a.keys.count() == 0 {
				return errors.New("no token keys")
			}
			return nil
		},
	}
}

// tokenData is how the release that wrote the database renders tokens.
func tokenData(s store.Schema) token.TokenDataFormat {
	if s.RendersWithDataHelper() {
		return token.TokenDataHelper
	}
	return token.TokenModel
}
