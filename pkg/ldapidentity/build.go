package ldapidentity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// Catalog is what Build reads from the database: domains by name (for
// configuration files) and the domain configurations stored there.
type Catalog interface {
	IDMapper
	DomainByName(ctx context.Context, name string) (*keystone.Project, error)
	DomainConfigs(ctx context.Context) (map[string]map[string]map[string]string, error)
}

// Build assembles the Router from keystone.conf and the domain-specific
// configuration Python would load (keystone/identity/core.py
// DomainConfigs.setup_domain_drivers): files keystone.<domain name>.conf
// of [identity] domain_config_dir, or with
// domain_configurations_from_database the database's rows.
//
// The error is fatal (keystone-ng refuses to start): the default driver
// is one keystone-ng does not serve, or its [ldap] options cannot be
// honoured. A domain's own backend that cannot be served is not fatal: it
// is KindUnsupported, its users' validations are left to Python, and
// notes says so (logged, and printed by keystone-ng check). Python too
// skips a file naming a domain that does not exist, with a warning.
func Build(ctx context.Context, cfg *config.Config, cat Catalog) (r *Router, notes []string, err error) {
	r = &Router{DefaultDomainID: cfg.Identity.DefaultDomainID, DomainSpecific: cfg.Identity.DomainSpecificDriversEnabled,
		BackwardCompatibleIDs: cfg.IdentityMapping.BackwardCompatibleIDs, Domains: map[string]*Backend{}, Map: cat}
	if cfg.IdentityMapping.Generator != "sha256" {
		return nil, nil, fmt.Errorf("[identity_mapping] generator %q: keystone-ng knows only Keystone's sha256 generator", cfg.IdentityMapping.Generator)
	}
	r.Default = backendFor(cfg.Identity.Driver, cfg.LDAP, "keystone.conf")
	if r.Default.Kind == KindUnsupported {
		return nil, nil, fmt.Errorf("[identity] driver %q: %s", cfg.Identity.Driver, r.Default.Reason)
	}
	if !r.DomainSpecific {
		return r, nil, nil
	}
	if cfg.Identity.DomainConfigurationsFromDatabase {
		// Python rereads a domain's database configuration when it
		// changes; Watch does so every few seconds (Refresh).
		r.catalog = cat
		notes, err := r.Refresh(ctx)
		if err != nil {
			return nil, nil, err
		}
		return r, notes, nil
	}
	var confs []*config.DomainIdentity
	{
		files, err := config.DomainConfigFiles(cfg.Identity.DomainConfigDir)
		if err != nil {
			return nil, nil, fmt.Errorf("[identity] domain_config_dir: %w", err)
		}
		for _, f := range files {
			name, _ := config.DomainNameOfFile(filepath.Base(f))
			dom, err := cat.DomainByName(ctx, name)
			if errors.Is(err, token.ErrNotFound) {
				notes = append(notes, fmt.Sprintf("%s: no domain is named %q: ignored, as Python ignores it", f, name))
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			data, err := os.ReadFile(f)
			var d *config.DomainIdentity
			if err == nil {
				d, err = config.ParseDomainConfig(f, data)
			}
			if err != nil {
				r.Domains[dom.ID] = &Backend{Kind: KindUnsupported, Source: f, Reason: err.Error()}
				notes = append(notes, fmt.Sprintf("domain %s (%s): %v: its users' validations are left to Python", name, dom.ID, err))
				continue
			}
			d.DomainID = dom.ID
			confs = append(confs, d)
		}
	}
	for _, d := range confs {
		b := backendFor(d.Driver, d.LDAP, d.Source)
		r.Domains[d.DomainID] = b
		if b.Kind == KindUnsupported {
			notes = append(notes, fmt.Sprintf("domain %s (%s): %s: its users' validations are left to Python", d.DomainID, d.Source, b.Reason))
		}
	}
	return r, notes, nil
}

// backendFor makes the backend of an [identity] driver and [ldap] section.
func backendFor(driver string, l config.LDAPSection, source string) *Backend {
	switch config.IdentityDriverKind(driver) {
	case KindSQL:
		return &Backend{Kind: KindSQL, Source: source}
	case KindLDAP:
		s, err := Resolve(l)
		if err != nil {
			return &Backend{Kind: KindUnsupported, Source: source, Reason: err.Error()}
		}
		dir, err := NewDirectory(s)
		if err != nil {
			return &Backend{Kind: KindUnsupported, Source: source, Reason: err.Error()}
		}
		return &Backend{Kind: KindLDAP, Dir: dir, Source: source}
	}
	return &Backend{Kind: KindUnsupported, Source: source,
		Reason: fmt.Sprintf("identity driver %q is not served by keystone-ng (sql and ldap are)", driver)}
}
