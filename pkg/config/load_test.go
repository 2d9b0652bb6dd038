package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// write creates name (relative to dir) with content and returns its path.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadString loads one file with the given content.
func loadString(t *testing.T, content string, environ ...string) (*Config, error) {
	t.Helper()
	p := write(t, t.TempDir(), "keystone.conf", content)
	return Load(LoadOptions{Files: []string{p}, Environ: environ})
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %T is not *Problems: %v", err, err)
	}
	return p.List
}

// wantProblems checks that every want substring matches a distinct problem
// and that there are no other problems.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	got := problems(t, err)
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && strings.Contains(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no problem contains %q", w)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected problem: %s", g)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatalf("Load with no files: %v", err)
	}
	want := Defaults()
	want.sources = map[string]string{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load() = %+v\nDefaults() = %+v", c, want)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"public_endpoint", c.Default.PublicEndpoint, ""},
		{"insecure_debug", c.Default.InsecureDebug, false},
		{"admin_token", c.Default.AdminToken, ""},
		{"max_token_size", c.Default.MaxTokenSize, 255},
		{"connection", c.Database.Connection, "sqlite:///keystone.db"},
		{"max_pool_size", c.Database.MaxPoolSize, 5},
		{"max_overflow", c.Database.MaxOverflow, 50},
		{"pool_timeout", c.Database.PoolTimeout, 30},
		{"connection_recycle_time", c.Database.ConnectionRecycleTime, 3600},
		{"max_retries", c.Database.MaxRetries, 10},
		{"expiration", c.Token.Expiration, 3600},
		{"provider", c.Token.Provider, "fernet"},
		{"allow_expired_window", c.Token.AllowExpiredWindow, 172800},
		{"allow_rescope_scoped_token", c.Token.AllowRescopeScopedToken, true},
		{"revoke_by_id", c.Token.RevokeByID, true},
		{"cache_on_issue", c.Token.CacheOnIssue, true},
		{"fernet_tokens", c.FernetTokens, FernetSection{"/etc/keystone/fernet-keys/", 3}},
		{"fernet_receipts", c.FernetReceipts, FernetSection{"/etc/keystone/fernet-keys/", 3}},
		{"credential", c.Credential.KeyRepository, "/etc/keystone/credential-keys/"},
		{"jwt_tokens", c.JWTTokens, JWTTokensSection{"/etc/keystone/jws-keys/public", "/etc/keystone/jws-keys/private"}},
		{"identity", c.Identity, IdentitySection{"default", "sql", false, "bcrypt", 0, 4096, false, "/etc/keystone/domains", true, 600}},
		{"methods", c.Auth.Methods, []string{"external", "password", "token", "oauth1", "mapped", "application_credential"}},
		{"resource", c.Resource, ResourceSection{}},
		{"expiration_buffer", c.Revoke.ExpirationBuffer, 1800},
		{"return_all_endpoints_if_no_filter", c.EndpointFilter.ReturnAllEndpointsIfNoFilter, true},
		{"default_authorization_ttl", c.Federation.DefaultAuthorizationTTL, 0},
		{"security_compliance", c.SecurityCompliance, SecurityComplianceSection{0, 1800, 0, 0}},
		{"trust", c.Trust, TrustSection{false, 3}},
		{"oslo_policy", c.OsloPolicy, OsloPolicySection{"policy.yaml", []string{"policy.d"}, false, false}},
		{"keystone_ng", c.KeystoneNG, KeystoneNGSection{
			Listen: "127.0.0.1:5001", LogLevel: "info", LogFormat: "text",
			KeyReloadInterval: 500 * time.Millisecond, ShutdownTimeout: 15 * time.Second,
			RequestTimeout: 30 * time.Second, ReadHeaderTimeout: 10 * time.Second,
			MaxRequestBodyBytes: 1 << 20, DBQueryTimeout: 5 * time.Second, MetricsEnabled: true, CatalogCacheTTL: time.Second, DBBatchSize: 8,
			PurgeInterval: time.Minute, LoginStateTTL: 10 * time.Minute, OutboundTimeout: 10 * time.Second, JWTClockLeeway: 30 * time.Second, JWKSCacheTTL: 10 * time.Minute,
			AuditOutboxMaxEvents: 100000, AuditBusDownAlert: 5 * time.Minute, AuditPublishTimeout: 5 * time.Second,
			JWKSStaleTTL: time.Hour, OutboundAllowedNetworks: []string{}, TrustedProxies: []string{}, LoginRateLimit: 30, LoginRateBurst: 10,
			DomainGrantableRoles: []string{"manager", "member", "reader"}, MaxIdentityProvidersPerDomain: 10, MaxMappingsPerIdentityProvider: 20, MaxPasskeysPerUser: 10, MaxCredentialsPerServiceAccount: 10}},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.exp) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.exp)
		}
	}
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name  string
		conf  string
		check func(t *testing.T, c *Config)
	}{
		{"typed values", `
[DEFAULT]
public_endpoint = https://keystone.example.com:5000
insecure_debug = Yes
max_token_size = 1_024
[token]
expiration = +7200
revoke_by_id = off
cache_on_issue = 0
[auth]
methods = password , token,application_credential,,
[keystone_ng]
key_reload_interval = 2
shutdown_timeout = 0.5
request_timeout = 1m30s
max_request_body_bytes = 2048
metrics_enabled = FALSE
`, func(t *testing.T, c *Config) {
			eq(t, c.Default.PublicEndpoint, "https://keystone.example.com:5000")
			eq(t, c.Default.InsecureDebug, true)
			eq(t, c.Default.MaxTokenSize, 1024)
			eq(t, c.Token.Expiration, 7200)
			eq(t, c.Token.RevokeByID, false)
			eq(t, c.Token.CacheOnIssue, false)
			eq(t, c.Auth.Methods, []string{"password", "token", "application_credential"})
			eq(t, c.KeystoneNG.KeyReloadInterval, 2*time.Second)
			eq(t, c.KeystoneNG.ShutdownTimeout, 500*time.Millisecond)
			eq(t, c.KeystoneNG.RequestTimeout, 90*time.Second)
			eq(t, c.KeystoneNG.MaxRequestBodyBytes, int64(2048))
			eq(t, c.KeystoneNG.MetricsEnabled, false)
		}},
		{"last assignment in a file wins", "[token]\nexpiration = 1\nexpiration = 2\n", func(t *testing.T, c *Config) {
			eq(t, c.Token.Expiration, 2)
		}},
		{"section names case-insensitive except DEFAULT", "[TOKEN]\nexpiration = 5\n[default]\nmax_token_size = 9\n[Fernet_Tokens]\nmax_active_keys = 7\n", func(t *testing.T, c *Config) {
			eq(t, c.Token.Expiration, 5)
			eq(t, c.Default.MaxTokenSize, 255) // [default] is not [DEFAULT]
			eq(t, c.FernetTokens.MaxActiveKeys, 7)
		}},
		{"unknown keys in Python sections ignored", "[DEFAULT]\ndebug = true\nlog_dir = /var/log\n[cache]\nbackend = dogpile.cache.memcached\n[token]\nexpiration = 60\n", func(t *testing.T, c *Config) {
			eq(t, c.Token.Expiration, 60)
		}},
		{"continuation value", "[resource]\nadmin_project_name = first\n  second\n", func(t *testing.T, c *Config) {
			eq(t, c.Resource.AdminProjectName, "first\nsecond")
		}},
		{"empty optional int is unset", "[security_compliance]\nlockout_failure_attempts =\n", func(t *testing.T, c *Config) {
			eq(t, c.SecurityCompliance.LockoutFailureAttempts, 0)
		}},
		{"deprecated name", "[DEFAULT]\nsql_connection = mysql://a@h/k\n[database]\nsqlalchemy_max_overflow = 7\n", func(t *testing.T, c *Config) {
			eq(t, c.Database.Connection, "mysql://a@h/k")
			eq(t, c.Database.MaxOverflow, 7)
		}},
		{"current name beats deprecated in one file", "[sql]\nconnection = mysql://old@h/k\n[database]\nconnection = mysql://new@h/k\n", func(t *testing.T, c *Config) {
			eq(t, c.Database.Connection, "mysql://new@h/k")
		}},
		{"policy_dirs is multi-valued", "[oslo_policy]\npolicy_dirs = a,b\npolicy_dirs = c\n[DEFAULT]\npolicy_dirs = z\n", func(t *testing.T, c *Config) {
			// oslo: within a file the current name is looked up first but
			// deprecated-name values are prepended.
			eq(t, c.OsloPolicy.PolicyDirs, []string{"z", "a,b", "c"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadString(t, tc.conf)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func eq(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestLoadFileOrder(t *testing.T) {
	dir := t.TempDir()
	f1 := write(t, dir, "a/keystone.conf", "[token]\nexpiration = 1\nprovider = fernet\n[identity]\ndriver = one\n[oslo_policy]\npolicy_dirs = d1\n")
	f2 := write(t, dir, "b/override.conf", "[token]\nexpiration = 2\n[identity]\ndriver = two\n[oslo_policy]\npolicy_dirs = d2\n")
	confd := filepath.Join(dir, "keystone.conf.d")
	c1 := write(t, confd, "10-first.conf", "[token]\nexpiration = 10\n")
	c2 := write(t, confd, "20-second.conf", "[token]\nexpiration = 20\n[identity]\ndriver = dir\n")
	write(t, confd, ".hidden.conf", "[token]\nexpiration = 99\n")
	write(t, confd, "notes.txt", "[token]\nexpiration = 98\n")
	write(t, confd, "30-bad.conf.bak", "garbage")

	c, err := Load(LoadOptions{Files: []string{f1, f2}, Dirs: []string{confd}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	eq(t, c.Token.Expiration, 20)
	eq(t, c.Identity.Driver, "dir")
	eq(t, c.OsloPolicy.PolicyDirs, []string{"d1", "d2"})
	eq(t, c.Files, []string{f1, f2, c1, c2})
	eq(t, c.Dirs, []string{confd})

	// Later files override earlier ones; a later deprecated name beats an
	// earlier current name (oslo searches files newest first).
	f3 := write(t, dir, "c.conf", "[database]\nconnection = sqlite:///new.db\n")
	f4 := write(t, dir, "d.conf", "[DEFAULT]\nsql_connection = sqlite:///dep.db\n")
	c, err = Load(LoadOptions{Files: []string{f3, f4}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	eq(t, c.Database.Connection, "sqlite:///dep.db")
}

func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "k.conf", `[token]
expiration = abc
provider = jwt
[fernet_tokens]
max_active_keys = 0
[DEFAULT]
insecure_debug = maybe
public_endpoint = not a url
[identity]
password_hash_algorithm = md5
[keystone_ng]
listen = localhost
lisen = 1
key_reload_interval = soon
novalue
`)
	_, err := Load(LoadOptions{
		Files:   []string{good, filepath.Join(dir, "missing.conf")},
		Dirs:    []string{filepath.Join(dir, "nodir")},
		Environ: []string{"KEYSTONE_NG_LOG_LEVEL=loud", "KEYSTONE_NG_BOGUS=1", "KEYSTONE_NG_KEYSTONE_NG__NOPE=1", "KEYSTONE_NG_TOKEN__NOT_READ=1", "PATH=/bin"},
	})
	wantProblems(t, err,
		"missing.conf: config file not found",
		"nodir: config directory not found",
		`k.conf:15: no ':' or '=' found in assignment: "novalue"`,
		`k.conf:13: unknown option "lisen" in [keystone_ng]`,
		`environment variable KEYSTONE_NG_BOGUS: unknown option "bogus" in [keystone_ng]`,
		`environment variable KEYSTONE_NG_KEYSTONE_NG__NOPE: unknown option "nope"`,
		`[token] expiration (from `+good+`:2): "abc": invalid integer`,
		`[fernet_tokens] max_active_keys (from `+good+`:5): "0": should be greater than or equal to 1`,
		`[DEFAULT] insecure_debug (from `+good+`:7): "maybe": invalid boolean`,
		`[DEFAULT] public_endpoint (from `+good+`:8): "not a url": invalid URI`,
		`[identity] password_hash_algorithm (from `+good+`:10): "md5": valid values are`,
		`[keystone_ng] key_reload_interval (from `+good+`:14): "soon": invalid duration`,
		`[token] provider (from `+good+`:3): "jwt": unknown provider (keystone-ng supports fernet and jws)`,
		`[keystone_ng] listen (from `+good+`:12): "localhost": must be host:port`,
		`[keystone_ng] log_level (from environment variable KEYSTONE_NG_LOG_LEVEL): "loud": must be one of`,
	)
}

func TestLoadErrorsHideSecrets(t *testing.T) {
	_, err := loadString(t, "[DEFAULT]\nadmin_token = $nosuch_s3cret\n[database]\nconnection = oracle://u:hunter2@h/db\n")
	wantProblems(t, err,
		`[DEFAULT] admin_token`, // substitution error
		`[database] connection (from `,
	)
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("problem text leaks the database password: %s", err)
	}
}

func TestSubstitution(t *testing.T) {
	// Results are read from [resource] admin_project_name, a plain string.
	tests := []struct {
		name    string
		conf    string
		env     []string
		want    string
		wantErr string
	}{
		{name: "same group", conf: "[resource]\nx = abc\nadmin_project_name = $x-1\n", want: "abc-1"},
		{name: "braces", conf: "[resource]\nx = abc\nadmin_project_name = ${x}def\n", want: "abcdef"},
		{name: "falls back to DEFAULT", conf: "[DEFAULT]\nx = dflt\n[resource]\nadmin_project_name = $x\n", want: "dflt"},
		{name: "group first", conf: "[DEFAULT]\nx = dflt\n[resource]\nx = grp\nadmin_project_name = $x\n", want: "grp"},
		{name: "section.option", conf: "[token]\nprovider = fernet\n[resource]\nadmin_project_name = ${token.provider}/$token.provider\n", want: "fernet/fernet"},
		{name: "unknown section from the files", conf: "[cache]\nbackend = mc\n[resource]\nadmin_project_name = ${cache.backend}\n", want: "mc"},
		{name: "default of a known option", conf: "[resource]\nadmin_project_name = ${identity.default_domain_id}\n", want: "default"},
		{name: "int as text", conf: "[resource]\nadmin_project_name = ${token.expiration}\n", want: "3600"},
		{name: "bool as Python str", conf: "[resource]\nadmin_project_name = ${token.revoke_by_id}\n", want: "True"},
		{name: "list as Python str", conf: "[auth]\nmethods = password,token\n[resource]\nadmin_project_name = ${auth.methods}\n", want: "['password', 'token']"},
		{name: "None is empty", conf: "[resource]\nadmin_project_name = <${DEFAULT_x}${resource.admin_project_domain_name}>\n[DEFAULT]\nDEFAULT_x = \n", want: "<>"},
		{name: "recursive", conf: "[DEFAULT]\na = $b$b\nb = x\n[resource]\nadmin_project_name = $a\n", want: "xx"},
		{name: "referenced value is substituted in its own group", conf: "[DEFAULT]\nv = d\n[cache]\nv = c\nw = $v\n[resource]\nadmin_project_name = ${cache.w}\n", want: "c"},
		{name: "dollar escape", conf: "[resource]\nadmin_project_name = a$$b$$\n", want: "a$b$"},
		{name: "backslash escape", conf: "[resource]\nadmin_project_name = a\\$b\n", want: "a$b"},
		{name: "invalid placeholders kept", conf: "[resource]\nadmin_project_name = $ $1 ${ ${x $-\n", want: "$ $1 ${ ${x $-"},
		{name: "uppercase identifiers", conf: "[resource]\nHOST = h\nadmin_project_name = $HOST\n", want: "h"},
		{name: "env override is visible", conf: "[resource]\nadmin_project_name = ${keystone_ng.listen}\n", env: []string{"KEYSTONE_NG_LISTEN=0.0.0.0:1"}, want: "0.0.0.0:1"},
		{name: "env value is substituted", conf: "[DEFAULT]\nx = y\n", env: []string{"KEYSTONE_NG_RESOURCE__ADMIN_PROJECT_NAME=$x"}, want: "y"},
		{name: "undefined", conf: "[resource]\nadmin_project_name = $nope\n", wantErr: `no such option "nope" in group [resource] or [DEFAULT]`},
		{name: "undefined group", conf: "[resource]\nadmin_project_name = ${nosuch.x}\n", wantErr: `no such group [nosuch]`},
		{name: "dot is part of the name", conf: "[resource]\nhost = h\nadmin_project_name = $host.example.com\n", wantErr: `no such group [host]`},
		{name: "undefined option in known group", conf: "[resource]\nadmin_project_name = ${token.nope}\n", wantErr: `no such option "nope" in group [token]`},
		{name: "DEFAULT is not a group", conf: "[DEFAULT]\nx = 1\n[resource]\nadmin_project_name = ${DEFAULT.x}\n", wantErr: `no such group [DEFAULT]`},
		{name: "group names are exact", conf: "[resource]\nadmin_project_name = ${Token.provider}\n", wantErr: `no such group [Token]`},
		{name: "cycle", conf: "[DEFAULT]\na = $b\nb = $a\n[resource]\nadmin_project_name = $a\n", wantErr: `circular $reference`},
		{name: "self cycle", conf: "[resource]\nadmin_project_name = x$admin_project_name\n", wantErr: `circular $reference`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadString(t, tc.conf, tc.env...)
			if tc.wantErr != "" {
				wantProblems(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			eq(t, c.Resource.AdminProjectName, tc.want)
		})
	}
}

func TestSubstitutionTyped(t *testing.T) {
	c, err := loadString(t, "[DEFAULT]\nhours = 2\nhost = db.example.com\n[token]\nexpiration = ${hours}00\n[database]\nconnection = mysql+pymysql://k:pw@$host/keystone\n")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Token.Expiration, 200)
	eq(t, c.Database.Connection, "mysql+pymysql://k:pw@db.example.com/keystone")

	// An undefined reference in an option keystone-ng does not read is not
	// an error: oslo substitutes lazily, on access.
	if _, err := loadString(t, "[cache]\nbackend = $undefined\n"); err != nil {
		t.Errorf("unread option with bad reference: %v", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	conf := "[database]\nconnection = sqlite:///file.db\n[keystone_ng]\nlisten = 127.0.0.1:1\n[fernet_tokens]\nkey_repository = /file\n"
	tests := []struct {
		name    string
		env     []string
		check   func(t *testing.T, c *Config)
		wantErr []string
	}{
		{name: "long form beats file", env: []string{"KEYSTONE_NG_DATABASE__CONNECTION=postgresql://u@h/k"}, check: func(t *testing.T, c *Config) {
			eq(t, c.Database.Connection, "postgresql://u@h/k")
		}},
		{name: "section with underscore", env: []string{"KEYSTONE_NG_FERNET_TOKENS__KEY_REPOSITORY=/env"}, check: func(t *testing.T, c *Config) {
			eq(t, c.FernetTokens.KeyRepository, "/env")
		}},
		{name: "DEFAULT section", env: []string{"KEYSTONE_NG_DEFAULT__PUBLIC_ENDPOINT=https://id.example.com"}, check: func(t *testing.T, c *Config) {
			eq(t, c.Default.PublicEndpoint, "https://id.example.com")
		}},
		{name: "short form", env: []string{"KEYSTONE_NG_LISTEN=0.0.0.0:5001", "KEYSTONE_NG_KEY_RELOAD_INTERVAL=3"}, check: func(t *testing.T, c *Config) {
			eq(t, c.KeystoneNG.Listen, "0.0.0.0:5001")
			eq(t, c.KeystoneNG.KeyReloadInterval, 3*time.Second)
		}},
		{name: "long form of own section", env: []string{"KEYSTONE_NG_KEYSTONE_NG__LOG_FORMAT=json"}, check: func(t *testing.T, c *Config) {
			eq(t, c.KeystoneNG.LogFormat, "json")
		}},
		{name: "list and multi values", env: []string{"KEYSTONE_NG_AUTH__METHODS=password, token", "KEYSTONE_NG_OSLO_POLICY__POLICY_DIRS=a,b"}, check: func(t *testing.T, c *Config) {
			eq(t, c.Auth.Methods, []string{"password", "token"})
			eq(t, c.OsloPolicy.PolicyDirs, []string{"a", "b"})
		}},
		{name: "unknown Python option ignored", env: []string{"KEYSTONE_NG_CACHE__BACKEND=x", "KEYSTONE_NG_TOKEN__CACHING=x", "OS_TOKEN__EXPIRATION=1"}, check: func(t *testing.T, c *Config) {
			eq(t, c.Token.Expiration, 3600)
		}},
		{name: "bad value parsed like a file value", env: []string{"KEYSTONE_NG_TOKEN__EXPIRATION=1h", "KEYSTONE_NG_METRICS_ENABLED=sure"}, wantErr: []string{
			`[token] expiration (from environment variable KEYSTONE_NG_TOKEN__EXPIRATION): "1h": invalid integer`,
			`[keystone_ng] metrics_enabled (from environment variable KEYSTONE_NG_METRICS_ENABLED): "sure": invalid boolean`,
		}},
		{name: "unknown own option", env: []string{"KEYSTONE_NG_LISTN=x"}, wantErr: []string{`environment variable KEYSTONE_NG_LISTN: unknown option "listn" in [keystone_ng]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadString(t, conf, tc.env...)
			if tc.wantErr != nil {
				wantProblems(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, c)
		})
	}
	// nil Environ: the process environment is not consulted.
	t.Setenv("KEYSTONE_NG_LISTEN", "bad")
	if _, err := Load(LoadOptions{}); err != nil {
		t.Errorf("nil Environ read the process environment: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	c.KeystoneNG = KeystoneNGSection{Listen: "nohost", LogLevel: "trace", LogFormat: "xml", ReadHeaderTimeout: -1, DBConcurrency: -2}
	c.Default.PublicEndpoint = "/relative"
	c.Database = DatabaseSection{Connection: "oracle://u:secretpw@h/db", MaxPoolSize: -1, MaxOverflow: -2, PoolTimeout: -1, MaxRetries: -2}
	c.Token.Expiration = 0
	c.Token.Provider = "jws"
	c.JWTTokens = JWTTokensSection{JWSPublicKeyRepository: "", JWSPrivateKeyRepository: " "}
	c.Token.AllowExpiredWindow = -1
	c.FernetTokens = FernetSection{KeyRepository: "", MaxActiveKeys: 0}
	c.FernetReceipts = FernetSection{KeyRepository: " ", MaxActiveKeys: 1}
	c.Credential.KeyRepository = ""
	c.Identity = IdentitySection{PasswordHashAlgorithm: "bcrypt", PasswordHashRounds: 3, MaxPasswordLength: 5000}
	c.Auth.Methods = []string{"password", "", "password"}
	c.Revoke.ExpirationBuffer = -1
	c.Federation.DefaultAuthorizationTTL = -1
	c.SecurityCompliance = SecurityComplianceSection{-1, 0, -1, -1}
	c.Trust.MaxRedelegationCount = -1
	c.OsloPolicy.PolicyFile = ""
	err := c.Validate()
	wantProblems(t, err,
		`[keystone_ng] listen: "nohost": must be host:port`,
		`[keystone_ng] log_level: "trace"`,
		`[keystone_ng] log_format: "xml"`,
		`[keystone_ng] key_reload_interval: must be greater than zero`,
		`[keystone_ng] audit_outbox_max_events: must be at least 1`,
		`[keystone_ng] audit_bus_down_alert: must be greater than zero`,
		`[keystone_ng] audit_publish_timeout: must be greater than zero`,
		`[keystone_ng] shutdown_timeout: must be greater than zero`,
		`[keystone_ng] request_timeout: must be greater than zero`,
		`[keystone_ng] read_header_timeout: must be greater than zero`,
		`[keystone_ng] db_query_timeout: must be greater than zero`,
		`[keystone_ng] max_request_body_bytes: must be greater than zero`,
		`[keystone_ng] purge_interval: must be greater than zero`,
		`[keystone_ng] login_state_ttl: must be greater than zero`,
		`[keystone_ng] outbound_timeout: must be greater than zero`,
		`[keystone_ng] jwks_cache_ttl: must be greater than zero`,
		`[keystone_ng] db_concurrency: must be -1 (no limit), 0 (automatic) or a number of statements`,
		`[keystone_ng] db_batch_size: must be between 1 (no batching) and 32`,
		`[DEFAULT] public_endpoint: "/relative": invalid URI`,
		`[database] connection: unsupported scheme "oracle"`,
		`[database] max_pool_size`,
		`[database] max_overflow`,
		`[database] pool_timeout`,
		`[database] max_retries`,
		`[token] expiration: must be greater than zero`,
		`[jwt_tokens] jws_public_key_repository: must be set with [token] provider = jws`,
		`[jwt_tokens] jws_private_key_repository: must be set with [token] provider = jws`,
		`[token] allow_expired_window`,
		`[fernet_tokens] key_repository: must be set`,
		`[fernet_tokens] max_active_keys: must be at least 1`,
		`[fernet_receipts] key_repository: must be set`,
		`[credential] key_repository: must be set`,
		`[identity] default_domain_id: must be set`,
		`[identity] password_hash_rounds: 3: must be between 4 and 31 for bcrypt`,
		`[identity] max_password_length`,
		`[auth] methods: entry 2 is empty`,
		`[auth] methods: "password" listed twice`,
		`[revoke] expiration_buffer`,
		`[federation] default_authorization_ttl`,
		`[security_compliance] lockout_failure_attempts`,
		`[security_compliance] lockout_duration`,
		`[security_compliance] disable_user_account_days_inactive`,
		`[security_compliance] password_expires_days`,
		`[trust] max_redelegation_count`,
		`[oslo_policy] policy_file: must be set`,
	)
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("Validate leaks the database password: %s", err)
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != len(problems(t, err)) {
		t.Errorf("Error() has %d lines for %d problems", got, len(problems(t, err)))
	}

	more := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"other provider", func(c *Config) { c.Token.Provider = "uuid" }, `[token] provider: "uuid": unknown provider`},
		{"empty methods", func(c *Config) { c.Auth.Methods = nil }, `[auth] methods: must not be empty`},
		{"empty connection", func(c *Config) { c.Database.Connection = "" }, `[database] connection: must be set`},
		{"not a URL", func(c *Config) { c.Database.Connection = "keystone.db" }, `[database] connection: not a SQLAlchemy URL`},
		{"bad port", func(c *Config) { c.KeystoneNG.Listen = "127.0.0.1:http" }, `port must be a number`},
		{"scrypt rounds", func(c *Config) { c.Identity.PasswordHashAlgorithm = "scrypt"; c.Identity.PasswordHashRounds = 32 }, `between 1 and 31 for scrypt`},
		{"unknown algorithm", func(c *Config) { c.Identity.PasswordHashAlgorithm = "md5" }, `[identity] password_hash_algorithm: "md5"`},
	}
	for _, tc := range more {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mod(c)
			wantProblems(t, c.Validate(), tc.want)
		})
	}
	for _, ok := range []string{"mysql://u:p@h/k", "mysql+pymysql://u:p@h/k", "mysql+mysqldb://h/k", "postgresql://h/k", "postgresql+psycopg2://h/k", "sqlite:///k.db", "sqlite://", "MySQL+PyMySQL://h/k"} {
		c := Defaults()
		c.Database.Connection = ok
		if err := c.Validate(); err != nil {
			t.Errorf("connection %q: %v", ok, err)
		}
	}
	for _, ok := range []string{":5001", "[::1]:5001", "0.0.0.0:0", "host.example:65535"} {
		c := Defaults()
		c.KeystoneNG.Listen = ok
		if err := c.Validate(); err != nil {
			t.Errorf("listen %q: %v", ok, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := loadString(t, `[DEFAULT]
admin_token = adm1nt0ken
[database]
connection = mysql+pymysql://keystone:p@ss:w0rd@db.example.com:3306/keystone?charset=utf8&password=qu3rypw
`)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	eq(t, r["DEFAULT"]["admin_token"], "***")
	eq(t, r["database"]["connection"], "mysql+pymysql://keystone:***@db.example.com:3306/keystone?charset=utf8&password=***")
	eq(t, r["token"]["expiration"], "3600")
	eq(t, r["auth"]["methods"], "external,password,token,oauth1,mapped,application_credential")
	eq(t, r["keystone_ng"]["key_reload_interval"], "500ms")
	eq(t, r["identity"]["password_hash_algorithm"], "bcrypt")
	eq(t, r["security_compliance"]["lockout_failure_attempts"], "")
	eq(t, r["DEFAULT"]["max_token_size"], "255")
	for sec, opts := range r {
		for k, v := range opts {
			for _, secret := range []string{"adm1nt0ken", "w0rd", "qu3rypw"} {
				if strings.Contains(v, secret) {
					t.Errorf("[%s] %s leaks a secret: %q", sec, k, v)
				}
			}
		}
	}
	// Every option keystone-ng reads is listed.
	n := 0
	for _, opts := range r {
		n += len(opts)
	}
	eq(t, n, len(schema))

	// Unset secrets show as unset, not as a mask.
	eq(t, Defaults().Redacted()["DEFAULT"]["admin_token"], "")

	urls := []struct{ in, want string }{
		{"sqlite:///keystone.db", "sqlite:///keystone.db"},
		{"postgresql://user@host/db", "postgresql://user@host/db"},
		{"postgresql://user:pw@host/db?sslmode=require", "postgresql://user:***@host/db?sslmode=require"},
		{"mysql://u:a@b@host/db", "mysql://u:***@host/db"},
		{"not a url", "***"},
	}
	for _, u := range urls {
		eq(t, RedactURL(u.in), u.want)
	}
}

func TestNameLooksSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"admin_token": true, "client_secret": true, "ldap_password": true, "listen": false,
	} {
		o := &option{name: name, kind: kindString}
		eq(t, o.isSecret(), want)
	}
	eq(t, (&option{name: "max_token_size", kind: kindInt}).isSecret(), false)
}

func TestFindFile(t *testing.T) {
	dir := t.TempDir()
	f1 := write(t, dir, "etc1/keystone.conf", "[DEFAULT]\n")
	f2 := write(t, dir, "etc2/keystone.conf", "[DEFAULT]\n")
	confd := filepath.Join(dir, "conf.d")
	if err := os.MkdirAll(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "etc1/policy.yaml", "{}")
	write(t, dir, "etc1/only1.yaml", "{}")
	write(t, dir, "etc2/policy.yaml", "{}")
	write(t, dir, "conf.d/dirfirst.yaml", "{}")
	write(t, dir, "etc2/dirfirst.yaml", "{}")

	c, err := Load(LoadOptions{Files: []string{f1, f2}, Dirs: []string{confd}})
	if err != nil {
		t.Fatal(err)
	}
	home := homeDir()
	wantDirs := []string{confd, filepath.Dir(f2), filepath.Dir(f1)}
	if home != "" {
		wantDirs = append(wantDirs, filepath.Join(home, ".keystone"), home)
	}
	wantDirs = append(wantDirs, "/etc/keystone", "/etc")
	eq(t, c.SearchDirs, wantDirs)

	tests := []struct {
		name, file, want string
		found            bool
	}{
		{"last config file's directory first", "policy.yaml", filepath.Join(dir, "etc2/policy.yaml"), true},
		{"earlier config file's directory", "only1.yaml", filepath.Join(dir, "etc1/only1.yaml"), true},
		{"config dir before file dirs", "dirfirst.yaml", filepath.Join(confd, "dirfirst.yaml"), true},
		{"absolute name", f1, f1, true},
		{"missing", "no-such-file-keystone-ng.yaml", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.FindFile(tc.file)
			eq(t, ok, tc.found)
			eq(t, got, tc.want)
		})
	}
}

func TestTildeExpansion(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	write(t, home, "k.conf", "[token]\nexpiration = 42\n")
	c, err := Load(LoadOptions{Files: []string{"~/k.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Token.Expiration, 42)
	eq(t, c.Files, []string{filepath.Join(home, "k.conf")})
}

func TestConfigDirEntryIsDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(LoadOptions{Dirs: []string{dir}})
	wantProblems(t, err, "sub.conf: cannot read config file")
}

func TestParseHelpers(t *testing.T) {
	for _, s := range []string{"true", "TRUE", "1", "on", "Yes"} {
		if b, err := parseBool(s); err != nil || !b {
			t.Errorf("parseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"false", "0", "OFF", "no"} {
		if b, err := parseBool(s); err != nil || b {
			t.Errorf("parseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "y", "2", " true"} {
		if _, err := parseBool(s); err == nil {
			t.Errorf("parseBool(%q) accepted", s)
		}
	}
	ints := map[string]int64{"0": 0, " 12 ": 12, "+3": 3, "-4": -4, "1_000": 1000}
	for s, want := range ints {
		if n, err := parsePyInt(s); err != nil || n != want {
			t.Errorf("parsePyInt(%q) = %v, %v", s, n, err)
		}
	}
	for _, s := range []string{"1.5", "1__0", "_1", "1_", "0x10", "abc", "99999999999999999999"} {
		if _, err := parsePyInt(s); err == nil {
			t.Errorf("parsePyInt(%q) accepted", s)
		}
	}
	durs := map[string]time.Duration{"500ms": 500 * time.Millisecond, "2": 2 * time.Second, "0.25": 250 * time.Millisecond, "1h": time.Hour}
	for s, want := range durs {
		if d, err := parseDuration(s); err != nil || d != want {
			t.Errorf("parseDuration(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "soon", "NaN", "1e300"} {
		if _, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) accepted", s)
		}
	}
	eq(t, parseList(" a, b ,,c,, "), []string{"a", "b", "", "c"})
	eq(t, parseList(""), []string{})
}

func TestValidateSelfServiceOptions(t *testing.T) {
	c := Defaults()
	c.KeystoneNG.OutboundAllowedNetworks = []string{"10.0.0.0/8", "192.168.1.5", "nonsense", "10.0.0.0/99"}
	c.KeystoneNG.TrustedProxies = []string{"127.0.0.1", "::1", "fe80::/10x"}
	c.KeystoneNG.LoginRateLimit = -1
	c.KeystoneNG.MaxPasskeysPerUser = -2
	c.KeystoneNG.MaxCredentialsPerServiceAccount = -1
	c.KeystoneNG.DomainGrantableRoles = []string{"member", "Admin"}
	c.KeystoneNG.JWKSStaleTTL = 48 * time.Hour
	wantProblems(t, c.Validate(),
		`[keystone_ng] outbound_allowed_networks: "nonsense": not an address or CIDR network`,
		`[keystone_ng] outbound_allowed_networks: "10.0.0.0/99": not a CIDR network`,
		`[keystone_ng] trusted_proxies: "fe80::/10x": not a CIDR network`,
		`[keystone_ng] login_rate_limit: must not be negative`,
		`[keystone_ng] max_passkeys_per_user: must not be negative`,
		`[keystone_ng] max_credentials_per_service_account: must not be negative`,
		`[keystone_ng] domain_grantable_roles: must not name admin`,
		`[keystone_ng] jwks_stale_ttl: must be between 0 and 24h`,
	)
	for in, want := range map[string]string{"10.1.2.3/8": "10.0.0.0/8", "192.168.1.5": "192.168.1.5/32", "::1": "::1/128", "::ffff:10.0.0.1": "10.0.0.1/32"} {
		got, err := ParseNetwork(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseNetwork(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestValidateWebAuthn(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    WebAuthnSection
		want []string
	}{
		{name: "off", w: WebAuthnSection{}},
		{name: "good", w: WebAuthnSection{RelyingPartyID: "cloud.example.com", RelyingPartyOrigins: []string{"https://cloud.example.com", "https://login.cloud.example.com:8443"}, CeremonyTimeout: time.Minute, TokenMethods: []string{"external"}, ReauthenticationWindow: time.Minute}},
		{name: "localhost over http", w: WebAuthnSection{RelyingPartyID: "localhost", RelyingPartyOrigins: []string{"http://localhost:5001"}, CeremonyTimeout: time.Minute, TokenMethods: []string{"external"}, ReauthenticationWindow: time.Minute}},
		{name: "origins without rp id", w: WebAuthnSection{RelyingPartyOrigins: []string{"https://x.example"}},
			want: []string{`[webauthn] relying_party_id: must be set when relying_party_origins is`}},
		{name: "everything wrong", w: WebAuthnSection{RelyingPartyID: "https://cloud.example.com/", RelyingPartyOrigins: nil, CeremonyTimeout: 0, TokenMethods: []string{"passkey"}, ReauthenticationWindow: time.Minute},
			want: []string{
				`[webauthn] relying_party_id: "https://cloud.example.com/": must be a host name`,
				`[webauthn] relying_party_origins: must list at least one origin`,
				`[webauthn] ceremony_timeout: must be between 1s and 1h`,
				`[webauthn] token_methods: "passkey" is not in [auth] methods`,
			}},
		{name: "origin outside rp id", w: WebAuthnSection{RelyingPartyID: "cloud.example.com", RelyingPartyOrigins: []string{"https://evil.example.org", "http://cloud.example.com", "https://notcloud.example.com", "https://cloud.example.com/path"}, CeremonyTimeout: time.Minute, TokenMethods: []string{"external"}, ReauthenticationWindow: time.Minute},
			want: []string{
				`"https://evil.example.org": host evil.example.org is outside relying_party_id cloud.example.com`,
				`"http://cloud.example.com": must use https (http only for localhost)`,
				`"https://notcloud.example.com": host notcloud.example.com is outside relying_party_id`,
				`"https://cloud.example.com/path": must be an origin`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.WebAuthn = tc.w
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantProblems(t, err, tc.want...)
		})
	}
}

func TestDBLimits(t *testing.T) {
	const (
		mysql  = "mysql+pymysql://u:p@h/keystone"
		pg     = "postgresql://u:p@h/keystone"
		sqlite = "sqlite:////var/lib/keystone/keystone.db"
	)
	for _, tc := range []struct {
		name        string
		conn        string
		conc, batch int
		procs       int
		want        DBLimits
	}{
		{name: "mysql automatic on two CPUs batches", conn: mysql, batch: 8, procs: 2, want: DBLimits{Statements: 2, Batch: 8, Rounds: 16}},
		{name: "mysql automatic on one CPU is at least 2 statements", conn: mysql, batch: 8, procs: 1, want: DBLimits{Statements: 2, Batch: 8, Rounds: 16}},
		{name: "mysql automatic on sixteen CPUs", conn: "mysql://u:p@h/k", batch: 4, procs: 16, want: DBLimits{Statements: 16, Batch: 4, Rounds: 64}},
		{name: "mysql explicit", conn: mysql, conc: 3, batch: 8, procs: 2, want: DBLimits{Statements: 3, Batch: 8, Rounds: 24}},
		{name: "mysql without batching", conn: mysql, batch: 1, procs: 2, want: DBLimits{Statements: 4, Batch: 1, Rounds: 4}},
		{name: "mysql no limit, no batching", conn: mysql, conc: -1, batch: 8, procs: 2, want: DBLimits{Batch: 1}},
		{name: "postgresql batches as mysql does", conn: pg, batch: 8, procs: 2, want: DBLimits{Statements: 2, Batch: 8, Rounds: 16}},
		{name: "postgresql on three CPUs", conn: "postgresql+psycopg2://u@h/k", batch: 8, procs: 3, want: DBLimits{Statements: 3, Batch: 8, Rounds: 24}},
		{name: "postgresql without batching", conn: pg, batch: 1, procs: 2, want: DBLimits{Statements: 4, Batch: 1, Rounds: 4}},
		{name: "sqlite explicit", conn: sqlite, conc: 7, batch: 8, procs: 16, want: DBLimits{Statements: 7, Batch: 1, Rounds: 7}},
		{name: "sqlite no limit", conn: sqlite, conc: -1, batch: 8, procs: 2, want: DBLimits{Batch: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.Database.Connection = tc.conn
			c.KeystoneNG.DBConcurrency, c.KeystoneNG.DBBatchSize = tc.conc, tc.batch
			if got := c.DBLimits(tc.procs); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
