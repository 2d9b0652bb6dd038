package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/policy"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/keystone-ng/keystone-ng/pkg/token/tokentest"
)

const (
	key       = "xKSbOjKeoFqcuDzVmnNOqCNmA9DbYXUIfaSYp3CgxwQ="
	adminID   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	aliceID   = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	projectID = "cccccccccccccccccccccccccccccccc"
)

var region = "RegionOne"

type fixture struct {
	srv     *httptest.Server
	metrics *httpapi.Metrics
	admin   string
	alice   string
	other   string // another token of alice's
}

func setup(t testing.TB) *fixture {
	t.Helper()
	ks, err := fernet.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	st := &tokentest.MemStore{
		Users: map[string]*keystone.User{
			adminID: {ID: adminID, Name: "admin", DomainID: "default", Enabled: true},
			aliceID: {ID: aliceID, Name: "alice", DomainID: "default", Enabled: true},
		},
		Projects: map[string]*keystone.Project{
			"default": {ID: "default", Name: "Default", Enabled: true, IsDomain: true},
			projectID: {ID: projectID, Name: "p", DomainID: "default", ParentID: "default", Enabled: true},
		},
		Grants: []keystone.Assignment{
			{Type: "UserProject", ActorID: adminID, TargetID: projectID, RoleID: "ra", RoleName: "admin"},
			{Type: "UserProject", ActorID: aliceID, TargetID: projectID, RoleID: "rm", RoleName: "member"},
		},
		// The catalog keystone-manage bootstrap creates: one identity
		// service, three endpoints.
		Catalog: []keystone.Service{{ID: "s-identity", Type: "identity", Extra: pyjson.Object{{Key: "name", Value: "keystone"}}, Endpoints: []keystone.Endpoint{
			{ID: "e-public", Interface: "public", RegionID: &region, URL: "http://127.0.0.1:5000/v3/", Enabled: true, Extra: pyjson.Object{}},
			{ID: "e-internal", Interface: "internal", RegionID: &region, URL: "http://127.0.0.1:5000/v3/", Enabled: true, Extra: pyjson.Object{}},
			{ID: "e-admin", Interface: "admin", RegionID: &region, URL: "http://127.0.0.1:5000/v3/", Enabled: true, Extra: pyjson.Object{}},
		}}},
	}
	pol, err := policy.New(policy.Options{PolicyFile: "/nonexistent/policy.yaml", PolicyDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Now().UTC()
	codec := &payload.Codec{}
	v := &token.Validator{Keys: ks, Codec: codec, Store: st, Now: time.Now, Log: log,
		Settings: token.Settings{ReturnAllEndpointsIfNoFilter: true}}
	m := httpapi.NewMetrics(nil)
	s := &httpapi.Server{Validator: v, Policy: pol, Log: log, Metrics: m,
		AllowExpiredWindow: 48 * time.Hour, RequestTimeout: 5 * time.Second, MaxBodyBytes: 1 << 20}
	srv := httptest.NewServer(s.Echo())
	t.Cleanup(srv.Close)
	mint := func(user, audit string) string {
		b, err := codec.Encode(&payload.Payload{Version: 2, UserID: user, Methods: []string{"password"}, ProjectID: projectID,
			ExpiresAt: now.Add(time.Hour), AuditIDs: []string{audit}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ks.Encrypt(b, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return &fixture{srv: srv, metrics: m, admin: mint(adminID, "AAAAAAAAAAAAAAAAAAAAAA"), alice: mint(aliceID, "BBBBBBBBBBBBBBBBBBBBBB"), other: mint(aliceID, "CCCCCCCCCCCCCCCCCCCCCC")}
}

func (f *fixture) do(t *testing.T, method, auth, subject, query string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+"/v3/auth/tokens"+query, nil)
	if auth != "" {
		req.Header.Set("X-Auth-Token", auth)
	}
	if subject != "-" {
		req.Header.Set("X-Subject-Token", subject)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestValidateTokenHTTP(t *testing.T) {
	f := setup(t)
	unauth := `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}` + "\n"
	tests := []struct {
		name, method, auth, subject, query string
		code                               int
		body                               string // exact body, or "" to only check the status
		bodyHas                            string
	}{
		{name: "self validation", method: "GET", auth: f.alice, subject: f.alice, code: 200, bodyHas: `"name": "alice"`},
		{name: "nocatalog", method: "GET", auth: f.alice, subject: f.alice, query: "?nocatalog", code: 200},
		{name: "admin validates another user's token", method: "GET", auth: f.admin, subject: f.alice, code: 200},
		{name: "user validates own other token", method: "GET", auth: f.alice, subject: f.other, code: 200},
		{name: "user may not validate admin's token", method: "GET", auth: f.alice, subject: f.admin, code: 403,
			body: `{"error":{"code":403,"message":"You are not authorized to perform the requested action: identity:validate_token.","title":"Forbidden"}}` + "\n"},
		{name: "HEAD uses check_token", method: "HEAD", auth: f.alice, subject: f.admin, code: 403},
		{name: "missing X-Auth-Token", method: "GET", auth: "", subject: f.alice, code: 401, body: unauth},
		{name: "garbage X-Auth-Token", method: "GET", auth: "garbage", subject: f.alice, code: 401, body: unauth},
		{name: "garbage subject", method: "GET", auth: f.admin, subject: "garbage", code: 404,
			body: `{"error":{"code":404,"message":"Could not recognize Fernet token","title":"Not Found"}}` + "\n"},
		{name: "truncated subject", method: "GET", auth: f.admin, subject: f.alice[:len(f.alice)-10], code: 404},
		{name: "oversized subject", method: "GET", auth: f.admin, subject: strings.Repeat("gAAAAA", 3000), code: 404},
		{name: "missing subject as admin", method: "GET", auth: f.admin, subject: "-", code: 404,
			body: `{"error":{"code":404,"message":"No token in the request","title":"Not Found"}}` + "\n"},
		{name: "missing subject as user is a policy denial", method: "GET", auth: f.alice, subject: "-", code: 403},
		{name: "POST is not served here", method: "POST", auth: f.admin, subject: f.alice, code: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, tc.method, tc.auth, tc.subject, tc.query)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.code, body)
			}
			if tc.body != "" && body != tc.body {
				t.Fatalf("body %q\nwant %q", body, tc.body)
			}
			if tc.bodyHas != "" && !strings.Contains(body, tc.bodyHas) {
				t.Fatalf("body %s lacks %s", body, tc.bodyHas)
			}
			if resp.Header.Get("OpenStack-Identity-Service") != "keystone-ng" || !requestIDForm.MatchString(resp.Header.Get("X-Openstack-Request-Id")) {
				t.Fatalf("missing service header or request id not in oslo's req-<uuid4> form: %v", resp.Header)
			}
			if tc.code == 401 && resp.Header.Get("WWW-Authenticate") != `Keystone uri="`+f.srv.URL+`/v3"` {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.code == 200 && resp.Header.Get("X-Subject-Token") != tc.subject {
				t.Fatal("X-Subject-Token not echoed")
			}
			if tc.code != 405 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestHeadMatchesGet(t *testing.T) {
	f := setup(t)
	get, body := f.do(t, "GET", f.alice, f.alice, "")
	head, hb := f.do(t, "HEAD", f.alice, f.alice, "")
	if get.StatusCode != 200 || head.StatusCode != 200 {
		t.Fatalf("GET %d HEAD %d", get.StatusCode, head.StatusCode)
	}
	if hb != "" {
		t.Fatalf("HEAD returned a body: %q", hb)
	}
	if head.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD Content-Length %q, GET body %d bytes", head.Header.Get("Content-Length"), len(body))
	}
}

// requestIDForm is oslo's request id: "req-" and a version 4 UUID.
var requestIDForm = regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestHealthAndMetrics(t *testing.T) {
	f := setup(t)
	f.metrics.CountDBQueries(func() uint64 { return 42 })
	f.do(t, "GET", f.alice, f.alice, "")
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if p == "/metrics" && !strings.Contains(string(b), `keystone_ng_token_validations_total{outcome="valid"} 1`) {
			t.Fatalf("metrics lack the validation outcome:\n%s", b)
		}
		if p == "/metrics" && !strings.Contains(string(b), "\nkeystone_ng_db_queries_total 42\n") {
			t.Fatalf("metrics lack the database query count:\n%s", b)
		}
	}
}

func TestLegacyErrorBody(t *testing.T) {
	cases := []struct {
		code      int
		msg, want string
	}{
		{404, "Failed to validate token", `{"error": {"code": 404, "title": "Not Found", "message": "Failed to validate token"}}`},
		{401, "The request you have made requires authentication.", `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`},
		// json.dumps escapes non-ASCII and quotes.
		{404, "Could not find project: \"é\".", `{"error": {"code": 404, "title": "Not Found", "message": "Could not find project: \"\u00e9\"."}}`},
	}
	for _, c := range cases {
		if got := string(httpapi.LegacyErrorBody(apierror.New(c.code, c.msg))); got != c.want {
			t.Errorf("LegacyErrorBody(%d, %q) =\n %s\nwant\n %s", c.code, c.msg, got, c.want)
		}
	}
}
