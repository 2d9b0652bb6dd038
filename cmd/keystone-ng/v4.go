package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/authz"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	v4login "github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// Purger deletes expired rows of keystone-ng's own tables (login state,
// ceremonies, replay records); serve runs every purger periodically
// (docs/design.md §10).
type Purger interface {
	Purge(ctx context.Context, now time.Time) (int64, error)
	Name() string
}

// v4 assembles the /v4 API: policy engine, token issuer, login checks and
// every feature that is configured.
func (a *app) v4(ctx context.Context, v *httpapi.Server) (*httpapi.V4, []Purger, error) {
	cfg := a.cfg
	// /v4 keeps its state in keystone-ng's own tables. Without them the
	// service still validates tokens; /v4 stays off until the operator
	// runs `keystone-ng db migrate` (and restarts).
	st, err := store.MigrationStatus(ctx, a.db, a.dialect)
	if err != nil {
		return nil, nil, fmt.Errorf("keystone-ng's own tables: %w", err)
	}
	var pending []string
	for _, m := range st {
		if m.Applied == nil {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		a.log.Warn("/v4 is off: keystone-ng's own tables are not up to date; run `keystone-ng db migrate` and restart",
			"pending_migrations", pending)
		return nil, nil, nil
	}
	engine, err := authz.New(ctx, authz.Options{OverrideDir: cfg.KeystoneNG.PolicyDir, Log: a.log})
	if err != nil {
		return nil, nil, fmt.Errorf("[keystone_ng] policy_dir: %w", err)
	}
	if cfg.KeystoneNG.PolicyDir != "" {
		go engine.Watch(ctx, 2*time.Second)
	}
	issuer := &issue.Issuer{
		Codec:      &payload.Codec{Methods: cfg.Auth.Methods, DefaultDomainID: cfg.Identity.DefaultDomainID},
		Validator:  v.Validator,
		Expiration: time.Duration(cfg.Token.Expiration) * time.Second,
		Now:        time.Now,
	}
	if err := a.keys.issuer(issuer); err != nil {
		// [token] provider = jws without a usable private.pem: this
		// node validates but cannot mint.
		a.log.Warn("/v4 is off: no key to mint tokens with", "error", err)
		return nil, nil, nil
	}
	// The one usability rule of every login (and the passkey service's
	// account and lockout checks).
	users := &identity.Checker{
		Dir:      a.reader,
		Backend:  a.identityBackend(),
		Failures: store.NewLockout(a.reader.DB()),
		Lockout: identity.Lockout{
			Attempts: cfg.SecurityCompliance.LockoutFailureAttempts,
			Duration: time.Duration(cfg.SecurityCompliance.LockoutDuration) * time.Second,
		},
		DisableUserAccountDaysInactive: cfg.SecurityCompliance.DisableUserAccountDaysInactive,
		AuthMethods:                    cfg.Auth.Methods,
		Now:                            time.Now,
	}
	v4 := &httpapi.V4{
		Authz:                  engine,
		Scopes:                 a.reader,
		ReauthenticationWindow: cfg.WebAuthn.ReauthenticationWindow,
		TrustedDashboards:      cfg.Federation.TrustedDashboard,
	}
	// Every login (passkey, workload JWT, OIDC) runs through one pipeline:
	// the one usability rule, then the issuer.
	sa, saPurgers := a.serviceAccountFeature(v4)
	pipeline := &v4login.Pipeline{Users: users, Issuer: issuer, ServiceAccounts: sa, Log: a.log}
	v4.Logins = pipeline
	// Audit notifications where Python's notifier sends its own
	// (docs/audit.md): every login and refusal, every /v4 change. Where
	// keystone-ng cannot publish them, /v4 stays off rather than act
	// without a trace.
	if why := cfg.AuditBusUnsupported(); why != "" {
		a.log.Error("/v4 is off: its audit events could not be published where Python publishes its own (token validation is not affected)", "reason", why)
		return nil, nil, nil
	}
	au, err := a.auditService(v.Metrics)
	if err != nil {
		return nil, nil, err
	}
	if au != nil {
		pipeline.Audit, v4.Audit = au, au
		v.Warnings = func() []string {
			if h := au.Health(); h != "" {
				return []string{h}
			}
			return nil
		}
		go au.Run(ctx)
	}
	purgers := saPurgers
	purgers = append(purgers, a.tokenExchangeFeature(v4, v.Validator)...)
	pk, ps, err := a.passkeyFeature(ctx, v4, users)
	if err != nil {
		return nil, nil, err
	}
	purgers = append(purgers, ps...)
	if pk != nil {
		v4.Passkeys = pk
	}
	fed, fs, err := a.federationFeature(ctx, v4)
	if err != nil {
		return nil, nil, err
	}
	if fed != nil {
		v4.Federation = fed
		purgers = append(purgers, fs...)
	}
	return v4, purgers, nil
}

// purgeLoop runs the purgers every interval until ctx ends.
func purgeLoop(ctx context.Context, log *slog.Logger, every time.Duration, ps []Purger) {
	if len(ps) == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, p := range ps {
				n, err := p.Purge(ctx, now)
				if err != nil {
					log.Warn("purge of expired rows failed", "table", p.Name(), "error", err)
				} else if n > 0 {
					log.Debug("purged expired rows", "table", p.Name(), "rows", n)
				}
			}
		}
	}
}
