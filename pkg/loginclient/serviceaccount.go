package loginclient

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keystone-ng/keystone-ng/pkg/serviceaccount"
	"github.com/keystone-ng/keystone-ng/pkg/termsafe"
)

// A service account's login (docs/service-accounts.md §8): the OAuth 2.0
// client credentials grant at /v4/oauth2/token, authenticated by a
// private_key_jwt assertion (RFC 7523) signed with the account's private
// key, or by its client secret (HTTP Basic, RFC 6749 §2.3.1).

// TokenPath is keystone-ng's token endpoint, beside AuthURL.
const TokenPath = "/v4/oauth2/token"

// assertionLifetime is how long a signed assertion stays valid: it is used
// at once, and the server refuses more than five minutes.
const assertionLifetime = 60 * time.Second

// ServiceAccountLogin is one client credentials login.
type ServiceAccountLogin struct {
	AccountID string
	// Key signs an assertion (private_key_jwt); Secret is a client secret
	// (client_secret_basic). Exactly one is set.
	Key    crypto.Signer
	Secret string
	// Scope is "project:<id>", "domain:<id>" or "" (the account's default).
	Scope string
	// Now is the clock of the assertion (time.Now when nil).
	Now func() time.Time
}

// ParsePrivateKey reads a PEM private key: PKCS #8 ("PRIVATE KEY", what
// keystone-ng generates), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA
// PRIVATE KEY").
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("the key file holds no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("the key file holds a %q block, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the key file: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// Assertion signs the RFC 7523 §3 client assertion for audience: iss and
// sub the account, a fresh jti, exp a minute away.
func Assertion(k crypto.Signer, accountID, audience string, now time.Time) (string, error) {
	alg, err := serviceaccount.AlgorithmOf(k.Public())
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, _ := json.Marshal(map[string]any{
		"iss": accountID, "sub": accountID, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	obj, err := sig.Sign(claims)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// ServiceAccount logs a service account in and returns its token, with a
// Body holding what Exports prints (the scope and the expiry).
func (c *Client) ServiceAccount(ctx context.Context, l *ServiceAccountLogin) (*Token, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	endpoint := c.V4Base() + TokenPath
	form := url.Values{"grant_type": {"client_credentials"}}
	if l.Scope != "" {
		form.Set("scope", l.Scope)
	}
	switch {
	case l.Key != nil && l.Secret == "":
		a, err := Assertion(l.Key, l.AccountID, endpoint, now())
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	case l.Key == nil && l.Secret != "":
	default:
		return nil, errors.New("give a private key or a client secret, one of them")
	}
	var setAuth func(*http.Request)
	if l.Secret != "" {
		setAuth = func(req *http.Request) { req.SetBasicAuth(url.QueryEscape(l.AccountID), url.QueryEscape(l.Secret)) }
	}
	out, err := c.postTokenForm(ctx, form, setAuth)
	if err != nil {
		return nil, err
	}
	return &Token{ID: out.AccessToken, Body: tokenBody(out.Scope, now().Add(time.Duration(out.ExpiresIn)*time.Second))}, nil
}

// tokenAnswer is RFC 6749 §5.1's answer (with RFC 8693's
// issued_token_type).
type tokenAnswer struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
	IssuedTokenType string `json:"issued_token_type"`
}

// postTokenForm posts form to the token endpoint (setAuth, when set, adds
// the client authentication) and reads the answer or RFC 6749's error.
func (c *Client) postTokenForm(ctx context.Context, form url.Values, setAuth func(*http.Request)) (*tokenAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.V4Base()+TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeOAuthError(resp.StatusCode, b)
	}
	var out tokenAnswer
	if err := json.Unmarshal(b, &out); err != nil || out.AccessToken == "" || !strings.EqualFold(out.TokenType, "Bearer") {
		return nil, fmt.Errorf("keystone-ng answered %d without a token", resp.StatusCode)
	}
	return &out, nil
}

// tokenBody is the part of a token body Exports reads, from an RFC 6749
// answer's scope and expiry.
func tokenBody(scope string, expires time.Time) map[string]any {
	body := map[string]any{"expires_at": expires.UTC().Format("2006-01-02T15:04:05.000000Z")}
	// A token exchange's scope also lists roles: "project:<id> role:<name>".
	for _, item := range strings.Fields(scope) {
		kind, id, _ := strings.Cut(item, ":")
		switch kind {
		case "project":
			body["project"] = map[string]any{"id": id}
			return body
		case "domain":
			body["domain"] = map[string]any{"id": id}
			return body
		}
	}
	return body
}

// decodeOAuthError reads RFC 6749 §5.2's error JSON (or Keystone's, for a
// refusal answered before the endpoint, such as 429).
func decodeOAuthError(status int, b []byte) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return &Error{Status: status, Title: termsafe.Clean(e.Error), Message: termsafe.Clean(e.Description)}
	}
	return decodeError(status, b)
}
