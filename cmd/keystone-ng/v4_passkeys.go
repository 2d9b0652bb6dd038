package main

import (
	"context"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
)

// passkeyFeature builds the passkey service when [webauthn] is configured
// (nil otherwise).
func (a *app) passkeyFeature(ctx context.Context, v4 *httpapi.V4) (httpapi.PasskeyService, []Purger, error) {
	return nil, nil, nil
}
