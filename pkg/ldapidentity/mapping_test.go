package ldapidentity

import (
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

func TestEscapeFilter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"*", `\2a`},
		{"a*)(uid=*", `a\2a\29\28uid=\2a`},
		{`back\slash`, `back\5cslash`},
		{"nul\x00byte", `nul\00byte`},
		{"älice", "älice"}, // non-ASCII stays as is (python-ldap's default mode)
		{"", ""},
	} {
		if got := EscapeFilter(tc.in); got != tc.want {
			t.Errorf("EscapeFilter(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscapeDNValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"Smith, John", `Smith\, John`},
		{"a+b=c", `a\+b\=c`},
		{`q"<>;\`, `q\"\<\>\;\\`},
		{" lead", `\ lead`},
		{"trail ", `trail\ `},
		{"#hash", `\#hash`},
		{"", ""},
	} {
		if got := EscapeDNValue(tc.in); got != tc.want {
			t.Errorf("EscapeDNValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func defaults(t *testing.T, mut func(*config.LDAPSection)) *Settings {
	t.Helper()
	l := config.Defaults().LDAP
	l.Suffix = "dc=example,dc=org"
	if mut != nil {
		mut(&l)
	}
	s, err := Resolve(l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFilters(t *testing.T) {
	s := defaults(t, nil)
	// An id that tries to widen the search is one escaped value.
	if got, want := s.UserFilter("x)(objectClass=*"), `(&(cn=x\29\28objectClass=\2a)(objectClass=inetOrgPerson))`; got != want {
		t.Errorf("UserFilter = %q, want %q", got, want)
	}
	s = defaults(t, func(l *config.LDAPSection) {
		l.UserFilter = "(memberOf=cn=os,dc=example,dc=org)"
		l.UserIDAttribute = "uid"
		l.GroupFilter = "(ou=*)"
		l.GroupMemberAttribute = "uniqueMember"
		l.GroupObjectClass = "groupOfUniqueNames"
	})
	if got, want := s.UserFilter("bob"), `(&(uid=bob)(memberOf=cn=os,dc=example,dc=org)(objectClass=inetOrgPerson))`; got != want {
		t.Errorf("UserFilter = %q, want %q", got, want)
	}
	if got, want := s.GroupsFilter("uid=bob,ou=Users,dc=example,dc=org"), `(&(uniqueMember=uid=bob,ou=Users,dc=example,dc=org)(ou=*)(objectClass=groupOfUniqueNames)(cn=*))`; got != want {
		t.Errorf("GroupsFilter = %q, want %q", got, want)
	}
	if got, want := s.GroupsFilter("cn=a*b"), `(&(uniqueMember=cn=a\2ab)(ou=*)(objectClass=groupOfUniqueNames)(cn=*))`; got != want {
		t.Errorf("GroupsFilter = %q, want %q", got, want)
	}
	s = defaults(t, func(l *config.LDAPSection) { l.GroupADNesting = true })
	if got, want := s.GroupsFilter("cn=x,dc=e"), `(&(member:1.2.840.113556.1.4.1941:=cn=x,dc=e)(objectClass=groupOfNames)(cn=*))`; got != want {
		t.Errorf("GroupsFilter (AD nesting) = %q, want %q", got, want)
	}
	if got, want := s.UserDN("Smith, J"), `cn=Smith\, J,ou=Users,dc=example,dc=org`; got != want {
		t.Errorf("UserDN = %q, want %q", got, want)
	}
}

func TestResolveDefaults(t *testing.T) {
	s := defaults(t, nil)
	if s.UserTreeDN != "ou=Users,dc=example,dc=org" || s.GroupTreeDN != "ou=UserGroups,dc=example,dc=org" {
		t.Errorf("tree DNs from the suffix: %q %q", s.UserTreeDN, s.GroupTreeDN)
	}
	if s.UserIDAttr != "cn" || s.UserNameAttr != "sn" || s.GroupNameAttr != "ou" || s.GroupMemberAttr != "member" || s.Scope != 1 {
		t.Errorf("attribute defaults: %+v", s)
	}
	s = defaults(t, func(l *config.LDAPSection) {
		l.UserEnabledEmulation = true
		l.URL = "ldap://a:389, ldap://b:389"
		l.QueryScope = "sub"
	})
	if s.EmulationDN != "cn=enabled_users,ou=Users,dc=example,dc=org" || s.EmulationMemberAttr != "member" {
		t.Errorf("emulation defaults: %q %q", s.EmulationDN, s.EmulationMemberAttr)
	}
	if len(s.URLs) != 2 || s.Scope != 2 {
		t.Errorf("urls %v scope %d", s.URLs, s.Scope)
	}
	s = defaults(t, func(l *config.LDAPSection) {
		l.UserEnabledEmulation, l.UserEnabledEmulationUseGroupConfig = true, true
		l.GroupMemberAttribute, l.GroupMembersAreIDs = "memberUid", true
		l.UserEnabledEmulationDN = "cn=on,dc=x"
	})
	if s.EmulationDN != "cn=on,dc=x" || s.EmulationMemberAttr != "memberUid" || !s.EmulationMembersAreIDs {
		t.Errorf("emulation with group config: %+v", s)
	}
	for name, mut := range map[string]func(*config.LDAPSection){
		"chase referrals":   func(l *config.LDAPSection) { l.ChaseReferrals = "True" },
		"tls with ldaps":    func(l *config.LDAPSection) { l.URL, l.UseTLS = "ldaps://x", true },
		"not an ldap url":   func(l *config.LDAPSection) { l.URL = "http://x" },
		"no name attribute": func(l *config.LDAPSection) { l.UserNameAttribute = "" },
		"name ignored":      func(l *config.LDAPSection) { l.UserAttributeIgnore = []string{"name"} },
	} {
		l := config.Defaults().LDAP
		mut(&l)
		if _, err := Resolve(l); err == nil {
			t.Errorf("%s: Resolve accepted it", name)
		}
	}
}

func TestEnabledRule(t *testing.T) {
	type in struct {
		present bool
		name    string
		values  []string
		member  bool
	}
	attr := func(name string, v ...string) in { return in{present: true, name: name, values: v} }
	absent := in{}
	for _, tc := range []struct {
		name    string
		rule    EnabledRule
		in      in
		want    bool
		wantErr bool
	}{
		// No mask, no emulation: text "true" in any case, booleans of an
		// attribute named exactly "enabled", integers by truth.
		{"TRUE on enabled", EnabledRule{Default: "True"}, attr("enabled", "TRUE"), true, false},
		{"FALSE on enabled", EnabledRule{Default: "True"}, attr("enabled", "FALSE"), false, false},
		{"true text on another attribute", EnabledRule{Default: "True"}, attr("accountActive", "true"), true, false},
		{"TRUE text on another attribute", EnabledRule{Default: "True"}, attr("accountActive", "TRUE"), true, false},
		{"yes is not true", EnabledRule{Default: "True"}, attr("accountActive", "yes"), false, false},
		{"integer 1 on enabled", EnabledRule{Default: "True"}, attr("enabled", "1"), true, false},
		{"integer 0 on enabled", EnabledRule{Default: "True"}, attr("enabled", "0"), false, false},
		{"text 1 on another attribute is not true", EnabledRule{Default: "True"}, attr("other", "1"), false, false},
		{"absent: default True", EnabledRule{Default: "True"}, absent, true, false},
		{"absent: default False", EnabledRule{Default: "False"}, absent, false, false},
		{"absent: default true (any case)", EnabledRule{Default: "TRUE"}, absent, true, false},
		// Invert.
		{"invert TRUE", EnabledRule{Default: "True", Invert: true}, attr("enabled", "TRUE"), false, false},
		{"invert FALSE", EnabledRule{Default: "True", Invert: true}, attr("enabled", "FALSE"), true, false},
		{"invert absent default False", EnabledRule{Default: "False", Invert: true}, absent, true, false},
		{"invert text false", EnabledRule{Default: "True", Invert: true}, attr("locked", "false"), true, false},
		// Mask (Active Directory's userAccountControl, 2 = disabled).
		{"mask 512 enabled", EnabledRule{Mask: 2, Default: "512"}, attr("userAccountControl", "512"), true, false},
		{"mask 514 disabled", EnabledRule{Mask: 2, Default: "512"}, attr("userAccountControl", "514"), false, false},
		{"mask absent uses default", EnabledRule{Mask: 2, Default: "514"}, absent, false, false},
		{"mask ignores invert", EnabledRule{Mask: 2, Default: "512", Invert: true}, attr("userAccountControl", "512"), true, false},
		{"mask of a boolean", EnabledRule{Mask: 1, Default: "0"}, attr("enabled", "TRUE"), false, false},
		{"mask with spaces and sign", EnabledRule{Mask: 2, Default: "0"}, attr("uac", " +512 "), true, false},
		{"mask of text", EnabledRule{Mask: 2, Default: "512"}, attr("uac", "x"), false, true},
		{"mask, default True is not an integer", EnabledRule{Mask: 2, Default: "True"}, absent, false, true},
		// Emulation: the group decides, whatever the attribute says.
		{"emulation member", EnabledRule{Emulation: true, Default: "True"}, in{present: true, name: "enabled", values: []string{"FALSE"}, member: true}, true, false},
		{"emulation not member", EnabledRule{Emulation: true, Default: "True"}, attr("enabled", "TRUE"), false, false},
		{"emulation over mask", EnabledRule{Emulation: true, Mask: 2, Default: "512"}, in{member: true}, true, false},
		// enabled in user_attribute_ignore: no flag, never refused.
		{"ignored", EnabledRule{Ignored: true, Default: "False"}, attr("enabled", "FALSE"), true, false},
		{"ignored with emulation", EnabledRule{Ignored: true, Emulation: true}, absent, true, false},
		{"ignored with mask uses default", EnabledRule{Ignored: true, Mask: 2, Default: "514"}, attr("enabled", "512"), false, false},
		{"present without values", EnabledRule{Default: "True"}, in{present: true, name: "enabled"}, false, false},
		{"present without values, inverted", EnabledRule{Default: "True", Invert: true}, in{present: true, name: "enabled"}, true, false},
	} {
		got, err := tc.rule.Enabled(tc.in.present, tc.in.name, tc.in.values, tc.in.member)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("%s: enabled = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPublicID(t *testing.T) {
	// Values from Keystone's sha256 generator (hashlib over the values of
	// domain_id, entity_type, local_id).
	if got := PublicID("d1", "group", "admins"); got != "e819f26e2e181ec6565dddfdc07dff2a538394c040be5479c5d87aa6e78234f4" {
		t.Errorf("PublicID = %s", got)
	}
	if got := PublicID("dömain", "user", "älice"); got != "adb43b6634b446feb8f9a43a5b912def43cff2daaf5ce8f4f145a6943cba6b12" {
		t.Errorf("PublicID (UTF-8) = %s", got)
	}
}

func TestEntryID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		e       Entry
		want    string
		wantErr error
	}{
		{"single value", Entry{DN: "cn=a,dc=x", Attrs: map[string][]string{"CN": {"a"}}}, "a", nil},
		{"several values, DN names the id attribute", Entry{DN: `cn=Smith\2C J+uid=x,dc=x`, Attrs: map[string][]string{"cn": {"b", "c"}}}, "Smith, J", nil},
		{"several values, DN names another attribute", Entry{DN: "uid=a,dc=x", Attrs: map[string][]string{"cn": {"b", "c"}}}, "", errMultiID},
	} {
		got, err := entryID(&tc.e, "cn")
		if err != tc.wantErr || got != tc.want {
			t.Errorf("%s: entryID = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := entryID(&Entry{DN: "cn=a", Attrs: map[string][]string{}}, "cn"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing id attribute: %v", err)
	}
}

func TestHasName(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string][]string
		want  bool
	}{
		{map[string][]string{"sn": {"Doe"}}, true},
		{map[string][]string{"SN": {"Doe"}}, true},
		{map[string][]string{"sn": {"   "}}, false},
		{map[string][]string{"sn": {}}, false},
		{map[string][]string{}, false},
	} {
		e := Entry{Attrs: tc.attrs}
		if got := e.hasName("sn"); got != tc.want {
			t.Errorf("hasName(%v) = %v", tc.attrs, got)
		}
	}
}

func TestFirstRDN(t *testing.T) {
	for _, tc := range []struct{ dn, typ, val string }{
		{"cn=alice,ou=Users,dc=x", "cn", "alice"},
		{`cn=a\,b,dc=x`, "cn", "a,b"},
		{`UID=x\20y ,dc=x`, "UID", "x y"},
		{"cn=a+sn=b,dc=x", "cn", "a"},
	} {
		typ, val, err := firstRDN(tc.dn)
		if err != nil || typ != tc.typ || val != tc.val {
			t.Errorf("firstRDN(%q) = %q %q %v", tc.dn, typ, val, err)
		}
	}
}

func FuzzEscapeFilter(f *testing.F) {
	for _, s := range []string{"alice", "*)(", `\`, "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeFilter(s)
		// No filter metacharacter survives unescaped.
		if strings.ContainsAny(e, "*()\x00") {
			t.Fatalf("EscapeFilter(%q) = %q keeps a metacharacter", s, e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] == '\\' && (i+2 >= len(e) || !isHex(e[i+1]) || !isHex(e[i+2])) {
				t.Fatalf("EscapeFilter(%q) = %q: a lone backslash", s, e)
			}
		}
	})
}

func FuzzFirstRDN(f *testing.F) {
	for _, s := range []string{"alice", "Smith, J", " #x ", `a\b`, "a+b=c", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// Any DN: no panic.
		_, _, _ = firstRDN(v)
		// A value escaped as Python escapes it reads back unchanged.
		if v == "" {
			return
		}
		_, got, err := firstRDN("cn=" + EscapeDNValue(v) + ",dc=example")
		if err != nil || got != v {
			t.Fatalf("value %q escaped as %q read back as %q, %v", v, EscapeDNValue(v), got, err)
		}
	})
}
