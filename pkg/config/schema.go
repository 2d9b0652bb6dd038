package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// kind is an option's value type, mirroring the oslo.config Opt classes.
type kind int

const (
	kindString   kind = iota // StrOpt
	kindURI                  // URIOpt: RFC 3986, scheme and host required
	kindBool                 // BoolOpt
	kindInt                  // IntOpt, Go int
	kindInt64                // IntOpt, Go int64
	kindList                 // ListOpt of strings
	kindMulti                // MultiStrOpt: one entry per occurrence
	kindDuration             // keystone-ng only: Go duration or seconds
)

// ref names an option by group and name. Group is oslo's normalized group
// name ("DEFAULT", otherwise lower case).
type ref struct{ group, name string }

// option describes one option keystone-ng reads.
type option struct {
	section string
	name    string
	kind    kind
	// def is the default in keystone.conf syntax; ignored when none is set.
	def string
	// defMulti is the default of a kindMulti option.
	defMulti []string
	// none: Python's default is None ("unset"). An empty integer value also
	// means None, as oslo.config's Integer type returns None for "".
	none bool
	// min and max are oslo.config's Integer bounds, checked on conversion as
	// oslo does (a violation is a ConfigFileValueError in Python).
	min, max *int64
	// choices is oslo.config's String choices (case-sensitive).
	choices []string
	// secret: never print the value (oslo's secret=True).
	secret bool
	// public: not secret even though the name looks like it
	// (e.g. password_hash_algorithm).
	public bool
	// deprecated lists oslo DeprecatedOpt names still honoured by Python.
	deprecated []ref
	// field returns a pointer to the Config field.
	field func(*Config) any
}

func i64(v int64) *int64 { return &v }

// schema lists every option keystone-ng reads. Defaults, bounds, choices and
// deprecated names are those of keystone 22.0 (keystone/conf/*.py), oslo.db
// 12.1 (oslo_db/options.py) and oslo.policy 4.0 (oslo_policy/opts.py).
var schema = []*option{
	// [DEFAULT] (keystone/conf/default.py)
	{section: "DEFAULT", name: "public_endpoint", kind: kindURI, none: true, field: func(c *Config) any { return &c.Default.PublicEndpoint }},
	{section: "DEFAULT", name: "insecure_debug", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Default.InsecureDebug }},
	{section: "DEFAULT", name: "admin_token", kind: kindString, none: true, secret: true, field: func(c *Config) any { return &c.Default.AdminToken }},
	{section: "DEFAULT", name: "max_token_size", kind: kindInt, def: "255", public: true, field: func(c *Config) any { return &c.Default.MaxTokenSize }},

	// [database] (oslo_db/options.py; Keystone sets the connection default)
	{section: "database", name: "connection", kind: kindString, def: "sqlite:///keystone.db", secret: true,
		deprecated: []ref{{"DEFAULT", "sql_connection"}, {"database", "sql_connection"}, {"sql", "connection"}},
		field:      func(c *Config) any { return &c.Database.Connection }},
	{section: "database", name: "max_pool_size", kind: kindInt, def: "5", field: func(c *Config) any { return &c.Database.MaxPoolSize }},
	{section: "database", name: "max_overflow", kind: kindInt, def: "50",
		deprecated: []ref{{"DEFAULT", "sql_max_overflow"}, {"database", "sqlalchemy_max_overflow"}},
		field:      func(c *Config) any { return &c.Database.MaxOverflow }},
	{section: "database", name: "pool_timeout", kind: kindInt, def: "30",
		deprecated: []ref{{"database", "sqlalchemy_pool_timeout"}},
		field:      func(c *Config) any { return &c.Database.PoolTimeout }},
	{section: "database", name: "connection_recycle_time", kind: kindInt, def: "3600", field: func(c *Config) any { return &c.Database.ConnectionRecycleTime }},
	{section: "database", name: "max_retries", kind: kindInt, def: "10",
		deprecated: []ref{{"DEFAULT", "sql_max_retries"}, {"database", "sql_max_retries"}},
		field:      func(c *Config) any { return &c.Database.MaxRetries }},

	// [token] (keystone/conf/token.py)
	{section: "token", name: "expiration", kind: kindInt, def: "3600", min: i64(0), max: i64(math.MaxInt64), field: func(c *Config) any { return &c.Token.Expiration }},
	{section: "token", name: "provider", kind: kindString, def: "fernet", field: func(c *Config) any { return &c.Token.Provider }},
	{section: "token", name: "allow_expired_window", kind: kindInt, def: "172800", field: func(c *Config) any { return &c.Token.AllowExpiredWindow }},
	{section: "token", name: "allow_rescope_scoped_token", kind: kindBool, def: "true", field: func(c *Config) any { return &c.Token.AllowRescopeScopedToken }},
	{section: "token", name: "revoke_by_id", kind: kindBool, def: "true", field: func(c *Config) any { return &c.Token.RevokeByID }},
	{section: "token", name: "cache_on_issue", kind: kindBool, def: "true", field: func(c *Config) any { return &c.Token.CacheOnIssue }},

	// [fernet_tokens], [fernet_receipts], [credential]
	{section: "fernet_tokens", name: "key_repository", kind: kindString, def: "/etc/keystone/fernet-keys/", field: func(c *Config) any { return &c.FernetTokens.KeyRepository }},
	{section: "fernet_tokens", name: "max_active_keys", kind: kindInt, def: "3", min: i64(1), field: func(c *Config) any { return &c.FernetTokens.MaxActiveKeys }},
	{section: "fernet_receipts", name: "key_repository", kind: kindString, def: "/etc/keystone/fernet-keys/", field: func(c *Config) any { return &c.FernetReceipts.KeyRepository }},
	{section: "fernet_receipts", name: "max_active_keys", kind: kindInt, def: "3", min: i64(1), field: func(c *Config) any { return &c.FernetReceipts.MaxActiveKeys }},
	// [jwt_tokens] (keystone/conf/jwt_tokens.py)
	{section: "jwt_tokens", name: "jws_public_key_repository", kind: kindString, def: "/etc/keystone/jws-keys/public", field: func(c *Config) any { return &c.JWTTokens.JWSPublicKeyRepository }},
	{section: "jwt_tokens", name: "jws_private_key_repository", kind: kindString, def: "/etc/keystone/jws-keys/private", field: func(c *Config) any { return &c.JWTTokens.JWSPrivateKeyRepository }},
	{section: "credential", name: "key_repository", kind: kindString, def: "/etc/keystone/credential-keys/", field: func(c *Config) any { return &c.Credential.KeyRepository }},

	// [identity] (keystone/conf/identity.py)
	{section: "identity", name: "default_domain_id", kind: kindString, def: "default", field: func(c *Config) any { return &c.Identity.DefaultDomainID }},
	{section: "identity", name: "driver", kind: kindString, def: "sql", field: func(c *Config) any { return &c.Identity.Driver }},
	{section: "identity", name: "domain_specific_drivers_enabled", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Identity.DomainSpecificDriversEnabled }},
	// Keystone 22 allows bcrypt, scrypt, pbkdf2_sha512; 25.0 (Caracal) adds
	// bcrypt_sha256. keystone-ng may run beside either, so it accepts all four.
	{section: "identity", name: "password_hash_algorithm", kind: kindString, def: "bcrypt", public: true,
		choices: []string{"bcrypt", "bcrypt_sha256", "scrypt", "pbkdf2_sha512"},
		field:   func(c *Config) any { return &c.Identity.PasswordHashAlgorithm }},
	{section: "identity", name: "password_hash_rounds", kind: kindInt, none: true, public: true, field: func(c *Config) any { return &c.Identity.PasswordHashRounds }},
	{section: "identity", name: "max_password_length", kind: kindInt, def: "4096", max: i64(4096), public: true, field: func(c *Config) any { return &c.Identity.MaxPasswordLength }},

	// [identity] options of domain-specific drivers (keystone/conf/identity.py)
	{section: "identity", name: "domain_configurations_from_database", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Identity.DomainConfigurationsFromDatabase }},
	{section: "identity", name: "domain_config_dir", kind: kindString, def: "/etc/keystone/domains", field: func(c *Config) any { return &c.Identity.DomainConfigDir }},
	{section: "identity", name: "caching", kind: kindBool, def: "true", field: func(c *Config) any { return &c.Identity.Caching }},
	{section: "identity", name: "cache_time", kind: kindInt, def: "600", field: func(c *Config) any { return &c.Identity.CacheTime }},
	// [identity_mapping] (keystone/conf/identity_mapping.py)
	{section: "identity_mapping", name: "generator", kind: kindString, def: "sha256", field: func(c *Config) any { return &c.IdentityMapping.Generator }},
	{section: "identity_mapping", name: "backward_compatible_ids", kind: kindBool, def: "true", field: func(c *Config) any { return &c.IdentityMapping.BackwardCompatibleIDs }},
	// [cache] enabled (oslo_cache/_opts.py)
	{section: "cache", name: "enabled", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Cache.Enabled }},
	// [ldap] (keystone/conf/ldap.py)
	{section: "ldap", name: "url", kind: kindString, def: "ldap://localhost", field: func(c *Config) any { return &c.LDAP.URL }},
	{section: "ldap", name: "randomize_urls", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.RandomizeURLs }},
	{section: "ldap", name: "user", kind: kindString, none: true, public: true, field: func(c *Config) any { return &c.LDAP.User }},
	{section: "ldap", name: "password", kind: kindString, none: true, secret: true, field: func(c *Config) any { return &c.LDAP.Password }},
	{section: "ldap", name: "suffix", kind: kindString, def: "cn=example,cn=com", field: func(c *Config) any { return &c.LDAP.Suffix }},
	{section: "ldap", name: "query_scope", kind: kindString, def: "one", choices: []string{"one", "sub"}, field: func(c *Config) any { return &c.LDAP.QueryScope }},
	{section: "ldap", name: "page_size", kind: kindInt, def: "0", min: i64(0), field: func(c *Config) any { return &c.LDAP.PageSize }},
	{section: "ldap", name: "alias_dereferencing", kind: kindString, def: "default", choices: []string{"never", "searching", "always", "finding", "default"}, field: func(c *Config) any { return &c.LDAP.AliasDereferencing }},
	{section: "ldap", name: "debug_level", kind: kindInt, none: true, min: i64(-1), field: func(c *Config) any { return &c.LDAP.DebugLevel }},
	{section: "ldap", name: "chase_referrals", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.ChaseReferrals }},
	{section: "ldap", name: "user_tree_dn", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.UserTreeDN }},
	{section: "ldap", name: "user_filter", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.UserFilter }},
	{section: "ldap", name: "user_objectclass", kind: kindString, def: "inetOrgPerson", field: func(c *Config) any { return &c.LDAP.UserObjectClass }},
	{section: "ldap", name: "user_id_attribute", kind: kindString, def: "cn", field: func(c *Config) any { return &c.LDAP.UserIDAttribute }},
	{section: "ldap", name: "user_name_attribute", kind: kindString, def: "sn", field: func(c *Config) any { return &c.LDAP.UserNameAttribute }},
	{section: "ldap", name: "user_description_attribute", kind: kindString, def: "description", field: func(c *Config) any { return &c.LDAP.UserDescriptionAttribute }},
	{section: "ldap", name: "user_mail_attribute", kind: kindString, def: "mail", field: func(c *Config) any { return &c.LDAP.UserMailAttribute }},
	{section: "ldap", name: "user_pass_attribute", kind: kindString, def: "userPassword", public: true, field: func(c *Config) any { return &c.LDAP.UserPassAttribute }},
	{section: "ldap", name: "user_enabled_attribute", kind: kindString, def: "enabled", field: func(c *Config) any { return &c.LDAP.UserEnabledAttribute }},
	{section: "ldap", name: "user_enabled_invert", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.UserEnabledInvert }},
	{section: "ldap", name: "user_enabled_mask", kind: kindInt, def: "0", min: i64(0), field: func(c *Config) any { return &c.LDAP.UserEnabledMask }},
	{section: "ldap", name: "user_enabled_default", kind: kindString, def: "True", field: func(c *Config) any { return &c.LDAP.UserEnabledDefault }},
	{section: "ldap", name: "user_attribute_ignore", kind: kindList, def: "default_project_id", field: func(c *Config) any { return &c.LDAP.UserAttributeIgnore }},
	{section: "ldap", name: "user_default_project_id_attribute", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.UserDefaultProjectIDAttribute }},
	{section: "ldap", name: "user_enabled_emulation", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.UserEnabledEmulation }},
	{section: "ldap", name: "user_enabled_emulation_dn", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.UserEnabledEmulationDN }},
	{section: "ldap", name: "user_enabled_emulation_use_group_config", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.UserEnabledEmulationUseGroupConfig }},
	{section: "ldap", name: "user_additional_attribute_mapping", kind: kindList, def: "", field: func(c *Config) any { return &c.LDAP.UserAdditionalAttributeMapping }},
	{section: "ldap", name: "group_tree_dn", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.GroupTreeDN }},
	{section: "ldap", name: "group_filter", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.GroupFilter }},
	{section: "ldap", name: "group_objectclass", kind: kindString, def: "groupOfNames", field: func(c *Config) any { return &c.LDAP.GroupObjectClass }},
	{section: "ldap", name: "group_id_attribute", kind: kindString, def: "cn", field: func(c *Config) any { return &c.LDAP.GroupIDAttribute }},
	{section: "ldap", name: "group_name_attribute", kind: kindString, def: "ou", field: func(c *Config) any { return &c.LDAP.GroupNameAttribute }},
	{section: "ldap", name: "group_member_attribute", kind: kindString, def: "member", field: func(c *Config) any { return &c.LDAP.GroupMemberAttribute }},
	{section: "ldap", name: "group_members_are_ids", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.GroupMembersAreIDs }},
	{section: "ldap", name: "group_desc_attribute", kind: kindString, def: "description", field: func(c *Config) any { return &c.LDAP.GroupDescAttribute }},
	{section: "ldap", name: "group_attribute_ignore", kind: kindList, def: "", field: func(c *Config) any { return &c.LDAP.GroupAttributeIgnore }},
	{section: "ldap", name: "group_additional_attribute_mapping", kind: kindList, def: "", field: func(c *Config) any { return &c.LDAP.GroupAdditionalAttributeMapping }},
	{section: "ldap", name: "group_ad_nesting", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.GroupADNesting }},
	{section: "ldap", name: "tls_cacertfile", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.TLSCACertFile }},
	{section: "ldap", name: "tls_cacertdir", kind: kindString, none: true, field: func(c *Config) any { return &c.LDAP.TLSCACertDir }},
	{section: "ldap", name: "use_tls", kind: kindBool, def: "false", field: func(c *Config) any { return &c.LDAP.UseTLS }},
	{section: "ldap", name: "tls_req_cert", kind: kindString, def: "demand", choices: []string{"demand", "never", "allow"}, field: func(c *Config) any { return &c.LDAP.TLSReqCert }},
	{section: "ldap", name: "connection_timeout", kind: kindInt, def: "-1", min: i64(-1), field: func(c *Config) any { return &c.LDAP.ConnectionTimeout }},
	{section: "ldap", name: "use_pool", kind: kindBool, def: "true", field: func(c *Config) any { return &c.LDAP.UsePool }},
	{section: "ldap", name: "pool_size", kind: kindInt, def: "10", min: i64(1), field: func(c *Config) any { return &c.LDAP.PoolSize }},
	{section: "ldap", name: "pool_connection_timeout", kind: kindInt, def: "-1", min: i64(-1), field: func(c *Config) any { return &c.LDAP.PoolConnectionTimeout }},
	{section: "ldap", name: "pool_connection_lifetime", kind: kindInt, def: "600", min: i64(1), field: func(c *Config) any { return &c.LDAP.PoolConnectionLifetime }},

	// [auth] (keystone/conf/auth.py, constants._DEFAULT_AUTH_METHODS)
	{section: "auth", name: "methods", kind: kindList, def: "external,password,token,oauth1,mapped,application_credential", field: func(c *Config) any { return &c.Auth.Methods }},

	// [resource]
	{section: "resource", name: "admin_project_name", kind: kindString, none: true, field: func(c *Config) any { return &c.Resource.AdminProjectName }},
	{section: "resource", name: "admin_project_domain_name", kind: kindString, none: true, field: func(c *Config) any { return &c.Resource.AdminProjectDomainName }},

	// [revoke]
	{section: "revoke", name: "expiration_buffer", kind: kindInt, def: "1800", min: i64(0), field: func(c *Config) any { return &c.Revoke.ExpirationBuffer }},

	// [endpoint_filter]
	{section: "endpoint_filter", name: "return_all_endpoints_if_no_filter", kind: kindBool, def: "true", field: func(c *Config) any { return &c.EndpointFilter.ReturnAllEndpointsIfNoFilter }},

	// [federation]
	{section: "federation", name: "default_authorization_ttl", kind: kindInt, def: "0", field: func(c *Config) any { return &c.Federation.DefaultAuthorizationTTL }},
	{section: "federation", name: "trusted_dashboard", kind: kindMulti, field: func(c *Config) any { return &c.Federation.TrustedDashboard }},

	// [security_compliance] (keystone/conf/security_compliance.py)
	{section: "security_compliance", name: "lockout_failure_attempts", kind: kindInt, none: true, min: i64(1), field: func(c *Config) any { return &c.SecurityCompliance.LockoutFailureAttempts }},
	{section: "security_compliance", name: "lockout_duration", kind: kindInt, def: "1800", min: i64(1), field: func(c *Config) any { return &c.SecurityCompliance.LockoutDuration }},
	{section: "security_compliance", name: "disable_user_account_days_inactive", kind: kindInt, none: true, min: i64(1), field: func(c *Config) any { return &c.SecurityCompliance.DisableUserAccountDaysInactive }},
	{section: "security_compliance", name: "password_expires_days", kind: kindInt, none: true, min: i64(1), public: true, field: func(c *Config) any { return &c.SecurityCompliance.PasswordExpiresDays }},

	// [trust]
	{section: "auth", name: "additional_primary_auth_methods", kind: kindList, def: "", field: func(c *Config) any { return &c.Auth.AdditionalPrimaryAuthMethods }},
	{section: "application_credential", name: "user_limit", kind: kindInt, def: "-1", field: func(c *Config) any { return &c.AppCred.UserLimit }},
	{section: "trust", name: "allow_redelegation", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Trust.AllowRedelegation }},
	{section: "trust", name: "max_redelegation_count", kind: kindInt, def: "3", field: func(c *Config) any { return &c.Trust.MaxRedelegationCount }},

	// [oslo_policy] (oslo_policy/opts.py 4.0; Keystone overrides policy_file)
	{section: "oslo_policy", name: "policy_file", kind: kindString, def: "policy.yaml", deprecated: []ref{{"DEFAULT", "policy_file"}}, field: func(c *Config) any { return &c.OsloPolicy.PolicyFile }},
	{section: "oslo_policy", name: "policy_dirs", kind: kindMulti, defMulti: []string{"policy.d"}, deprecated: []ref{{"DEFAULT", "policy_dirs"}}, field: func(c *Config) any { return &c.OsloPolicy.PolicyDirs }},
	{section: "oslo_policy", name: "enforce_scope", kind: kindBool, def: "false", field: func(c *Config) any { return &c.OsloPolicy.EnforceScope }},
	{section: "oslo_policy", name: "enforce_new_defaults", kind: kindBool, def: "false", field: func(c *Config) any { return &c.OsloPolicy.EnforceNewDefaults }},

	// [DEFAULT] notifications (keystone/conf/default.py) and the
	// oslo.messaging options of the notifier (docs/audit.md §1).
	{section: "DEFAULT", name: "transport_url", kind: kindString, none: true, secret: true, field: func(c *Config) any { return &c.Default.TransportURL }},
	{section: "DEFAULT", name: "control_exchange", kind: kindString, def: "keystone", field: func(c *Config) any { return &c.Default.ControlExchange }},
	{section: "DEFAULT", name: "default_publisher_id", kind: kindString, none: true, field: func(c *Config) any { return &c.Default.DefaultPublisherID }},
	{section: "DEFAULT", name: "notification_format", kind: kindString, def: "cadf", choices: []string{"basic", "cadf"}, field: func(c *Config) any { return &c.Default.NotificationFormat }},
	{section: "DEFAULT", name: "notification_opt_out", kind: kindMulti,
		defMulti: []string{"identity.authenticate.success", "identity.authenticate.pending", "identity.authenticate.failed"},
		field:    func(c *Config) any { return &c.Default.NotificationOptOut }},
	{section: "oslo_messaging_notifications", name: "driver", kind: kindMulti, deprecated: []ref{{"DEFAULT", "notification_driver"}}, field: func(c *Config) any { return &c.Notifications.Driver }},
	{section: "oslo_messaging_notifications", name: "transport_url", kind: kindString, none: true, secret: true,
		deprecated: []ref{{"DEFAULT", "notification_transport_url"}}, field: func(c *Config) any { return &c.Notifications.TransportURL }},
	{section: "oslo_messaging_notifications", name: "topics", kind: kindList, def: "notifications",
		deprecated: []ref{{"rpc_notifier2", "topics"}, {"DEFAULT", "notification_topics"}}, field: func(c *Config) any { return &c.Notifications.Topics }},
	{section: "oslo_messaging_notifications", name: "retry", kind: kindInt, def: "-1", field: func(c *Config) any { return &c.Notifications.Retry }},
	{section: "oslo_messaging_rabbit", name: "ssl", kind: kindBool, def: "false", deprecated: []ref{{"oslo_messaging_rabbit", "rabbit_use_ssl"}}, field: func(c *Config) any { return &c.Rabbit.SSL }},
	{section: "oslo_messaging_rabbit", name: "ssl_ca_file", kind: kindString, def: "", deprecated: []ref{{"oslo_messaging_rabbit", "kombu_ssl_ca_certs"}}, field: func(c *Config) any { return &c.Rabbit.SSLCAFile }},
	{section: "oslo_messaging_rabbit", name: "ssl_cert_file", kind: kindString, def: "", deprecated: []ref{{"oslo_messaging_rabbit", "kombu_ssl_certfile"}}, field: func(c *Config) any { return &c.Rabbit.SSLCertFile }},
	{section: "oslo_messaging_rabbit", name: "ssl_key_file", kind: kindString, def: "", deprecated: []ref{{"oslo_messaging_rabbit", "kombu_ssl_keyfile"}}, field: func(c *Config) any { return &c.Rabbit.SSLKeyFile }},
	{section: "oslo_messaging_rabbit", name: "ssl_version", kind: kindString, def: "", deprecated: []ref{{"oslo_messaging_rabbit", "kombu_ssl_version"}}, field: func(c *Config) any { return &c.Rabbit.SSLVersion }},
	{section: "oslo_messaging_rabbit", name: "ssl_enforce_hostname_verification", kind: kindBool, def: "false", field: func(c *Config) any { return &c.Rabbit.SSLEnforceHostnameVerification }},

	// [keystone_ng], keystone-ng's own.
	{section: SectionKeystoneNG, name: "listen", kind: kindString, def: "127.0.0.1:5001", field: func(c *Config) any { return &c.KeystoneNG.Listen }},
	{section: SectionKeystoneNG, name: "log_level", kind: kindString, def: "info", field: func(c *Config) any { return &c.KeystoneNG.LogLevel }},
	{section: SectionKeystoneNG, name: "log_format", kind: kindString, def: "text", field: func(c *Config) any { return &c.KeystoneNG.LogFormat }},
	{section: SectionKeystoneNG, name: "key_reload_interval", kind: kindDuration, def: "500ms", field: func(c *Config) any { return &c.KeystoneNG.KeyReloadInterval }},
	{section: SectionKeystoneNG, name: "shutdown_timeout", kind: kindDuration, def: "15s", field: func(c *Config) any { return &c.KeystoneNG.ShutdownTimeout }},
	{section: SectionKeystoneNG, name: "request_timeout", kind: kindDuration, def: "30s", field: func(c *Config) any { return &c.KeystoneNG.RequestTimeout }},
	{section: SectionKeystoneNG, name: "read_header_timeout", kind: kindDuration, def: "10s", field: func(c *Config) any { return &c.KeystoneNG.ReadHeaderTimeout }},
	{section: SectionKeystoneNG, name: "max_request_body_bytes", kind: kindInt64, def: "1048576", field: func(c *Config) any { return &c.KeystoneNG.MaxRequestBodyBytes }},
	{section: SectionKeystoneNG, name: "db_query_timeout", kind: kindDuration, def: "5s", field: func(c *Config) any { return &c.KeystoneNG.DBQueryTimeout }},
	{section: SectionKeystoneNG, name: "catalog_cache_ttl", kind: kindDuration, def: "1s", field: func(c *Config) any { return &c.KeystoneNG.CatalogCacheTTL }},
	{section: SectionKeystoneNG, name: "db_concurrency", kind: kindInt, def: "0", field: func(c *Config) any { return &c.KeystoneNG.DBConcurrency }},
	{section: SectionKeystoneNG, name: "db_batch_size", kind: kindInt, def: "8", field: func(c *Config) any { return &c.KeystoneNG.DBBatchSize }},
	{section: SectionKeystoneNG, name: "metrics_enabled", kind: kindBool, def: "true", field: func(c *Config) any { return &c.KeystoneNG.MetricsEnabled }},
	{section: SectionKeystoneNG, name: "policy_dir", kind: kindString, field: func(c *Config) any { return &c.KeystoneNG.PolicyDir }},
	{section: SectionKeystoneNG, name: "purge_interval", kind: kindDuration, def: "1m", field: func(c *Config) any { return &c.KeystoneNG.PurgeInterval }},
	{section: SectionKeystoneNG, name: "login_state_ttl", kind: kindDuration, def: "10m", field: func(c *Config) any { return &c.KeystoneNG.LoginStateTTL }},
	{section: SectionKeystoneNG, name: "outbound_timeout", kind: kindDuration, def: "10s", field: func(c *Config) any { return &c.KeystoneNG.OutboundTimeout }},
	{section: SectionKeystoneNG, name: "jwt_clock_leeway", kind: kindDuration, def: "30s", field: func(c *Config) any { return &c.KeystoneNG.JWTClockLeeway }},
	{section: SectionKeystoneNG, name: "jwks_cache_ttl", kind: kindDuration, def: "10m", field: func(c *Config) any { return &c.KeystoneNG.JWKSCacheTTL }},
	{section: SectionKeystoneNG, name: "audit_outbox_max_events", kind: kindInt, def: "100000", field: func(c *Config) any { return &c.KeystoneNG.AuditOutboxMaxEvents }},
	{section: SectionKeystoneNG, name: "audit_bus_down_alert", kind: kindDuration, def: "5m", field: func(c *Config) any { return &c.KeystoneNG.AuditBusDownAlert }},
	{section: SectionKeystoneNG, name: "audit_publish_timeout", kind: kindDuration, def: "5s", field: func(c *Config) any { return &c.KeystoneNG.AuditPublishTimeout }},
	{section: SectionKeystoneNG, name: "jwks_stale_ttl", kind: kindDuration, def: "1h", field: func(c *Config) any { return &c.KeystoneNG.JWKSStaleTTL }},
	{section: SectionKeystoneNG, name: "outbound_allowed_networks", kind: kindList, field: func(c *Config) any { return &c.KeystoneNG.OutboundAllowedNetworks }},
	{section: SectionKeystoneNG, name: "trusted_proxies", kind: kindList, field: func(c *Config) any { return &c.KeystoneNG.TrustedProxies }},
	{section: SectionKeystoneNG, name: "login_rate_limit", kind: kindInt, def: "30", field: func(c *Config) any { return &c.KeystoneNG.LoginRateLimit }},
	{section: SectionKeystoneNG, name: "login_rate_burst", kind: kindInt, def: "10", field: func(c *Config) any { return &c.KeystoneNG.LoginRateBurst }},
	{section: SectionKeystoneNG, name: "domain_grantable_roles", kind: kindList, def: "manager,member,reader", field: func(c *Config) any { return &c.KeystoneNG.DomainGrantableRoles }},
	{section: SectionKeystoneNG, name: "max_identity_providers_per_domain", kind: kindInt, def: "10", field: func(c *Config) any { return &c.KeystoneNG.MaxIdentityProvidersPerDomain }},
	{section: SectionKeystoneNG, name: "max_mappings_per_identity_provider", kind: kindInt, def: "20", field: func(c *Config) any { return &c.KeystoneNG.MaxMappingsPerIdentityProvider }},
	{section: SectionKeystoneNG, name: "max_passkeys_per_user", kind: kindInt, def: "10", field: func(c *Config) any { return &c.KeystoneNG.MaxPasskeysPerUser }},
	{section: SectionKeystoneNG, name: "max_credentials_per_service_account", kind: kindInt, def: "10", field: func(c *Config) any { return &c.KeystoneNG.MaxCredentialsPerServiceAccount }},

	// [webauthn], keystone-ng's own (passkeys).
	{section: SectionWebAuthn, name: "relying_party_id", kind: kindString, field: func(c *Config) any { return &c.WebAuthn.RelyingPartyID }},
	{section: SectionWebAuthn, name: "relying_party_origins", kind: kindList, field: func(c *Config) any { return &c.WebAuthn.RelyingPartyOrigins }},
	{section: SectionWebAuthn, name: "relying_party_name", kind: kindString, def: "OpenStack", field: func(c *Config) any { return &c.WebAuthn.RelyingPartyName }},
	{section: SectionWebAuthn, name: "user_verification", kind: kindString, def: "required", choices: []string{"required", "preferred", "discouraged"}, field: func(c *Config) any { return &c.WebAuthn.UserVerification }},
	{section: SectionWebAuthn, name: "attestation", kind: kindString, def: "none", choices: []string{"none", "indirect", "direct", "enterprise"}, field: func(c *Config) any { return &c.WebAuthn.Attestation }},
	{section: SectionWebAuthn, name: "ceremony_timeout", kind: kindDuration, def: "5m", field: func(c *Config) any { return &c.WebAuthn.CeremonyTimeout }},
	{section: SectionWebAuthn, name: "token_methods", kind: kindList, def: "external", field: func(c *Config) any { return &c.WebAuthn.TokenMethods }},
	{section: SectionWebAuthn, name: "reauthentication_window", kind: kindDuration, def: "10m", field: func(c *Config) any { return &c.WebAuthn.ReauthenticationWindow }},
}

// ownSections are keystone-ng's own sections: unknown keys there are errors.
var ownSections = map[string]bool{SectionKeystoneNG: true, SectionWebAuthn: true}

// schemaIndex maps group -> name -> option.
var schemaIndex = func() map[string]map[string]*option {
	m := map[string]map[string]*option{}
	for _, o := range schema {
		if m[o.section] == nil {
			m[o.section] = map[string]*option{}
		}
		m[o.section][o.name] = o
	}
	return m
}()

func lookupOption(group, name string) *option {
	return schemaIndex[group][name]
}

func (o *option) String() string { return "[" + o.section + "] " + o.name }

// isSecret reports whether the value must never be printed: oslo secret
// options, and any string option whose name mentions a password, secret or
// token (unless marked public).
func (o *option) isSecret() bool {
	if o.secret {
		return true
	}
	if o.public {
		return false
	}
	switch o.kind {
	case kindString, kindURI, kindList, kindMulti:
		return nameLooksSecret(o.name)
	}
	return false
}

func nameLooksSecret(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

// value is a converted option value; none means Python's None.
type value struct {
	v    any
	none bool
}

var errEmptyRequired = errors.New("empty value (Python would read None, but this option needs a value)")

// convert turns a substituted raw value (string, or []string for kindMulti)
// into a typed value using oslo.config's type rules.
func (o *option) convert(raw any) (value, error) {
	if o.kind == kindMulti {
		l, _ := raw.([]string)
		return value{v: append([]string(nil), l...)}, nil
	}
	s, _ := raw.(string)
	switch o.kind {
	case kindString:
		if len(o.choices) > 0 {
			for _, c := range o.choices {
				if s == c {
					return value{v: s}, nil
				}
			}
			return value{}, fmt.Errorf("valid values are %s", strings.Join(o.choices, ", "))
		}
		return value{v: s}, nil
	case kindURI:
		if err := checkURI(s); err != nil {
			return value{}, err
		}
		return value{v: s}, nil
	case kindBool:
		b, err := parseBool(s)
		return value{v: b}, err
	case kindInt, kindInt64:
		if strings.TrimSpace(s) == "" {
			// oslo.config's Integer returns None for an empty value.
			if o.none {
				return value{v: int64(0), none: true}, nil
			}
			return value{}, errEmptyRequired
		}
		n, err := parsePyInt(s)
		if err != nil {
			return value{}, err
		}
		if o.kind == kindInt && (n > math.MaxInt || n < math.MinInt) {
			return value{}, errors.New("integer out of range")
		}
		if o.min != nil && n < *o.min {
			return value{}, fmt.Errorf("should be greater than or equal to %d", *o.min)
		}
		if o.max != nil && n > *o.max {
			return value{}, fmt.Errorf("should be less than or equal to %d", *o.max)
		}
		return value{v: n}, nil
	case kindList:
		return value{v: parseList(s)}, nil
	case kindDuration:
		d, err := parseDuration(s)
		return value{v: d}, err
	}
	return value{}, fmt.Errorf("internal: unknown kind %d", o.kind)
}

// assign stores a converted value in the Config field.
func (o *option) assign(c *Config, val value) {
	switch p := o.field(c).(type) {
	case *string:
		*p, _ = val.v.(string)
	case *bool:
		*p, _ = val.v.(bool)
	case *int:
		n, _ := val.v.(int64)
		*p = int(n)
	case *int64:
		*p, _ = val.v.(int64)
	case *[]string:
		*p, _ = val.v.([]string)
	case *time.Duration:
		*p, _ = val.v.(time.Duration)
	}
}

// set converts and assigns a raw value without substitution; it is used for
// defaults, which contain no $ references.
func (o *option) set(c *Config, raw any) error {
	if o.none && o.kind != kindMulti {
		if s, _ := raw.(string); s == "" {
			o.assign(c, value{v: zeroOf(o.kind), none: true})
			return nil
		}
	}
	v, err := o.convert(raw)
	if err != nil {
		return err
	}
	o.assign(c, v)
	return nil
}

func zeroOf(k kind) any {
	switch k {
	case kindBool:
		return false
	case kindInt, kindInt64:
		return int64(0)
	case kindList, kindMulti:
		return []string(nil)
	case kindDuration:
		return time.Duration(0)
	}
	return ""
}

// parseBool implements oslo.config's Boolean type: case-insensitive
// true/1/on/yes and false/0/off/no, nothing else.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "on", "yes":
		return true, nil
	case "false", "0", "off", "no":
		return false, nil
	}
	return false, errors.New("invalid boolean (use true/false, yes/no, on/off or 1/0)")
}

var pyIntRE = regexp.MustCompile(`^[+-]?[0-9]+(_[0-9]+)*$`)

// parsePyInt implements Python's int(str): surrounding whitespace, an
// optional sign and single underscores between digits are allowed.
func parsePyInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if !pyIntRE.MatchString(t) {
		return 0, errors.New("invalid integer")
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 10, 64)
	if err != nil {
		return 0, errors.New("integer out of range")
	}
	return n, nil
}

// parseList implements oslo.config's List type with String items: strip,
// drop trailing commas, split on ',', strip each item. Empty items are kept
// (Validate rejects them where they matter).
func parseList(s string) []string {
	s = strings.TrimRight(strings.TrimSpace(s), ",")
	if s == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// parseDuration accepts a Go duration ("500ms", "1m30s") or plain seconds
// ("2", "0.5"), the latter being what an operator used to keystone.conf's
// integer-seconds options would write.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if d, err := time.ParseDuration(t); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/1e9 {
		return 0, errors.New(`invalid duration (use a Go duration such as "500ms" or "15s", or seconds)`)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// checkURI approximates oslo.config's URI type (rfc3986 validator requiring
// a scheme and a host).
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("invalid URI (a scheme and a host are required, e.g. https://keystone.example.com:5000)")
	}
	return nil
}
