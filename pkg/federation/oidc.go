package federation

import (
	"context"
	"fmt"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
)

// OIDC is the OpenID Connect login engine (nil when off).
func (s *Service) OIDC() *oidcflow.Flow { return s.opt.OIDC }

// TrustedDashboards is [federation] trusted_dashboard.
func (s *Service) TrustedDashboards() []string { return s.opt.TrustedDashboards }

// OIDCProvider is the IdP as the OIDC engine needs it: 404 unknown, 401
// disabled (Keystone's generic message), 400 without a client_id.
func (s *Service) OIDCProvider(ctx context.Context, idpID string) (oidcflow.Provider, error) {
	p, err := s.GetIdP(ctx, idpID)
	if err != nil {
		return oidcflow.Provider{}, err
	}
	if !p.Enabled {
		return oidcflow.Provider{}, refuse("identity provider %s is disabled", p.ID)
	}
	if p.ClientID == nil || *p.ClientID == "" {
		return oidcflow.Provider{}, apierror.New(http.StatusBadRequest,
			fmt.Sprintf("Identity provider %s has no client_id: OpenID Connect login is not configured.", p.ID))
	}
	secret, err := s.ClientSecret(p)
	if err != nil {
		return oidcflow.Provider{}, apierror.Internal(fmt.Errorf("identity provider %s: client secret: %w", p.ID, err))
	}
	return oidcflow.Provider{
		IdPID:        p.ID,
		Issuer:       p.Issuer,
		DiscoveryURL: p.DiscoveryURL,
		ClientID:     *p.ClientID,
		ClientSecret: secret,
		Scopes:       p.Scopes,
		RedirectURIs: p.RedirectURIs,
	}, nil
}

// LoginWithClaims maps claims an OIDC login verified (oidcflow) and
// provisions, as JWTLogin does after its own verification: mappingName,
// else the IdP's default_mapping. Every refusal is the generic 401 (the
// cause in Cause) and writes nothing; an unknown IdP is 404.
func (s *Service) LoginWithClaims(ctx context.Context, idpID string, claims map[string]any, mappingName string) (*Login, error) {
	p, err := s.GetIdP(ctx, idpID)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, refuse("identity provider %s is disabled", p.ID)
	}
	if len(claims) == 0 {
		return nil, refuse("identity provider %s: no claims", p.ID)
	}
	return s.login(ctx, p, &Verified{Claims: claims}, mappingName)
}
