package main

import (
	"context"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
)

// federationFeature builds the federation service.
func (a *app) federationFeature(ctx context.Context, v4 *httpapi.V4) (httpapi.FederationService, []Purger, error) {
	return nil, nil, nil
}
