package ldapidentity

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

type fakeCatalog struct {
	fakeMap
	domains map[string]string // name -> id
	rows    map[string]map[string]map[string]string
}

func (c *fakeCatalog) DomainByName(_ context.Context, name string) (*keystone.Project, error) {
	if id, ok := c.domains[name]; ok {
		return &keystone.Project{ID: id, Name: name, IsDomain: true, Enabled: true}, nil
	}
	return nil, token.ErrNotFound
}

func (c *fakeCatalog) DomainConfigs(context.Context) (map[string]map[string]map[string]string, error) {
	return c.rows, nil
}

func TestBuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("keystone.corp.conf", "[identity]\ndriver = ldap\n[ldap]\nurl = ldap://127.0.0.1:1\npassword = pw\n")
	write("keystone.custom.conf", "[identity]\ndriver = mycompany.Identity\n")
	write("keystone.referrals.conf", "[identity]\ndriver = ldap\n[ldap]\nchase_referrals = true\n")
	write("keystone.ghost.conf", "[identity]\ndriver = ldap\n")
	write("keystone.sqldom.conf", "[identity]\ndriver = sql\n")
	write("notes.txt", "ignored")
	cat := &fakeCatalog{domains: map[string]string{"corp": "c1", "custom": "c2", "referrals": "c3", "sqldom": "c4"}}

	cfg := config.Defaults()
	cfg.Identity.DomainSpecificDriversEnabled = true
	cfg.Identity.DomainConfigDir = dir
	r, notes, err := Build(ctx, cfg, cat)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c1": KindLDAP, "c2": KindUnsupported, "c3": KindUnsupported, "c4": KindSQL}
	for id, kind := range want {
		if b := r.Domains[id]; b == nil || b.Kind != kind {
			t.Errorf("domain %s: %+v, want %s", id, b, kind)
		}
	}
	if len(r.Domains) != len(want) {
		t.Errorf("domains %v", r.Domains)
	}
	joined := strings.Join(notes, "\n")
	for _, s := range []string{`no domain is named "ghost"`, "mycompany.Identity", "referrals"} {
		if !strings.Contains(joined, s) {
			t.Errorf("notes lack %q:\n%s", s, joined)
		}
	}
	if strings.Contains(joined, "pw") {
		t.Errorf("notes show a password:\n%s", joined)
	}
	if !r.Needed() {
		t.Error("an LDAP domain needs the router")
	}
	var report []string
	for _, d := range r.Report() {
		report = append(report, d.Domain+"="+d.Kind)
	}
	if got := strings.Join(report, " "); got != "(default driver, domain default)=sql c1=ldap c2=unsupported c3=unsupported c4=sql" {
		t.Errorf("report %s", got)
	}

	// Without domain_specific_drivers_enabled the files are not read.
	cfg.Identity.DomainSpecificDriversEnabled = false
	if r, _, err := Build(ctx, cfg, cat); err != nil || len(r.Domains) != 0 || r.Needed() {
		t.Errorf("disabled: %+v, %v", r, err)
	}

	// From the database instead of files.
	cfg.Identity.DomainSpecificDriversEnabled = true
	cfg.Identity.DomainConfigurationsFromDatabase = true
	cat.rows = map[string]map[string]map[string]string{
		"d1": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "pw"}},
		"d2": {"ldap": {"query_scope": "deep"}},
	}
	r, notes, err = Build(ctx, cfg, cat)
	if err != nil || r.Domains["d1"].Kind != KindLDAP || r.Domains["d2"].Kind != KindUnsupported {
		t.Fatalf("database: %+v, %v, %v", r.Domains, notes, err)
	}

	// A default driver keystone-ng cannot serve is fatal.
	for _, mut := range []func(*config.Config){
		func(c *config.Config) { c.Identity.Driver = "mycompany.Identity" },
		func(c *config.Config) { c.Identity.Driver = "ldap"; c.LDAP.ChaseReferrals = "1" },
		func(c *config.Config) { c.IdentityMapping.Generator = "other" },
	} {
		c := config.Defaults()
		mut(c)
		if _, _, err := Build(ctx, c, cat); err == nil {
			t.Errorf("accepted %+v %+v", c.Identity, c.IdentityMapping)
		}
	}
}

// TestRefresh: stored domain configuration is reread; a changed domain
// gets a new backend, an unchanged one keeps its own (and its
// connections), a removed one falls back to the default driver.
func TestRefresh(t *testing.T) {
	ctx := context.Background()
	cat := &fakeCatalog{rows: map[string]map[string]map[string]string{
		"d1": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://a"}},
		"d2": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://b"}},
	}}
	cfg := config.Defaults()
	cfg.Identity.DomainSpecificDriversEnabled = true
	cfg.Identity.DomainConfigurationsFromDatabase = true
	r, _, err := Build(ctx, cfg, cat)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := r.backendOf("d1"), r.backendOf("d2")
	if d1.Kind != KindLDAP || d2.Kind != KindLDAP || !r.Needed() {
		t.Fatalf("initial: %+v %+v", d1, d2)
	}
	cat.rows = map[string]map[string]map[string]string{
		"d1": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://a"}},
		"d3": {"identity": {"driver": "custom"}},
	}
	notes, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.backendOf("d1") != d1 {
		t.Error("unchanged domain got a new backend")
	}
	if r.backendOf("d2") != r.Default {
		t.Error("removed domain does not fall back to the default driver")
	}
	if r.backendOf("d3").Kind != KindUnsupported || len(notes) != 1 {
		t.Errorf("new unsupported domain: %+v, %v", r.backendOf("d3"), notes)
	}
	cat.rows["d1"]["ldap"]["url"] = "ldap://c"
	if _, err := r.Refresh(ctx); err != nil || r.backendOf("d1") == d1 {
		t.Errorf("changed domain kept its backend (%v)", err)
	}
	// Files have no watcher.
	cfg.Identity.DomainConfigurationsFromDatabase = false
	cfg.Identity.DomainConfigDir = t.TempDir()
	if r, _, err := Build(ctx, cfg, cat); err != nil || r.catalog != nil || r.Needed() {
		t.Errorf("files: %+v %v", r, err)
	}
}
