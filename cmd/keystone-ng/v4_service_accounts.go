package main

import (
	"slices"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// serviceAccountFeature builds the service account service and puts it on
// v4, with the purgers of its assertion ids and expired credentials. It is always on with /v4: its
// rows are Python's users plus keystone-ng's own tables, and the login
// pipeline needs it to refuse a service account's passkey or OIDC logins.
func (a *app) serviceAccountFeature(v4 *httpapi.V4) (*serviceaccount.Service, []Purger) {
	cfg := a.cfg
	st := store.NewServiceAccounts(a.db)
	opt := serviceaccount.Options{
		SetLastActive:  cfg.SecurityCompliance.DisableUserAccountDaysInactive > 0,
		MaxCredentials: cfg.KeystoneNG.MaxCredentialsPerServiceAccount,
	}
	if a.identity != nil {
		opt.SQLDomain = a.identity.ServesFromSQL
	}
	svc := serviceaccount.New(st, a.reader, opt, a.log.With("feature", "service_accounts"))
	v4.ServiceAccounts = svc
	v4.ServiceAccountLogin = serviceaccount.LoginDeps{
		Scopes:         a.reader,
		Bounds:         store.NewFederation(a.db),
		GrantableRoles: cfg.KeystoneNG.DomainGrantableRoles,
	}
	for _, m := range serviceaccount.TokenMethods {
		if !slices.Contains(cfg.Auth.Methods, m) {
			a.log.Warn("service account logins will fail: their token method is not in [auth] methods", "method", m)
		}
	}
	var ps []Purger
	for _, p := range st.Purgers() {
		ps = append(ps, p)
	}
	return svc, ps
}
