// Package audit publishes the notifications Python Keystone's notifier
// publishes (keystone/notifications.py), for what keystone-ng does: CADF
// identity.authenticate events for every /v4 login and refusal, and
// identity.<resource>.created|updated|deleted for every /v4 change, in
// oslo.messaging's v2 envelope on the same exchange and routing keys, so
// that a consumer of Python's events (a SIEM, Ceilometer) reads
// keystone-ng's without a change (docs/audit.md).
//
// The package is split by concern: building events and envelopes (pure
// functions: event.go, envelope.go, optout.go), the transport URL
// (transport.go), the outbox that keeps events while the bus is away
// (outbox.go, stored by pkg/store), the AMQP publisher (publisher.go) and
// the service that ties them (service.go).
package audit

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// CADF taxonomy values Python's notifier uses (pycadf.cadftaxonomy,
// pycadf.cadftype).
const (
	cadfEventTypeURI = "http://schemas.dmtf.org/cloud/audit/1.0/event"
	cadfActivity     = "activity"
	// TypeAccountUser is taxonomy.ACCOUNT_USER: initiators, and the target
	// of identity.authenticate.
	TypeAccountUser = "service/security/account/user"
	// TypeServiceSecurity is taxonomy.SERVICE_SECURITY: the observer.
	TypeServiceSecurity = "service/security"
	// TypeUnknown is taxonomy.UNKNOWN: the target of a resource Python's
	// CADF_TYPE_MAP does not list.
	TypeUnknown = "unknown"

	OutcomeSuccess = "success" // taxonomy.OUTCOME_SUCCESS
	OutcomeFailure = "failure" // taxonomy.OUTCOME_FAILURE

	// Service is notifications.SERVICE: the first part of every event
	// type.
	ServiceType = "identity"
	// EventAuthenticate is the event type of every login (Python's
	// CadfNotificationWrapper('authenticate')).
	EventAuthenticate = ServiceType + ".authenticate"
)

// Operations of identity.<resource>.<operation> (notifications.ACTIONS).
const (
	Created = "created"
	Updated = "updated"
	Deleted = "deleted"
)

// Resource types of keystone-ng's /v4 resources, named as Python names its
// own (identity.<resource_type>.<operation>); Python has none of these, so
// their CADF target type is the closest taxonomy value Python uses for
// its kin (docs/audit.md §2).
const (
	ResourceIdentityProvider     = "OS-FEDERATION:identity_provider" // Python's own name for IdPs
	ResourceMapping              = "OS-FEDERATION:mapping"           // Python's own name for mappings
	ResourcePasskey              = "passkey"
	ResourceServiceAccount       = "service_account"
	ResourceServiceAccountKey    = "service_account_key"
	ResourceServiceAccountSecret = "service_account_secret"
	typeSecurityCredential       = "data/security/credential"
	typeSecurityAccountUser      = "data/security/account/user"
)

// cadfTypes is Python's CADF_TYPE_MAP (keystone/notifications.py)
// extended with keystone-ng's resources: a credential-like resource is
// data/security/credential as Python types application credentials, a
// service account is a user. Python's own federation resources are not
// in its map (it sends "unknown"); keystone-ng sends the same for them.
var cadfTypes = map[string]string{
	"group":                      "data/security/group",
	"project":                    "data/security/project",
	"role":                       "data/security/role",
	"user":                       typeSecurityAccountUser,
	"domain":                     "data/security/domain",
	"region":                     "data/security/region",
	"endpoint":                   "data/security/endpoint",
	"service":                    "data/security/service",
	"policy":                     "data/security/policy",
	"OS-TRUST:trust":             "data/security/trust",
	"OS-OAUTH1:access_token":     typeSecurityCredential,
	"OS-OAUTH1:request_token":    typeSecurityCredential,
	"OS-OAUTH1:consumer":         "data/security/account",
	"application_credential":     typeSecurityCredential,
	ResourcePasskey:              typeSecurityCredential,
	ResourceServiceAccount:       typeSecurityAccountUser,
	ResourceServiceAccountKey:    typeSecurityCredential,
	ResourceServiceAccountSecret: typeSecurityCredential,
}

// TargetType is the CADF typeURI of a resource's target
// (notifications._create_cadf_payload).
func TargetType(resourceType string) string {
	if t, ok := cadfTypes[resourceType]; ok {
		return t
	}
	return TypeUnknown
}

// Initiator is who caused an event, as Python's build_audit_initiator
// describes the request: the caller's user, scope and request, and the
// client's address and user agent.
type Initiator struct {
	UserID    string
	Username  string
	ProjectID string
	DomainID  string
	Address   string
	Agent     string
	RequestID string
	// Credential describes how a login authenticated (nil: none).
	Credential *Credential
}

// Credential is the initiator's pycadf credential. Python sets one for
// federated logins (credential.FederatedCredential: type, token,
// identity_provider, user, groups); keystone-ng sets one on every /v4
// login with the issued token's audit id as token, and the federated
// fields for federated logins.
type Credential struct {
	Type             string
	Token            string
	IdentityProvider string
	User             string
	Groups           []string
	federated        bool
}

// Credential types (pycadf's credential type is a free URI; Python uses
// the SAML namespace for every mapped login, keystone-ng names its kinds).
const (
	CredentialFederated      = "http://docs.oasis-open.org/security/saml/v2.0" // notifications.SAML_AUDIT_TYPE
	CredentialPasskey        = "https://www.w3.org/TR/webauthn-2/"
	CredentialServiceAccount = "https://www.rfc-editor.org/rfc/rfc6749#section-4.4"
	CredentialTokenExchange  = "https://www.rfc-editor.org/rfc/rfc8693"
)

// FederatedCredential is Python's FederatedCredential for a login through
// identity provider idp.
func FederatedCredential(token, idp, user string, groups []string) *Credential {
	if groups == nil {
		groups = []string{}
	}
	return &Credential{Type: CredentialFederated, Token: token, IdentityProvider: idp, User: user, Groups: groups, federated: true}
}

// resourceNamespace is keystone.common.utils.RESOURCE_ID_NAMESPACE.
var resourceNamespace = uuid.MustParse("4332ecab-770b-4288-a680-b9aca3b1b153")

// ResourceUUID is keystone.common.utils.resource_uuid: a UUID stays as
// it is, anything else of at most 64 characters becomes its UUID5 (hex).
func ResourceUUID(id string) string {
	if _, err := uuid.Parse(id); err == nil {
		return id
	}
	return uuid.NewSHA1(resourceNamespace, []byte(id)).String()
}

// object renders the initiator in pycadf's attribute order: id, typeURI,
// host, then the attributes Keystone sets, in the order it sets them. For
// a login (authn) the request carries no caller yet, so
// build_audit_initiator sets request_id first and the wrapper then adds
// user_id; for a change the caller's user and scope come first
// (CadfNotificationWrapper versus build_audit_initiator).
func (in Initiator) object(authn bool) pyjson.Object {
	var o pyjson.Object
	if in.UserID != "" {
		o.Set("id", ResourceUUID(in.UserID))
	} else {
		o.Set("id", newCADFID())
	}
	o.Set("typeURI", TypeAccountUser)
	o.Set("host", pyjson.Object{{Key: "address", Value: in.Address}, {Key: "agent", Value: in.Agent}})
	if authn {
		o.Set("request_id", in.RequestID)
	}
	if in.UserID != "" {
		o.Set("user_id", in.UserID)
	}
	if in.ProjectID != "" {
		o.Set("project_id", in.ProjectID)
	}
	if in.DomainID != "" {
		o.Set("domain_id", in.DomainID)
	}
	if !authn {
		o.Set("request_id", in.RequestID)
	}
	if c := in.Credential; c != nil {
		cred := pyjson.Object{{Key: "token", Value: c.Token}, {Key: "type", Value: c.Type}}
		if c.federated {
			cred.Set("identity_provider", c.IdentityProvider)
			cred.Set("user", c.User)
			cred.Set("groups", c.Groups)
		}
		o.Set("credential", cred)
	}
	if in.Username != "" {
		o.Set("username", in.Username)
	}
	return o
}

// Observer is the event's observer: the identity service of the catalog
// (Python looks up the service of type "identity"; without one the
// observer has no id).
type Observer struct{ ServiceID string }

func (ob Observer) object() pyjson.Object {
	var o pyjson.Object
	if ob.ServiceID != "" {
		o.Set("id", ob.ServiceID)
	} else {
		o.Set("id", newCADFID())
	}
	o.Set("typeURI", TypeServiceSecurity)
	return o
}

// Notification is one event ready for the envelope.
type Notification struct {
	EventType string
	// Outcome is the CADF outcome of an identity.authenticate event, for
	// notification_opt_out ("" for resource events).
	Outcome string
	Payload pyjson.Object
}

// Reason is a CADF reason (pycadf.reason.Reason): Python attaches one to
// a refused login for a lockout or an expired password.
type Reason struct{ Type, Code string }

// Authenticate builds the CADF identity.authenticate event of a login
// (notifications._send_audit_notification with action "authenticate"
// and a target of type account/user).
func Authenticate(outcome string, in Initiator, ob Observer, reason *Reason, now time.Time) Notification {
	target := pyjson.Object{{Key: "id", Value: newCADFID()}, {Key: "typeURI", Value: TypeAccountUser}}
	p := cadfEvent("authenticate", outcome, in.object(true), ob, target, reason, now)
	return Notification{EventType: EventAuthenticate, Outcome: outcome, Payload: p}
}

// ResourceEvent builds identity.<resourceType>.<operation> in the given
// notification_format: "basic" is Python's _send_notification payload
// (resource_info and the request id), "cadf" its _create_cadf_payload
// (a CADF activity whose action is "<operation>.<resourceType>" with the
// resource id as resource_info).
func ResourceEvent(format, operation, resourceType, resourceID string, in Initiator, ob Observer, now time.Time) Notification {
	eventType := ServiceType + "." + resourceType + "." + operation
	if format == "basic" {
		p := pyjson.Object{{Key: "resource_info", Value: resourceID}}
		if in.RequestID != "" {
			p.Set("request_id", in.RequestID)
		}
		return Notification{EventType: eventType, Payload: p}
	}
	target := pyjson.Object{{Key: "id", Value: resourceID}, {Key: "typeURI", Value: TargetType(resourceType)}}
	p := cadfEvent(operation+"."+resourceType, OutcomeSuccess, in.object(false), ob, target, nil, now)
	p.Set("resource_info", resourceID)
	return Notification{EventType: eventType, Payload: p}
}

// cadfEvent is pycadf's Event.as_dict in its attribute order.
func cadfEvent(action, outcome string, initiator pyjson.Object, ob Observer, target pyjson.Object, reason *Reason, now time.Time) pyjson.Object {
	p := pyjson.Object{
		{Key: "typeURI", Value: cadfEventTypeURI},
		{Key: "eventType", Value: cadfActivity},
		{Key: "id", Value: newCADFID()},
		{Key: "eventTime", Value: CADFTime(now)},
		{Key: "action", Value: action},
		{Key: "outcome", Value: outcome},
	}
	if reason != nil {
		p.Set("reason", pyjson.Object{{Key: "reasonType", Value: reason.Type}, {Key: "reasonCode", Value: reason.Code}})
	}
	p.Set("observer", ob.object())
	p.Set("initiator", initiator)
	p.Set("target", target)
	return p
}

// CADFTime is pycadf.timestamp.get_utc_now: "%Y-%m-%dT%H:%M:%S.%f+0000".
func CADFTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000") + "+0000"
}

// newCADFID is pycadf.identifier.generate_uuid: a random UUID (version 5
// of a random one when [audit] namespace is set; the form is the same).
func newCADFID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("audit: no randomness: %v", err))
	}
	return uuid.NewSHA1(uuid.NameSpaceDNS, b[:]).String()
}

// MappingID names a /v4 mapping in events: mappings are named within
// their identity provider, so the id is "<idp id>/<name>".
func MappingID(idpID, name string) string { return idpID + "/" + name }
