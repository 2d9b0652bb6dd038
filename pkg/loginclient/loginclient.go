// Package loginclient is the client side of `keystone-ng login`: it obtains
// a Keystone token from keystone-ng's /v4 federation endpoints by a
// loopback-redirect OIDC login (RFC 8252), the device authorization grant
// (RFC 8628) or a workload JWT, and renders the environment the
// `openstack` client needs (OS_AUTH_TYPE=token, OS_TOKEN, ...).
package loginclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/termsafe"
)

// Client talks to keystone-ng.
type Client struct {
	// AuthURL is the Keystone URL as clients know it (…/v3 or the base);
	// /v4 paths are resolved beside it.
	AuthURL string
	HTTP    *http.Client
}

// Token is a token obtained by a login.
type Token struct {
	ID string
	// Body is the token object ({"token": {...}}["token"]).
	Body map[string]any
}

// Error is an error answer in Keystone's shape.
type Error struct {
	Status  int
	Title   string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("keystone-ng answered %d", e.Status)
	}
	return fmt.Sprintf("keystone-ng answered %d %s: %s", e.Status, e.Title, e.Message)
}

// V4Base returns the base URL the /v4 paths hang off: AuthURL without a
// trailing /v3 (so https://cloud/identity/v3 gives https://cloud/identity).
func (c *Client) V4Base() string {
	u := strings.TrimRight(c.AuthURL, "/")
	return strings.TrimSuffix(u, "/v3")
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// post sends a JSON body and decodes a JSON answer into out (when non-nil).
// It returns the response for header access.
func (c *Client) post(ctx context.Context, path string, body any, hdr http.Header, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.V4Base()+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return resp, decodeError(resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("keystone-ng answered %d with a body that is not JSON: %w", resp.StatusCode, err)
		}
	}
	return resp, nil
}

func decodeError(status int, b []byte) error {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Title   string `json:"title"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		// Printed to the user's terminal: nothing a terminal interprets.
		return &Error{Status: status, Title: termsafe.Clean(e.Error.Title), Message: termsafe.Clean(e.Error.Message)}
	}
	return &Error{Status: status, Title: http.StatusText(status)}
}

func (c *Client) tokenFrom(ctx context.Context, path string, body any, hdr http.Header) (*Token, error) {
	var out struct {
		Token map[string]any `json:"token"`
	}
	resp, err := c.post(ctx, path, body, hdr, &out)
	if err != nil {
		return nil, err
	}
	id := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != http.StatusCreated || id == "" {
		return nil, fmt.Errorf("keystone-ng answered %d without a token", resp.StatusCode)
	}
	return &Token{ID: id, Body: out.Token}, nil
}

// JWT logs a workload in with a JWT (GitHub Actions, GitLab CI,
// Kubernetes service-account token). mapping may be "" (the identity
// provider's default mapping).
func (c *Client) JWT(ctx context.Context, idp, jwt, mapping string) (*Token, error) {
	jwt = strings.TrimSpace(jwt)
	if jwt == "" {
		return nil, errors.New("the JWT is empty")
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+jwt)
	if mapping != "" {
		hdr.Set("OpenStack-Mapping", mapping)
	}
	return c.tokenFrom(ctx, "/v4/federation/identity_providers/"+url.PathEscape(idp)+"/jwt", nil, hdr)
}

// Loopback runs the authorization-code login with a redirect to a local
// listener (RFC 8252 §7.3): listen is host:port on the loopback interface
// (port 0 picks one; the identity provider must accept that redirect URI).
// show receives the URL the user must open in a browser.
func (c *Client) Loopback(ctx context.Context, idp string, scope any, listen string, show func(authURL string)) (*Token, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--listen %q: the redirect listener must be on a loopback address", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"
	if host == "localhost" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		redirect = "http://localhost:" + port + "/callback"
	}
	// Our own PKCE with keystone-ng (RFC 7636): keystone-ng keeps only the
	// challenge, and the callback needs the verifier, which never leaves
	// this process; whoever intercepts the redirect's (state, code) cannot
	// finish the login.
	verifier, challenge := NewPKCE()
	body := map[string]any{"redirect_uri": redirect, "code_challenge": challenge, "code_challenge_method": "S256"}
	if scope != nil {
		body["scope"] = scope
	}
	var start struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if _, err := c.post(ctx, "/v4/federation/identity_providers/"+url.PathEscape(idp)+"/auth", body, nil, &start); err != nil {
		return nil, err
	}
	if start.AuthorizationURL == "" {
		return nil, errors.New("keystone-ng gave no authorization_url")
	}
	// The URL comes from the identity provider's discovery document and
	// is printed to the terminal.
	if err := termsafe.URL(start.AuthorizationURL); err != nil {
		return nil, fmt.Errorf("refusing to show the authorization URL: %w", err)
	}
	want := stateOf(start.AuthorizationURL)
	type cb struct{ code, state, err string }
	got := make(chan cb, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		res := cb{code: q.Get("code"), state: q.Get("state"), err: q.Get("error")}
		if res.err == "" && (res.code == "" || subtle.ConstantTimeCompare([]byte(res.state), []byte(want)) != 1) {
			http.Error(w, "unexpected callback", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if res.err != "" {
			fmt.Fprintf(w, "Login failed: %s. You can close this window.\n", res.err)
		} else {
			fmt.Fprintln(w, "Login complete. You can close this window and return to the terminal.")
		}
		select {
		case got <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	show(start.AuthorizationURL)
	var res cb
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res = <-got:
	}
	if res.err != "" {
		return nil, fmt.Errorf("the identity provider refused the login: %s", clip(termsafe.Clean(res.err), 200))
	}
	return c.tokenFrom(ctx, "/v4/federation/oidc/callback", map[string]any{"state": res.state, "code": res.code, "code_verifier": verifier}, nil)
}

// NewPKCE returns an RFC 7636 code_verifier (32 random bytes, base64url:
// 43 characters, §4.1) and its S256 code_challenge (§4.2).
func NewPKCE() (verifier, challenge string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func stateOf(authURL string) string {
	u, err := url.Parse(authURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("state")
}

// DeviceStart is what the user must do to approve a device login.
type DeviceStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// Device runs the device authorization grant: show tells the user where to
// go; then keystone-ng is polled until the login completes, is refused or
// expires.
func (c *Client) Device(ctx context.Context, idp string, scope any, show func(DeviceStart)) (*Token, error) {
	body := map[string]any{}
	if scope != nil {
		body["scope"] = scope
	}
	var ds DeviceStart
	if _, err := c.post(ctx, "/v4/federation/identity_providers/"+url.PathEscape(idp)+"/device", body, nil, &ds); err != nil {
		return nil, err
	}
	if ds.DeviceCode == "" {
		return nil, errors.New("keystone-ng gave no device_code")
	}
	if err := checkDeviceStart(&ds); err != nil {
		return nil, err
	}
	show(ds)
	interval := time.Duration(max(ds.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(max(ds.ExpiresIn, 60)) * time.Second)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		var out map[string]any
		resp, err := c.post(ctx, "/v4/federation/oidc/device/token", map[string]any{"device_code": ds.DeviceCode}, nil, &out)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusCreated {
			id := resp.Header.Get("X-Subject-Token")
			tok, _ := out["token"].(map[string]any)
			if id == "" {
				return nil, errors.New("keystone-ng answered 201 without a token")
			}
			return &Token{ID: id, Body: tok}, nil
		}
		// 202: still pending, {"status": "authorization_pending" |
		// "slow_down", "interval": seconds} (RFC 8628 §3.5).
		if iv, ok := out["interval"].(float64); ok && iv >= 1 {
			interval = time.Duration(iv) * time.Second
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the device login expired before it was approved")
		}
	}
}

// checkDeviceStart refuses what the identity provider wants shown to the
// user unless a terminal can print it safely (keystone-ng checks too; the
// CLI does not rely on it): verification_uri an https URL (http on
// loopback), user_code letters and digits; a verification_uri_complete
// that fails the URL rule is dropped (the URI and the code suffice).
func checkDeviceStart(ds *DeviceStart) error {
	if err := termsafe.URL(ds.VerificationURI); err != nil {
		return fmt.Errorf("refusing the device login: verification_uri: %w", err)
	}
	if err := termsafe.UserCode(ds.UserCode); err != nil {
		return fmt.Errorf("refusing the device login: user_code: %w", err)
	}
	if ds.VerificationURIComplete != "" && termsafe.URL(ds.VerificationURIComplete) != nil {
		ds.VerificationURIComplete = ""
	}
	return nil
}

// Exports renders the shell lines that point the openstack client at the
// token: OS_AUTH_TYPE=token (keystoneauth's "token" plugin), OS_AUTH_URL,
// OS_TOKEN, and the project or domain of a scoped token.
func Exports(authURL string, t *Token) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v)) }
	line("OS_AUTH_TYPE", "token")
	line("OS_AUTH_URL", authURL)
	line("OS_TOKEN", t.ID)
	if p, ok := t.Body["project"].(map[string]any); ok {
		if id, _ := p["id"].(string); id != "" {
			line("OS_PROJECT_ID", id)
		}
	} else if d, ok := t.Body["domain"].(map[string]any); ok {
		if id, _ := d["id"].(string); id != "" {
			line("OS_DOMAIN_ID", id)
		}
	} else if _, ok := t.Body["system"]; ok {
		line("OS_SYSTEM_SCOPE", "all")
	}
	if exp, _ := t.Body["expires_at"].(string); exp != "" {
		fmt.Fprintf(&b, "# expires %s\n", exp)
	}
	return b.String()
}

// shellQuote quotes v for POSIX shells when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
