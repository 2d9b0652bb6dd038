// Package federation is keystone-ng's federation feature: identity
// providers and their mappings (stored in keystone-ng's ng_ tables, with
// the rows Python Keystone's own federation tables need written beside
// them, exactly as Python writes them), and workload login with a JWT
// (verification against the IdP's JWKS, mapping evaluation, shadow user,
// group and role provisioning). See docs/federation.md.
package federation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
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
	// OIDC runs the OpenID Connect logins (browser, CLI, device); nil
	// leaves them off.
	OIDC *oidcflow.Flow
	// TrustedDashboards is [federation] trusted_dashboard: where a
	// browser login may hand its token.
	TrustedDashboards []string
	// Users applies the one rule of who may obtain a token
	// (identity.Checker.Usable) to mapped and existing shadow users. nil:
	// a checker over DB with DisableUserAccountDaysInactive and no lockout
	// (federated users have none).
	Users *identity.Checker
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
	opt   Options
	db    *bun.DB
	tUser string
	tGrp  string
	jwks  *jwksCache
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
	if o.Users == nil && o.DB != nil {
		o.Users = &identity.Checker{Dir: store.NewReader(o.DB), Failures: store.NewLockout(o.DB), DisableUserAccountDaysInactive: o.DisableUserAccountDaysInactive, Now: o.Now}
	}
	s := &Service{opt: o, db: o.DB, tUser: sqldialect.Postgres.User(), tGrp: sqldialect.Postgres.Group()}
	if o.DB != nil {
		d := sqldialect.Of(o.DB)
		s.tUser, s.tGrp = d.User(), d.Group()
	}
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

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// micros and pyDateTime are sqldialect's Micros and DateTime under the
// names login.go uses.
func micros(t time.Time) int64 { return sqldialect.Micros(t) }

func pyDateTime(t time.Time) string { return sqldialect.DateTime(t) }

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

const idpColumns = `n.id, n.name, n.owner_domain_id, n.shadow_domain_id, n.issuer, n.discovery_url, n.jwks_url, n.client_id, n.client_secret,
	n.scopes, n.redirect_uris, n.audiences, n.default_mapping, n.python_mapping_id, i.enabled, i.description, i.authorization_ttl`

type rowScanner interface{ Scan(...any) error }

func scanIdP(r rowScanner) (*IdP, error) {
	var (
		p                            IdP
		owner                        string
		jwks, cid, secret, def, desc sql.NullString
		scopes, redirects, auds      string
		enabled                      any
		ttl                          sql.NullInt64
	)
	if err := r.Scan(&p.ID, &p.Name, &owner, &p.ShadowDomainID, &p.Issuer, &p.DiscoveryURL, &jwks, &cid, &secret,
		&scopes, &redirects, &auds, &def, &p.pythonMappingID, &enabled, &desc, &ttl); err != nil {
		return nil, err
	}
	if owner != "" {
		p.DomainID = &owner
	}
	str := func(n sql.NullString) *string {
		if !n.Valid || n.String == "" {
			return nil
		}
		v := n.String
		return &v
	}
	p.JWKSURL, p.ClientID, p.DefaultMapping = str(jwks), str(cid), str(def)
	p.clientSecret = secret.String
	p.ClientSecretSet = p.clientSecret != ""
	p.Description = desc.String
	p.Enabled = truthy(enabled)
	if ttl.Valid {
		v := int(ttl.Int64)
		p.AuthorizationTTL = &v
	}
	for _, l := range []struct {
		raw string
		dst *[]string
	}{{scopes, &p.Scopes}, {redirects, &p.RedirectURIs}, {auds, &p.Audiences}} {
		if err := json.Unmarshal([]byte(l.raw), l.dst); err != nil {
			return nil, fmt.Errorf("identity provider %s: corrupt list: %w", p.ID, err)
		}
		if *l.dst == nil {
			*l.dst = []string{}
		}
	}
	return &p, nil
}

// truthy reads a boolean column on any backend.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case []byte:
		s := string(x)
		return s == "1" || s == "t" || s == "true" || s == "TRUE"
	case string:
		return x == "1" || x == "t" || x == "true" || x == "TRUE"
	}
	return false
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func isDuplicate(err error) bool { return sqldialect.IsDuplicate(err) }

// GetIdP reads one IdP; 404 when there is none.
func (s *Service) GetIdP(ctx context.Context, id string) (*IdP, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+idpColumns+` FROM ng_identity_provider n JOIN identity_provider i ON i.id = n.id WHERE n.id = ?`, id)
	p, err := scanIdP(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apierror.NotFound(fmt.Sprintf("Could not find Identity Provider: %s.", id))
	}
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("read identity provider: %w", err))
	}
	return p, nil
}

// ListIdPs lists keystone-ng's IdPs (those Python alone created are not
// keystone-ng's and are left out).
func (s *Service) ListIdPs(ctx context.Context, f IdPFilter) ([]*IdP, error) {
	q := `SELECT ` + idpColumns + ` FROM ng_identity_provider n JOIN identity_provider i ON i.id = n.id WHERE 1 = 1`
	var args []any
	if f.Global {
		q += ` AND n.owner_domain_id = ''`
	} else if f.DomainID != nil {
		q += ` AND n.owner_domain_id = ?`
		args = append(args, *f.DomainID)
	}
	if f.Name != nil {
		q += ` AND n.name = ?`
		args = append(args, *f.Name)
	}
	q += ` ORDER BY n.owner_domain_id, n.name`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("list identity providers: %w", err))
	}
	defer rows.Close()
	out := []*IdP{}
	for rows.Next() {
		p, err := scanIdP(rows)
		if err != nil {
			return nil, apierror.Internal(fmt.Errorf("list identity providers: %w", err))
		}
		if f.Enabled != nil && p.Enabled != *f.Enabled {
			continue
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, apierror.Internal(err)
	}
	return out, nil
}

// domainExists checks a domain (a project row with is_domain).
func (s *Service) domainExists(ctx context.Context, q bun.IDB, id string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM project WHERE id = ? AND is_domain = ?`, id, true).Scan(&n)
	return n > 0, err
}

// CreateIdP creates the IdP and Python's rows for it in one transaction:
// identity_provider (for a global IdP, like Python's create_idp, on a
// domain auto-created for it), idp_remote_ids (the issuer), mapping (a
// Python mapping with no rules: Python's own federated login through this
// IdP maps nobody) and federation_protocol "openid".
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
	now := s.opt.Now()
	p.pythonMappingID = newID()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_provider WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store identity_provider - Duplicate entry: %s.", p.ID))
		}
		// Python keys idp_remote_ids by remote_id alone, so only one IdP
		// can carry an issuer there. Python needs remote ids only for its
		// own federated login (matching an incoming assertion to an IdP),
		// never for tokens; keystone-ng matches its own logins by IdP id. So
		// several domains may each have an IdP for the same issuer (GitHub
		// Actions uses one for every repository). Only a global IdP (a
		// system admin's) gets the remote id row, and only while no other
		// IdP has it: a domain admin must not be able to claim an issuer
		// before the operator configures it for Python's own federation.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_remote_ids WHERE remote_id = ?`, p.Issuer).Scan(&n); err != nil {
			return err
		}
		issuerTaken := n > 0 || p.DomainID != nil
		owner := ""
		if p.DomainID != nil {
			ok, err := s.domainExists(ctx, tx, *p.DomainID)
			if err != nil {
				return err
			}
			if !ok {
				return badRequest("identity_provider.domain_id: domain %s not found.", *p.DomainID)
			}
			if max := s.opt.MaxIdPsPerDomain; max > 0 {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_identity_provider WHERE owner_domain_id = ?`, *p.DomainID).Scan(&n); err != nil {
					return err
				}
				if n >= max {
					return apierror.Forbidden(fmt.Sprintf("Domain %s has %d identity providers, the most [keystone_ng] max_identity_providers_per_domain allows.", *p.DomainID, n))
				}
			}
			owner, p.ShadowDomainID = *p.DomainID, *p.DomainID
		} else {
			// keystone/federation/core.py _create_idp_domain.
			p.ShadowDomainID = newID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain)
				VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`, p.ShadowDomainID, p.ShadowDomainID, "{}",
				"Auto generated federated domain for Identity Provider: "+p.ID, true, "<<keystone.domain.root>>", true); err != nil {
				return fmt.Errorf("create domain for identity provider: %w", err)
			}
		}
		var ttl any
		if p.AuthorizationTTL != nil {
			ttl = *p.AuthorizationTTL
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_provider (id, enabled, description, domain_id, authorization_ttl) VALUES (?, ?, ?, ?, ?)`,
			p.ID, p.Enabled, nullable(p.Description), p.ShadowDomainID, ttl); err != nil {
			return fmt.Errorf("insert identity_provider: %w", err)
		}
		if !issuerTaken {
			if _, err := tx.ExecContext(ctx, `INSERT INTO idp_remote_ids (idp_id, remote_id) VALUES (?, ?)`, p.ID, p.Issuer); err != nil {
				return fmt.Errorf("insert idp_remote_ids: %w", err)
			}
		}
		// Python's MappingModel.from_dict stores jsonutils.dumps(rules) in a
		// JsonBlob column, which JSON-encodes it again: the column holds a
		// JSON string whose content is the rules list. Rescoping a federated
		// token (mapped.handle_scoped_token) decodes it twice.
		if _, err := tx.ExecContext(ctx, `INSERT INTO mapping (id, rules) VALUES (?, ?)`, p.pythonMappingID, pythonEmptyRules); err != nil {
			return fmt.Errorf("insert mapping: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO federation_protocol (id, idp_id, mapping_id, remote_id_attribute) VALUES (?, ?, ?, NULL)`,
			ProtocolID, p.ID, p.pythonMappingID); err != nil {
			return fmt.Errorf("insert federation_protocol: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ng_identity_provider (id, name, owner_domain_id, shadow_domain_id, issuer, discovery_url, jwks_url,
			client_id, client_secret, scopes, redirect_uris, audiences, default_mapping, python_mapping_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, owner, p.ShadowDomainID, p.Issuer, p.DiscoveryURL, optStr(p.JWKSURL), optStr(p.ClientID), nullable(p.clientSecret),
			jsonList(p.Scopes), jsonList(p.RedirectURIs), jsonList(p.Audiences), optStr(p.DefaultMapping), p.pythonMappingID, micros(now), micros(now)); err != nil {
			if isDuplicate(err) {
				return apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store identity_provider - an identity provider named %q already exists in this domain.", p.Name))
			}
			return fmt.Errorf("insert ng_identity_provider: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, asAPI(err)
	}
	return s.GetIdP(ctx, p.ID)
}

func asAPI(err error) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae
	}
	if isDuplicate(err) {
		e := apierror.New(http.StatusConflict, "Conflict occurred attempting to store identity_provider.")
		e.Cause = err
		return e
	}
	return apierror.Internal(err)
}

// pythonEmptyRules is an empty rule list as Python stores it: a JSON
// string holding the JSON list (MappingModel.from_dict + JsonBlob).
const pythonEmptyRules = `"[]"`

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func optStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// UpdateIdP applies f to the IdP (Python's rows too: enabled, description,
// authorization_ttl, the remote id when the issuer changes).
func (s *Service) UpdateIdP(ctx context.Context, p *IdP, f *IdPFields) (*IdP, error) {
	oldIssuer := p.Issuer
	if err := s.apply(p, f, false); err != nil {
		return nil, err
	}
	now := s.opt.Now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var ttl any
		if p.AuthorizationTTL != nil {
			ttl = *p.AuthorizationTTL
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identity_provider SET enabled = ?, description = ?, authorization_ttl = ? WHERE id = ?`,
			p.Enabled, nullable(p.Description), ttl, p.ID); err != nil {
			return err
		}
		if p.Issuer != oldIssuer {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_remote_ids WHERE remote_id = ? AND idp_id <> ?`, p.Issuer, p.ID).Scan(&n); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM idp_remote_ids WHERE idp_id = ? AND remote_id = ?`, p.ID, oldIssuer); err != nil {
				return err
			}
			// As on create: the remote id row only for a global IdP, and
			// only when no other IdP has it.
			if n == 0 && p.DomainID == nil {
				if _, err := tx.ExecContext(ctx, `INSERT INTO idp_remote_ids (idp_id, remote_id) VALUES (?, ?)`, p.ID, p.Issuer); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE ng_identity_provider SET name = ?, issuer = ?, discovery_url = ?, jwks_url = ?, client_id = ?, client_secret = ?,
			scopes = ?, redirect_uris = ?, audiences = ?, default_mapping = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Issuer, p.DiscoveryURL, optStr(p.JWKSURL), optStr(p.ClientID), nullable(p.clientSecret),
			jsonList(p.Scopes), jsonList(p.RedirectURIs), jsonList(p.Audiences), optStr(p.DefaultMapping), micros(now), p.ID)
		if isDuplicate(err) {
			return apierror.New(http.StatusConflict, fmt.Sprintf("Conflict occurred attempting to store identity_provider - an identity provider named %q already exists in this domain.", p.Name))
		}
		return err
	})
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
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT type, actor_id, target_id, role_id FROM ng_federation_grant WHERE idp_id = ?`, p.ID)
		if err != nil {
			return err
		}
		var grants []assignment
		for rows.Next() {
			var a assignment
			if err := rows.Scan(&a.Type, &a.ActorID, &a.TargetID, &a.RoleID); err != nil {
				rows.Close()
				return err
			}
			grants = append(grants, a)
		}
		rows.Close()
		for _, a := range grants {
			if _, err := tx.ExecContext(ctx, `DELETE FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
				a.Type, a.ActorID, a.TargetID, a.RoleID, false); err != nil {
				return err
			}
		}
		for _, st := range []string{
			`DELETE FROM ng_federation_grant WHERE idp_id = ?`,
			`DELETE FROM ng_jwt_jti WHERE idp_id = ?`,
			`DELETE FROM ng_mapping WHERE idp_id = ?`,
			`DELETE FROM ng_identity_provider WHERE id = ?`,
			`DELETE FROM expiring_user_group_membership WHERE idp_id = ?`,
			`DELETE FROM federated_user WHERE idp_id = ?`,
			`DELETE FROM federation_protocol WHERE idp_id = ?`,
			`DELETE FROM idp_remote_ids WHERE idp_id = ?`,
			`DELETE FROM identity_provider WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, st, p.ID); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM mapping WHERE id = ?`, p.pythonMappingID)
		return err
	})
	if err != nil {
		return asAPI(err)
	}
	s.jwks.forget(p.ID)
	return nil
}

type assignment struct {
	Type, ActorID, TargetID, RoleID string
}
