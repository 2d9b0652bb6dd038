package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keystone-ng/keystone-ng/pkg/ldapidentity"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// buildIdentity reads the identity backends of the default driver and of
// every domain with its own configuration (pkg/ldapidentity.Build). A
// default driver keystone-ng cannot serve is fatal; a domain's is noted
// and its users' validations are left to Python.
func (a *app) buildIdentity(ctx context.Context) error {
	r, notes, err := ldapidentity.Build(ctx, a.cfg, a.reader)
	if err != nil {
		return fmt.Errorf("identity backends: %w", err)
	}
	a.identity, a.identityNotes = r, notes
	for _, n := range notes {
		a.log.Warn("identity backend", "note", n)
	}
	return nil
}

// identityBackend is what validation and /v4 logins ask about users of
// non-SQL backends; nil when every user is served from SQL, which then
// costs nothing.
func (a *app) identityBackend() token.IdentityBackend {
	if a.identity == nil || !a.identity.Needed() {
		return nil
	}
	return a.identity
}

// checkIdentity prints the identity backend of each domain for
// keystone-ng check.
func (a *app) checkIdentity(stdout io.Writer) {
	if a.identity == nil {
		return
	}
	fmt.Fprintln(stdout, "\nidentity backends:")
	for _, d := range a.identity.Report() {
		line := fmt.Sprintf("  %s: %s (%s)", d.Domain, d.Kind, d.Source)
		if d.Reason != "" {
			line += ": " + d.Reason + "; its users' validations are left to Python (500, the front door fails over)"
		}
		fmt.Fprintln(stdout, line)
	}
	for _, n := range a.identityNotes {
		fmt.Fprintln(stdout, "  note: "+n)
	}
}
