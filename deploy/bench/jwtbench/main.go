// Command jwtbench measures logins per second side by side: keystone-ng's
// JWT workload login (POST /v4/federation/identity_providers/{id}/jwt),
// a service account's client credentials login (POST /v4/oauth2/token,
// with a client secret and with a private_key_jwt assertion signed per
// request) and a token exchange into a restricted token, against Python
// Keystone's password login (POST /v3/auth/tokens), each issuing a
// project-scoped token on the same database.
//
// It serves a JWKS on 127.0.0.1, creates an identity provider and a mapping
// in keystone-ng with a system-scoped admin token from Python, signs one
// JWT (no jti, so the same JWT may be replayed for the measurement),
// creates a service account with a secret and a key (member on the
// project, granted with Python's API) and drives every endpoint with the
// same concurrency for the same time. deploy/bench/bench.sh runs it;
// figures go to docs/performance.md.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type result struct {
	name      string
	ok, other int
	lat       []time.Duration
	dur       time.Duration
}

func (r result) rate() float64 { return float64(r.ok) / r.dur.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func main() {
	ng := flag.String("ng", "http://127.0.0.1:5202", "keystone-ng base URL")
	py := flag.String("python", "http://127.0.0.1:5201", "Python Keystone base URL")
	user := flag.String("user", "admin", "admin user (default domain)")
	password := flag.String("password", "secret", "admin password")
	project := flag.String("project", "admin", "project both logins scope to (default domain)")
	conns := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 20*time.Second, "duration of each measurement")
	warm := flag.Duration("warmup", 3*time.Second, "warm-up before each measurement")
	flag.Parse()
	if err := run(*ng, *py, *user, *password, *project, *conns, *dur, *warm); err != nil {
		fmt.Fprintln(os.Stderr, "jwtbench:", err)
		os.Exit(1)
	}
}

var client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// pyClient never reuses connections: Python's uWSGI http-socket closes them.
var pyClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func call(c *http.Client, method, url string, hdr map[string]string, body any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func passwordAuth(user, password string, scope any) map[string]any {
	a := map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
		"user": map[string]any{"name": user, "domain": map[string]any{"id": "default"}, "password": password}}}}
	if scope != nil {
		a["scope"] = scope
	}
	return map[string]any{"auth": a}
}

func run(ngURL, pyURL, user, password, project string, conns int, dur, warm time.Duration) error {
	// A system-scoped admin token from Python manages the IdP.
	st, h, b, err := call(pyClient, "POST", pyURL+"/v3/auth/tokens", nil,
		passwordAuth(user, password, map[string]any{"system": map[string]any{"all": true}}))
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("system token from Python: %d %v %s", st, err, b)
	}
	admin := h.Get("X-Subject-Token")

	// JWKS on loopback (keystone-ng accepts http only there).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "bench", Algorithm: "RS256", Use: "sig"}}}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(jwks)
		}))
	}()

	sfx := make([]byte, 4)
	_, _ = rand.Read(sfx)
	name := "bench-" + hex.EncodeToString(sfx)
	hdr := map[string]string{"X-Auth-Token": admin}
	st, _, b, err = call(client, "POST", ngURL+"/v4/federation/identity_providers", hdr, map[string]any{"identity_provider": map[string]any{
		"name": name, "domain_id": "default", "issuer": issuer, "jwks_url": issuer + "/jwks",
		"audiences": []string{"keystone-ng-bench"}, "default_mapping": "bench"}})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("create identity provider: %d %v %s", st, err, b)
	}
	var idp struct {
		IdentityProvider struct {
			ID string `json:"id"`
		} `json:"identity_provider"`
	}
	if err := json.Unmarshal(b, &idp); err != nil {
		return err
	}
	idpID := idp.IdentityProvider.ID
	defer call(client, "DELETE", ngURL+"/v4/federation/identity_providers/"+idpID, hdr, nil) //nolint:errcheck
	projectRef := map[string]any{"name": project, "domain": map[string]any{"id": "default"}}
	st, _, b, err = call(client, "POST", ngURL+"/v4/federation/identity_providers/"+idpID+"/mappings", hdr, map[string]any{"mapping": map[string]any{
		"name": "bench", "rules": []any{map[string]any{
			"match": []any{map[string]any{"claim": "repository", "equals": "bench/app"}},
			// A unique id of this run: the shadow user's id derives from
			// the domain and the unique id alone, so a user left by an
			// earlier run's (deleted) IdP would otherwise collide (409).
			"user":   map[string]any{"name": "wl-{repository}", "unique_id": name + "-{repository}"},
			"grants": []any{map[string]any{"role": map[string]any{"name": "member"}, "project": projectRef}},
			"scope":  map[string]any{"project": projectRef},
		}}}})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("create mapping: %d %v %s", st, err, b)
	}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "bench"))
	if err != nil {
		return err
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: issuer, Subject: "repo:bench/app", Audience: jwt.Audience{"keystone-ng-bench"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Hour))}).
		Claims(map[string]any{"repository": "bench/app"}).Serialize()
	if err != nil {
		return err
	}
	jwtURL := ngURL + "/v4/federation/identity_providers/" + idpID + "/jwt"
	jwtHdr := map[string]string{"Authorization": "Bearer " + raw}
	st, _, b, err = call(client, "POST", jwtURL, jwtHdr, nil)
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("first JWT login: %d %v %s", st, err, b)
	}
	var first struct {
		Token struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"token"`
	}
	if err := json.Unmarshal(b, &first); err != nil || first.Token.User.ID == "" {
		return fmt.Errorf("first JWT login: no user in %s", b)
	}
	// Deferred after the IdP's deletion, so it runs before it: the shadow
	// user goes through Python's API, leaving the database as it was.
	defer call(pyClient, "DELETE", pyURL+"/v3/users/"+first.Token.User.ID, hdr, nil) //nolint:errcheck
	pwBody := passwordAuth(user, password, map[string]any{"project": projectRef})

	sa, err := serviceAccount(ngURL, pyURL, admin, project)
	if err != nil {
		return err
	}
	defer call(client, "DELETE", ngURL+"/v4/service_accounts/"+sa.id, hdr, nil) //nolint:errcheck
	st, h, b, err = call(pyClient, "POST", pyURL+"/v3/auth/tokens", nil, pwBody)
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("subject token from Python: %d %v %s", st, err, b)
	}
	subject := h.Get("X-Subject-Token")
	tokenURL := ngURL + "/v4/oauth2/token"
	secretForm := url.Values{"grant_type": {"client_credentials"}}.Encode()
	exchangeForm := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "scope": {"role:member"}, "expires_in": {"60"}}.Encode()

	var results []result
	for _, tc := range []struct {
		name string
		c    *http.Client
		req  func() (*http.Request, error)
		want int
	}{
		{"keystone-ng JWT login", client, jsonRequest(jwtURL, jwtHdr, nil), http.StatusCreated},
		{"keystone-ng service account login (client_secret_basic)", client, func() (*http.Request, error) {
			r, err := formRequest(tokenURL, secretForm)
			if err == nil {
				r.SetBasicAuth(sa.id, sa.secret)
			}
			return r, err
		}, http.StatusOK},
		{"keystone-ng service account login (private_key_jwt, ES256)", client, func() (*http.Request, error) {
			a, err := sa.assertion(tokenURL)
			if err != nil {
				return nil, err
			}
			return formRequest(tokenURL, url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}.Encode())
		}, http.StatusOK},
		{"keystone-ng token exchange (restricted token)", client, func() (*http.Request, error) { return formRequest(tokenURL, exchangeForm) }, http.StatusOK},
		{"Python password login", pyClient, jsonRequest(pyURL+"/v3/auth/tokens", nil, pwBody), http.StatusCreated},
	} {
		fmt.Fprintf(os.Stderr, "[jwtbench] %s: warm-up %s, then %s at c=%d\n", tc.name, warm, dur, conns)
		load(tc.c, tc.req, tc.want, conns, warm)
		r := load(tc.c, tc.req, tc.want, conns, dur)
		r.name = tc.name
		results = append(results, r)
	}
	fmt.Printf("## Logins, project token with catalog, c=%d, %s each (%s)\n\n", conns, dur, time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| login | logins/s | p50 ms | p99 ms | failed |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %d |\n", r.name, r.rate(), ms(r.pct(0.5)), ms(r.pct(0.99)), r.other)
	}
	py := results[len(results)-1]
	if py.rate() > 0 {
		fmt.Println()
		for _, r := range results[:len(results)-1] {
			fmt.Printf("- %s / Python password login: **%.1fx**\n", r.name, r.rate()/py.rate())
		}
	}
	return nil
}

// jsonRequest builds the same JSON POST each time.
func jsonRequest(u string, hdr map[string]string, body any) func() (*http.Request, error) {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return func() (*http.Request, error) {
		r, err := http.NewRequest("POST", u, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r, nil
	}
}

func formRequest(u, form string) (*http.Request, error) {
	r, err := http.NewRequest("POST", u, strings.NewReader(form))
	if err == nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r, err
}

// benchAccount is a service account with one secret and one ES256 key.
type benchAccount struct {
	id, secret string
	key        *ecdsa.PrivateKey
	signer     jose.Signer
}

// assertion is a fresh private_key_jwt assertion (a new jti each time).
func (a *benchAccount) assertion(aud string) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	return jwt.Signed(a.signer).Claims(jwt.Claims{Issuer: a.id, Subject: a.id, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: hex.EncodeToString(jti)}).Serialize()
}

// serviceAccount creates a service account in the default domain, member
// on project (granted with Python's API), with a secret and a key pair
// generated by keystone-ng.
func serviceAccount(ngURL, pyURL, admin, project string) (*benchAccount, error) {
	hdr := map[string]string{"X-Auth-Token": admin}
	st, _, b, err := call(pyClient, "GET", pyURL+"/v3/projects?domain_id=default&name="+url.QueryEscape(project), hdr, nil)
	var projects struct {
		Projects []struct {
			ID string `json:"id"`
		} `json:"projects"`
	}
	if err != nil || st != http.StatusOK || json.Unmarshal(b, &projects) != nil || len(projects.Projects) != 1 {
		return nil, fmt.Errorf("project %s: %d %v %s", project, st, err, b)
	}
	projectID := projects.Projects[0].ID
	st, _, b, err = call(pyClient, "GET", pyURL+"/v3/roles?name=member", hdr, nil)
	var roles struct {
		Roles []struct {
			ID string `json:"id"`
		} `json:"roles"`
	}
	if err != nil || st != http.StatusOK || json.Unmarshal(b, &roles) != nil || len(roles.Roles) == 0 {
		return nil, fmt.Errorf("role member: %d %v %s", st, err, b)
	}
	sfx := make([]byte, 4)
	_, _ = rand.Read(sfx)
	st, _, b, err = call(client, "POST", ngURL+"/v4/service_accounts", hdr, map[string]any{"service_account": map[string]any{
		"name": "bench-" + hex.EncodeToString(sfx), "domain_id": "default", "default_project_id": projectID}})
	var created struct {
		ServiceAccount struct {
			ID string `json:"id"`
		} `json:"service_account"`
	}
	if err != nil || st != http.StatusCreated || json.Unmarshal(b, &created) != nil {
		return nil, fmt.Errorf("create service account: %d %v %s", st, err, b)
	}
	a := &benchAccount{id: created.ServiceAccount.ID}
	if st, _, b, err = call(pyClient, "PUT", pyURL+"/v3/projects/"+projectID+"/users/"+a.id+"/roles/"+roles.Roles[0].ID, hdr, nil); err != nil || st != http.StatusNoContent {
		return nil, fmt.Errorf("grant member: %d %v %s", st, err, b)
	}
	st, _, b, err = call(client, "POST", ngURL+"/v4/service_accounts/"+a.id+"/secrets", hdr, map[string]any{})
	var sec struct {
		Secret struct {
			Secret string `json:"secret"`
		} `json:"secret"`
	}
	if err != nil || st != http.StatusCreated || json.Unmarshal(b, &sec) != nil {
		return nil, fmt.Errorf("create secret: %d %v %s", st, err, b)
	}
	a.secret = sec.Secret.Secret
	st, _, b, err = call(client, "POST", ngURL+"/v4/service_accounts/"+a.id+"/keys", hdr, map[string]any{"key": map[string]any{"algorithm": "ES256"}})
	var key struct {
		Key struct {
			PrivateKey string `json:"private_key"`
		} `json:"key"`
	}
	if err != nil || st != http.StatusCreated || json.Unmarshal(b, &key) != nil {
		return nil, fmt.Errorf("create key: %d %v %s", st, err, b)
	}
	blk, _ := pem.Decode([]byte(key.Key.PrivateKey))
	if blk == nil {
		return nil, fmt.Errorf("generated key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("generated key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("generated key is %T, want ECDSA", k)
	}
	a.key = ec
	if a.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec}, (&jose.SignerOptions{}).WithType("JWT")); err != nil {
		return nil, err
	}
	return a, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func load(c *http.Client, newReq func() (*http.Request, error), want int, conns int, dur time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		mu  sync.Mutex
		out result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok, other := 0, 0
			for ctx.Err() == nil {
				t0 := time.Now()
				st, err := do(c, newReq)
				if err == nil && st == want {
					ok++
					lat = append(lat, time.Since(t0))
				} else if ctx.Err() == nil {
					other++
				}
			}
			mu.Lock()
			out.ok += ok
			out.other += other
			out.lat = append(out.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.dur = time.Since(start)
	return out
}

func do(c *http.Client, newReq func() (*http.Request, error)) (int, error) {
	req, err := newReq()
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
