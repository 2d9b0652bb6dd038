package ldapidentity

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

// RefreshInterval is how often Watch rereads the domain configuration
// stored in the database. Python rereads a domain's stored configuration
// on the next request after it changed; keystone-ng lags by at most this.
const RefreshInterval = 5 * time.Second

// Refresh rereads the domain configuration stored in the database
// (domain_configurations_from_database) and replaces the backend of every
// domain whose rows changed; a domain whose rows are gone falls back to the
// default driver, as in Python. Unchanged domains keep their backend and
// its connections. The notes say what cannot be served.
func (r *Router) Refresh(ctx context.Context) ([]string, error) {
	rows, err := r.catalog.DomainConfigs(ctx)
	if err != nil {
		return nil, fmt.Errorf("domain configuration in the database: %w", err)
	}
	seen := make(map[string]string, len(rows))
	next := make(map[string]*Backend, len(rows))
	var notes, stale []string
	r.mu.RLock()
	for id, opts := range rows {
		sum := canonicalRows(opts)
		seen[id] = sum
		if old, ok := r.Domains[id]; ok && r.rowsSeen[id] == sum {
			next[id] = old
			if old.Kind == KindUnsupported {
				notes = append(notes, unsupportedNote(id, old))
			}
			continue
		}
		d, perr := config.DomainFromOptions("database configuration of domain "+id, opts)
		var b *Backend
		if perr != nil {
			b = &Backend{Kind: KindUnsupported, Source: "database", Reason: perr.Error()}
		} else {
			b = backendFor(d.Driver, d.LDAP, "database")
		}
		if d, ok := b.Dir.(*Directory); ok && r.onSearch != nil {
			d.OnSearch(r.onSearch)
		}
		next[id] = b
		if b.Kind == KindUnsupported {
			notes = append(notes, unsupportedNote(id, b))
		}
	}
	for id := range r.Domains {
		if next[id] != r.Domains[id] {
			stale = append(stale, id)
		}
	}
	r.mu.RUnlock()
	r.mu.Lock()
	old := r.Domains
	r.Domains, r.rowsSeen = next, seen
	r.mu.Unlock()
	for _, id := range stale {
		if b := old[id]; b != nil && b.Dir != nil {
			b.Dir.Close()
		}
	}
	sort.Strings(notes)
	return notes, nil
}

func unsupportedNote(id string, b *Backend) string {
	return fmt.Sprintf("domain %s (%s): %s: its users' validations are left to Python", id, b.Source, b.Reason)
}

// canonicalRows is a stable text of a domain's option rows, to tell a
// change.
func canonicalRows(opts map[string]map[string]string) string {
	var lines []string
	for g, kv := range opts {
		for k, v := range kv {
			lines = append(lines, g+"\x00"+k+"\x00"+v)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\x01")
}

// Watch calls Refresh every RefreshInterval until ctx ends, when the
// domain configuration comes from the database; otherwise it returns at
// once (files are read at start-up only, as Python reads them). A failed
// read keeps the configuration in use.
func (r *Router) Watch(ctx context.Context, log *slog.Logger) {
	if r.catalog == nil {
		return
	}
	t := time.NewTicker(RefreshInterval)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		notes, err := r.Refresh(ctx)
		if err != nil {
			log.Warn("identity backends: keeping the configuration in use", "err", err)
			continue
		}
		if joined := strings.Join(notes, "\n"); joined != last {
			for _, n := range notes {
				log.Warn("identity backend", "note", n)
			}
			last = joined
		}
	}
}
