package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDomainNameOfFile(t *testing.T) {
	for _, tc := range []struct {
		base, name string
		ok         bool
	}{
		{"keystone.ldapdom.conf", "ldapdom", true},
		{"keystone.my.domain.conf", "my.domain", true},
		{"keystone..conf", "", true},
		{"keystone.conf", "", false},
		{"keystone.x.conf.bak", "", false},
		{"other.x.conf", "", false},
	} {
		name, ok := DomainNameOfFile(tc.base)
		if ok != tc.ok || name != tc.name {
			t.Errorf("DomainNameOfFile(%q) = %q, %v", tc.base, name, ok)
		}
	}
}

func TestDomainConfigFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"keystone.a.conf", "sub/keystone.b.conf", "keystone.conf", "README"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DomainConfigFiles(dir)
	want := []string{filepath.Join(dir, "keystone.a.conf"), filepath.Join(dir, "sub/keystone.b.conf")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DomainConfigFiles = %v, %v; want %v", got, err, want)
	}
	if got, err := DomainConfigFiles(filepath.Join(dir, "missing")); err != nil || len(got) != 0 {
		t.Errorf("missing dir: %v, %v", got, err)
	}
}

func TestParseDomainConfig(t *testing.T) {
	d, err := ParseDomainConfig("/etc/keystone/domains/keystone.ldapdom.conf", []byte(`
[identity]
driver = ldap
[ldap]
url = ldap://127.0.0.1:3891
user = cn=admin,dc=example,dc=org
password = s3cr$$et
suffix = dc=example,dc=org
query_scope = sub
user_enabled_mask = 2
user_enabled_default = 512
user_attribute_ignore = default_project_id,enabled
page_size = 100
[database]
connection = ignored://here
`))
	if err != nil {
		t.Fatal(err)
	}
	if d.DomainName != "ldapdom" || d.Driver != "ldap" {
		t.Errorf("name %q driver %q", d.DomainName, d.Driver)
	}
	l := d.LDAP
	if l.URL != "ldap://127.0.0.1:3891" || l.Password != "s3cr$et" || l.QueryScope != "sub" || l.UserEnabledMask != 2 ||
		l.UserEnabledDefault != "512" || l.PageSize != 100 || !reflect.DeepEqual(l.UserAttributeIgnore, []string{"default_project_id", "enabled"}) {
		t.Errorf("ldap section: %+v", l)
	}
	// Options not set keep Keystone's defaults, never keystone.conf's.
	if l.UserObjectClass != "inetOrgPerson" || l.UserNameAttribute != "sn" || l.GroupMemberAttribute != "member" || !l.UsePool || l.TLSReqCert != "demand" {
		t.Errorf("defaults: %+v", l)
	}
	if RedactedLDAP(l)["password"] != Mask {
		t.Error("password shown")
	}

	// A file without [identity] driver is an SQL domain.
	d, err = ParseDomainConfig("keystone.x.conf", []byte("[ldap]\nurl = ldap://x\n"))
	if err != nil || d.Driver != "sql" {
		t.Errorf("no driver: %+v, %v", d, err)
	}

	// Every problem is listed; a secret's value is never shown.
	_, err = ParseDomainConfig("keystone.bad.conf", []byte("[ldap]\nquery_scope = deep\npage_size = -1\npassword = a$b\nnot a line\n"))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	msg := err.Error()
	for _, want := range []string{"query_scope", "page_size", "password", "$substitution", "keystone.bad.conf:5"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems %q lack %q", msg, want)
		}
	}
	if strings.Contains(msg, "a$b") {
		t.Errorf("problems show the password: %q", msg)
	}
}

func TestDomainFromOptionsDatabase(t *testing.T) {
	d, err := DomainFromOptions("database", map[string]map[string]string{
		"identity": {"driver": "ldap", "password_hash_rounds": "ignored"},
		"ldap":     {"url": "ldaps://dir", "user_enabled_invert": "true", "unknown_option": "x"},
	})
	if err != nil || d.Driver != "ldap" || d.LDAP.URL != "ldaps://dir" || !d.LDAP.UserEnabledInvert {
		t.Errorf("got %+v, %v", d, err)
	}
}

func TestIdentityDriverKind(t *testing.T) {
	for in, want := range map[string]string{"sql": "sql", "ldap": "ldap", " ldap ": "ldap",
		"keystone.identity.backends.ldap.Identity": "ldap", "custom": "", "LDAP": ""} {
		if got := IdentityDriverKind(in); got != want {
			t.Errorf("IdentityDriverKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckLDAP(t *testing.T) {
	l := Defaults().LDAP
	if p := CheckLDAP(l); len(p) != 0 {
		t.Errorf("defaults: %v", p)
	}
	l.ChaseReferrals = "yes"
	if p := CheckLDAP(l); len(p) != 1 || !strings.Contains(p[0], "referrals") {
		t.Errorf("chase_referrals: %v", p)
	}
	l.ChaseReferrals = "false"
	if p := CheckLDAP(l); len(p) != 0 {
		t.Errorf("chase_referrals false: %v", p)
	}
}

func FuzzParseDomainConfig(f *testing.F) {
	f.Add([]byte("[identity]\ndriver = ldap\n[ldap]\nurl = ldap://x\npassword = $$\n"))
	f.Add([]byte("[ldap]\nuser_enabled_mask = 99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDomainConfig("keystone.fuzz.conf", data)
		if err == nil && d == nil {
			t.Fatal("no configuration and no error")
		}
		if err != nil && strings.Contains(err.Error(), "\x00") && !strings.Contains(string(data), "\x00") {
			t.Fatal("error invents bytes")
		}
	})
}
