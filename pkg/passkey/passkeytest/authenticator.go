// Package passkeytest is a software WebAuthn authenticator (and the
// browser side of it) for tests: an ES256 key, "none" attestation, and the
// authenticator data, client data and signatures a browser's
// credential.toJSON() would give, so that tests exercise go-webauthn's real
// verification. Fields can be changed between calls to produce broken or
// hostile responses.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

var b64 = base64.RawURLEncoding

// Authenticator is one credential on a software authenticator.
type Authenticator struct {
	Key          *ecdsa.PrivateKey
	CredentialID []byte
	// UserHandle is set by Create from the options' user.id.
	UserHandle []byte
	// Origin is the origin the "browser" reports in client data.
	Origin string
	// RPID is the RP id hashed into authenticator data ("" = the one in
	// the options).
	RPID string
	// Counter is the signature counter; Get increments it first unless
	// FixedCounter.
	Counter      uint32
	FixedCounter bool
	AAGUID       [16]byte
	// Flags.
	UserVerified, BackupEligible, BackupState bool
	Transports                                []string
	// TamperClientData changes the client data after it was signed.
	TamperClientData bool
	// OmitUserHandle leaves userHandle out of assertions.
	OmitUserHandle bool
}

// New returns an authenticator with a fresh key and credential id.
func New(origin string) *Authenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	a := &Authenticator{Key: k, CredentialID: id, Origin: origin, UserVerified: true, BackupEligible: true, BackupState: true,
		Transports: []string{"hybrid", "internal"}}
	copy(a.AAGUID[:], []byte("ksng-test-authn!"))
	return a
}

type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// Options wraps what a start endpoint returned (ceremony id and options)
// for JSON decoding in tests.
type Options = json.RawMessage

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.UserVerified {
		f |= 0x04
	}
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackupState {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return cd
}

func (a *Authenticator) rpHash(optRPID string) []byte {
	id := a.RPID
	if id == "" {
		id = optRPID
	}
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func pad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}

// Create answers creation options (protocol.CredentialCreation JSON) with
// the PublicKeyCredential JSON of a new credential.
func (a *Authenticator) Create(opts []byte) (json.RawMessage, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	uh, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user id: %w", err)
	}
	a.UserHandle = uh
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1,
		XCoord:        pad32(a.Key.X.Bytes()),
		YCoord:        pad32(a.Key.Y.Bytes()),
	})
	if err != nil {
		return nil, err
	}
	ad := append([]byte{}, a.rpHash(o.PublicKey.RP.ID)...)
	ad = append(ad, a.flags(true))
	ad = binary.BigEndian.AppendUint32(ad, a.Counter)
	ad = append(ad, a.AAGUID[:]...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(a.CredentialID)))
	ad = append(ad, a.CredentialID...)
	ad = append(ad, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	cd := a.clientData("webauthn.create", o.PublicKey.Challenge)
	if a.TamperClientData {
		cd = a.clientData("webauthn.create", b64.EncodeToString([]byte("a different challenge!")))
	}
	return json.Marshal(map[string]any{
		"id":    b64.EncodeToString(a.CredentialID),
		"rawId": b64.EncodeToString(a.CredentialID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"attestationObject": b64.EncodeToString(att),
			"transports":        a.Transports,
		},
		"clientExtensionResults":  map[string]any{"credProps": map[string]any{"rk": true}},
		"authenticatorAttachment": "platform",
	})
}

// Get answers request options (protocol.CredentialAssertion JSON) with
// the PublicKeyCredential JSON of an assertion.
func (a *Authenticator) Get(opts []byte) (json.RawMessage, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	if !a.FixedCounter {
		a.Counter++
	}
	ad := append([]byte{}, a.rpHash(o.PublicKey.RPID)...)
	ad = append(ad, a.flags(false))
	ad = binary.BigEndian.AppendUint32(ad, a.Counter)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		return nil, err
	}
	if a.TamperClientData {
		cd = []byte(string(cd[:len(cd)-1]) + `,"extra":"tampered"}`)
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if !a.OmitUserHandle && len(a.UserHandle) > 0 {
		resp["userHandle"] = b64.EncodeToString(a.UserHandle)
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(a.CredentialID),
		"rawId":                   b64.EncodeToString(a.CredentialID),
		"type":                    "public-key",
		"response":                resp,
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": "platform",
	})
}
