package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow/sqlstore"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
)

// federationFeature builds the federation service (identity providers,
// mappings, JWT workload login). It needs the database; the [credential]
// key repository is needed only to store IdP client secrets, so without
// it the feature runs and refuses client secrets.
func (a *app) federationFeature(ctx context.Context, v4 *httpapi.V4) (httpapi.FederationService, []Purger, error) {
	if a.db == nil {
		return nil, nil, nil
	}
	if s := a.reader.Schema(); !s.ExpiringMemberships || !s.IdPAuthorizationTTL {
		// Federated logins record group memberships that expire
		// (expiring_user_group_membership, identity_provider.authorization_ttl),
		// which Keystone's schema has from Ussuri (17.0) on
		// (docs/compatibility.md §4).
		a.log.Warn("federation: off; the database's schema predates expiring group memberships (Keystone Ussuri, 17.0)", "release", s.Release())
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
	// One outbound client for every request made on an identity
	// provider owner's behalf (discovery, JWKS, token, userinfo, device):
	// refused addresses checked at dial time, no redirects, no proxy
	// (pkg/outbound, docs/security.md "Outbound requests").
	allowed, err := outboundAllowedNetworks(cfg.KeystoneNG.OutboundAllowedNetworks)
	if err != nil {
		return nil, nil, err
	}
	idpClient := outbound.New(outbound.Options{Timeout: cfg.KeystoneNG.OutboundTimeout, AllowedNetworks: allowed})
	if len(allowed) > 0 {
		a.log.Info("federation: identity providers may be reached inside [keystone_ng] outbound_allowed_networks", "networks", cfg.KeystoneNG.OutboundAllowedNetworks)
	} else {
		a.log.Info("federation: identity providers on loopback, private, link-local and other internal addresses are refused ([keystone_ng] outbound_allowed_networks is empty)")
	}
	// OpenID Connect logins (browser, CLI, device): state shared by every
	// instance in ng_oidc_login_state.
	states := sqlstore.New(a.db)
	flow, err := oidcflow.New(oidcflow.Config{
		Store:      states,
		HTTPClient: idpClient,
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
		HTTPClient:                     idpClient,
		JWKSCacheTTL:                   cfg.KeystoneNG.JWKSCacheTTL,
		JWKSStaleTTL:                   staleTTL(cfg.KeystoneNG.JWKSStaleTTL),
		Leeway:                         cfg.KeystoneNG.JWTClockLeeway,
		DefaultAuthorizationTTL:        cfg.Federation.DefaultAuthorizationTTL,
		DisableUserAccountDaysInactive: cfg.SecurityCompliance.DisableUserAccountDaysInactive,
		Log:                            a.log,
		GrantableRoles:                 cfg.KeystoneNG.DomainGrantableRoles,
		MaxIdPsPerDomain:               cfg.KeystoneNG.MaxIdentityProvidersPerDomain,
		MaxMappingsPerIdP:              cfg.KeystoneNG.MaxMappingsPerIdentityProvider,
	})
	// The flow is HTTP's (the OIDC routes run it), handed to it here.
	v4.OIDC = flow
	return svc, []Purger{federation.JTIPurger{S: svc}, federation.WorkloadTokenPurger{S: svc}, states}, nil
}

// outboundAllowedNetworks parses [keystone_ng] outbound_allowed_networks
// (config.Validate has checked each entry already).
func outboundAllowedNetworks(l []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(l))
	for _, s := range l {
		p, err := config.ParseNetwork(s)
		if err != nil {
			return nil, fmt.Errorf("[keystone_ng] outbound_allowed_networks: %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// staleTTL maps jwks_stale_ttl to federation.Options: 0 in the
// configuration means never past the cache TTL, which Options spells as
// a negative duration (its zero takes the default).
func staleTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
