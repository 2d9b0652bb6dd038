package main

import (
	"context"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
)

// federationFeature builds the federation service (identity providers,
// mappings, JWT workload login). It needs the database; the [credential]
// key repository is needed only to store IdP client secrets, so without
// it the feature runs and refuses client secrets.
func (a *app) federationFeature(ctx context.Context, v4 *httpapi.V4) (httpapi.FederationService, []Purger, error) {
	if a.db == nil {
		return nil, nil, nil
	}
	cfg := a.cfg
	var secrets federation.SecretBox
	if dir := cfg.Credential.KeyRepository; dir != "" {
		repo, err := fernet.OpenRepository(dir)
		if err != nil {
			a.log.Warn("federation: [credential] key_repository unusable; identity provider client secrets cannot be stored", "dir", dir, "error", err)
		} else {
			secrets = repo
			go repo.Watch(ctx, cfg.KeystoneNG.KeyReloadInterval)
		}
	}
	// OpenID Connect logins (browser, CLI, device): state shared by every
	// instance in ng_oidc_login_state.
	states := sqlstore.New(a.db)
	flow, err := oidcflow.New(oidcflow.Config{
		Store:      states,
		HTTPClient: &http.Client{Timeout: cfg.KeystoneNG.OutboundTimeout},
		StateTTL:   cfg.KeystoneNG.LoginStateTTL,
		Leeway:     cfg.KeystoneNG.JWTClockLeeway,
		// Mappings may use profile claims that providers put in the
		// userinfo answer only (preferred_username, email, groups).
		Userinfo: true,
	})
	if err != nil {
		return nil, nil, err
	}
	svc := federation.New(federation.Options{
		DB:                             a.db,
		Secrets:                        secrets,
		HTTPClient:                     &http.Client{Timeout: cfg.KeystoneNG.OutboundTimeout},
		JWKSCacheTTL:                   cfg.KeystoneNG.JWKSCacheTTL,
		Leeway:                         cfg.KeystoneNG.JWTClockLeeway,
		DefaultAuthorizationTTL:        cfg.Federation.DefaultAuthorizationTTL,
		DisableUserAccountDaysInactive: cfg.SecurityCompliance.DisableUserAccountDaysInactive,
		Log:                            a.log,
		OIDC:                           flow,
		TrustedDashboards:              cfg.Federation.TrustedDashboard,
		GrantableRoles:                 cfg.KeystoneNG.DomainGrantableRoles,
	})
	return svc, []Purger{federation.JTIPurger{S: svc}, federation.WorkloadTokenPurger{S: svc}, states}, nil
}
