package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ksClient talks to one Keystone-compatible HTTP endpoint (Python or keystone-ng).
type ksClient struct {
	name string // "python" or "keystone-ng", for messages
	base string // http://127.0.0.1:PORT (no /v3)
	http *http.Client
}

func newClient(name, base string) *ksClient {
	return &ksClient{
		name: name,
		base: strings.TrimRight(base, "/"),
		http: &http.Client{
			Timeout: 60 * time.Second,
			// Python's uWSGI http-socket closes after each response; keep the
			// two sides symmetric by never reusing connections.
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		},
	}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object (status %d): %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// do sends one request and fails the test on transport errors. headers:
// alternating name, value. Only for the test goroutine (it may call Fatal).
func (c *ksClient) do(t testing.TB, method, path string, body any, headers ...string) *response {
	t.Helper()
	r, err := c.fetch(method, path, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetch sends one request; safe from any goroutine.
func (c *ksClient) fetch(method, path string, body any, headers ...string) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %v", c.name, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: reading body: %v", c.name, method, path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// must sends a request with a token and fails the test unless the status is want.
func (c *ksClient) must(t testing.TB, want int, method, path, token string, body any) map[string]any {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"X-Auth-Token", token}
	}
	r := c.do(t, method, path, body, hdr...)
	if r.Status != want {
		t.Fatalf("%s %s %s: status %d, want %d\n%s", c.name, method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.json(t)
}

// ---- token issue (always against Python: POST /v3/auth/tokens stays with Python)

type issued struct {
	Token string
	Body  map[string]any // the POST response body
}

func (c *ksClient) issue(t testing.TB, auth map[string]any) issued {
	t.Helper()
	r := c.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth})
	if r.Status != http.StatusCreated {
		t.Fatalf("%s: POST /v3/auth/tokens: status %d\nrequest: %s\n%s", c.name, r.Status, mustJSON(auth), r.Body)
	}
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		t.Fatalf("%s: POST /v3/auth/tokens: no X-Subject-Token header", c.name)
	}
	return issued{Token: tok, Body: r.json(t)}
}

func passwordIdentity(userID, password string) map[string]any {
	return map[string]any{
		"methods":  []string{"password"},
		"password": map[string]any{"user": map[string]any{"id": userID, "password": password}},
	}
}

func passwordByName(name, domainID, password string) map[string]any {
	return map[string]any{
		"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{
			"name": name, "domain": map[string]any{"id": domainID}, "password": password}},
	}
}

func tokenIdentity(token string) map[string]any {
	return map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": token}}
}

func appCredIdentity(id, secret string) map[string]any {
	return map[string]any{
		"methods":                []string{"application_credential"},
		"application_credential": map[string]any{"id": id, "secret": secret},
	}
}

func scopeProject(id string) any { return map[string]any{"project": map[string]any{"id": id}} }
func scopeDomain(id string) any  { return map[string]any{"domain": map[string]any{"id": id}} }
func scopeSystem() any           { return map[string]any{"system": map[string]any{"all": true}} }
func scopeTrust(id string) any   { return map[string]any{"OS-TRUST:trust": map[string]any{"id": id}} }

const scopeUnscoped = "unscoped"

func auth(identity map[string]any, scope any) map[string]any {
	a := map[string]any{"identity": identity}
	if scope != nil {
		a["scope"] = scope
	}
	return a
}

// revoke deletes (revokes) subject through Python: DELETE /v3/auth/tokens.
func (c *ksClient) revoke(t testing.TB, authToken, subject string) {
	t.Helper()
	r := c.do(t, "DELETE", "/v3/auth/tokens", nil, "X-Auth-Token", authToken, "X-Subject-Token", subject)
	if r.Status != http.StatusNoContent {
		t.Fatalf("%s: DELETE /v3/auth/tokens: status %d\n%s", c.name, r.Status, r.Body)
	}
}

// ---- small REST helpers for building the dataset through Python's API

// create POSTs {kind: obj} to path and returns the created object's "id".
func (c *ksClient) create(t testing.TB, token, path, kind string, obj map[string]any) map[string]any {
	t.Helper()
	m := c.must(t, http.StatusCreated, "POST", path, token, map[string]any{kind: obj})
	got, ok := m[kind].(map[string]any)
	if !ok {
		t.Fatalf("%s: POST %s: no %q object in %s", c.name, path, kind, mustJSON(m))
	}
	return got
}

func (c *ksClient) put(t testing.TB, token, path string) {
	t.Helper()
	r := c.do(t, "PUT", path, nil, "X-Auth-Token", token)
	if r.Status != http.StatusNoContent && r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("%s: PUT %s: status %d\n%s", c.name, path, r.Status, r.Body)
	}
}

func (c *ksClient) del(t testing.TB, token, path string) {
	t.Helper()
	r := c.do(t, "DELETE", path, nil, "X-Auth-Token", token)
	if r.Status != http.StatusNoContent {
		t.Fatalf("%s: DELETE %s: status %d\n%s", c.name, path, r.Status, r.Body)
	}
}

func (c *ksClient) patch(t testing.TB, token, path, kind string, obj map[string]any) {
	t.Helper()
	c.must(t, http.StatusOK, "PATCH", path, token, map[string]any{kind: obj})
}

func idOf(m map[string]any) string {
	s, _ := m["id"].(string)
	return s
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}
