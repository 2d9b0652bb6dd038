// Package config reads the operator's unmodified keystone.conf the way
// Python Keystone (through oslo.config) reads it, plus keystone-ng's own
// [keystone_ng] section and KEYSTONE_NG_* environment overrides.
//
// keystone-ng runs beside an unmodified Python Keystone and shares its
// database and key repositories, so it must see exactly the settings Python
// sees: the same files in the same order (repeated --config-file, then every
// *.conf of each --config-dir), the same INI dialect (oslo_config/iniparser.py)
// and the same $option substitution (oslo_config/cfg.py ConfigOpts._substitute).
// Defaults are those of Python Keystone 22 (Zed) with oslo.db 12.1 and
// oslo.policy 4.0 as shipped by Debian bookworm.
//
// Python's sections are read, never rejected: an operator's keystone.conf has
// hundreds of options keystone-ng ignores. keystone-ng's own sections
// ([keystone_ng]) reject unknown keys, because there a typo would otherwise be
// silently ignored.
package config

import (
	"strings"
	"time"
)

// Config is the effective configuration: defaults, then config files, then
// environment overrides. Field names follow the keystone.conf option names in
// CamelCase; each nested struct is one section.
//
// Integer options whose Python default is None ("unset") are 0 here when unset;
// the field comments say so.
type Config struct {
	Default            DefaultSection
	Database           DatabaseSection
	Token              TokenSection
	FernetTokens       FernetSection // [fernet_tokens]
	FernetReceipts     FernetSection // [fernet_receipts]
	JWTTokens          JWTTokensSection
	Credential         CredentialSection
	Identity           IdentitySection
	IdentityMapping    IdentityMappingSection // [identity_mapping]
	LDAP               LDAPSection            // [ldap]
	Cache              CacheSection           // [cache] (oslo.cache)
	Auth               AuthSection
	Resource           ResourceSection
	Revoke             RevokeSection
	EndpointFilter     EndpointFilterSection
	Federation         FederationSection
	SecurityCompliance SecurityComplianceSection
	Trust              TrustSection
	AppCred            ApplicationCredentialSection // [application_credential]
	OsloPolicy         OsloPolicySection
	// Notifications is [oslo_messaging_notifications] and Rabbit
	// [oslo_messaging_rabbit]: where Python's notifier publishes, read so
	// that keystone-ng's audit events go to the same bus (docs/audit.md).
	Notifications NotificationsSection
	Rabbit        RabbitSection
	KeystoneNG    KeystoneNGSection // [keystone_ng], keystone-ng's own
	WebAuthn      WebAuthnSection   // [webauthn], keystone-ng's own

	// Files lists every configuration file read, absolute, in the order
	// applied: the --config-file files, then the *.conf files of each
	// --config-dir. Later files override earlier ones.
	Files []string
	// Dirs lists the --config-dir directories, absolute, in the order given.
	Dirs []string
	// SearchDirs are the directories oslo.config's ConfigOpts.find_file
	// searches for a relative file name such as [oslo_policy] policy_file:
	// the config dirs, the directories of the --config-file files (last file
	// first), then ~/.keystone, ~, /etc/keystone, /etc.
	SearchDirs []string

	// sources maps "section name" to where Load took the value from, for
	// problem messages.
	sources map[string]string
}

// DefaultSection is keystone.conf [DEFAULT].
type DefaultSection struct {
	PublicEndpoint string // public_endpoint, a URI; "" = unset (use the request's host URL)
	InsecureDebug  bool   // insecure_debug
	AdminToken     string // admin_token, secret: never printed
	MaxTokenSize   int    // max_token_size (255)

	// TransportURL is transport_url (oslo.messaging), secret: the bus of
	// RPC and, unless [oslo_messaging_notifications] transport_url is
	// set, of notifications.
	TransportURL string
	// ControlExchange is control_exchange: the AMQP exchange notifications
	// go to. Keystone changes oslo.messaging's default "openstack" to
	// "keystone" (keystone/conf/__init__.py set_transport_defaults).
	ControlExchange string
	// DefaultPublisherID is default_publisher_id ("" = the host name):
	// the publisher_id of notifications is "identity.<this>".
	DefaultPublisherID string
	// NotificationFormat is notification_format: cadf (default) or basic.
	NotificationFormat string
	// NotificationOptOut is notification_opt_out (MultiStrOpt): event
	// types not sent; "identity.authenticate.<outcome>" for logins.
	// Python's default opts out of identity.authenticate.success,
	// .pending and .failed (the failure outcome is "failure", so failed
	// logins are sent).
	NotificationOptOut []string
}

// NotificationsSection is keystone.conf [oslo_messaging_notifications]
// (oslo_messaging/notify/notifier.py).
type NotificationsSection struct {
	// Driver is driver (MultiStrOpt, default none: notifications off):
	// messagingv2, messaging, log, noop, and the test drivers.
	Driver []string
	// TransportURL is transport_url, secret ("" = [DEFAULT] transport_url).
	TransportURL string
	// Topics is topics (notifications): each event is published with the
	// routing key "<topic>.<priority>".
	Topics []string
	// Retry is retry (-1 = forever, 0 = no retry).
	Retry int
}

// RabbitSection is the part of keystone.conf [oslo_messaging_rabbit]
// (oslo_messaging/_drivers/impl_rabbit.py) keystone-ng reads: TLS.
type RabbitSection struct {
	SSL                            bool   // ssl (false); also ?ssl=1 in the transport URL
	SSLCAFile                      string // ssl_ca_file ("" = the system's roots)
	SSLCertFile                    string // ssl_cert_file
	SSLKeyFile                     string // ssl_key_file
	SSLVersion                     string // ssl_version ("" = the library's default)
	SSLEnforceHostnameVerification bool   // ssl_enforce_hostname_verification (false, as Python)
}

// DatabaseSection is keystone.conf [database] (oslo.db options).
type DatabaseSection struct {
	Connection            string // connection, a SQLAlchemy URL; secret (password)
	MaxPoolSize           int    // max_pool_size (5)
	MaxOverflow           int    // max_overflow (50)
	PoolTimeout           int    // pool_timeout (oslo.db leaves it unset; SQLAlchemy then uses 30)
	ConnectionRecycleTime int    // connection_recycle_time (3600)
	MaxRetries            int    // max_retries (10; -1 = forever)
}

// TokenSection is keystone.conf [token].
type TokenSection struct {
	Expiration              int    // expiration in seconds (3600)
	Provider                string // provider (fernet): fernet or jws
	AllowExpiredWindow      int    // allow_expired_window in seconds (172800)
	AllowRescopeScopedToken bool   // allow_rescope_scoped_token (true)
	RevokeByID              bool   // revoke_by_id (true)
	CacheOnIssue            bool   // cache_on_issue (true)
}

// FernetSection is keystone.conf [fernet_tokens] or [fernet_receipts].
type FernetSection struct {
	KeyRepository string // key_repository (/etc/keystone/fernet-keys/)
	MaxActiveKeys int    // max_active_keys (3)
}

// JWTTokensSection is keystone.conf [jwt_tokens], the key repositories of
// [token] provider = jws (keystone/conf/jwt_tokens.py).
type JWTTokensSection struct {
	JWSPublicKeyRepository  string // jws_public_key_repository (/etc/keystone/jws-keys/public)
	JWSPrivateKeyRepository string // jws_private_key_repository (/etc/keystone/jws-keys/private)
}

// CredentialSection is keystone.conf [credential].
type CredentialSection struct {
	KeyRepository string // key_repository (/etc/keystone/credential-keys/)
}

// IdentitySection is keystone.conf [identity].
type IdentitySection struct {
	DefaultDomainID              string // default_domain_id (default)
	Driver                       string // driver (sql)
	DomainSpecificDriversEnabled bool   // domain_specific_drivers_enabled
	PasswordHashAlgorithm        string // password_hash_algorithm (bcrypt)
	PasswordHashRounds           int    // password_hash_rounds (0 = unset: the algorithm's default)
	MaxPasswordLength            int    // max_password_length (4096)
	// DomainConfigurationsFromDatabase is domain_configurations_from_database
	// (false): domain-specific configuration from the whitelisted_config and
	// sensitive_config tables instead of files.
	DomainConfigurationsFromDatabase bool
	DomainConfigDir                  string // domain_config_dir (/etc/keystone/domains)
	Caching                          bool   // caching (true; only with [cache] enabled)
	CacheTime                        int    // cache_time in seconds (600)
}

// IdentityMappingSection is keystone.conf [identity_mapping].
type IdentityMappingSection struct {
	Generator             string // generator (sha256, the only one Keystone ships)
	BackwardCompatibleIDs bool   // backward_compatible_ids (true)
}

// CacheSection is the part of oslo.cache's [cache] keystone-ng reads.
type CacheSection struct {
	Enabled bool // enabled (false)
}

// LDAPSection is keystone.conf [ldap] (keystone/conf/ldap.py): the LDAP
// identity driver's options, for the default driver or, in a domain's own
// configuration, for that domain (DomainIdentity). Options Python reads as
// None are "" (strings) here.
type LDAPSection struct {
	URL                string // url (ldap://localhost); several separated by commas or spaces
	RandomizeURLs      bool   // randomize_urls
	User               string // user: the bind DN ("" = anonymous)
	Password           string // password, secret
	Suffix             string // suffix (cn=example,cn=com)
	QueryScope         string // query_scope: one|sub (one)
	PageSize           int    // page_size (0 = no paging)
	AliasDereferencing string // alias_dereferencing (default)
	DebugLevel         int    // debug_level (unset; ignored)
	ChaseReferrals     string // chase_referrals ("" = unset, "true", "false")

	UserTreeDN                         string   // user_tree_dn ("" = ou=Users,<suffix>)
	UserFilter                         string   // user_filter
	UserObjectClass                    string   // user_objectclass (inetOrgPerson)
	UserIDAttribute                    string   // user_id_attribute (cn)
	UserNameAttribute                  string   // user_name_attribute (sn)
	UserDescriptionAttribute           string   // user_description_attribute (description)
	UserMailAttribute                  string   // user_mail_attribute (mail)
	UserPassAttribute                  string   // user_pass_attribute (userPassword)
	UserEnabledAttribute               string   // user_enabled_attribute (enabled)
	UserEnabledInvert                  bool     // user_enabled_invert
	UserEnabledMask                    int      // user_enabled_mask (0)
	UserEnabledDefault                 string   // user_enabled_default (True)
	UserAttributeIgnore                []string // user_attribute_ignore (default_project_id)
	UserDefaultProjectIDAttribute      string   // user_default_project_id_attribute
	UserEnabledEmulation               bool     // user_enabled_emulation
	UserEnabledEmulationDN             string   // user_enabled_emulation_dn ("" = cn=enabled_users,<user tree>)
	UserEnabledEmulationUseGroupConfig bool     // user_enabled_emulation_use_group_config
	UserAdditionalAttributeMapping     []string // user_additional_attribute_mapping

	GroupTreeDN                     string   // group_tree_dn ("" = ou=UserGroups,<suffix>)
	GroupFilter                     string   // group_filter
	GroupObjectClass                string   // group_objectclass (groupOfNames)
	GroupIDAttribute                string   // group_id_attribute (cn)
	GroupNameAttribute              string   // group_name_attribute (ou)
	GroupMemberAttribute            string   // group_member_attribute (member)
	GroupMembersAreIDs              bool     // group_members_are_ids
	GroupDescAttribute              string   // group_desc_attribute (description)
	GroupAttributeIgnore            []string // group_attribute_ignore
	GroupAdditionalAttributeMapping []string // group_additional_attribute_mapping
	GroupADNesting                  bool     // group_ad_nesting

	TLSCACertFile string // tls_cacertfile
	TLSCACertDir  string // tls_cacertdir
	UseTLS        bool   // use_tls (StartTLS)
	TLSReqCert    string // tls_req_cert: demand|never|allow (demand)

	ConnectionTimeout      int  // connection_timeout in seconds (-1 = none)
	UsePool                bool // use_pool (true)
	PoolSize               int  // pool_size (10)
	PoolConnectionTimeout  int  // pool_connection_timeout in seconds (-1 = none)
	PoolConnectionLifetime int  // pool_connection_lifetime in seconds (600)
}

// AuthSection is keystone.conf [auth].
type AuthSection struct {
	// Methods is [auth] methods in file order. The order matters: it defines
	// the bit of each method in the Fernet token methods bitmask.
	Methods []string
	// AdditionalPrimaryAuthMethods is [auth] additional_primary_auth_methods:
	// method names an operator's own plugin adds to Python's set of
	// primary (non-delegated) methods (keystone/api/_shared/delegation.py).
	// Releases without the option simply never set it.
	AdditionalPrimaryAuthMethods []string
}

// ResourceSection is keystone.conf [resource].
type ResourceSection struct {
	AdminProjectName       string // admin_project_name ("" = unset)
	AdminProjectDomainName string // admin_project_domain_name ("" = unset)
}

// RevokeSection is keystone.conf [revoke].
type RevokeSection struct {
	ExpirationBuffer int // expiration_buffer in seconds (1800)
}

// EndpointFilterSection is keystone.conf [endpoint_filter].
type EndpointFilterSection struct {
	ReturnAllEndpointsIfNoFilter bool // return_all_endpoints_if_no_filter (true)
}

// FederationSection is keystone.conf [federation].
type FederationSection struct {
	DefaultAuthorizationTTL int // default_authorization_ttl in minutes (0)
	// TrustedDashboard is trusted_dashboard (MultiStrOpt): the dashboards
	// a browser login may hand its token to.
	TrustedDashboard []string
}

// SecurityComplianceSection is keystone.conf [security_compliance].
type SecurityComplianceSection struct {
	LockoutFailureAttempts         int // lockout_failure_attempts (0 = unset: no lockout)
	LockoutDuration                int // lockout_duration in seconds (1800)
	DisableUserAccountDaysInactive int // disable_user_account_days_inactive (0 = unset)
	PasswordExpiresDays            int // password_expires_days (0 = unset)
}

// ApplicationCredentialSection is keystone.conf [application_credential].
type ApplicationCredentialSection struct {
	// UserLimit is user_limit: the most application credentials one user
	// may hold (-1 = no limit). Restricted tokens are application
	// credentials, so they count (docs/restricted-tokens.md §3).
	UserLimit int
}

// TrustSection is keystone.conf [trust].
type TrustSection struct {
	AllowRedelegation    bool // allow_redelegation (false)
	MaxRedelegationCount int  // max_redelegation_count (3)
}

// OsloPolicySection is keystone.conf [oslo_policy] (oslo.policy options).
type OsloPolicySection struct {
	PolicyFile string // policy_file (policy.yaml, Keystone's override of oslo.policy's policy.json)
	// PolicyDirs is policy_dirs (policy.d). It is a MultiStrOpt in
	// oslo.policy: every "policy_dirs =" line of every file adds one entry,
	// commas are not separators.
	PolicyDirs         []string
	EnforceScope       bool // enforce_scope (false in oslo.policy 4.0)
	EnforceNewDefaults bool // enforce_new_defaults (false in oslo.policy 4.0)
}

// KeystoneNGSection is keystone-ng's own [keystone_ng] section. Unknown keys
// in it are an error.
type KeystoneNGSection struct {
	Listen              string        // listen, host:port (127.0.0.1:5001)
	LogLevel            string        // log_level: debug|info|warn|error (info)
	LogFormat           string        // log_format: text|json (text)
	KeyReloadInterval   time.Duration // key_reload_interval (500ms)
	ShutdownTimeout     time.Duration // shutdown_timeout (15s)
	RequestTimeout      time.Duration // request_timeout (30s)
	ReadHeaderTimeout   time.Duration // read_header_timeout (10s)
	MaxRequestBodyBytes int64         // max_request_body_bytes (1 MiB)
	DBQueryTimeout      time.Duration // db_query_timeout (5s)
	MetricsEnabled      bool          // metrics_enabled (true)
	// CatalogCacheTTL is catalog_cache_ttl (1s; 0 = off): how long the
	// service catalog (services, endpoints, endpoint filters, service
	// providers) may be reused. The catalog grants no access, so this is
	// the only cache on the validation path; roles, users, projects and
	// revocations are always read afresh.
	CatalogCacheTTL time.Duration
	// DBConcurrency is db_concurrency (0): how many statements of token
	// validation may be in flight on the database at once; the rounds
	// beyond wait their turn, first come first served, and on
	// MySQL/MariaDB and PostgreSQL share the next statement (DBBatchSize). 0 = automatic
	// (DBLimits), -1 = no limit (and no batching).
	DBConcurrency int
	// DBBatchSize is db_batch_size (8): on MySQL/MariaDB and PostgreSQL, how many waiting
	// validation rounds of the same shape one statement may carry; 1 = no
	// batching. Other backends ignore it.
	DBBatchSize int
	// PolicyDir is policy_dir: the operator's Rego directory for /v4
	// ("" = the shipped policy only).
	PolicyDir string
	// PurgeInterval is purge_interval (1m): how often expired rows of
	// keystone-ng's own tables (login state, ceremonies) are deleted.
	PurgeInterval time.Duration
	// LoginStateTTL is login_state_ttl (10m): lifetime of a pending
	// OIDC login (state, nonce, PKCE verifier).
	LoginStateTTL time.Duration
	// OutboundTimeout is outbound_timeout (10s): deadline of every call
	// to an identity provider (discovery, JWKS, token endpoint).
	OutboundTimeout time.Duration
	// JWTClockLeeway is jwt_clock_leeway (30s, at most 5m): tolerated
	// clock skew for exp/nbf/iat of incoming JWTs.
	JWTClockLeeway time.Duration
	// JWKSCacheTTL is jwks_cache_ttl (10m): how long a fetched JWKS or
	// discovery document is reused (an unknown kid refreshes it early).
	JWKSCacheTTL time.Duration
	// AuditOutboxMaxEvents is audit_outbox_max_events (100000): how many
	// audit events may wait in ng_audit_outbox while the bus is away;
	// beyond, new events are dropped, counted and logged (docs/audit.md §4).
	AuditOutboxMaxEvents int
	// AuditBusDownAlert is audit_bus_down_alert (5m): how long the bus may
	// be unreachable before a warning is logged and /readyz names it.
	AuditBusDownAlert time.Duration
	// AuditPublishTimeout is audit_publish_timeout (5s): the deadline of
	// one connection attempt or broker confirmation.
	AuditPublishTimeout time.Duration
	// JWKSStaleTTL is jwks_stale_ttl (1h): how long the last good JWKS of
	// an identity provider keeps serving logins while the provider cannot
	// be reached after jwks_cache_ttl ran out (0 = never past the TTL).
	JWKSStaleTTL time.Duration
	// OutboundAllowedNetworks is outbound_allowed_networks (empty): CIDR
	// networks inside the operator's own network that identity provider
	// URLs may reach. Every fetch made on behalf of an identity
	// provider's owner refuses loopback, private (RFC 1918, unique-local),
	// link-local, CGNAT, multicast and unspecified addresses at dial time
	// unless the address lies in one of these (docs/security.md).
	OutboundAllowedNetworks []string
	// TrustedProxies is trusted_proxies (empty): CIDR networks of the
	// reverse proxies in front of keystone-ng. Only a peer in one of them
	// may name the client with X-Forwarded-For (rate limits key on it).
	TrustedProxies []string
	// LoginRateLimit is login_rate_limit (30): unauthenticated requests
	// that start or finish a login (passkey, OIDC, device, JWT) one client
	// address may make per minute; 0 = no limit.
	LoginRateLimit int
	// LoginRateBurst is login_rate_burst (10): how many of those may come
	// at once above the steady rate.
	LoginRateBurst int
	// DomainGrantableRoles is domain_grantable_roles (manager,member,reader):
	// the roles a mapping of a domain-owned identity provider may grant,
	// directly or through a group, counted with the roles they imply.
	// Mirrors Keystone's domain_managed_target_role for its manager persona.
	DomainGrantableRoles []string
	// MaxIdentityProvidersPerDomain is max_identity_providers_per_domain (10).
	MaxIdentityProvidersPerDomain int
	// MaxMappingsPerIdentityProvider is max_mappings_per_identity_provider (20).
	MaxMappingsPerIdentityProvider int
	// MaxPasskeysPerUser is max_passkeys_per_user (10).
	MaxPasskeysPerUser int
	// MaxCredentialsPerServiceAccount is
	// max_credentials_per_service_account (10): keys and client secrets
	// together.
	MaxCredentialsPerServiceAccount int
}

// WebAuthnSection is keystone-ng's [webauthn] section (passkeys). Passkeys
// are off while relying_party_id is empty.
type WebAuthnSection struct {
	RelyingPartyID      string        // relying_party_id, a registrable domain ("" = passkeys off)
	RelyingPartyOrigins []string      // relying_party_origins, e.g. https://cloud.example.com
	RelyingPartyName    string        // relying_party_name (OpenStack)
	UserVerification    string        // user_verification: required|preferred|discouraged (required)
	Attestation         string        // attestation: none|indirect|direct|enterprise (none)
	CeremonyTimeout     time.Duration // ceremony_timeout (5m)
	// TokenMethods is token_methods (external): the [auth] methods a
	// passkey token carries. Python decodes only methods it knows, so they
	// must be listed in [auth] methods; "external" says the user was
	// authenticated outside Keystone's own plugins.
	TokenMethods []string
	// ReauthenticationWindow is reauthentication_window (10m): registering
	// or managing a passkey needs a token issued at most this long ago
	// (a fresh sign-in), never a delegated one.
	ReauthenticationWindow time.Duration
}

// SectionWebAuthn is the name of keystone-ng's passkey section.
const SectionWebAuthn = "webauthn"

// SectionKeystoneNG is the name of keystone-ng's own section.
const SectionKeystoneNG = "keystone_ng"

// Defaults returns a Config holding only the defaults (Python Keystone 22's
// for Python options, keystone-ng's for [keystone_ng]). SearchDirs holds the
// standard oslo.config directories.
func Defaults() *Config {
	c := &Config{}
	for _, o := range schema {
		raw := any(o.def)
		if o.kind == kindMulti {
			raw = o.defMulti
		}
		// Defaults are compile-time constants; a failure is a programming
		// error caught by TestDefaults.
		if err := o.set(c, raw); err != nil {
			panic("config: bad default for [" + o.section + "] " + o.name + ": " + err.Error())
		}
	}
	c.SearchDirs = searchDirs(nil, nil, homeDir())
	return c
}

// DBLimits is how validation's database reads are bounded, from
// db_concurrency and db_batch_size (Config.DBLimits).
type DBLimits struct {
	// Statements is how many statements may be in flight at once (0: no
	// bound).
	Statements int
	// Batch is how many waiting rounds one statement may carry (1: no
	// batching; SQLite never batches).
	Batch int
	// Rounds is how many validation rounds may read at once (the others
	// wait in line before reaching the database; 0: no bound): the
	// rounds the statements in flight can carry.
	Rounds int
}

// DBLimits resolves db_concurrency and db_batch_size for procs CPUs
// (GOMAXPROCS).
//
// Automatic db_concurrency: with batching, one statement per CPU, at least
// 2. On the two-core bench, interleaved runs with batches of up to 8 gave
// 4100-4870 validations/s at 2 statements against 3420-3880 at 3 and
// 3300-3740 at 4, with p99 8.8-9.8 against 12-16.3 ms
// (docs/performance.md). Without batching (PostgreSQL, SQLite, or
// db_batch_size = 1), twice the CPUs, at least 4: with one round trip per
// validation, 4 gave p99 7.4-8.2 ms against 8.9-9.9 ms with 6 at the same
// throughput; unbounded, p99 had been 13-15 ms.
func (c *Config) DBLimits(procs int) DBLimits {
	ng := c.KeystoneNG
	if ng.DBConcurrency < 0 {
		return DBLimits{Batch: 1}
	}
	batch := 1
	if c.combines() && ng.DBBatchSize > 1 {
		batch = ng.DBBatchSize
	}
	n := ng.DBConcurrency
	switch {
	case n > 0:
	case batch > 1:
		n = max(2, procs)
	default:
		n = max(4, 2*procs)
	}
	return DBLimits{Statements: n, Batch: batch, Rounds: n * batch}
}

// combines reports a [database] connection to a server on which the
// reader combines, and so batches, statements: MySQL, MariaDB and
// PostgreSQL (not SQLite, which runs in-process).
func (c *Config) combines() bool {
	scheme, _ := dbScheme(c.Database.Connection)
	d, _, _ := strings.Cut(scheme, "+")
	return d == "mysql" || d == "postgresql" || d == "postgres"
}
