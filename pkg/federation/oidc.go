package federation

import (
	"context"
	"fmt"
	"net/http"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
)

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

// Claims is an OIDC login as an authenticator (pkg/login): it maps the
// claims the code flow verified (oidcflow) and provisions as JWT does
// after its own verification: mappingName, else the IdP's
// default_mapping. Every refusal is the generic 401 (the cause in Cause)
// and writes nothing; an unknown IdP is 404.
func (s *Service) Claims(idpID string, claims map[string]any, mappingName string) login.Authenticator {
	return &claimsLogin{s: s, idpID: idpID, claims: claims, mapping: mappingName}
}

type claimsLogin struct {
	s              *Service
	idpID, mapping string
	claims         map[string]any
}

func (c *claimsLogin) Authenticate(ctx context.Context) (*login.Attempt, error) {
	p, err := c.s.GetIdP(ctx, c.idpID)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, refuse("identity provider %s is disabled", p.ID)
	}
	if len(c.claims) == 0 {
		return nil, refuse("identity provider %s: no claims", p.ID)
	}
	att, err := c.s.attempt(ctx, p, &Verified{Claims: c.claims}, c.mapping)
	if err != nil {
		return nil, err
	}
	att.Kind = "oidc"
	return att, nil
}
