// Package federation is keystone-ng's federation feature: identity
// providers and their mappings (stored in keystone-ng's ng_ tables, with
// the rows Python Keystone's own federation tables need written beside
// them, exactly as Python writes them), and workload login with a JWT
// (verification against the IdP's JWKS, mapping evaluation, shadow user,
// group and role provisioning). See docs/federation.md.
package federation

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"time"

	"github.com/google/uuid"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/outbound"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/uptrace/bun"
)

// DefaultGrantableRoles are the roles a domain-owned IdP's mappings may
// grant unless the operator sets [keystone_ng] domain_grantable_roles:
// Keystone's domain_managed_target_role for its manager persona.
var DefaultGrantableRoles = []string{"manager", "member", "reader"}

// ProtocolID is the federation_protocol id keystone-ng registers for its
// identity providers (and writes into federated_user and tokens).
const ProtocolID = "openid"

// SecretBox encrypts IdP client secrets at rest (the [credential] key
// repository, a Fernet repository).
type SecretBox interface {
	Encrypt(plaintext []byte, now time.Time) (string, error)
	Decrypt(token string) ([]byte, time.Time, error)
}

// Options configure a Service.
type Options struct {
	DB *bun.DB
	// Store is where IdPs, mappings and workload tokens are kept and
	// mapping references are resolved. nil: store.NewFederation(DB).
	Store Store
	// Provisioner writes what logins provision; nil: store.NewProvisioning(DB).
	Provisioner Provisioner
	// Secrets may be nil: then a client_secret cannot be stored.
	Secrets SecretBox
	// HTTPClient fetches discovery documents and JWKS. It is the guarded
	// client of pkg/outbound (its Timeout is [keystone_ng]
	// outbound_timeout); the allowed networks of the write-time URL check
	// are taken from it. nil: outbound.New with no allowed network.
	HTTPClient *http.Client
	// JWKSCacheTTL is [keystone_ng] jwks_cache_ttl.
	JWKSCacheTTL time.Duration
	// JWKSMinRefresh is the least time between two fetches of one JWKS
	// caused by unknown kids (default 1s).
	JWKSMinRefresh time.Duration
	// JWKSStaleTTL is [keystone_ng] jwks_stale_ttl: how long after its TTL
	// the last good JWKS still verifies while fetching it fails (default
	// 1h; negative: never).
	JWKSStaleTTL time.Duration
	// JWKSBackoff and JWKSMaxBackoff bound the wait after a failed JWKS
	// fetch before the next one (doubling from 1s up to 5 min by default).
	JWKSBackoff, JWKSMaxBackoff time.Duration
	// Leeway is [keystone_ng] jwt_clock_leeway (capped at 5 minutes).
	Leeway time.Duration
	// DefaultAuthorizationTTL is [federation] default_authorization_ttl
	// (minutes).
	DefaultAuthorizationTTL int
	// DisableUserAccountDaysInactive is [security_compliance]
	// disable_user_account_days_inactive (last_active_at is written when
	// set, as Python does).
	DisableUserAccountDaysInactive int
	Now                            func() time.Time
	Log                            *slog.Logger
	// MaxIdPsPerDomain is [keystone_ng] max_identity_providers_per_domain
	// and MaxMappingsPerIdP max_mappings_per_identity_provider (0 = no
	// limit). Global IdPs (system admins') are not counted.
	MaxIdPsPerDomain  int
	MaxMappingsPerIdP int
	// GrantableRoles is [keystone_ng] domain_grantable_roles: what a
	// domain-owned IdP's mappings may grant (grantable.go). nil means the
	// default, manager, member and reader.
	GrantableRoles []string
}

// Service is the federation feature.
type Service struct {
	opt Options
	db  *bun.DB
	st  Store
	// prov writes what a login provisions (login.go).
	prov Provisioner
	jwks *jwksCache
	// allowed is [keystone_ng] outbound_allowed_networks, from the client.
	allowed []netip.Prefix
}

// New builds the service.
func New(o Options) *Service {
	if o.HTTPClient == nil {
		o.HTTPClient = outbound.New(outbound.Options{Timeout: 10 * time.Second})
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.JWKSCacheTTL <= 0 {
		o.JWKSCacheTTL = 10 * time.Minute
	}
	if o.JWKSMinRefresh <= 0 {
		o.JWKSMinRefresh = time.Second
	}
	if o.JWKSStaleTTL == 0 {
		o.JWKSStaleTTL = time.Hour
	}
	if o.JWKSStaleTTL < 0 {
		o.JWKSStaleTTL = 0
	}
	if o.JWKSBackoff <= 0 {
		o.JWKSBackoff = time.Second
	}
	if o.JWKSMaxBackoff <= 0 {
		o.JWKSMaxBackoff = 5 * time.Minute
	}
	if o.Leeway < 0 {
		o.Leeway = 0
	}
	if o.Leeway > 5*time.Minute {
		o.Leeway = 5 * time.Minute
	}
	if o.GrantableRoles == nil {
		o.GrantableRoles = DefaultGrantableRoles
	}
	if o.Store == nil && o.DB != nil {
		o.Store = store.NewFederation(o.DB)
	}
	if o.Provisioner == nil && o.DB != nil {
		o.Provisioner = store.NewProvisioning(o.DB)
	}
	s := &Service{opt: o, db: o.DB, st: o.Store, prov: o.Provisioner}
	s.allowed, _ = outbound.AllowedNetworks(o.HTTPClient)
	s.jwks = &jwksCache{
		client: o.HTTPClient, allowed: s.allowed, log: o.Log,
		ttl: o.JWKSCacheTTL, minRefresh: o.JWKSMinRefresh, staleTTL: o.JWKSStaleTTL,
		backoff: o.JWKSBackoff, maxBackoff: o.JWKSMaxBackoff,
		now: time.Now, entries: map[string]*jwksEntry{},
	}
	return s
}

// IdP is an identity provider as the API shows it.
type IdP struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	DomainID         *string  `json:"domain_id"`
	ShadowDomainID   string   `json:"shadow_domain_id"`
	Enabled          bool     `json:"enabled"`
	Description      string   `json:"description"`
	Issuer           string   `json:"issuer"`
	DiscoveryURL     string   `json:"discovery_url"`
	JWKSURL          *string  `json:"jwks_url"`
	ClientID         *string  `json:"client_id"`
	ClientSecretSet  bool     `json:"client_secret_set"`
	Scopes           []string `json:"scopes"`
	RedirectURIs     []string `json:"redirect_uris"`
	Audiences        []string `json:"audiences"`
	DefaultMapping   *string  `json:"default_mapping"`
	AuthorizationTTL *int     `json:"authorization_ttl"`

	clientSecret    string
	pythonMappingID string
}

// OwnerDomain is the policy target's domain_id: nil for a global IdP.
func (p *IdP) OwnerDomain() any {
	if p.DomainID == nil {
		return nil
	}
	return *p.DomainID
}

// ClientSecret decrypts the stored client secret ("" when none).
func (s *Service) ClientSecret(p *IdP) (string, error) {
	if p.clientSecret == "" {
		return "", nil
	}
	if s.opt.Secrets == nil {
		return "", errors.New("no [credential] key repository to decrypt the client secret")
	}
	b, _, err := s.opt.Secrets.Decrypt(p.clientSecret)
	if err != nil {
		return "", fmt.Errorf("decrypt client secret of identity provider %s: %w", p.ID, err)
	}
	return string(b), nil
}

// IdPFields is the body of a create or an update; a nil field is absent.
// On update, "" clears an optional string.
type IdPFields struct {
	ID               *string   `json:"id"`
	Name             *string   `json:"name"`
	DomainID         *string   `json:"domain_id"`
	Enabled          *bool     `json:"enabled"`
	Description      *string   `json:"description"`
	Issuer           *string   `json:"issuer"`
	DiscoveryURL     *string   `json:"discovery_url"`
	JWKSURL          *string   `json:"jwks_url"`
	ClientID         *string   `json:"client_id"`
	ClientSecret     *string   `json:"client_secret"`
	Scopes           *[]string `json:"scopes"`
	RedirectURIs     *[]string `json:"redirect_uris"`
	Audiences        *[]string `json:"audiences"`
	DefaultMapping   *string   `json:"default_mapping"`
	AuthorizationTTL *int      `json:"authorization_ttl"`
}

// IdPFilter filters a list; nil fields do not filter.
type IdPFilter struct {
	DomainID *string // "" never matches; use Global for global ones
	Global   bool
	Name     *string
	Enabled  *bool
}

func badRequest(format string, a ...any) *apierror.Error {
	return apierror.New(http.StatusBadRequest, fmt.Sprintf(format, a...))
}

// newID is a random UUID4 in hex, as Python's uuid.uuid4().hex.
func newID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}

// checkURL applies the outbound rule (pkg/outbound.CheckURL) to a URL
// keystone-ng fetches on the IdP owner's behalf (issuer, discovery_url,
// jwks_url): https, or http only to an IP literal or localhost inside
// [keystone_ng] outbound_allowed_networks; an IP literal in a refused range
// (loopback, private, link-local, ...) is a 400 here. Host names pass:
// their addresses are checked when the outbound client dials them.
func (s *Service) checkURL(field, raw string) error {
	if err := outbound.CheckURL(raw, s.allowed); err != nil {
		var r *outbound.RefusedError
		if errors.As(err, &r) && r.Addr.IsValid() {
			return badRequest("identity_provider.%s: address %s: %s.", field, r.Addr, r.Reason)
		}
		if errors.As(err, &r) {
			return badRequest("identity_provider.%s: %s.", field, r.Reason)
		}
		return badRequest("identity_provider.%s: not a URL keystone-ng may fetch.", field)
	}
	return nil
}

// checkRedirectURI accepts https URLs, and http only on a loopback host
// (the CLI's callback, RFC 8252 §7.3). Redirect URIs are where the
// browser goes, never fetched by keystone-ng: not an outbound request.
func checkRedirectURI(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return badRequest("identity_provider.%s: must be an absolute URL without user info or fragment.", field)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return badRequest("identity_provider.%s: must be an https URL (http only on a loopback host).", field)
}

func checkList(field string, l []string, max int) error {
	if len(l) > max {
		return badRequest("identity_provider.%s: at most %d items.", field, max)
	}
	seen := map[string]bool{}
	for i, v := range l {
		if v == "" || len(v) > 1024 {
			return badRequest("identity_provider.%s[%d]: must be a non-empty string of at most 1024 bytes.", field, i)
		}
		if seen[v] {
			return badRequest("identity_provider.%s[%d]: duplicate %q.", field, i, v)
		}
		seen[v] = true
	}
	return nil
}

// apply merges f into p (create: p is zero) and validates the result.
func (s *Service) apply(p *IdP, f *IdPFields, create bool) error {
	if !create {
		if f.ID != nil && *f.ID != p.ID {
			return badRequest("identity_provider.id: cannot be changed.")
		}
		if f.DomainID != nil && (p.DomainID == nil || *f.DomainID != *p.DomainID) {
			return badRequest("identity_provider.domain_id: cannot be changed.")
		}
	}
	if f.Name != nil {
		p.Name = strings.TrimSpace(*f.Name)
	}
	if f.Enabled != nil {
		p.Enabled = *f.Enabled
	}
	if f.Description != nil {
		p.Description = *f.Description
	}
	issuerChanged := false
	if f.Issuer != nil {
		issuerChanged = p.Issuer != *f.Issuer
		p.Issuer = strings.TrimSpace(*f.Issuer)
	}
	if f.DiscoveryURL != nil {
		p.DiscoveryURL = *f.DiscoveryURL
	} else if create || issuerChanged {
		if p.DiscoveryURL == "" || issuerChanged {
			p.DiscoveryURL = strings.TrimSuffix(p.Issuer, "/") + "/.well-known/openid-configuration"
		}
	}
	setOpt := func(dst **string, v *string) {
		if v == nil {
			return
		}
		if *v == "" {
			*dst = nil
		} else {
			x := *v
			*dst = &x
		}
	}
	setOpt(&p.JWKSURL, f.JWKSURL)
	setOpt(&p.ClientID, f.ClientID)
	setOpt(&p.DefaultMapping, f.DefaultMapping)
	if f.Scopes != nil {
		p.Scopes = append([]string{}, (*f.Scopes)...)
	}
	if f.RedirectURIs != nil {
		p.RedirectURIs = append([]string{}, (*f.RedirectURIs)...)
	}
	if f.Audiences != nil {
		p.Audiences = append([]string{}, (*f.Audiences)...)
	}
	if f.AuthorizationTTL != nil {
		if *f.AuthorizationTTL < 0 {
			return badRequest("identity_provider.authorization_ttl: must be a non-negative number of minutes.")
		}
		v := *f.AuthorizationTTL
		p.AuthorizationTTL = &v
	}
	if f.ClientSecret != nil {
		if *f.ClientSecret == "" {
			p.clientSecret = ""
		} else {
			if s.opt.Secrets == nil {
				return apierror.Internal(errors.New("client_secret given but no [credential] key repository is usable"))
			}
			enc, err := s.opt.Secrets.Encrypt([]byte(*f.ClientSecret), s.opt.Now())
			if err != nil {
				return apierror.Internal(fmt.Errorf("encrypt client secret: %w", err))
			}
			p.clientSecret = enc
		}
	}
	p.ClientSecretSet = p.clientSecret != ""
	switch {
	case p.Name == "" || len(p.Name) > 255:
		return badRequest("identity_provider.name: required, at most 255 bytes.")
	case p.Issuer == "":
		return badRequest("identity_provider.issuer: required.")
	case p.ID == "" || len(p.ID) > 64 || strings.ContainsAny(p.ID, "/?#% \t\n"):
		return badRequest("identity_provider.id: at most 64 characters, none of '/?#%%' or whitespace.")
	}
	if err := s.checkURL("issuer", p.Issuer); err != nil {
		return err
	}
	if err := s.checkURL("discovery_url", p.DiscoveryURL); err != nil {
		return err
	}
	if p.JWKSURL != nil {
		if err := s.checkURL("jwks_url", *p.JWKSURL); err != nil {
			return err
		}
	}
	if p.ClientID != nil && len(*p.ClientID) > 255 {
		return badRequest("identity_provider.client_id: at most 255 bytes.")
	}
	if p.DefaultMapping != nil && len(*p.DefaultMapping) > 255 {
		return badRequest("identity_provider.default_mapping: at most 255 bytes.")
	}
	for _, l := range []struct {
		f string
		v []string
	}{{"scopes", p.Scopes}, {"redirect_uris", p.RedirectURIs}, {"audiences", p.Audiences}} {
		if err := checkList(l.f, l.v, 64); err != nil {
			return err
		}
	}
	for i, r := range p.RedirectURIs {
		if err := checkRedirectURI(fmt.Sprintf("redirect_uris[%d]", i), r); err != nil {
			return err
		}
	}
	return nil
}

// idpFromRow is the API's view of a stored IdP.
func idpFromRow(r *store.IdPRow) *IdP {
	p := &IdP{
		ID: r.ID, Name: r.Name, ShadowDomainID: r.ShadowDomainID, Enabled: r.Enabled, Description: r.Description,
		Issuer: r.Issuer, DiscoveryURL: r.DiscoveryURL, JWKSURL: r.JWKSURL, ClientID: r.ClientID,
		ClientSecretSet: r.ClientSecret != "", Scopes: r.Scopes, RedirectURIs: r.RedirectURIs, Audiences: r.Audiences,
		DefaultMapping: r.DefaultMapping, AuthorizationTTL: r.AuthorizationTTL,
		clientSecret: r.ClientSecret, pythonMappingID: r.PythonMappingID,
	}
	if r.OwnerDomainID != "" {
		owner := r.OwnerDomainID
		p.DomainID = &owner
	}
	return p
}

// row is p as the store keeps it.
func (p *IdP) row() *store.IdPRow {
	r := &store.IdPRow{
		ID: p.ID, Name: p.Name, ShadowDomainID: p.ShadowDomainID, Enabled: p.Enabled, Description: p.Description,
		Issuer: p.Issuer, DiscoveryURL: p.DiscoveryURL, JWKSURL: p.JWKSURL, ClientID: p.ClientID, ClientSecret: p.clientSecret,
		Scopes: p.Scopes, RedirectURIs: p.RedirectURIs, Audiences: p.Audiences, DefaultMapping: p.DefaultMapping,
		AuthorizationTTL: p.AuthorizationTTL, PythonMappingID: p.pythonMappingID,
	}
	if p.DomainID != nil {
		r.OwnerDomainID = *p.DomainID
	}
	return r
}

// GetIdP reads one IdP; 404 when there is none.
func (s *Service) GetIdP(ctx context.Context, id string) (*IdP, error) {
	r, err := s.st.GetIdP(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.NotFound(fmt.Sprintf("Could not find Identity Provider: %s.", id))
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return idpFromRow(r), nil
}

// ListIdPs lists keystone-ng's IdPs (those Python alone created are not
// keystone-ng's and are left out).
func (s *Service) ListIdPs(ctx context.Context, f IdPFilter) ([]*IdP, error) {
	rows, err := s.st.ListIdPs(ctx, store.IdPFilter{Global: f.Global, OwnerDomainID: f.DomainID, Name: f.Name, Enabled: f.Enabled})
	if err != nil {
		return nil, apierror.Internal(err)
	}
	out := make([]*IdP, 0, len(rows))
	for _, r := range rows {
		out = append(out, idpFromRow(r))
	}
	return out, nil
}

// CreateIdP creates the IdP and Python's rows for it in one transaction:
// identity_provider (for a global IdP, like Python's create_idp, on a
// domain auto-created for it), idp_remote_ids (the issuer), mapping (a
// Python mapping with no rules: Python's own federated login through this
// IdP maps nobody) and federation_protocol "openid", all written by the
// store (store.Federation.CreateIdP); the service validates, chooses the
// ids and applies the per-domain quota.
func (s *Service) CreateIdP(ctx context.Context, f *IdPFields) (*IdP, error) {
	p := &IdP{Enabled: true, Scopes: []string{"openid", "profile", "email"}, RedirectURIs: []string{}, Audiences: []string{}}
	if f.ID != nil {
		p.ID = *f.ID
	} else {
		p.ID = newID()
	}
	if f.DomainID != nil && *f.DomainID != "" {
		d := *f.DomainID
		p.DomainID = &d
	}
	if err := s.apply(p, f, true); err != nil {
		return nil, err
	}
	p.pythonMappingID = newID()
	if p.DomainID != nil {
		p.ShadowDomainID = *p.DomainID
	} else {
		// A global IdP's users live in a domain of their own, as Python's
		// create_idp makes (store.Federation.CreateIdP writes it).
		p.ShadowDomainID = newID()
	}
	// Only a domain's IdPs are counted; global ones are the operator's.
	var admit func(int) error
	if max := s.opt.MaxIdPsPerDomain; max > 0 && p.DomainID != nil {
		admit = func(ownerIdPs int) error {
			if ownerIdPs >= max {
				return apierror.Forbidden(fmt.Sprintf("Domain %s has %d identity providers, the most [keystone_ng] max_identity_providers_per_domain allows.", *p.DomainID, ownerIdPs))
			}
			return nil
		}
	}
	err := s.st.CreateIdP(ctx, p.row(), ProtocolID, s.opt.Now(), admit)
	switch {
	case errors.Is(err, store.ErrIdPExists):
		return nil, apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store identity_provider - Duplicate entry: %s.", p.ID))
	case errors.Is(err, store.ErrNoSuchDomain):
		return nil, badRequest("identity_provider.domain_id: domain %s not found.", *p.DomainID)
	case errors.Is(err, store.ErrIdPNameTaken):
		return nil, nameTaken(p.Name)
	case err != nil:
		return nil, asAPI(err)
	}
	return s.GetIdP(ctx, p.ID)
}

func nameTaken(name string) *apierror.Error {
	return apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store identity_provider - an identity provider named %q already exists in this domain.", name))
}

func asAPI(err error) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae
	}
	if sqldialect.IsDuplicate(err) {
		e := apierror.New(http.StatusConflict, "Conflict occurred attempting to store identity_provider.")
		e.Cause = err
		return e
	}
	return apierror.Internal(err)
}

// UpdateIdP applies f to the IdP (Python's rows too: enabled, description,
// authorization_ttl, the remote id when the issuer changes).
func (s *Service) UpdateIdP(ctx context.Context, p *IdP, f *IdPFields) (*IdP, error) {
	oldIssuer := p.Issuer
	if err := s.apply(p, f, false); err != nil {
		return nil, err
	}
	err := s.st.UpdateIdP(ctx, p.row(), oldIssuer, s.opt.Now())
	if errors.Is(err, store.ErrIdPNameTaken) {
		return nil, nameTaken(p.Name)
	}
	if err != nil {
		return nil, asAPI(err)
	}
	s.jwks.forget(p.ID)
	return s.GetIdP(ctx, p.ID)
}

// DeleteIdP removes the IdP as Python's delete_idp does (its protocols,
// then the IdP with its remote ids, expiring group memberships and —
// what the foreign keys cascade — its federated_user rows; the shadow
// users' user rows stay, as in Python), plus the Python mapping row it
// created, its ng_ rows, and the role assignments its mappings granted.
func (s *Service) DeleteIdP(ctx context.Context, p *IdP) error {
	if err := s.st.DeleteIdP(ctx, p.row()); err != nil {
		return asAPI(err)
	}
	s.jwks.forget(p.ID)
	return nil
}

type assignment struct {
	Type, ActorID, TargetID, RoleID string
}
