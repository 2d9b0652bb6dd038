package login

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

// trace records the steps of one login in order.
type trace struct{ steps []string }

func (t *trace) add(s string) { t.steps = append(t.steps, s) }

func (t *trace) String() string { return strings.Join(t.steps, " ") }

// fakeUsers applies the usability rule from a table of refusals.
type fakeUsers struct {
	tr      *trace
	refused map[string]error
}

func (f fakeUsers) Usable(_ context.Context, id string) (*keystone.User, error) {
	f.tr.add("usable(" + id + ")")
	if err := f.refused[id]; err != nil {
		return nil, err
	}
	return &keystone.User{ID: id}, nil
}

type fakeIssuer struct {
	tr     *trace
	refuse error
	got    issue.Grant
}

func (f *fakeIssuer) Issue(_ context.Context, g issue.Grant) (*issue.Issued, error) {
	f.tr.add("issue(" + g.UserID + ")")
	f.got = g
	if f.refuse != nil {
		return nil, f.refuse
	}
	return &issue.Issued{ID: "tok-" + g.UserID}, nil
}

type fakeUndo struct {
	tr  *trace
	err error
}

func (u fakeUndo) Run(context.Context) error {
	u.tr.add("undo")
	return u.err
}

// fakeAuth is an authenticator whose attempt is built from the case.
type fakeAuth struct {
	tr  *trace
	err error
	att func(tr *trace) *Attempt
}

func (a fakeAuth) Authenticate(context.Context) (*Attempt, error) {
	a.tr.add("authenticate")
	if a.err != nil {
		return nil, a.err
	}
	return a.att(a.tr), nil
}

// attempt builds an Attempt whose optional steps trace themselves and
// fail with the given errors.
type attempt struct {
	userID              string
	confirm, provision  bool
	record              bool
	confirmErr, provErr error
	recordErr, undoErr  error
}

func (c attempt) build(tr *trace) *Attempt {
	att := &Attempt{Kind: "test", UserID: c.userID, Grant: issue.Grant{Methods: []string{"mapped"}}}
	if c.confirm {
		att.Confirm = func(_ context.Context, u *keystone.User) error {
			tr.add("confirm(" + u.ID + ")")
			return c.confirmErr
		}
	}
	if c.provision {
		att.Provision = func(context.Context) (string, Undo, error) {
			tr.add("provision")
			if c.provErr != nil {
				return "", nil, c.provErr
			}
			return "shadow", fakeUndo{tr: tr, err: c.undoErr}, nil
		}
	}
	if c.record {
		att.Record = func(_ context.Context, in *issue.Issued) error {
			tr.add("record(" + in.ID + ")")
			return c.recordErr
		}
	}
	return att
}

func TestPipeline(t *testing.T) {
	refused := apierror.Unauthorized()
	refused.Cause = errors.New("disabled")
	boom := apierror.Internal(errors.New("database down"))
	for _, tc := range []struct {
		name      string
		authErr   error
		att       attempt
		usableErr error
		issueErr  error
		// want is the trace; code the status of the error (0: success)
		// and user the token's user.
		want string
		code int
		user string
	}{
		{name: "authentication refused", authErr: refused,
			want: "authenticate", code: 401},
		{name: "known user: usable, confirmed, issued, recorded", att: attempt{userID: "u1", confirm: true, record: true},
			want: "authenticate usable(u1) confirm(u1) issue(u1) record(tok-u1)", user: "u1"},
		{name: "unusable user is refused before anything else", att: attempt{userID: "u1", confirm: true, provision: true, record: true}, usableErr: refused,
			want: "authenticate usable(u1)", code: 401},
		{name: "usability rule that cannot be evaluated is a 500", att: attempt{userID: "u1"}, usableErr: boom,
			want: "authenticate usable(u1)", code: 500},
		{name: "confirmation refused: nothing provisioned", att: attempt{userID: "u1", confirm: true, provision: true, confirmErr: refused},
			want: "authenticate usable(u1) confirm(u1)", code: 401},
		{name: "new user: no usability rule, provisioned user issued", att: attempt{provision: true},
			want: "authenticate provision issue(shadow)", user: "shadow"},
		{name: "existing shadow user: usable, then provisioned", att: attempt{userID: "shadow", provision: true},
			want: "authenticate usable(shadow) provision issue(shadow)", user: "shadow"},
		{name: "provisioning refused: nothing issued", att: attempt{provision: true, provErr: refused},
			want: "authenticate provision", code: 401},
		{name: "issuer refuses: provisioning undone", att: attempt{provision: true, record: true}, issueErr: refused,
			want: "authenticate provision issue(shadow) undo", code: 401},
		{name: "recording fails: provisioning undone", att: attempt{provision: true, record: true, recordErr: boom},
			want: "authenticate provision issue(shadow) record(tok-shadow) undo", code: 500},
		{name: "undo fails: 500", att: attempt{provision: true, undoErr: errors.New("lost connection")}, issueErr: refused,
			want: "authenticate provision issue(shadow) undo", code: 500},
		{name: "issuer refuses without provisioning: nothing to undo", att: attempt{userID: "u1", record: true}, issueErr: refused,
			want: "authenticate usable(u1) issue(u1)", code: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &trace{}
			iss := &fakeIssuer{tr: tr, refuse: tc.issueErr}
			p := &Pipeline{Users: fakeUsers{tr: tr, refused: map[string]error{"u1": tc.usableErr}}, Issuer: iss,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			out, err := p.Login(context.Background(), fakeAuth{tr: tr, err: tc.authErr, att: tc.att.build})
			if got := tr.String(); got != tc.want {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
			if tc.code != 0 {
				if got := apierror.As(err).Code; got != tc.code {
					t.Fatalf("error %v (status %d), want status %d", err, got, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.ID != "tok-"+tc.user || iss.got.UserID != tc.user || iss.got.Methods[0] != "mapped" {
				t.Fatalf("token %q for grant %+v, want user %q", out.ID, iss.got, tc.user)
			}
		})
	}
}

// TestPipelineRefusalIsGeneric: a user the usability rule refuses gets
// Keystone's generic 401, whatever the rule's reason.
func TestPipelineRefusalIsGeneric(t *testing.T) {
	tr := &trace{}
	why := apierror.New(http.StatusUnauthorized, "The account is locked for user u1.")
	p := &Pipeline{Users: fakeUsers{tr: tr, refused: map[string]error{"u1": why}}, Issuer: &fakeIssuer{tr: tr},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	_, err := p.Login(context.Background(), fakeAuth{tr: tr, att: attempt{userID: "u1"}.build})
	ae := apierror.As(err)
	if ae.Code != 401 || ae.Message != apierror.MsgUnauthorized || !errors.Is(ae.Cause, why) {
		t.Fatalf("refusal %d %q (cause %v)", ae.Code, ae.Message, ae.Cause)
	}
}

// noLookup is a scope lookup that is never asked (system and invalid
// scopes need no rows).
type noLookup struct{ issue.ScopeLookup }

func TestScoped(t *testing.T) {
	system := &issue.ScopeRequest{System: map[string]bool{"all": true}}
	twoScopes := &issue.ScopeRequest{System: map[string]bool{"all": true}, Unscoped: map[string]any{}}
	project := issue.Scope{ProjectID: "p1"}
	for _, tc := range []struct {
		name   string
		lookup issue.ScopeLookup
		req    *issue.ScopeRequest
		want   string
		scope  issue.Scope
		code   int
	}{
		{name: "no request: the authenticator's scope", lookup: nil, req: nil, want: "authenticate", scope: project},
		{name: "requested scope replaces the authenticator's", lookup: noLookup{}, req: system, want: "authenticate", scope: issue.Scope{System: true}},
		{name: "invalid request refused before authenticating", lookup: noLookup{}, req: twoScopes, want: "", code: 400},
		{name: "no lookup configured", lookup: nil, req: system, want: "", code: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &trace{}
			inner := fakeAuth{tr: tr, att: func(*trace) *Attempt { return &Attempt{Grant: issue.Grant{Scope: project}} }}
			att, err := Scoped{Lookup: tc.lookup, Request: tc.req, Inner: inner}.Authenticate(context.Background())
			if got := tr.String(); got != tc.want {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
			if tc.code != 0 {
				if got := apierror.As(err).Code; got != tc.code {
					t.Fatalf("error %v, want status %d", err, tc.code)
				}
				return
			}
			if err != nil || att.Grant.Scope != tc.scope {
				t.Fatalf("scope %+v, %v; want %+v", att.Grant.Scope, err, tc.scope)
			}
		})
	}
}

// fakeServiceAccounts names the service accounts.
type fakeServiceAccounts map[string]bool

func (f fakeServiceAccounts) IsServiceAccount(_ context.Context, id string) (bool, error) {
	if id == "broken" {
		return false, errors.New("database down")
	}
	return f[id], nil
}

// TestPipelineServiceAccountKinds: a service account logs in only through
// its own kind or a workload JWT; a passkey or an OIDC login that resolves
// to it is refused with the generic 401 before the usability rule, and
// after provisioning the provisioning is undone.
func TestPipelineServiceAccountKinds(t *testing.T) {
	for _, tc := range []struct {
		name, kind, user string
		provision        bool
		want             string
		code             int
	}{
		{name: "passkey of a service account", kind: "passkey", user: "sa", want: "authenticate", code: 401},
		{name: "oidc onto a service account", kind: "oidc", user: "sa", want: "authenticate", code: 401},
		{name: "oidc provisioned onto a service account", kind: "oidc", provision: true, want: "authenticate provision undo", code: 401},
		{name: "service account's own login", kind: "service_account", user: "sa", want: "authenticate usable(sa) issue(sa)"},
		{name: "workload jwt naming a service account", kind: "jwt", user: "sa", want: "authenticate usable(sa) issue(sa)"},
		{name: "passkey of a person", kind: "passkey", user: "u1", want: "authenticate usable(u1) issue(u1)"},
		{name: "lookup fails: 500, never a login", kind: "passkey", user: "broken", want: "authenticate", code: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &trace{}
			p := &Pipeline{Users: fakeUsers{tr: tr}, Issuer: &fakeIssuer{tr: tr},
				ServiceAccounts: fakeServiceAccounts{"sa": true, "shadow": true},
				Log:             slog.New(slog.NewTextHandler(io.Discard, nil))}
			att := func(tr *trace) *Attempt {
				a := attempt{userID: tc.user, provision: tc.provision}.build(tr)
				a.Kind = tc.kind
				return a
			}
			_, err := p.Login(context.Background(), fakeAuth{tr: tr, att: att})
			if got := tr.String(); got != tc.want {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
			if got := apierror.As(err); tc.code == 0 && err != nil || tc.code != 0 && got.Code != tc.code {
				t.Fatalf("error %v, want status %d", err, tc.code)
			}
		})
	}
}
