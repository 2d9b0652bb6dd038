package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keystone-ng/keystone-ng/pkg/jws"
)

// pyJWSHeader is the first segment of every JWS token Python mints
// (PyJWT's {"alg":"ES256","typ":"JWT"}).
const pyJWSHeader = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"

// rotateKeys rotates the token keys the way an operator would: Fernet
// with keystone-manage fernet_rotate; JWS with a new key pair from
// keystone-manage create_jws_keypair whose private key replaces
// private.pem and whose public key joins the public repository, which
// keeps the two newest public keys. Both keep tokens of the previous key
// valid for one rotation and drop them at the second, so the scenario's
// expectations hold for either provider.
func rotateKeys(t *testing.T, env *pyEnv) {
	t.Helper()
	if !env.jws() {
		fernetRotate(t, env)
		return
	}
	jwsRotate(t, env)
}

func jwsRotate(t *testing.T, env *pyEnv) {
	t.Helper()
	owner, err := user.Lookup(env.ServiceUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	work, err := os.MkdirTemp(filepath.Dir(env.JWSPrivateDir), "rotate-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	if os.Geteuid() == 0 {
		if err := os.Chown(work, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	keystoneManageIn(t, env, work, "create_jws_keypair", "--keystone-user", env.ServiceUser, "--keystone-group", env.ServiceUser)

	// The public keys, oldest first: public.pem, then rotated-N.pem.
	ents, err := os.ReadDir(env.JWSPublicDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	next := 1
	for _, e := range ents {
		names = append(names, e.Name())
		var n int
		if _, err := fmt.Sscanf(e.Name(), "rotated-%d.pem", &n); err == nil && n >= next {
			next = n + 1
		}
	}
	slices.SortFunc(names, func(a, b string) int { return keyOrder(a) - keyOrder(b) })
	// New public key first (tokens signed with the new private key must
	// validate as soon as it is in place), then the new private key, then
	// the oldest public keys go.
	install := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, b, mode); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(tmp, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(tmp, dst); err != nil {
			t.Fatal(err)
		}
	}
	install(filepath.Join(work, "public.pem"), filepath.Join(env.JWSPublicDir, fmt.Sprintf("rotated-%d.pem", next)), 0o640)
	install(filepath.Join(work, "private.pem"), filepath.Join(env.JWSPrivateDir, "private.pem"), 0o600)
	for len(names) > 1 {
		if err := os.Remove(filepath.Join(env.JWSPublicDir, names[0])); err != nil {
			t.Fatal(err)
		}
		names = names[1:]
	}
}

// keyOrder sorts public.pem before rotated-1.pem, rotated-2.pem, ...
func keyOrder(name string) int {
	var n int
	if _, err := fmt.Sscanf(name, "rotated-%d.pem", &n); err == nil {
		return n
	}
	return 0
}

// privateKey reads Python's private.pem (the test runs as root).
func privateKey(t *testing.T, env *pyEnv) *jws.PrivateKey {
	t.Helper()
	k, err := jws.LoadPrivateKey(env.JWSPrivateDir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestInteropJWSTokens sends JWS tokens Python did not mint: tampered,
// signed by a foreign key, unsigned (alg none), HMAC-signed with the
// public key as the secret, truncated, a Fernet token, and tokens signed
// with Python's own private key but carrying unusual claims. Python and
// keystone-ng must agree (status, headers, JSON). Where Python crashes
// (PyJWT's InvalidAlgorithmError and ImmatureSignatureError escape
// keystone and uWSGI drops the connection), keystone-ng answers
// Keystone's 500 JSON. A token keystone-ng's pkg/jws signs with Python's
// private key validates in Python.
func TestInteropJWSTokens(t *testing.T) {
	env := loadEnv(t)
	if !env.jws() {
		t.Skip("Python is configured for Fernet tokens (TestInteropCraftedTokens crafts those)")
	}
	py := newClient("python", env.BaseURL)
	ng := startSidecar(t, env)
	chk := pair{py: py, ng: ng}
	adminTok := adminLogin(t, py, env).Token
	if !strings.HasPrefix(adminTok, pyJWSHeader+".") {
		t.Fatalf("Python's token is not a JWS token: %.40s...", adminTok)
	}
	parts := strings.Split(adminTok, ".")
	b64 := base64.RawURLEncoding
	var claims map[string]any
	raw, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	withClaims := func(edit func(map[string]any)) []byte {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		edit(c)
		b, _ := json.Marshal(c)
		return b
	}
	// sign signs header and payload bytes with an ECDSA P-256 key.
	sign := func(k *ecdsa.PrivateKey, header string, payload []byte) string {
		in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
		return in + "." + b64.EncodeToString(ecdsaSign(t, k, []byte(in)))
	}
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pyPriv := readECKey(t, filepath.Join(env.JWSPrivateDir, "private.pem"))
	pubPEM, err := os.ReadFile(filepath.Join(env.JWSPublicDir, keyFiles(env)[0]))
	if err != nil {
		t.Fatal(err)
	}
	hs := func() string {
		in := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + parts[1]
		return in + "." + b64.EncodeToString(hmacSHA256(pubPEM, []byte(in)))
	}()
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	now := time.Now().Unix()
	agree := []checkCase{
		one("jws/tampered-signature", adminTok, parts[0]+"."+parts[1]+"."+flip(parts[2], 10), "", http.StatusNotFound),
		one("jws/tampered-payload", adminTok, parts[0]+"."+flip(parts[1], 20)+"."+parts[2], "", http.StatusNotFound),
		one("jws/foreign-key", adminTok, sign(foreign, `{"alg":"ES256","typ":"JWT"}`, raw), "", http.StatusNotFound),
		one("jws/two-segments", adminTok, parts[0]+"."+parts[1], "", http.StatusNotFound),
		one("jws/not-a-jws", adminTok, "gAAAAABnotatoken", "", http.StatusNotFound),
		one("jws/padded-signature", adminTok, adminTok+"==", "", http.StatusOK),
		one("jws/own-key-extra-claims", adminTok, sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["jti"] = "x"; c["aud"] = "" })), "", http.StatusOK),
		one("jws/own-key-expired", adminTok, sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["exp"] = now - 10 })), "", http.StatusNotFound),
		one("jws/own-key-expired-allowed", adminTok, sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["exp"] = now - 10 })), "?allow_expired=1", http.StatusOK),
		one("jws/own-key-detached", adminTok, sign(pyPriv, `{"alg":"ES256","b64":false}`, raw), "", http.StatusNotFound),
		one("jws/own-key-unknown-user", adminTok, sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["sub"] = "no-such-user" })), "", http.StatusNotFound),
		one("jws/auth-token-tampered", parts[0]+"."+parts[1]+"."+flip(parts[2], 10), adminTok, "", http.StatusUnauthorized),
	}
	// As the caller's token, the same crash is caught by Python's auth
	// middleware: a proper 500, which keystone-ng matches.
	algNone := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	agree = append(agree,
		one("jws/auth-token-alg-none", algNone, adminTok, "", http.StatusInternalServerError),
		one("jws/auth-token-iat-in-future", sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["iat"] = now + 3600 })), adminTok, "", http.StatusInternalServerError))
	runChecks(t, chk, agree)

	// As the subject, Python crashes on these (uWSGI drops the
	// connection); keystone-ng answers Keystone's 500.
	crash := map[string]string{
		"alg-none":         algNone,
		"hs256-public-key": hs,
		"alg-rs256":        b64.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"iat-in-future":    sign(pyPriv, `{"alg":"ES256","typ":"JWT"}`, withClaims(func(c map[string]any) { c["iat"] = now + 3600 })),
	}
	for name, tok := range crash {
		if r, err := validateE(py, "GET", adminTok, tok, ""); err == nil {
			t.Logf("note: python now answers %s with %d (it used to drop the connection)", name, r.Status)
		}
		r, err := validateE(ng.ksClient, "GET", adminTok, tok, "")
		if err != nil {
			t.Errorf("keystone-ng, %s: %v", name, err)
			continue
		}
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), `"An unexpected error prevented the server from fulfilling your request."`) {
			t.Errorf("keystone-ng, %s: %d %s, want Keystone's 500", name, r.Status, r.Body)
		}
	}

	// A token keystone-ng's signer mints from Python's own claims
	// validates in Python exactly as Python's token does.
	ngKeys, err := jws.OpenPublicRepository(env.JWSPublicDir)
	if err != nil {
		t.Fatal(err)
	}
	p, iat, err := ngKeys.Current().Verify(adminTok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	minted, err := privateKey(t, env).Sign(p, iat)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(minted, ".")[1] != parts[1] {
		t.Errorf("keystone-ng's claims differ from Python's:\n%s\n%s", minted, adminTok)
	}
	runChecks(t, chk, []checkCase{one("jws/keystone-ng-signed", adminTok, minted, "", http.StatusOK)})
}

// TestInteropJWSLogin: with Python configured for JWS tokens, a /v4 login
// (a workload's JWT) gives a JWS token with Python's header and claims,
// which Python validates like keystone-ng and rescopes.
func TestInteropJWSLogin(t *testing.T) {
	env := loadEnv(t)
	if !env.jws() {
		t.Skip("Python is configured for Fernet tokens (the /v4 tests check Fernet logins)")
	}
	migrateOwn(t, env)
	py := newClient("python", env.BaseURL)
	admin := adminLogin(t, py, env).Token
	sfx := randSuffix(t)
	dom := idOf(py.create(t, admin, "/v3/domains", "domain", map[string]any{"name": "jws-" + sfx}))
	project := idOf(py.create(t, admin, "/v3/projects", "project", map[string]any{"name": "jws-app-" + sfx, "domain_id": dom}))
	roles := py.must(t, http.StatusOK, "GET", "/v3/roles?name=admin", admin, nil)["roles"].([]any)
	pw := "Jws-" + sfx + "-secret!"
	dadmin := idOf(py.create(t, admin, "/v3/users", "user", map[string]any{"name": "jws-dadmin-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, admin, "/v3/domains/"+dom+"/users/"+dadmin+"/roles/"+idOf(roles[0].(map[string]any)))
	dadminTok := py.issue(t, auth(passwordIdentity(dadmin, pw), scopeDomain(dom))).Token

	key, jwks := rsaJWKS(t)
	ng := startSidecarWith(t, env, loopbackIdPs, "")
	chk := pair{py: py, ng: ng}
	issuer, idp := "https://ci.example.org/"+sfx, "ci-"+sfx
	if r := ng.do(t, "POST", "/v4/federation/identity_providers", map[string]any{"identity_provider": map[string]any{
		"id": idp, "name": "ci-" + sfx, "domain_id": dom, "issuer": issuer,
		"jwks_url": jwks.URL, "audiences": []string{"keystone-" + sfx}, "default_mapping": "deploy"}}, "X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
		t.Fatalf("create IdP: %d %s", r.Status, r.Body)
	}
	if r := ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/mappings", map[string]any{"mapping": map[string]any{"name": "deploy",
		"rules": json.RawMessage(`[{"match": [{"claim": "repository", "equals": "acme/app"}], "user": {"name": "ci-{repository}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "` + project + `"}}], "scope": {"project": {"id": "` + project + `"}}}]`)}},
		"X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
		t.Fatalf("create mapping: %d %s", r.Status, r.Body)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	n := time.Now()
	assertion, err := jwt.Signed(signer).Claims(map[string]any{"iss": issuer, "aud": "keystone-" + sfx, "sub": "repo:acme/app",
		"repository": "acme/app", "jti": sfx, "iat": n.Unix(), "exp": n.Add(5 * time.Minute).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r := ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/jwt", nil, "Authorization", "Bearer "+assertion)
	if r.Status != http.StatusCreated {
		t.Fatalf("JWT login: %d %s", r.Status, r.Body)
	}
	tok := r.Header.Get("X-Subject-Token")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != pyJWSHeader {
		t.Fatalf("the /v4 login's token is not a JWS token with Python's header: %.60s...", tok)
	}
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	want := []string{"sub", "iat", "exp", "openstack_methods", "openstack_audit_ids", "openstack_project_id",
		"openstack_group_ids", "openstack_idp_id", "openstack_protocol_id"}
	for _, k := range want {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing: %s", k, raw)
		}
	}
	if len(claims) != len(want) {
		t.Errorf("claims %s, want exactly %v", raw, want)
	}
	// Python validates it (same answer as keystone-ng), the token
	// validates itself, and Python rescopes it into a JWS token of its own.
	runChecks(t, chk, []checkCase{
		one("jws-login/python-validates", admin, tok, "", http.StatusOK),
		one("jws-login/self", tok, tok, "", http.StatusOK),
	})
	rescoped := py.issue(t, auth(tokenIdentity(tok), scopeProject(project))).Token
	if !strings.HasPrefix(rescoped, pyJWSHeader+".") {
		t.Fatalf("Python's rescoped token is not JWS: %.40s...", rescoped)
	}
	runChecks(t, chk, []checkCase{one("jws-login/python-rescoped", admin, rescoped, "", http.StatusOK)})
}

func readECKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}
