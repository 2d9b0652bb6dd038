// Package ldapidentity reads users, groups and group memberships from an
// LDAP directory the way Python Keystone's read-only LDAP identity driver
// does (keystone/identity/backends/ldap/core.py and common.py), and routes
// the public id of a user to the identity backend of its domain the way
// keystone/identity/core.py does (domain-specific drivers, the id_mapping
// table). Token validation asks it, through token.IdentityBackend, for the
// users of domains that are not served from SQL.
//
// This file holds the pure pieces: the enabled-attribute rules, filter
// and DN building with escaping, and the mapping of entries to users and
// groups. They take no connection and are table-tested.
package ldapidentity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

// EscapeFilter escapes an assertion value for an LDAP search filter as
// python-ldap's ldap.filter.escape_filter_chars does in its default mode:
// backslash, asterisk, parentheses and NUL become \5c, \2a, \28, \29 and
// \00. Every value that comes from outside the configuration (a user id,
// a DN read back from the directory) goes through it, so that it cannot
// change the filter's structure (LDAP injection, RFC 4515 §3).
func EscapeFilter(s string) string {
	if !strings.ContainsAny(s, "\\*()\x00") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\5c`)
		case '*':
			b.WriteString(`\2a`)
		case '(':
			b.WriteString(`\28`)
		case ')':
			b.WriteString(`\29`)
		case 0:
			b.WriteString(`\00`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// EscapeDNValue escapes an attribute value for use in a DN as
// python-ldap's ldap.dn.escape_dn_chars does: backslash first, then
// , + " < > ; = and NUL get a backslash, a trailing space is escaped, and
// a leading '#' or space gets a backslash.
func EscapeDNValue(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ',', '+', '"', '<', '>', ';', '=', 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if strings.HasSuffix(out, " ") {
		out = out[:len(out)-1] + `\ `
	}
	if out[0] == '#' || out[0] == ' ' {
		out = `\` + out
	}
	return out
}

// UserFilter is the filter of BaseLdap._ldap_get for a user id: the id
// attribute equal to the escaped id, the operator's user_filter (trusted
// configuration, inserted as written) and the user object class.
func (s *Settings) UserFilter(localID string) string {
	return "(&(" + s.UserIDAttr + "=" + EscapeFilter(localID) + ")" + s.UserFilterOpt + "(objectClass=" + s.UserObjectClass + "))"
}

// GroupsFilter is the filter of GroupApi.list_user_groups_filtered then
// BaseLdap._ldap_get_all: the groups whose member attribute holds the
// user's DN (or id, group_members_are_ids), with group_filter, the group
// object class and an id attribute present. With group_ad_nesting the
// membership test is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN on
// "member" (Python hardcodes the attribute there).
func (s *Settings) GroupsFilter(member string) string {
	m := "(" + s.GroupMemberAttr + "=" + EscapeFilter(member) + ")"
	if s.GroupADNesting {
		m = "(member:1.2.840.113556.1.4.1941:=" + EscapeFilter(member) + ")"
	}
	return "(&" + m + s.GroupFilter + "(objectClass=" + s.GroupObjectClass + ")(" + s.GroupIDAttr + "=*))"
}

// EmulationFilter is the filter of EnabledEmuMixIn._is_member_enabled:
// the enabled-emulation group (searched at its DN, base scope) holds the
// user's member value.
func (s *Settings) EmulationFilter(member string) string {
	return "(" + s.EmulationMemberAttr + "=" + EscapeFilter(member) + ")"
}

// UserDN is BaseLdap._id_to_dn_string: the DN a user of this id has when
// the id attribute names it directly under the user tree (what Python
// assumes with query_scope one instead of searching).
func (s *Settings) UserDN(localID string) string {
	return s.UserIDAttr + "=" + EscapeDNValue(localID) + "," + s.UserTreeDN
}

// Entry is a search result: its DN and attributes, names as the server
// returned them.
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// get returns the values of the attribute name, matched without regard
// to case as BaseLdap._ldap_res_to_model does, and the name as the server
// spelled it.
func (e *Entry) get(name string) (string, []string, bool) {
	if v, ok := e.Attrs[name]; ok {
		return name, v, true
	}
	for k, v := range e.Attrs {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", nil, false
}

// hasName reports whether the entry has a non-blank first value of the
// name attribute: BaseLdap._filter_ldap_result_by_attr drops entries
// without one, so Python does not see them at all.
func (e *Entry) hasName(attr string) bool {
	_, v, ok := e.get(attr)
	return ok && len(v) > 0 && strings.TrimFunc(v[0], unicode.IsSpace) != ""
}

// errMultiID: the id attribute has several values; Python then takes the
// id from the DN (BaseLdap._dn_to_id), which may need a search.
var errMultiID = errors.New("id attribute has several values")

// entryID is the id BaseLdap._ldap_res_to_model gives an entry: the only
// value of the id attribute; with several, the value of the DN's first
// RDN when its attribute is the id attribute (as Python compares: the
// configured name against the RDN's lower-cased type), else errMultiID
// (the caller reads the entry itself).
func entryID(e *Entry, idAttr string) (string, error) {
	_, v, ok := e.get(idAttr)
	if !ok || len(v) == 0 {
		return "", fmt.Errorf("ID attribute %s not found in LDAP object %s", idAttr, e.DN)
	}
	if len(v) == 1 {
		return v[0], nil
	}
	typ, val, err := firstRDN(e.DN)
	if err == nil && idAttr == strings.ToLower(typ) {
		return val, nil
	}
	return "", errMultiID
}

// EnabledRule is how a user's enabled flag is derived
// (keystone/identity/backends/ldap/core.py UserApi._ldap_res_to_model and
// common.py EnabledEmuMixIn.get).
type EnabledRule struct {
	Attr      string // user_enabled_attribute
	Mask      int    // user_enabled_mask
	Invert    bool   // user_enabled_invert
	Default   string // user_enabled_default
	Emulation bool   // user_enabled_emulation: membership of a group decides
	// Ignored: "enabled" is in user_attribute_ignore; the attribute is not
	// read and (without a mask) the user has no enabled flag at all.
	Ignored bool
}

// pyValue is a Python value an LDAP attribute becomes: bool, int or str.
type pyValue struct {
	kind byte // 'b', 'i', 's'
	b    bool
	i    int64
	s    string
}

// enabledValue is the Python value of the enabled attribute: common.py
// convert_ldap_result converts an attribute the server names exactly
// "enabled" with enabled2py (TRUE/FALSE to a bool, then an integer, else
// the text), any other attribute stays text.
func enabledValue(serverName, text string) pyValue {
	if serverName != "enabled" {
		return pyValue{kind: 's', s: text}
	}
	switch text {
	case "TRUE":
		return pyValue{kind: 'b', b: true}
	case "FALSE":
		return pyValue{kind: 'b', b: false}
	}
	if n, ok := pyInt(text); ok {
		return pyValue{kind: 'i', i: n}
	}
	return pyValue{kind: 's', s: text}
}

// pyInt parses text as Python's int() does for the forms LDAP values
// take: surrounding whitespace, a sign, digits with single underscores
// between them.
func pyInt(text string) (int64, bool) {
	t := strings.TrimSpace(text)
	if t == "" || strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		return 0, false
	}
	sign := ""
	if t[0] == '+' || t[0] == '-' {
		sign, t = t[:1], t[1:]
		if strings.HasPrefix(t, "_") {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(sign+strings.ReplaceAll(t, "_", ""), 10, 64)
	return n, err == nil
}

// Enabled applies the rule to the attribute as read (present: the entry
// has it; serverName: its name as the server spelled it; values: its
// values) and, with emulation, to whether the user is a member of the
// enabled-emulation group. The error is Python's ValueError (a masked
// value that is not an integer), which makes Python answer 500.
func (r EnabledRule) Enabled(present bool, serverName string, values []string, emulatedMember bool) (bool, error) {
	var v *pyValue
	if present && !r.Ignored {
		pv := pyValue{kind: 's'} // an attribute without values: Python's None
		if len(values) > 0 {
			pv = enabledValue(serverName, values[0])
		} else {
			pv.kind = 'n'
		}
		v = &pv
	}
	var out bool
	switch {
	case r.Mask != 0:
		n, err := r.maskInput(v)
		if err != nil {
			return false, err
		}
		out = n&int64(r.Mask) != int64(r.Mask)
	case r.Emulation || r.Ignored:
		// No flag from the attribute: emulation decides below, or (ignored)
		// the user carries none, which Python never refuses.
		out = true
	default:
		val := pyValue{kind: 's', s: r.Default}
		if v != nil {
			val = *v
		}
		out = truth(val)
		if r.Invert {
			out = !out
		}
	}
	if r.Emulation && !r.Ignored {
		// EnabledEmuMixIn.get overrides whatever the attribute said.
		out = emulatedMember
	}
	return out, nil
}

// maskInput is int(obj.get('enabled', user_enabled_default)).
func (r EnabledRule) maskInput(v *pyValue) (int64, error) {
	if v == nil {
		n, ok := pyInt(r.Default)
		if !ok {
			return 0, fmt.Errorf("user_enabled_default %q is not an integer (user_enabled_mask is set)", r.Default)
		}
		return n, nil
	}
	switch v.kind {
	case 'b':
		if v.b {
			return 1, nil
		}
		return 0, nil
	case 'i':
		return v.i, nil
	case 's':
		if n, ok := pyInt(v.s); ok {
			return n, nil
		}
		return 0, fmt.Errorf("enabled attribute value %q is not an integer (user_enabled_mask is set)", v.s)
	}
	return 0, errors.New("enabled attribute has no value (user_enabled_mask is set)")
}

// truth is the enabled flag of a value without a mask: text is true only
// when it is "true" in any case; a bool is itself; an integer is true
// when not zero (Python's truthiness, as the value is then used).
func truth(v pyValue) bool {
	switch v.kind {
	case 'b':
		return v.b
	case 'i':
		return v.i != 0
	case 's':
		return strings.ToLower(v.s) == "true"
	}
	return false
}

// PublicID is the public id Keystone's sha256 id generator gives a
// local entity (keystone/identity/id_generators/sha256.py): the hex
// SHA-256 of the mapping's values in the sorted order of its keys
// (domain_id, entity_type, local_id).
func PublicID(domainID, entityType, localID string) string {
	h := sha256.New()
	h.Write([]byte(domainID))
	h.Write([]byte(entityType))
	h.Write([]byte(localID))
	return hex.EncodeToString(h.Sum(nil))
}

// Settings are one LDAP backend's options resolved as BaseLdap.__init__
// resolves them (tree DNs from the suffix, defaults for empty names).
type Settings struct {
	URLs                []string
	RandomizeURLs       bool
	BindDN, BindPW      string
	Scope               int // 1 one level, 2 subtree
	Deref               int // go-ldap's alias dereferencing constant
	PageSize            int
	UserTreeDN          string
	UserFilterOpt       string // user_filter as written
	UserObjectClass     string
	UserIDAttr          string
	UserNameAttr        string
	Enabled             EnabledRule
	EmulationDN         string
	EmulationMemberAttr string
	// EmulationMembersAreIDs: the emulation group lists ids, not DNs.
	EmulationMembersAreIDs bool
	GroupTreeDN            string
	GroupFilter            string
	GroupObjectClass       string
	GroupIDAttr            string
	GroupNameAttr          string
	GroupMemberAttr        string
	GroupMembersAreIDs     bool
	GroupADNesting         bool
	UseTLS                 bool
	TLSCACertFile          string
	TLSCACertDir           string
	TLSReqCert             string
	ConnectTimeoutSeconds  int
	UsePool                bool
	PoolSize               int
	PoolLifetimeSeconds    int
	PoolConnTimeoutSeconds int
}

// Resolve turns an [ldap] section into Settings, or lists what
// keystone-ng cannot serve of it.
func Resolve(l config.LDAPSection) (*Settings, error) {
	if probs := config.CheckLDAP(l); len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	s := &Settings{
		URLs:          splitURLs(l.URL),
		RandomizeURLs: l.RandomizeURLs,
		BindDN:        l.User, BindPW: l.Password,
		PageSize:              l.PageSize,
		UserTreeDN:            orDefault(l.UserTreeDN, "ou=Users,"+l.Suffix),
		UserFilterOpt:         l.UserFilter,
		UserObjectClass:       orDefault(l.UserObjectClass, "inetOrgPerson"),
		UserIDAttr:            orDefault(l.UserIDAttribute, "cn"),
		UserNameAttr:          l.UserNameAttribute,
		GroupTreeDN:           orDefault(l.GroupTreeDN, "ou=UserGroups,"+l.Suffix),
		GroupFilter:           l.GroupFilter,
		GroupObjectClass:      orDefault(l.GroupObjectClass, "groupOfNames"),
		GroupIDAttr:           orDefault(l.GroupIDAttribute, "cn"),
		GroupNameAttr:         l.GroupNameAttribute,
		GroupMemberAttr:       orDefault(l.GroupMemberAttribute, "member"),
		GroupMembersAreIDs:    l.GroupMembersAreIDs,
		GroupADNesting:        l.GroupADNesting,
		UseTLS:                l.UseTLS,
		TLSCACertFile:         l.TLSCACertFile,
		TLSCACertDir:          l.TLSCACertDir,
		TLSReqCert:            l.TLSReqCert,
		ConnectTimeoutSeconds: l.ConnectionTimeout,
		UsePool:               l.UsePool, PoolSize: l.PoolSize,
		PoolLifetimeSeconds:    l.PoolConnectionLifetime,
		PoolConnTimeoutSeconds: l.PoolConnectionTimeout,
	}
	if len(s.URLs) == 0 {
		return nil, errors.New("[ldap] url: no URL")
	}
	for _, u := range s.URLs {
		lu := strings.ToLower(u)
		if !strings.HasPrefix(lu, "ldap://") && !strings.HasPrefix(lu, "ldaps://") && !strings.HasPrefix(lu, "ldapi://") {
			return nil, fmt.Errorf("[ldap] url: %q: keystone-ng serves ldap://, ldaps:// and ldapi:// URLs", u)
		}
		if l.UseTLS && strings.HasPrefix(lu, "ldaps://") {
			// common.py _common_ldap_initialization: AssertionError.
			return nil, errors.New("[ldap] use_tls with an ldaps:// url: Python refuses this combination (Invalid TLS / LDAPS combination)")
		}
	}
	switch l.QueryScope {
	case "sub":
		s.Scope = 2
	default:
		s.Scope = 1
	}
	s.Deref = map[string]int{"never": 0, "searching": 1, "finding": 2, "always": 3, "default": 0}[l.AliasDereferencing]
	ignored := map[string]bool{}
	for _, a := range l.UserAttributeIgnore {
		ignored[a] = true
	}
	s.Enabled = EnabledRule{Attr: l.UserEnabledAttribute, Mask: l.UserEnabledMask, Invert: l.UserEnabledInvert,
		Default: l.UserEnabledDefault, Emulation: l.UserEnabledEmulation, Ignored: ignored["enabled"]}
	if ignored["name"] {
		return nil, errors.New("[ldap] user_attribute_ignore lists name: Python then finds no user (keystone-ng does not serve this)")
	}
	if s.Enabled.Emulation {
		s.EmulationDN = orDefault(l.UserEnabledEmulationDN, "cn=enabled_users,"+s.UserTreeDN)
		s.EmulationMemberAttr, s.EmulationMembersAreIDs = "member", false
		if l.UserEnabledEmulationUseGroupConfig {
			s.EmulationMemberAttr, s.EmulationMembersAreIDs = l.GroupMemberAttribute, l.GroupMembersAreIDs
		}
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// splitURLs splits [ldap] url on commas and whitespace, as Python's
// randomize_urls does and libldap accepts (several URLs tried in order).
func splitURLs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// firstRDN returns the type and value of a DN's first RDN (its first
// attribute when multi-valued), unescaped.
func firstRDN(dn string) (string, string, error) {
	rdn, _, err := splitFirstRDN(dn)
	if err != nil {
		return "", "", err
	}
	eq := indexUnescaped(rdn, '=')
	if eq < 0 {
		return "", "", fmt.Errorf("malformed DN %q", dn)
	}
	typ := strings.TrimSpace(rdn[:eq])
	val := rdn[eq+1:]
	if plus := indexUnescaped(val, '+'); plus >= 0 {
		val = val[:plus]
	}
	v, err := unescapeDNValue(strings.TrimLeft(val, " "))
	return typ, v, err
}

// splitFirstRDN splits a DN at its first unescaped comma (or semicolon).
func splitFirstRDN(dn string) (string, string, error) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',', ';':
			return dn[:i], dn[i+1:], nil
		}
	}
	if dn == "" {
		return "", "", errors.New("empty DN")
	}
	return dn, "", nil
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

// unescapeDNValue undoes RFC 4514 escapes: \<special> and \<hex><hex>.
// Trailing unescaped spaces are dropped.
func unescapeDNValue(v string) (string, error) {
	var b strings.Builder
	end := len(v)
	for end > 0 && v[end-1] == ' ' && (end < 2 || v[end-2] != '\\') {
		end--
	}
	v = v[:end]
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", errors.New("DN value ends in a backslash")
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			n, _ := strconv.ParseUint(v[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(v[i+1])
		i++
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
