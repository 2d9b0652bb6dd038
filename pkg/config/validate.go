package config

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SupportedDatabaseSchemes are the SQLAlchemy URL schemes of [database]
// connection that keystone-ng can serve (MySQL/MariaDB, PostgreSQL, SQLite).
var SupportedDatabaseSchemes = []string{
	"mysql", "mysql+pymysql", "mysql+mysqldb",
	"postgresql", "postgresql+psycopg2",
	"sqlite",
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// Validate checks the semantic rules keystone-ng needs to serve safely and
// returns nil or a *Problems listing every violation at once (so that
// `keystone-ng check` shows them all). Load already calls it.
func (c *Config) Validate() error {
	p := &Problems{}

	// [keystone_ng]
	ng := c.KeystoneNG
	if err := checkListen(ng.Listen); err != "" {
		p.add("%s: %q: %s", c.at("keystone_ng", "listen"), ng.Listen, err)
	}
	if !contains(logLevels, ng.LogLevel) {
		p.add("%s: %q: must be one of %s", c.at("keystone_ng", "log_level"), ng.LogLevel, strings.Join(logLevels, ", "))
	}
	if !contains(logFormats, ng.LogFormat) {
		p.add("%s: %q: must be one of %s", c.at("keystone_ng", "log_format"), ng.LogFormat, strings.Join(logFormats, ", "))
	}
	for _, d := range []struct {
		name string
		v    int64
	}{
		{"key_reload_interval", int64(ng.KeyReloadInterval)},
		{"shutdown_timeout", int64(ng.ShutdownTimeout)},
		{"request_timeout", int64(ng.RequestTimeout)},
		{"read_header_timeout", int64(ng.ReadHeaderTimeout)},
		{"db_query_timeout", int64(ng.DBQueryTimeout)},
	} {
		if d.v <= 0 {
			p.add("%s: must be greater than zero", c.at(SectionKeystoneNG, d.name))
		}
	}
	if ng.CatalogCacheTTL < 0 || ng.CatalogCacheTTL > time.Minute {
		p.add("%s: must be between 0 (off) and 1m", c.at(SectionKeystoneNG, "catalog_cache_ttl"))
	}
	if ng.DBConcurrency < -1 {
		p.add("%s: must be -1 (no limit), 0 (automatic) or a number of statements", c.at(SectionKeystoneNG, "db_concurrency"))
	}
	if ng.DBBatchSize < 1 || ng.DBBatchSize > maxDBBatchSize {
		p.add("%s: must be between 1 (no batching) and %d", c.at(SectionKeystoneNG, "db_batch_size"), maxDBBatchSize)
	}
	if ng.MaxRequestBodyBytes <= 0 {
		p.add("%s: must be greater than zero", c.at("keystone_ng", "max_request_body_bytes"))
	}

	// [DEFAULT]
	if c.Default.PublicEndpoint != "" {
		if err := checkURI(c.Default.PublicEndpoint); err != nil {
			p.add("%s: %q: %v", c.at("DEFAULT", "public_endpoint"), c.Default.PublicEndpoint, err)
		}
	}

	// [database]
	db := c.Database
	if db.Connection == "" {
		p.add("%s: must be set", c.at("database", "connection"))
	} else if scheme, ok := dbScheme(db.Connection); !ok {
		p.add("%s: not a SQLAlchemy URL (expected e.g. mysql+pymysql://user:password@host/keystone)", c.at("database", "connection"))
	} else if !contains(SupportedDatabaseSchemes, strings.ToLower(scheme)) {
		p.add("%s: unsupported scheme %q (supported: %s)", c.at("database", "connection"), scheme, strings.Join(SupportedDatabaseSchemes, ", "))
	}
	if db.MaxPoolSize < 0 {
		p.add("%s: must be 0 (no limit) or more", c.at("database", "max_pool_size"))
	}
	if db.MaxOverflow < -1 {
		p.add("%s: must be -1 (no limit) or more", c.at("database", "max_overflow"))
	}
	if db.PoolTimeout < 0 {
		p.add("%s: must not be negative", c.at("database", "pool_timeout"))
	}
	if db.MaxRetries < -1 {
		p.add("%s: must be -1 (forever) or more", c.at("database", "max_retries"))
	}

	// [token]
	if c.Token.Expiration <= 0 {
		p.add("%s: must be greater than zero", c.at("token", "expiration"))
	}
	switch c.Token.Provider {
	case "fernet":
	case "jws":
		// Python refuses to start without both repositories
		// (jws/core.py Provider.__init__); their content is checked
		// when they are opened.
		for _, name := range []string{"jws_public_key_repository", "jws_private_key_repository"} {
			v := c.JWTTokens.JWSPublicKeyRepository
			if name == "jws_private_key_repository" {
				v = c.JWTTokens.JWSPrivateKeyRepository
			}
			if strings.TrimSpace(v) == "" {
				p.add("%s: must be set with [token] provider = jws", c.at("jwt_tokens", name))
			}
		}
	default:
		p.add("%s: %q: unknown provider (keystone-ng supports fernet and jws)", c.at("token", "provider"), c.Token.Provider)
	}
	if c.Token.AllowExpiredWindow < 0 {
		p.add("%s: must not be negative", c.at("token", "allow_expired_window"))
	}

	// Key repositories.
	for _, k := range []struct {
		section string
		f       FernetSection
	}{{"fernet_tokens", c.FernetTokens}, {"fernet_receipts", c.FernetReceipts}} {
		if strings.TrimSpace(k.f.KeyRepository) == "" {
			p.add("%s: must be set", c.at(k.section, "key_repository"))
		}
		if k.f.MaxActiveKeys < 1 {
			p.add("%s: must be at least 1", c.at(k.section, "max_active_keys"))
		}
	}
	if strings.TrimSpace(c.Credential.KeyRepository) == "" {
		p.add("%s: must be set", c.at("credential", "key_repository"))
	}

	// [identity]
	id := c.Identity
	if id.DefaultDomainID == "" {
		p.add("%s: must be set", c.at("identity", "default_domain_id"))
	}
	hashAlgs := lookupOption("identity", "password_hash_algorithm").choices
	if !contains(hashAlgs, id.PasswordHashAlgorithm) {
		p.add("%s: %q: must be one of %s", c.at("identity", "password_hash_algorithm"), id.PasswordHashAlgorithm, strings.Join(hashAlgs, ", "))
	} else if id.PasswordHashRounds != 0 {
		// Bounds from the option's help in keystone/conf/identity.py.
		lo, hi := 4, 31
		switch id.PasswordHashAlgorithm {
		case "scrypt":
			lo, hi = 1, 31
		case "pbkdf2_sha512":
			lo, hi = 1, 1<<32-1
		}
		if id.PasswordHashRounds < lo || id.PasswordHashRounds > hi {
			p.add("%s: %d: must be between %d and %d for %s", c.at("identity", "password_hash_rounds"), id.PasswordHashRounds, lo, hi, id.PasswordHashAlgorithm)
		}
	}
	if id.MaxPasswordLength < 1 || id.MaxPasswordLength > 4096 {
		p.add("%s: must be between 1 and 4096", c.at("identity", "max_password_length"))
	}

	// [auth] methods: order defines the token methods bitmask.
	if len(c.Auth.Methods) == 0 {
		p.add("%s: must not be empty", c.at("auth", "methods"))
	}
	seen := map[string]bool{}
	for i, m := range c.Auth.Methods {
		if m == "" {
			p.add("%s: entry %d is empty", c.at("auth", "methods"), i+1)
			continue
		}
		if seen[m] {
			p.add("%s: %q listed twice (the order defines the token methods bitmask)", c.at("auth", "methods"), m)
		}
		seen[m] = true
	}

	// Other Python sections: bounds a hand-built Config could break.
	if c.Revoke.ExpirationBuffer < 0 {
		p.add("%s: must not be negative", c.at("revoke", "expiration_buffer"))
	}
	if c.Federation.DefaultAuthorizationTTL < 0 {
		p.add("%s: must not be negative", c.at("federation", "default_authorization_ttl"))
	}
	sc := c.SecurityCompliance
	if sc.LockoutFailureAttempts < 0 {
		p.add("%s: must not be negative (0 = unset)", c.at("security_compliance", "lockout_failure_attempts"))
	}
	if sc.LockoutDuration < 1 {
		p.add("%s: must be at least 1", c.at("security_compliance", "lockout_duration"))
	}
	if sc.DisableUserAccountDaysInactive < 0 {
		p.add("%s: must not be negative (0 = unset)", c.at("security_compliance", "disable_user_account_days_inactive"))
	}
	if sc.PasswordExpiresDays < 0 {
		p.add("%s: must not be negative (0 = unset)", c.at("security_compliance", "password_expires_days"))
	}
	if c.Trust.MaxRedelegationCount < 0 {
		p.add("%s: must not be negative", c.at("trust", "max_redelegation_count"))
	}
	if strings.TrimSpace(c.OsloPolicy.PolicyFile) == "" {
		p.add("%s: must be set", c.at("oslo_policy", "policy_file"))
	}
	c.validateV4(p)
	c.validateNotifications(p)
	return p.errOrNil()
}

// NotificationTransportURL is the bus notifications go to:
// [oslo_messaging_notifications] transport_url, else [DEFAULT]
// transport_url (oslo_messaging.get_notification_transport).
func (c *Config) NotificationTransportURL() string {
	if c.Notifications.TransportURL != "" {
		return c.Notifications.TransportURL
	}
	return c.Default.TransportURL
}

// NotificationsToBus reports whether a configured driver publishes to the
// message bus (messaging, messagingv2), as opposed to log, noop or none.
func (c *Config) NotificationsToBus() bool {
	for _, d := range c.Notifications.Driver {
		if d == "messaging" || d == "messagingv2" {
			return true
		}
	}
	return false
}

// AuditBusUnsupported says why keystone-ng cannot publish audit events
// where Python's notifier publishes them ("" when it can, or when no
// driver publishes to the bus): no transport URL, or a bus other than
// RabbitMQ. /v4 then stays off rather than act without a trace; token
// validation, which emits no event, is not affected (docs/audit.md §1).
func (c *Config) AuditBusUnsupported() string {
	if !c.NotificationsToBus() {
		return ""
	}
	u := c.NotificationTransportURL()
	where := c.at("oslo_messaging_notifications", "transport_url")
	if c.Notifications.TransportURL == "" {
		where = c.at("DEFAULT", "transport_url")
	}
	scheme, _, ok := strings.Cut(u, "://")
	switch {
	case u == "":
		return where + ": not set, while [oslo_messaging_notifications] driver publishes to the bus (messaging, messagingv2)"
	case !ok || !contains(busSchemes, strings.ToLower(scheme)):
		return where + ": " + RedactURL(u) + ": keystone-ng publishes audit events only to RabbitMQ (rabbit://)"
	}
	return ""
}

// busSchemes are the transport URL schemes keystone-ng can publish to:
// oslo.messaging's RabbitMQ driver ("kombu" is its old alias).
var busSchemes = []string{"rabbit", "kombu"}

// validateNotifications checks what keystone-ng needs to publish audit
// events where Python's notifier publishes them. Python's own options are
// read as Python reads them. A bus keystone-ng cannot publish to is not a
// problem of the configuration (Python may well publish there): /v4 then
// stays off, see AuditBusUnsupported.
func (c *Config) validateNotifications(p *Problems) {
	ng := c.KeystoneNG
	if ng.AuditOutboxMaxEvents < 1 {
		p.add("%s: must be at least 1", c.at(SectionKeystoneNG, "audit_outbox_max_events"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"audit_bus_down_alert", ng.AuditBusDownAlert}, {"audit_publish_timeout", ng.AuditPublishTimeout}} {
		if d.v <= 0 {
			p.add("%s: must be greater than zero", c.at(SectionKeystoneNG, d.name))
		}
	}
	if !c.NotificationsToBus() {
		return
	}
	if len(c.Notifications.Topics) == 0 {
		p.add("%s: must name at least one topic", c.at("oslo_messaging_notifications", "topics"))
	}
	if c.Default.ControlExchange == "" {
		p.add("%s: must be set", c.at("DEFAULT", "control_exchange"))
	}
}

// validateV4 checks the options of the /v4 features.
func (c *Config) validateV4(p *Problems) {
	ng := c.KeystoneNG
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"purge_interval", ng.PurgeInterval},
		{"login_state_ttl", ng.LoginStateTTL},
		{"outbound_timeout", ng.OutboundTimeout},
		{"jwks_cache_ttl", ng.JWKSCacheTTL},
	} {
		if d.v <= 0 {
			p.add("%s: must be greater than zero", c.at(SectionKeystoneNG, d.name))
		}
	}
	if ng.JWTClockLeeway < 0 || ng.JWTClockLeeway > 5*time.Minute {
		p.add("%s: must be between 0 and 5m (a larger leeway stretches every JWT's lifetime)", c.at(SectionKeystoneNG, "jwt_clock_leeway"))
	}
	if ng.JWKSStaleTTL < 0 || ng.JWKSStaleTTL > 24*time.Hour {
		p.add("%s: must be between 0 and 24h", c.at(SectionKeystoneNG, "jwks_stale_ttl"))
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"outbound_allowed_networks", ng.OutboundAllowedNetworks}, {"trusted_proxies", ng.TrustedProxies}} {
		for _, n := range l.v {
			if _, err := ParseNetwork(n); err != nil {
				p.add("%s: %q: %v", c.at(SectionKeystoneNG, l.name), n, err)
			}
		}
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"login_rate_limit", ng.LoginRateLimit},
		{"login_rate_burst", ng.LoginRateBurst},
		{"max_identity_providers_per_domain", ng.MaxIdentityProvidersPerDomain},
		{"max_mappings_per_identity_provider", ng.MaxMappingsPerIdentityProvider},
		{"max_passkeys_per_user", ng.MaxPasskeysPerUser},
		{"max_credentials_per_service_account", ng.MaxCredentialsPerServiceAccount},
	} {
		if l.v < 0 {
			p.add("%s: must not be negative (0 = no limit)", c.at(SectionKeystoneNG, l.name))
		}
	}
	if ng.LoginRateLimit > 0 && ng.LoginRateBurst < 1 {
		p.add("%s: must be at least 1 while login_rate_limit is set", c.at(SectionKeystoneNG, "login_rate_burst"))
	}
	for _, r := range ng.DomainGrantableRoles {
		if strings.EqualFold(r, "admin") {
			p.add("%s: must not name admin: Python's admin_required honours a domain-scoped admin across the cloud", c.at(SectionKeystoneNG, "domain_grantable_roles"))
		}
	}

	w := c.WebAuthn
	if w.RelyingPartyID == "" {
		if len(w.RelyingPartyOrigins) > 0 {
			p.add("%s: must be set when relying_party_origins is (passkeys are off without it)", c.at(SectionWebAuthn, "relying_party_id"))
		}
		return
	}
	if !validRPID(w.RelyingPartyID) {
		p.add("%s: %q: must be a host name such as cloud.example.com (no scheme, port or path)", c.at(SectionWebAuthn, "relying_party_id"), w.RelyingPartyID)
	}
	if len(w.RelyingPartyOrigins) == 0 {
		p.add("%s: must list at least one origin, e.g. https://%s", c.at(SectionWebAuthn, "relying_party_origins"), w.RelyingPartyID)
	}
	for _, o := range w.RelyingPartyOrigins {
		if err := checkOrigin(o, w.RelyingPartyID); err != "" {
			p.add("%s: %q: %s", c.at(SectionWebAuthn, "relying_party_origins"), o, err)
		}
	}
	if w.CeremonyTimeout <= 0 || w.CeremonyTimeout > time.Hour {
		p.add("%s: must be between 1s and 1h", c.at(SectionWebAuthn, "ceremony_timeout"))
	}
	if len(w.TokenMethods) == 0 {
		p.add("%s: must name at least one method", c.at(SectionWebAuthn, "token_methods"))
	}
	if w.ReauthenticationWindow <= 0 || w.ReauthenticationWindow > 24*time.Hour {
		p.add("%s: must be between 1s and 24h", c.at(SectionWebAuthn, "reauthentication_window"))
	}
	for _, m := range w.TokenMethods {
		if !contains(c.Auth.Methods, m) {
			p.add("%s: %q is not in [auth] methods (%s): Python could not decode the token", c.at(SectionWebAuthn, "token_methods"), m, strings.Join(c.Auth.Methods, ","))
		}
	}
}

// validRPID accepts a WebAuthn RP ID: a host name, no scheme, port or path
// (WebAuthn §5.1.2 "RP ID" is a valid domain string).
func validRPID(id string) bool {
	if id == "localhost" {
		return true
	}
	if strings.ContainsAny(id, ":/ @?#") || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") {
		return false
	}
	for _, label := range strings.Split(id, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// checkOrigin verifies that origin is scheme://host[:port] with https (or
// http for localhost) and that its host equals the RP ID or is a subdomain
// of it (WebAuthn §13.4.9: an RP ID must be a registrable suffix of the
// origin's effective domain).
func checkOrigin(origin, rpID string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must be an origin such as https://" + rpID
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if host != "localhost" && host != "127.0.0.1" && host != "::1" {
			return "must use https (http only for localhost)"
		}
	default:
		return "must use https"
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "host " + host + " is outside relying_party_id " + rpID
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkListen returns "" if s is host:port with a numeric port 0-65535
// (the host may be empty, meaning all addresses).
func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be host:port (e.g. 127.0.0.1:5001 or [::1]:5001)"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "port must be a number between 0 and 65535"
	}
	return ""
}

// maxDBBatchSize bounds db_batch_size: a batch of n rounds is one
// statement with n times a round's branches (seven for a project token),
// and 32 is far beyond any measured gain.
const maxDBBatchSize = 32

// dbScheme returns the scheme of a SQLAlchemy URL ("dialect[+driver]").
func dbScheme(u string) (string, bool) {
	scheme, _, ok := strings.Cut(u, "://")
	if !ok || scheme == "" {
		return "", false
	}
	for _, r := range scheme {
		if !(r == '+' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", false
		}
	}
	return scheme, true
}

// at names an option for a problem message, with where its value came from
// when Load knows it (a file line or an environment variable).
func (c *Config) at(section, name string) string {
	s := "[" + section + "] " + name
	if w := c.sources[section+" "+name]; w != "" {
		s += " (from " + w + ")"
	}
	return s
}

// ParseNetwork reads a CIDR network (10.0.0.0/8, fd00::/8) or a single
// address (taken as a /32 or /128), as outbound_allowed_networks and
// trusted_proxies list them.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a CIDR network such as 10.0.0.0/8")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or CIDR network")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
