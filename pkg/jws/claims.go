package jws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// The claim names of Python's JWSFormatter (jws/core.py create_token), in
// the order Python's dict literal puts them in the token.
const (
	claimSub         = "sub"
	claimIat         = "iat"
	claimExp         = "exp"
	claimMethods     = "openstack_methods"
	claimAuditIDs    = "openstack_audit_ids"
	claimSystem      = "openstack_system"
	claimDomainID    = "openstack_domain_id"
	claimProjectID   = "openstack_project_id"
	claimTrustID     = "openstack_trust_id"
	claimGroupIDs    = "openstack_group_ids"
	claimIdPID       = "openstack_idp_id"
	claimProtocolID  = "openstack_protocol_id"
	claimAccessToken = "openstack_access_token_id"
	claimAppCredID   = "openstack_app_cred_id"
	// claimThumbprint is the OAuth2 mTLS certificate thumbprint of
	// Keystone 23 and later (absent from Keystone 22's tokens); read and
	// written at the end, where those releases put it.
	claimThumbprint = "openstack_thumbprint"
)

var (
	// ErrNotFound is matched by every refusal Python answers with 404
	// TokenNotFound ("Could not find token: <token>."): a token PyJWT
	// cannot split or decode (DecodeError), a signature no public key
	// verifies (InvalidSignatureError), a payload that is not a JSON
	// object. jws/core.py catches these two exception classes and tries
	// the next key.
	ErrNotFound = errors.New("jws: token not recognised")
	// ErrUnexpected is matched by every refusal Python answers with 500:
	// PyJWT exceptions jws/core.py does not catch (an alg other than
	// ES256, an iat or nbf in the future, an aud claim) and claims the
	// token model cannot take (a required claim missing, a wrong type).
	// Only the first kind can be produced without the private key.
	ErrUnexpected = errors.New("jws: token refused with an unexpected error")
)

func notFound(reason string) error   { return fmt.Errorf("%w: %s", ErrNotFound, reason) }
func unexpected(reason string) error { return fmt.Errorf("%w: %s", ErrUnexpected, reason) }

// Python's datetime range (years 1 to 9999): utcfromtimestamp raises
// outside it.
const (
	minUnix = -62135596800
	maxUnix = 253402300800
)

// ParseClaims maps a verified JWS payload to the payload model of the
// Fernet path, with the checks PyJWT's decode (verify_exp off, as
// jws/core.py asks) and Keystone's validate_token apply, in their order.
// now is the validation time; issuedAt is the iat claim.
//
// The mapping mirrors token/provider.py _validate_token: the audit ids
// list is popped from its end (the last is the parent when there are two
// or more, the one before it the token's own), a group ids claim that is
// present (even empty) makes the token federated, and the payload version
// is the one Python's Fernet provider would choose for the same token
// (fernet/core.py _determine_payload_class_from_token), so that logs and
// re-encoding see a familiar shape. Methods keep the claim's order: a JWS
// token carries names, not the Fernet bitmask.
func ParseClaims(b []byte, now time.Time) (p *payload.Payload, issuedAt time.Time, err error) {
	var c map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c == nil {
		// PyJWT: "Invalid payload string" (DecodeError).
		return nil, time.Time{}, notFound("payload is not a JSON object")
	}
	if len(bytes.Trim(b[dec.InputOffset():], " \t\n\r")) != 0 {
		// json.loads: "Extra data".
		return nil, time.Time{}, notFound("payload is not a JSON object")
	}
	nowSec := now.Unix() // PyJWT compares with whole seconds (timegm)

	// PyJWT _validate_claims: iat, then nbf, then aud (exp not verified).
	if raw, ok := c[claimIat]; ok {
		f, ok := number(raw)
		if !ok {
			return nil, time.Time{}, unexpected("iat is not a number")
		}
		if f > float64(nowSec) {
			return nil, time.Time{}, unexpected("iat is in the future")
		}
	}
	if raw, ok := c["nbf"]; ok {
		if err := checkNbf(raw, nowSec); err != nil {
			return nil, time.Time{}, err
		}
	}
	if raw, ok := c["aud"]; ok && truthy(raw) {
		return nil, time.Time{}, unexpected("aud claim present")
	}

	p = &payload.Payload{}
	if p.UserID, err = requiredString(c, claimSub); err != nil {
		return nil, time.Time{}, err
	}
	exp, err := requiredTime(c, claimExp)
	if err != nil {
		return nil, time.Time{}, err
	}
	iat, err := requiredTime(c, claimIat)
	if err != nil {
		return nil, time.Time{}, err
	}
	p.ExpiresAt = exp
	if p.Methods, err = stringList(c, claimMethods, true); err != nil {
		return nil, time.Time{}, err
	}
	audit, err := stringList(c, claimAuditIDs, true)
	if err != nil {
		return nil, time.Time{}, err
	}
	switch n := len(audit); {
	case n == 0:
		return nil, time.Time{}, unexpected("no audit id")
	case n == 1:
		p.AuditIDs = audit
	default:
		p.AuditIDs = audit[n-2:]
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{claimSystem, &p.System},
		{claimDomainID, &p.DomainID},
		{claimProjectID, &p.ProjectID},
		{claimTrustID, &p.TrustID},
		{claimIdPID, &p.IdentityProviderID},
		{claimProtocolID, &p.ProtocolID},
		{claimAccessToken, &p.AccessTokenID},
		{claimAppCredID, &p.AppCredID},
		{claimThumbprint, &p.Thumbprint},
	} {
		if *f.dst, err = optionalString(c, f.name); err != nil {
			return nil, time.Time{}, err
		}
	}
	if raw, ok := c[claimGroupIDs]; ok && !isNull(raw) {
		var groups []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &groups); err != nil {
			return nil, time.Time{}, unexpected("openstack_group_ids is not a list of objects")
		}
		p.Federated = true
		p.FederatedGroupIDs = make([]string, 0, len(groups))
		for _, g := range groups {
			id, err := requiredString(g, "id")
			if err != nil {
				return nil, time.Time{}, unexpected("openstack_group_ids: a group without a string id")
			}
			p.FederatedGroupIDs = append(p.FederatedGroupIDs, id)
		}
	} else {
		// Python keeps the idp and protocol claims only on federated
		// tokens.
		p.IdentityProviderID, p.ProtocolID = "", ""
	}
	p.Version = versionOf(p)
	return p, iat, nil
}

// versionOf is fernet/core.py _determine_payload_class_from_token.
func versionOf(p *payload.Payload) int {
	switch {
	case p.AccessTokenID != "":
		return payload.VersionOAuth1Scoped
	case p.TrustID != "":
		return payload.VersionTrustScoped
	case p.Federated && p.ProjectID != "":
		return payload.VersionFederatedProject
	case p.Federated && p.DomainID != "":
		return payload.VersionFederatedDomain
	case p.Federated:
		return payload.VersionFederatedUnscoped
	case p.AppCredID != "":
		return payload.VersionAppCredScoped
	case p.Thumbprint != "":
		return payload.VersionOAuth2CredentialScope
	case p.ProjectID != "":
		return payload.VersionProjectScoped
	case p.DomainID != "":
		return payload.VersionDomainScoped
	case p.System != "":
		return payload.VersionSystemScoped
	}
	return payload.VersionUnscoped
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// number reads a JSON number (Python's int(x) accepts bools too: True is 1).
func number(raw json.RawMessage) (float64, bool) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return 0, false
	}
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil && !math.IsInf(f, 0)
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// checkNbf is PyJWT _validate_nbf: int(nbf) must work (a string that is
// not an integer is a DecodeError, which jws/core.py catches: 404; other
// types raise TypeError: 500), and nbf must not be in the future (500).
func checkNbf(raw json.RawMessage, nowSec int64) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return notFound("nbf is not an integer")
		}
		if n > nowSec {
			return unexpected("nbf is in the future")
		}
		return nil
	}
	f, ok := number(raw)
	if !ok {
		return unexpected("nbf is not a number")
	}
	if math.Trunc(f) > float64(nowSec) {
		return unexpected("nbf is in the future")
	}
	return nil
}

// truthy is Python's truth value of a JSON value.
func truthy(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true
	}
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// requiredString reads a claim Python indexes with payload[...] (a
// missing one is a KeyError: 500). keystone-ng also insists on a
// non-empty string: no token Python mints has anything else.
func requiredString(c map[string]json.RawMessage, name string) (string, error) {
	raw, ok := c[name]
	if !ok {
		return "", unexpected("no " + name + " claim")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", unexpected(name + " is not a non-empty string")
	}
	return s, nil
}

// optionalString reads a claim Python reads with payload.get(...): absent
// or null is None (""), anything else must be a non-empty string.
func optionalString(c map[string]json.RawMessage, name string) (string, error) {
	raw, ok := c[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", unexpected(name + " is not a non-empty string")
	}
	return s, nil
}

// requiredTime reads exp or iat: a number of seconds since the epoch in
// Python's datetime range (utcfromtimestamp).
func requiredTime(c map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, unexpected("no " + name + " claim")
	}
	f, ok := number(raw)
	if !ok || f < minUnix || f >= maxUnix {
		return time.Time{}, unexpected(name + " is not a time")
	}
	sec, frac := math.Modf(f)
	// Microseconds, as utcfromtimestamp rounds them.
	us := math.Round(frac * 1e6)
	return time.Unix(int64(sec), int64(us)*1000).UTC(), nil
}

// stringList reads a list of strings; required means a KeyError in Python
// when missing.
func stringList(c map[string]json.RawMessage, name string, required bool) ([]string, error) {
	raw, ok := c[name]
	if !ok {
		if required {
			return nil, unexpected("no " + name + " claim")
		}
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil || l == nil {
		return nil, unexpected(name + " is not a list of strings")
	}
	return l, nil
}

// EncodeClaims writes the claims of p issued at issuedAt exactly as
// Python's JWSFormatter.create_token hands them to PyJWT, which serialises
// them with json.dumps(separators=(",", ":")): keys in the dict literal's
// order, None values dropped, ensure_ascii escapes, times as whole seconds
// (the isotime string converted back to an int, microseconds dropped).
func EncodeClaims(p *payload.Payload, issuedAt time.Time) ([]byte, error) {
	if p.UserID == "" || len(p.AuditIDs) == 0 {
		return nil, errors.New("jws: a token needs a user and an audit id")
	}
	b := make([]byte, 0, 256)
	b = append(b, '{')
	str := func(k, v string) {
		if v == "" {
			return
		}
		b = pyjson.AppendString(append(b, ','), k)
		b = pyjson.AppendString(append(b, ':'), v)
	}
	list := func(k string, vs []string, wrap bool) {
		b = pyjson.AppendString(append(b, ','), k)
		b = append(b, ':', '[')
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			if wrap {
				b = append(b, `{"id":`...)
			}
			b = pyjson.AppendString(b, v)
			if wrap {
				b = append(b, '}')
			}
		}
		b = append(b, ']')
	}
	b = pyjson.AppendString(b, claimSub)
	b = pyjson.AppendString(append(b, ':'), p.UserID)
	b = pyjson.AppendString(append(b, ','), claimIat)
	b = strconv.AppendInt(append(b, ':'), floorUnix(issuedAt), 10)
	b = pyjson.AppendString(append(b, ','), claimExp)
	b = strconv.AppendInt(append(b, ':'), floorUnix(p.ExpiresAt), 10)
	list(claimMethods, p.Methods, false)
	list(claimAuditIDs, p.AuditIDs, false)
	str(claimSystem, p.System)
	str(claimDomainID, p.DomainID)
	str(claimProjectID, p.ProjectID)
	str(claimTrustID, p.TrustID)
	if p.Federated {
		list(claimGroupIDs, p.FederatedGroupIDs, true)
		str(claimIdPID, p.IdentityProviderID)
		str(claimProtocolID, p.ProtocolID)
	}
	str(claimAccessToken, p.AccessTokenID)
	str(claimAppCredID, p.AppCredID)
	str(claimThumbprint, p.Thumbprint)
	return append(b, '}'), nil
}

// floorUnix is the whole seconds since the epoch, rounded down.
func floorUnix(t time.Time) int64 { return t.Truncate(time.Second).Unix() }
