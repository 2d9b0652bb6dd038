package main

import (
	"context"
	"fmt"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
)

// passkeyFeature builds the passkey service when [webauthn] is configured
// (nil otherwise).
func (a *app) passkeyFeature(ctx context.Context, v4 *httpapi.V4, users *identity.Checker) (httpapi.PasskeyService, []Purger, error) {
	w := a.cfg.WebAuthn
	if w.RelyingPartyID == "" {
		// Off, but ceremonies left from when passkeys were on still
		// expire and are purged.
		return nil, []Purger{passkey.CeremonyPurger{Store: passkey.NewSQLStore(a.db)}}, nil
	}
	st := passkey.NewSQLStore(a.db)
	svc, err := passkey.New(passkey.Config{
		RPID:               w.RelyingPartyID,
		RPName:             w.RelyingPartyName,
		Origins:            w.RelyingPartyOrigins,
		UserVerification:   w.UserVerification,
		Attestation:        w.Attestation,
		CeremonyTimeout:    w.CeremonyTimeout,
		TokenMethods:       w.TokenMethods,
		MaxPasskeysPerUser: a.cfg.KeystoneNG.MaxPasskeysPerUser,
	}, st, a.reader, users, v4.Scopes, a.log.With("feature", "passkeys"))
	if err != nil {
		return nil, nil, fmt.Errorf("[webauthn]: %w", err)
	}
	return svc, []Purger{passkey.CeremonyPurger{Store: st}, passkey.OrphanPurger{Store: st}}, nil
}
