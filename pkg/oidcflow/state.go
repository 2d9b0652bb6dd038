package oidcflow

import (
	"context"
	"encoding/json"
	"time"
)

// Kind tells the two login flows' states apart.
type Kind string

const (
	KindCode   Kind = "code"   // authorization code + PKCE (browser)
	KindDevice Kind = "device" // device authorization grant (RFC 8628)
)

// LoginState is one login in progress, persisted between Start and Finish
// (or StartDevice and PollDevice) so that any keystone-ng instance can
// complete it (docs/design.md §1).
type LoginState struct {
	// ID is the OAuth state parameter (code flow) or the opaque device
	// code handed to the client (device flow): 32 random bytes,
	// base64url.
	ID          string
	Kind        Kind
	IdPID       string
	RedirectURI string // code flow only
	Nonce       string // code flow only
	// PKCEVerifier is the RFC 7636 code_verifier (code flow only).
	PKCEVerifier string
	// DeviceCode is the identity provider's device_code (device flow
	// only); it never leaves keystone-ng.
	DeviceCode string
	// PollInterval (seconds) and NextPollAt pace the device flow's calls
	// to the identity provider's token endpoint.
	PollInterval int
	NextPollAt   time.Time // zero: poll now
	Extra        json.RawMessage
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// StateStore persists login state. Implementations must make Take and
// ClaimPoll atomic across every keystone-ng instance sharing the store.
type StateStore interface {
	// Put stores a new state.
	Put(ctx context.Context, s *LoginState) error
	// Get reads a state without consuming it (ErrStateNotFound if none).
	Get(ctx context.Context, id string) (*LoginState, error)
	// Take reads and deletes a state in one atomic step: of any number
	// of concurrent callers exactly one gets it, the others get
	// ErrStateNotFound. It does not look at the expiry (the caller does,
	// so that an expired state is consumed too).
	Take(ctx context.Context, id string) (*LoginState, error)
	// ClaimPoll sets NextPollAt to until if it is unset or not after now,
	// and reports whether it did: of concurrent pollers only one may call
	// the identity provider per interval.
	ClaimPoll(ctx context.Context, id string, now, until time.Time) (bool, error)
	// SetPoll records the device flow's interval and next poll time.
	SetPoll(ctx context.Context, id string, interval int, next time.Time) error
	// Delete removes a state; deleting a missing state is not an error.
	Delete(ctx context.Context, id string) error
	// Purge deletes every state that expired at or before now and returns
	// how many it deleted.
	Purge(ctx context.Context, now time.Time) (int64, error)
	// Name names the store for logs and metrics (a Purger's name).
	Name() string
}
