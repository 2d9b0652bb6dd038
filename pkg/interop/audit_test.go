package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// busEvent is what an oslo.messaging notification listener's endpoint
// receives (pkg/interop/testdata/notification-consumer.py).
type busEvent struct {
	Ready       bool           `json:"ready"`
	Priority    string         `json:"priority"`
	PublisherID string         `json:"publisher_id"`
	EventType   string         `json:"event_type"`
	Payload     map[string]any `json:"payload"`
	Metadata    map[string]any `json:"metadata"`
	// Body is the AMQP body, in --raw mode.
	Body string `json:"body"`
}

// fromRaw decodes a --raw line: the v2 envelope and its message.
func (e *busEvent) fromRaw() error {
	var env struct {
		Version string `json:"oslo.version"`
		Message string `json:"oslo.message"`
	}
	if err := json.Unmarshal([]byte(e.Body), &env); err != nil {
		return err
	}
	var m struct {
		MessageID   string         `json:"message_id"`
		PublisherID string         `json:"publisher_id"`
		EventType   string         `json:"event_type"`
		Priority    string         `json:"priority"`
		Payload     map[string]any `json:"payload"`
		Timestamp   string         `json:"timestamp"`
		UniqueID    string         `json:"_unique_id"`
	}
	if err := json.Unmarshal([]byte(env.Message), &m); err != nil {
		return err
	}
	e.PublisherID, e.EventType, e.Priority, e.Payload = m.PublisherID, m.EventType, m.Priority, m.Payload
	e.Metadata = map[string]any{"message_id": m.MessageID, "timestamp": m.Timestamp, "_unique_id": m.UniqueID}
	return nil
}

func (e busEvent) initiator() map[string]any {
	m, _ := e.Payload["initiator"].(map[string]any)
	return m
}
func (e busEvent) requestID() string {
	if id, _ := e.initiator()["request_id"].(string); id != "" {
		return id
	}
	id, _ := e.Payload["request_id"].(string)
	return id
}

// consumer runs notification-consumer.py on its own queue of the bus
// Python publishes to, from now on: an oslo.messaging notification
// listener (a listener pool), or with raw the AMQP messages in queue
// order as kombu (oslo.messaging's AMQP library) receives them. Raw is
// what proves order and uniqueness: the listener hands messages to a
// thread pool and silently skips a _unique_id it saw recently.
type consumer struct {
	mu     sync.Mutex
	events []busEvent
	cmd    *exec.Cmd
}

func startConsumer(t *testing.T, transportURL string, raw bool) *consumer {
	t.Helper()
	script := filepath.Join(moduleRoot(t), "pkg", "interop", "testdata", "notification-consumer.py")
	args := []string{script, transportURL, "--pool", "keystone-ng-interop-audit-" + randSuffix(t), "--idle", "600"}
	if raw {
		args = append(args, "--raw")
	}
	cmd := exec.Command("/usr/bin/python3", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the oslo.messaging consumer: %v", err)
	}
	c := &consumer{cmd: cmd}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e busEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue
			}
			if e.Ready {
				close(ready)
				continue
			}
			if e.Body != "" {
				if err := e.fromRaw(); err != nil {
					continue
				}
			}
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("consumer stderr:\n%s", stderr.String())
		}
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("the oslo.messaging consumer did not start: %s", stderr.String())
	}
	return c
}

// waitFor returns the events that match, once n of them arrived.
func (c *consumer) waitFor(t *testing.T, what string, n int, match func(busEvent) bool) []busEvent {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		var got []busEvent
		for _, e := range c.events {
			if match(e) {
				got = append(got, e)
			}
		}
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var types []string
			for _, e := range got {
				types = append(types, e.EventType)
			}
			t.Fatalf("%s: %d of %d events arrived in 60s: %q", what, len(got), n, types)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func byRequest(ids ...string) func(busEvent) bool {
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return func(e busEvent) bool { return set[e.requestID()] }
}

// tcpProxy forwards a local port to the broker; stop and start make the
// bus unreachable for keystone-ng alone, without touching the broker.
type tcpProxy struct {
	mu     sync.Mutex
	addr   string
	target string
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	p.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// shape is a JSON value's structure: object keys and value types.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = shape(e)
		}
		return m
	case []any:
		return "list"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// compareLogin compares Python's identity.authenticate with keystone-ng's
// field by field: the same keys and types everywhere, the same CADF
// taxonomy values, the same observer (the catalog's identity service);
// keystone-ng's initiator adds the credential (the token's audit id,
// docs/audit.md §2), which Python sets for federated logins only.
func compareLogin(t *testing.T, what string, py, ng busEvent) {
	t.Helper()
	if py.EventType != ng.EventType || py.Priority != ng.Priority || py.PublisherID == "" || !strings.HasPrefix(ng.PublisherID, "identity.") {
		t.Errorf("%s: envelope %s/%s/%s, Python's %s/%s/%s", what, ng.EventType, ng.Priority, ng.PublisherID, py.EventType, py.Priority, py.PublisherID)
	}
	if !reflect.DeepEqual(shape(py.Metadata), shape(ng.Metadata)) {
		t.Errorf("%s: metadata %v, Python's %v", what, ng.Metadata, py.Metadata)
	}
	ps, ns := shape(py.Payload).(map[string]any), shape(ng.Payload).(map[string]any)
	ni := ns["initiator"].(map[string]any)
	if _, ok := ni["credential"]; !ok {
		t.Errorf("%s: keystone-ng's initiator has no credential: %v", what, ng.initiator())
	}
	delete(ni, "credential")
	if !reflect.DeepEqual(ps, ns) {
		t.Errorf("%s: payload structure\n keystone-ng %v\n Python      %v", what, ns, ps)
	}
	for _, path := range [][]string{{"typeURI"}, {"eventType"}, {"action"}, {"outcome"}, {"observer", "typeURI"}, {"observer", "id"},
		{"initiator", "typeURI"}, {"target", "typeURI"}} {
		if a, b := dig(py.Payload, path...), dig(ng.Payload, path...); a != b {
			t.Errorf("%s: %s = %v, Python's %v", what, strings.Join(path, "."), b, a)
		}
	}
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

// TestInteropAudit: Python Keystone configured for messagingv2 on
// RabbitMQ (up.sh KSPY_NOTIFICATIONS) and keystone-ng reading the same
// keystone.conf; an oslo.messaging consumer reads both (docs/audit.md §6).
func TestInteropAudit(t *testing.T) {
	env := loadEnv(t)
	bus := env.vars["KSPY_NOTIFICATIONS"]
	if bus == "" {
		t.Skip("Python was started without KSPY_NOTIFICATIONS (deploy/keystone-py/run-interop.sh's audit phase sets it)")
	}
	migrateOwn(t, env)
	cons := startConsumer(t, bus, false)
	py := newClient("python", env.BaseURL)
	ng := startSidecarWith(t, env, noLoginLimit+loopbackIdPs, passkeyConf)
	sfx := randSuffix(t)

	// Python's password login, and keystone-ng's logins.
	admin := adminLogin(t, py, env)
	adminTok := admin.Token
	pyLogin := py.do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": auth(passwordByName(env.AdminUser, "default", env.AdminPassword), nil)})
	pyReq := pyLogin.Header.Get("X-Openstack-Request-Id")

	roleID := func(name string) string {
		rs := py.must(t, http.StatusOK, "GET", "/v3/roles?name="+name, adminTok, nil)["roles"].([]any)
		return idOf(rs[0].(map[string]any))
	}
	dom := idOf(py.create(t, adminTok, "/v3/domains", "domain", map[string]any{"name": "audit-" + sfx}))
	project := idOf(py.create(t, adminTok, "/v3/projects", "project", map[string]any{"name": "audit-" + sfx, "domain_id": dom}))
	pw := "Audit-" + sfx + "-secret!"
	dadmin := idOf(py.create(t, adminTok, "/v3/users", "user", map[string]any{"name": "audit-dadmin-" + sfx, "domain_id": dom, "password": pw}))
	py.put(t, adminTok, "/v3/domains/"+dom+"/users/"+dadmin+"/roles/"+roleID("admin"))
	dadminTok := py.issue(t, auth(passwordIdentity(dadmin, pw), scopeDomain(dom))).Token

	// Changes, each by the domain admin: their initiator.
	var changes []string // request ids, in order
	change := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		r := ng.do(t, method, path, body, "X-Auth-Token", dadminTok)
		if r.Status != want {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		changes = append(changes, r.Header.Get("X-Openstack-Request-Id"))
		if r.Status == http.StatusNoContent {
			return nil
		}
		return r.json(t)
	}
	sa := change(http.StatusCreated, "POST", "/v4/service_accounts", map[string]any{"service_account": map[string]any{
		"name": "audit-sa", "domain_id": dom, "default_project_id": project}})["service_account"].(map[string]any)
	saID := idOf(sa)
	py.put(t, adminTok, "/v3/projects/"+project+"/users/"+saID+"/roles/"+roleID("member"))
	change(http.StatusOK, "PATCH", "/v4/service_accounts/"+saID, map[string]any{"service_account": map[string]any{"description": "audited"}})
	sec := change(http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/secrets", map[string]any{"secret": map[string]any{}})["secret"].(map[string]any)
	secret := sec["secret"].(string)
	// A passkey, registered by the domain admin for itself, then used.
	pk := passkeytest.New("http://localhost:" + ng.base[strings.LastIndex(ng.base, ":")+1:])
	begun := ng.must(t, http.StatusOK, "POST", "/v4/users/"+dadmin+"/passkeys/register/start", dadminTok, map[string]any{"name": "audit"})
	opts, _ := json.Marshal(begun["options"])
	pkCred, err := pk.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	pkID := idOf(change(http.StatusCreated, "POST", "/v4/users/"+dadmin+"/passkeys/register/finish",
		map[string]any{"ceremony_id": begun["ceremony_id"], "name": "audit", "credential": pkCred})["passkey"].(map[string]any))
	kid := idOf(change(http.StatusCreated, "POST", "/v4/service_accounts/"+saID+"/keys", map[string]any{"key": map[string]any{"algorithm": "EdDSA"}})["key"].(map[string]any))
	change(http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID+"/keys/"+kid, nil)

	key, jwks := rsaJWKS(t)
	idp := "audit-" + sfx
	issuer := "https://ci.example.com/" + sfx
	change(http.StatusCreated, "POST", "/v4/federation/identity_providers", map[string]any{"identity_provider": map[string]any{
		"id": idp, "name": idp, "domain_id": dom, "issuer": issuer, "jwks_url": jwks.URL, "audiences": []string{"ks-" + sfx}, "default_mapping": "deploy"}})
	rules := `[{"match": [{"claim": "repository", "equals": "acme/app"}], "user": {"name": "ci-{repository}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "` + project + `"}}], "scope": {"project": {"id": "` + project + `"}}}]`
	change(http.StatusCreated, "POST", "/v4/federation/identity_providers/"+idp+"/mappings", map[string]any{"mapping": map[string]any{"name": "deploy", "rules": json.RawMessage(rules)}})
	change(http.StatusOK, "PATCH", "/v4/federation/identity_providers/"+idp+"/mappings/deploy", map[string]any{"mapping": map[string]any{"name": "deploy", "rules": json.RawMessage(rules)}})

	jwtLogin := func(valid bool) *response {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		aud := "ks-" + sfx
		if !valid {
			aud = "someone-else"
		}
		raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": issuer, "aud": aud, "sub": "repo:acme/app", "repository": "acme/app",
			"jti": randSuffix(t), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return ng.do(t, "POST", "/v4/federation/identity_providers/"+idp+"/jwt", nil, "Authorization", "Bearer "+raw)
	}
	jwtOK, jwtBad := jwtLogin(true), jwtLogin(false)
	if jwtOK.Status != http.StatusCreated || jwtBad.Status != http.StatusUnauthorized {
		t.Fatalf("JWT logins: %d %s / %d", jwtOK.Status, jwtOK.Body, jwtBad.Status)
	}
	pkLogin := passkeyLogin(t, ng, pk, dadmin, nil)
	if pkLogin.Status != http.StatusCreated {
		t.Fatalf("passkey login: %d %s", pkLogin.Status, pkLogin.Body)
	}
	saLogin := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret)
	saBad := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, saID, secret+"x")
	if saLogin.Status != http.StatusOK || saBad.Status != http.StatusUnauthorized {
		t.Fatalf("client credentials logins: %d %s / %d", saLogin.Status, saLogin.Body, saBad.Status)
	}
	// An OpenID Connect login through the CLI (authorization code flow):
	// its provider and mapping are made outside the changes counted above.
	oidcUser := &storage.User{ID: "alice-" + sfx, Username: "alice", Password: pw, FirstName: "Alice", LastName: "L",
		Email: "alice-" + sfx + "@example.org", EmailVerified: true, PreferredLanguage: language.English}
	loopPort := freePort(t)
	oidcIssuer := startOIDCProvider(t, oidcUser, map[string]*storage.Client{"ks-" + sfx: storage.WebClient("ks-"+sfx, "secret-"+sfx,
		ng.base+"/v4/federation/oidc/callback", fmt.Sprintf("http://127.0.0.1:%d/callback", loopPort))})
	oidcIdP := "oidc-" + sfx
	if r := ng.do(t, "POST", "/v4/federation/identity_providers", map[string]any{"identity_provider": map[string]any{
		"id": oidcIdP, "name": "op-" + sfx, "domain_id": dom, "issuer": oidcIssuer, "client_id": "ks-" + sfx, "client_secret": "secret-" + sfx,
		"redirect_uris": []string{ng.base + "/v4/federation/oidc/callback", "http://127.0.0.1/callback"}, "default_mapping": "login"}},
		"X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
		t.Fatalf("OIDC identity provider: %d %s", r.Status, r.Body)
	}
	if r := ng.do(t, "POST", "/v4/federation/identity_providers/"+oidcIdP+"/mappings", map[string]any{"mapping": map[string]any{"name": "login",
		"rules": json.RawMessage(`[{"match": [{"claim": "sub", "equals": "` + oidcUser.ID + `"}],
		"user": {"name": "{preferred_username}-` + sfx + `", "unique_id": "{sub}"},
		"grants": [{"role": {"name": "member"}, "project": {"id": "` + project + `"}}],
		"scope": {"project": {"id": "` + project + `"}}}]`)}}, "X-Auth-Token", dadminTok); r.Status != http.StatusCreated {
		t.Fatalf("OIDC mapping: %d %s", r.Status, r.Body)
	}
	oidcOut, _ := oidcCLILogin(t, ng, oidcIssuer, oidcIdP, "alice", pw, loopPort)
	oidcTok := regexp.MustCompile(`(?m)^export OS_TOKEN=(\S+)$`).FindStringSubmatch(oidcOut)
	if oidcTok == nil {
		t.Fatalf("no OS_TOKEN in the CLI's output:\n%s", oidcOut)
	}

	// A restricted token made from the service account's token: a login
	// event of its own kind, and the application credential's creation.
	var saBody map[string]any
	_ = json.Unmarshal(saLogin.Body, &saBody)
	rtLogin := oauthToken(t, ng, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {saBody["access_token"].(string)}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, "", "")
	if rtLogin.Status != http.StatusOK {
		t.Fatalf("token exchange: %d %s", rtLogin.Status, rtLogin.Body)
	}
	// The tokens' audit ids, read back through Python's validation.
	auditIDs := map[string]any{}
	if vr := py.do(t, "GET", "/v3/auth/tokens", nil, "X-Auth-Token", adminTok, "X-Subject-Token", oidcTok[1]); vr.Status == http.StatusOK {
		auditIDs["oidc"] = vr.json(t)["token"].(map[string]any)["audit_ids"].([]any)[0]
	} else {
		t.Fatalf("oidc: Python validates the token: %d %s", vr.Status, vr.Body)
	}
	for name, r := range map[string]*response{"jwt": jwtOK, "client credentials": saLogin, "passkey": pkLogin, "token exchange": rtLogin} {
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		issued := r.Header.Get("X-Subject-Token")
		if issued == "" {
			issued, _ = body["access_token"].(string)
		}
		vr := py.do(t, "GET", "/v3/auth/tokens", nil, "X-Auth-Token", adminTok, "X-Subject-Token", issued)
		if vr.Status != http.StatusOK {
			t.Fatalf("%s: Python validates the token: %d %s", name, vr.Status, vr.Body)
		}
		auditIDs[name] = vr.json(t)["token"].(map[string]any)["audit_ids"].([]any)[0]
	}
	change(http.StatusNoContent, "DELETE", "/v4/users/"+dadmin+"/passkeys/"+pkID, nil)
	change(http.StatusNoContent, "DELETE", "/v4/federation/identity_providers/"+idp+"/mappings/deploy", nil)
	change(http.StatusNoContent, "DELETE", "/v4/federation/identity_providers/"+idp, nil)
	change(http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID+"/secrets/"+idOf(sec), nil)
	change(http.StatusNoContent, "DELETE", "/v4/service_accounts/"+saID, nil)

	rid := func(r *response) string { return r.Header.Get("X-Openstack-Request-Id") }
	pyEv := cons.waitFor(t, "Python's password login", 1, byRequest(pyReq))[0]
	logins := map[string]*response{"jwt": jwtOK, "jwt refused": jwtBad, "client credentials": saLogin, "client credentials refused": saBad, "passkey": pkLogin}
	for name, r := range logins {
		ev := cons.waitFor(t, name, 1, byRequest(rid(r)))[0]
		if strings.HasSuffix(name, "refused") {
			if ev.Payload["outcome"] != "failure" {
				t.Errorf("%s: outcome %v", name, ev.Payload["outcome"])
			}
			continue
		}
		compareLogin(t, name, pyEv, ev)
		if tok := ev.initiator()["credential"].(map[string]any)["token"]; tok != auditIDs[name] {
			t.Errorf("%s: credential token %v, the token's audit id %v", name, tok, auditIDs[name])
		}
	}
	// The OIDC login's event: found by its identity provider (the CLI's
	// requests are not the test's).
	oidcEv := cons.waitFor(t, "the OIDC login", 1, func(e busEvent) bool {
		c, _ := e.initiator()["credential"].(map[string]any)
		return e.EventType == "identity.authenticate" && c != nil && c["identity_provider"] == oidcIdP
	})[0]
	compareLogin(t, "oidc", pyEv, oidcEv)
	if c := oidcEv.initiator()["credential"].(map[string]any); c["token"] != auditIDs["oidc"] || c["type"] != "http://docs.oasis-open.org/security/saml/v2.0" {
		t.Errorf("oidc: credential %v, the token's audit id %v", c, auditIDs["oidc"])
	}
	rtReq := rtLogin.Header.Get("X-Openstack-Request-Id")
	rtEvs := cons.waitFor(t, "the token exchange's events", 2, byRequest(rtReq))
	var rtTypes []string
	for _, ev := range rtEvs {
		rtTypes = append(rtTypes, ev.EventType)
		in := ev.initiator()
		switch ev.EventType {
		case "identity.authenticate":
			compareLogin(t, "token exchange", pyEv, ev)
			if c := in["credential"].(map[string]any); c["token"] != auditIDs["token exchange"] || c["type"] != "https://www.rfc-editor.org/rfc/rfc8693" {
				t.Errorf("token exchange: credential %v, the token's audit id %v", c, auditIDs["token exchange"])
			}
		case "identity.application_credential.created":
			if in["user_id"] != saID || ev.Payload["outcome"] != "success" {
				t.Errorf("application credential created: initiator %v", in)
			}
		}
	}
	sort.Strings(rtTypes)
	if strings.Join(rtTypes, ",") != "identity.application_credential.created,identity.authenticate" {
		t.Errorf("token exchange events %v", rtTypes)
	}
	evs := cons.waitFor(t, "the changes", len(changes), byRequest(changes...))
	wantTypes := []string{"identity.service_account.created", "identity.service_account.updated", "identity.service_account_secret.created",
		"identity.passkey.created", "identity.service_account_key.created", "identity.service_account_key.deleted",
		"identity.OS-FEDERATION:identity_provider.created", "identity.OS-FEDERATION:mapping.created", "identity.OS-FEDERATION:mapping.updated",
		"identity.passkey.deleted", "identity.OS-FEDERATION:mapping.deleted", "identity.OS-FEDERATION:identity_provider.deleted",
		"identity.service_account_secret.deleted", "identity.service_account.deleted"}
	// In the order of the requests: the listener's thread pool may hand
	// events over out of order (the burst below checks the bus's order).
	byID := map[string]busEvent{}
	for _, e := range evs {
		byID[e.requestID()] = e
	}
	var gotTypes []string
	for _, id := range changes {
		e := byID[id]
		gotTypes = append(gotTypes, e.EventType)
		in := e.initiator()
		if in["user_id"] != dadmin || in["domain_id"] != dom || in["typeURI"] != "service/security/account/user" || e.Payload["outcome"] != "success" {
			t.Errorf("%s: initiator %v", e.EventType, in)
		}
	}
	if !reflect.DeepEqual(gotTypes, wantTypes) {
		t.Errorf("change events\n got  %q\n want %q", gotTypes, wantTypes)
	}

	cred := saID2(t, ng, py, adminTok, dadminTok, dom, project, roleID("member"))
	// The first keystone-ng stops (and gives up draining the shared
	// outbox) so that the second one's outage is its own.
	ng.stop()
	t.Run("bus away during a burst", func(t *testing.T) { auditBurst(t, env, bus, startConsumer(t, bus, true), cred) })
}

// saID2 makes a service account and secret for the burst.
func saID2(t *testing.T, ng *sidecar, py *ksClient, adminTok, dadminTok, dom, project, member string) [2]string {
	t.Helper()
	sa := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts", dadminTok, map[string]any{"service_account": map[string]any{
		"name": "audit-burst", "domain_id": dom, "default_project_id": project}})["service_account"].(map[string]any)
	py.put(t, adminTok, "/v3/projects/"+project+"/users/"+idOf(sa)+"/roles/"+member)
	sec := ng.must(t, http.StatusCreated, "POST", "/v4/service_accounts/"+idOf(sa)+"/secrets", dadminTok, map[string]any{})["secret"].(map[string]any)
	return [2]string{idOf(sa), sec["secret"].(string)}
}

// auditBurst: a second keystone-ng reaches the broker through a proxy the
// test stops; logins go on at full speed while the bus is away, and once
// the proxy is back every event arrives, in order, once.
func auditBurst(t *testing.T, env *pyEnv, bus string, cons *consumer, cred [2]string) {
	u, err := url.Parse(bus)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	ng := startSidecarWith(t, env, noLoginLimit+"audit_bus_down_alert = 1s\n",
		"[oslo_messaging_notifications]\ntransport_url = "+u.String()+"\n")
	first := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, cred[0], cred[1])
	cons.waitFor(t, "the login before the outage", 1, byRequest(first.Header.Get("X-Openstack-Request-Id")))

	proxy.stop()
	var ids []string
	var slowest time.Duration
	for i := range 30 {
		start := time.Now()
		pass := cred[1]
		if i%5 == 4 {
			pass += "x" // refusals are audited too
		}
		r := oauthToken(t, ng, url.Values{"grant_type": {"client_credentials"}}, cred[0], pass)
		slowest = max(slowest, time.Since(start))
		if r.Status != http.StatusOK && r.Status != http.StatusUnauthorized {
			t.Fatalf("login %d while the bus is away: %d %s", i, r.Status, r.Body)
		}
		ids = append(ids, r.Header.Get("X-Openstack-Request-Id"))
	}
	t.Logf("30 logins while the bus was away; the slowest took %s", slowest)
	if slowest > 2*time.Second {
		t.Errorf("a login waited %s while the bus was away", slowest)
	}
	// The outage shows in /readyz (still 200: logins go on) and metrics.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := ng.do(t, "GET", "/readyz", nil)
		if r.Status == http.StatusOK && strings.Contains(string(r.Body), "message bus unreachable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz does not report the bus: %d %s", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m := string(ng.do(t, "GET", "/metrics", nil).Body); !strings.Contains(m, `keystone_ng_audit_events_total{state="queued"}`) ||
		!strings.Contains(m, "keystone_ng_audit_outbox_events 30") {
		t.Errorf("metrics lack the backlog:\n%s", grepLines(m, "audit"))
	}
	time.Sleep(500 * time.Millisecond)
	got := func() []busEvent {
		cons.mu.Lock()
		defer cons.mu.Unlock()
		return append([]busEvent(nil), cons.events...)
	}
	for _, e := range got() {
		for _, id := range ids {
			if e.requestID() == id {
				t.Fatalf("an event arrived while the bus was away: %v", e)
			}
		}
	}

	proxy.start(t)
	evs := cons.waitFor(t, "the events of the outage", len(ids), byRequest(ids...))
	time.Sleep(2 * time.Second) // duplicates would come now
	evs = cons.waitFor(t, "the events of the outage", len(ids), byRequest(ids...))
	var order []string
	seen := map[string]bool{}
	for _, e := range evs {
		mid := fmt.Sprint(e.Metadata["message_id"], e.Metadata["_unique_id"])
		if seen[mid] {
			t.Errorf("message %s arrived twice", mid)
		}
		seen[mid] = true
		order = append(order, e.requestID())
	}
	if !reflect.DeepEqual(order, ids) {
		t.Errorf("events arrived out of order:\n got  %q\n want %q", order, ids)
	}
	failures := 0
	for _, e := range evs {
		if e.Payload["outcome"] == "failure" {
			failures++
		}
	}
	if failures != 6 {
		t.Errorf("%d refusals audited, want 6", failures)
	}
	deadline = time.Now().Add(10 * time.Second)
	for strings.Contains(string(ng.do(t, "GET", "/readyz", nil).Body), "unreachable") {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still reports the bus once it is back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
