package audit

import "context"

type requestKey struct{}

// WithRequest records the request's initiator (client address, user
// agent, request id; the caller once its token is validated) for the
// events the request causes.
func WithRequest(ctx context.Context, in Initiator) context.Context {
	return context.WithValue(ctx, requestKey{}, &in)
}

// SetCaller fills in the caller of the request's initiator (the
// validated X-Auth-Token's user and scope), as Python's
// build_audit_initiator reads them from the request context.
func SetCaller(ctx context.Context, userID, username, projectID, domainID string) {
	if in, ok := ctx.Value(requestKey{}).(*Initiator); ok {
		in.UserID, in.Username, in.ProjectID, in.DomainID = userID, username, projectID, domainID
	}
}

// FromContext is the request's initiator (the zero Initiator outside a
// request).
func FromContext(ctx context.Context) Initiator {
	if in, ok := ctx.Value(requestKey{}).(*Initiator); ok {
		return *in
	}
	return Initiator{}
}
