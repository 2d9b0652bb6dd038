package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DomainIdentity is one domain's own identity configuration: a
// keystone.<domain name>.conf file of [identity] domain_config_dir, or the
// domain's rows of the whitelisted_config and sensitive_config tables.
// Python builds a fresh oslo.config namespace for it holding only that
// file (or those rows) over the defaults (keystone/identity/core.py
// DomainConfigs._load_config_from_file and _load_config_from_database), so
// every option a domain does not set has Keystone's default, never the
// value of keystone.conf.
type DomainIdentity struct {
	// Source says where it was read: the file, or "database".
	Source string
	// DomainName is the domain the file names (files only); DomainID is
	// the domain's id (database rows; the caller resolves file names).
	DomainName, DomainID string
	// Driver is its [identity] driver (sql by default).
	Driver string
	LDAP   LDAPSection
}

// Domain configuration file names: keystone.<domain name>.conf
// (keystone/identity/core.py DOMAIN_CONF_FHEAD, DOMAIN_CONF_FTAIL).
const (
	domainConfHead = "keystone."
	domainConfTail = ".conf"
)

// DomainNameOfFile returns the domain a file of the domain config
// directory configures, or false for a file Python ignores: it must start
// with "keystone.", end with ".conf" and hold at least two dots.
func DomainNameOfFile(base string) (string, bool) {
	if !strings.HasPrefix(base, domainConfHead) || !strings.HasSuffix(base, domainConfTail) || strings.Count(base, ".") < 2 {
		return "", false
	}
	if len(base) < len(domainConfHead)+len(domainConfTail) {
		return "", false
	}
	return base[len(domainConfHead) : len(base)-len(domainConfTail)], true
}

// DomainConfigFiles lists the domain configuration files under dir, every
// level of it as Python's os.walk, sorted; a missing directory is no
// files (Python logs a warning and uses none).
func DomainConfigFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() || d.Type()&os.ModeSymlink != 0 {
			if _, ok := DomainNameOfFile(d.Name()); ok {
				out = append(out, p)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// domainOption reports whether a domain configuration may set the option
// and keystone-ng reads it there: [identity] driver and the [ldap] options.
func domainOption(o *option) bool {
	return o.section == "ldap" || (o.section == "identity" && o.name == "driver")
}

// ParseDomainConfig reads one domain configuration file's text. Errors
// list every problem (malformed lines, values that do not convert,
// $substitutions, which keystone-ng does not expand in domain files).
func ParseDomainConfig(name string, data []byte) (*DomainIdentity, error) {
	f, errs := parseINI(name, data)
	probs := &Problems{}
	for _, e := range errs {
		probs.add("%v", e)
	}
	if f == nil {
		return nil, probs.errOrNil()
	}
	raw := map[string]map[string]string{}
	for _, o := range schema {
		if !domainOption(o) {
			continue
		}
		v, _, ok := fileValue([]*iniFile{f}, o)
		if !ok {
			continue
		}
		s, _ := v.(string)
		if raw[o.section] == nil {
			raw[o.section] = map[string]string{}
		}
		raw[o.section][o.name] = s
	}
	d, err := DomainFromOptions(name, raw)
	if err != nil {
		var p *Problems
		if errors.As(err, &p) {
			probs.List = append(probs.List, p.List...)
		} else {
			probs.add("%v", err)
		}
	}
	if dn, ok := DomainNameOfFile(filepath.Base(name)); ok && d != nil {
		d.DomainName = dn
	}
	return d, probs.errOrNil()
}

// DomainFromOptions builds a domain's identity configuration from option
// texts by group and name (a file's values, or the database rows as
// text), over Keystone's defaults. Options keystone-ng does not read are
// ignored, as Python ignores unknown options. $ is taken literally after
// "$$" is turned into "$"; any other "$" is a problem (oslo would
// substitute it; keystone-ng refuses rather than guess).
func DomainFromOptions(source string, raw map[string]map[string]string) (*DomainIdentity, error) {
	c := Defaults()
	probs := &Problems{}
	groups := make([]string, 0, len(raw))
	for g := range raw {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		names := make([]string, 0, len(raw[g]))
		for n := range raw[g] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			o := lookupOption(normalizeGroup(g), n)
			if o == nil || !domainOption(o) {
				continue
			}
			s := raw[g][n]
			if strings.Contains(strings.ReplaceAll(s, "$$", ""), "$") {
				probs.add("%s: %s: $substitution in a domain configuration is not supported by keystone-ng (write $$ for a literal $)", source, o)
				continue
			}
			s = strings.ReplaceAll(s, "$$", "$")
			if err := o.set(c, s); err != nil {
				shown := s
				if o.isSecret() {
					shown = Mask
				}
				probs.add("%s: %s: %q: %v", source, o, shown, err)
			}
		}
	}
	d := &DomainIdentity{Source: source, Driver: c.Identity.Driver, LDAP: c.LDAP}
	return d, probs.errOrNil()
}

// RedactedLDAP is the [ldap] options of a section for display, the
// password masked (keystone-ng check, logs).
func RedactedLDAP(l LDAPSection) map[string]string {
	c := Defaults()
	c.LDAP = l
	out := map[string]string{}
	for _, o := range schema {
		if o.section == "ldap" {
			out[o.name] = o.display(c)
		}
	}
	return out
}

// IdentityDriverKind names what an [identity] driver value loads:
// "sql", "ldap", or "" for a driver keystone-ng cannot serve. Python loads
// the driver through the keystone.identity entry points (sql, ldap) or,
// deprecated, a class path (keystone/common/manager.py load_driver).
func IdentityDriverKind(driver string) string {
	switch strings.TrimSpace(driver) {
	case "sql", "keystone.identity.backends.sql.Identity":
		return "sql"
	case "ldap", "keystone.identity.backends.ldap.Identity", "keystone.identity.backends.ldap.core.Identity":
		return "ldap"
	}
	return ""
}

// CheckLDAP lists what keystone-ng cannot honour in an [ldap] section
// (each a reason to refuse to serve the backend rather than answer
// differently from Python).
func CheckLDAP(l LDAPSection) []string {
	var out []string
	if l.ChaseReferrals != "" {
		b, err := parseBool(l.ChaseReferrals)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("[ldap] chase_referrals: %q is not a boolean", l.ChaseReferrals))
		case b:
			out = append(out, "[ldap] chase_referrals = true: keystone-ng does not follow LDAP referrals")
		}
	}
	if strings.TrimSpace(l.URL) == "" {
		out = append(out, "[ldap] url: must be set")
	}
	if l.UserNameAttribute == "" {
		out = append(out, "[ldap] user_name_attribute: must be set (Python raises ValueError)")
	}
	if l.GroupNameAttribute == "" {
		out = append(out, "[ldap] group_name_attribute: must be set (Python raises ValueError)")
	}
	return out
}
