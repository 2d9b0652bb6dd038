package oidcflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/termsafe"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// DeviceStart is what the user needs to approve a device login (RFC 8628
// §3.2). DeviceCode is keystone-ng's own opaque id for the login, not the
// identity provider's device_code (which never leaves keystone-ng).
type DeviceStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// StartDevice begins a device authorization grant at the provider.
func (f *Flow) StartDevice(ctx context.Context, p Provider, extra json.RawMessage) (*DeviceStart, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	extra, err := checkExtra(extra)
	if err != nil {
		return nil, err
	}
	party, err := f.party(ctx, p)
	if err != nil {
		return nil, err
	}
	if party.rp.GetDeviceAuthorizationEndpoint() == "" {
		return nil, fmt.Errorf("%w: %s", ErrDeviceUnsupported, p.IdPID)
	}
	resp, err := rp.DeviceAuthorization(ctx, p.scopes(), party.rp, nil)
	if err != nil {
		if unavailable(err) {
			return nil, fmt.Errorf("%w: %s: device authorization endpoint: %w", ErrProviderUnavailable, p.IdPID, err)
		}
		return nil, fmt.Errorf("%w: %s: device authorization refused: %w", ErrTokenExchange, p.IdPID, err)
	}
	if resp.DeviceCode == "" || resp.UserCode == "" || resp.VerificationURI == "" {
		return nil, fmt.Errorf("%w: %s: incomplete device authorization response", ErrProviderUnavailable, p.IdPID)
	}
	if err := checkDeviceDisplay(resp.UserCode, resp.VerificationURI, resp.VerificationURIComplete); err != nil {
		return nil, fmt.Errorf("%w: %s: device authorization response: %w", ErrProviderUnavailable, p.IdPID, err)
	}
	interval := max(resp.Interval, minPollPeriod)
	life := time.Duration(resp.ExpiresIn) * time.Second
	if life <= 0 {
		life = f.ttl
	}
	life = min(life, maxDeviceTTL)
	now := f.now().UTC()
	st := &LoginState{
		ID:           RandomID(),
		Kind:         KindDevice,
		IdPID:        p.IdPID,
		DeviceCode:   resp.DeviceCode,
		PollInterval: interval,
		Extra:        extra,
		CreatedAt:    now,
		ExpiresAt:    now.Add(life),
	}
	if err := f.store.Put(ctx, st); err != nil {
		return nil, fmt.Errorf("oidcflow: store login state: %w", err)
	}
	return &DeviceStart{
		DeviceCode:              st.ID,
		UserCode:                resp.UserCode,
		VerificationURI:         resp.VerificationURI,
		VerificationURIComplete: resp.VerificationURIComplete,
		ExpiresIn:               int(life / time.Second),
		Interval:                interval,
	}, nil
}

// checkDeviceDisplay refuses a device authorization response whose
// user-facing fields a client could not show safely: the CLI prints them
// to a terminal, so an identity provider (run by a domain admin) must not
// be able to smuggle escape sequences or a phishing URL through them
// (issue 14, finding 8). verification_uri and verification_uri_complete
// must be https (http on loopback), user_code letters and digits.
func checkDeviceDisplay(userCode, verificationURI, verificationURIComplete string) error {
	if err := termsafe.UserCode(userCode); err != nil {
		return fmt.Errorf("user_code: %w", err)
	}
	if err := termsafe.URL(verificationURI); err != nil {
		return fmt.Errorf("verification_uri: %w", err)
	}
	if verificationURIComplete != "" {
		if err := termsafe.URL(verificationURIComplete); err != nil {
			return fmt.Errorf("verification_uri_complete: %w", err)
		}
	}
	return nil
}

type tokenEndpoint struct {
	url string
	hc  *http.Client
}

func (t tokenEndpoint) TokenEndpoint() string    { return t.url }
func (t tokenEndpoint) HttpClient() *http.Client { return t.hc }

// PollDevice asks the provider once whether the device login id (the
// DeviceStart.DeviceCode) was approved. Until then it returns a *PollError
// (ErrAuthorizationPending or ErrSlowDown, with the interval to wait); a
// poll sooner than the interval is answered without calling the provider.
// ErrExpired and ErrAccessDenied are final and delete the state, as does
// success: the Result is given once.
func (f *Flow) PollDevice(ctx context.Context, id string, lookup func(ctx context.Context, idpID string) (Provider, error)) (*Result, error) {
	if !ValidID(id) {
		return nil, ErrStateNotFound
	}
	st, err := f.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Kind != KindDevice {
		return nil, ErrStateNotFound
	}
	now := f.now().UTC()
	if !now.Before(st.ExpiresAt) {
		_ = f.store.Delete(ctx, id)
		return nil, ErrExpired
	}
	interval := max(st.PollInterval, minPollPeriod)
	// One poll per interval across all instances: the lease covers the
	// call to the provider (bounded by the HTTP client's timeout).
	lease := max(time.Duration(interval)*time.Second, f.http.Timeout)
	ok, err := f.store.ClaimPoll(ctx, id, now, now.Add(lease))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &PollError{Reason: ErrAuthorizationPending, Interval: interval}
	}
	p, err := f.lookup(ctx, lookup, st.IdPID)
	if err != nil {
		return nil, err
	}
	party, err := f.party(ctx, p)
	if err != nil {
		return nil, err
	}
	resp, err := f.deviceToken(ctx, party, st.DeviceCode)
	if err != nil {
		var oe *oidc.Error
		if !errors.As(err, &oe) {
			// Transient: let the client poll again after the interval.
			_ = f.store.SetPoll(ctx, id, interval, now.Add(time.Duration(interval)*time.Second))
			return nil, fmt.Errorf("%w: %s: token endpoint: %w", ErrProviderUnavailable, p.IdPID, err)
		}
		switch oe.ErrorType {
		case oidc.AuthorizationPending:
			if err := f.store.SetPoll(ctx, id, interval, now.Add(time.Duration(interval)*time.Second)); err != nil {
				return nil, err
			}
			return nil, &PollError{Reason: ErrAuthorizationPending, Interval: interval}
		case oidc.SlowDown:
			interval += 5
			if err := f.store.SetPoll(ctx, id, interval, now.Add(time.Duration(interval)*time.Second)); err != nil {
				return nil, err
			}
			return nil, &PollError{Reason: ErrSlowDown, Interval: interval}
		case oidc.ExpiredToken:
			_ = f.store.Delete(ctx, id)
			return nil, ErrExpired
		case oidc.AccessDenied:
			_ = f.store.Delete(ctx, id)
			return nil, ErrAccessDenied
		}
		_ = f.store.Delete(ctx, id)
		return nil, fmt.Errorf("%w: %w", ErrTokenExchange, err)
	}
	// Granted: consume the state; only one poller gets the result.
	st, err = f.store.Take(ctx, id)
	if err != nil {
		return nil, err
	}
	claims, err := f.verify(ctx, party, resp.AccessToken, resp.IDToken)
	if err != nil {
		return nil, err
	}
	tokenType := resp.TokenType
	if tokenType == "" {
		tokenType = oidc.BearerToken
	}
	if err := f.mergeUserinfo(ctx, party, resp.AccessToken, tokenType, claims); err != nil {
		return nil, err
	}
	return &Result{IdPID: st.IdPID, Claims: claims, Extra: st.Extra}, nil
}

// deviceToken is one device_code grant request (RFC 8628 §3.4), with the
// client authentication rp.DeviceAccessToken uses; rp.DeviceAccessToken
// itself loops until done, which a stateless server must not.
func (f *Flow) deviceToken(ctx context.Context, party *party, deviceCode string) (*oidc.AccessTokenResponse, error) {
	cfg := party.rp.OAuthConfig()
	req := &client.DeviceAccessTokenRequest{
		DeviceAccessTokenRequest: oidc.DeviceAccessTokenRequest{
			GrantType:  oidc.GrantTypeDeviceCode,
			DeviceCode: deviceCode,
		},
		ClientCredentialsRequest: &oidc.ClientCredentialsRequest{},
	}
	var authFn any
	if cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader {
		authFn = httphelper.AuthorizeBasic(cfg.ClientID, cfg.ClientSecret)
	} else {
		req.ClientID = cfg.ClientID
	}
	return client.CallDeviceAccessTokenEndpointWithAuthFn(ctx, req, tokenEndpoint{url: cfg.Endpoint.TokenURL, hc: f.http}, authFn)
}
