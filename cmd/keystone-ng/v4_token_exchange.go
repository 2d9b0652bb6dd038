package main

import (
	"context"
	"slices"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/tokenexchange"
)

// tokenExchangeFeature puts restricted tokens (RFC 8693 token exchange on
// POST /v4/oauth2/token) on v4, with the purger of expired restricted
// tokens' application credentials. It stays off when [auth] methods lacks
// application_credential: Python could not decode the tokens it makes.
func (a *app) tokenExchangeFeature(v4 *httpapi.V4, v tokenexchange.Validator) []Purger {
	cfg := a.cfg
	if !slices.Contains(cfg.Auth.Methods, tokenexchange.MethodApplicationCredential) {
		a.log.Warn("token exchange (restricted tokens) is off: application_credential is not in [auth] methods")
		return nil
	}
	st := store.NewRestrictedTokens(a.db)
	v4.TokenExchange = tokenexchange.New(v, st, tokenexchange.Options{
		AdditionalPrimaryMethods: cfg.Auth.AdditionalPrimaryAuthMethods,
		Expiration:               time.Duration(cfg.Token.Expiration) * time.Second,
		UserLimit:                cfg.AppCred.UserLimit,
		AccessRules:              a.reader.Schema().AccessRules,
		Now:                      time.Now,
	}, a.log.With("feature", "token_exchange"))
	return []Purger{restrictedPurger{st}}
}

// restrictedPurger deletes expired restricted tokens' credentials in
// batches until none is left.
type restrictedPurger struct{ st *store.RestrictedTokens }

func (p restrictedPurger) Name() string { return "ng_restricted_token" }

func (p restrictedPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		n, err := p.st.PurgeExpired(ctx, now, 500)
		total += int64(n)
		if err != nil || n < 500 {
			return total, err
		}
	}
}
