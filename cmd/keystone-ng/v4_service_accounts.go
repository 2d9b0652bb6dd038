package main

import (
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// serviceAccountFeature builds the service account service and puts it on
// v4. It is always on with /v4: its rows are Python's users plus
// ng_service_account, and the login pipeline needs it to refuse a
// service account's passkey or OIDC logins.
func (a *app) serviceAccountFeature(v4 *httpapi.V4) *serviceaccount.Service {
	svc := serviceaccount.New(store.NewServiceAccounts(a.db), a.reader, serviceaccount.Options{
		SetLastActive: a.cfg.SecurityCompliance.DisableUserAccountDaysInactive > 0,
	}, a.log.With("feature", "service_accounts"))
	v4.ServiceAccounts = svc
	return svc
}
