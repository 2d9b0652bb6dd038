package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	apidoc "github.com/keystone-ng/keystone-ng/docs/api"
	"github.com/keystone-ng/keystone-ng/docs/api/apidoctest"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/oidcflow"
)

// openAPIFile names the OpenAPI document of the /v4 API (and of the
// validation, health and metrics routes served beside it) in messages; the
// tests read the copy embedded in the binary (package apidoc).
const openAPIFile = "docs/api/openapi.yaml"

// openAPIWildcard is the parameter name the document gives echo's "*"
// (the login page's static assets).
const openAPIWildcard = "file"

// errorSchemaRef is the shared Keystone error body.
const errorSchemaRef = "#/components/schemas/Error"

// openAPINoKeystoneError are the operations that answer no client error in
// Keystone's JSON: a HEAD has no body, the page and the public list refuse
// nothing, net/http's file server answers a plain-text 404, and health,
// metrics and the document itself take no input.
var openAPINoKeystoneError = map[string]bool{
	"GET /v4/openapi.json":             true,
	"HEAD /v3/auth/tokens":             true,
	"GET /v4/login":                    true,
	"GET /v4/login/static/{file}":      true,
	"GET /v4/login/identity_providers": true,
	"GET /healthz":                     true,
	"GET /readyz":                      true,
	"GET /metrics":                     true,
}

// openAPIOAuth2 are the operations that answer RFC 6749 §5.2's error JSON
// (components/schemas/OAuth2Error) rather than Keystone's, except for the
// answers given before the handler runs (413, 429), and take a form body.
var openAPIOAuth2 = map[string]bool{
	"POST /v4/oauth2/token": true,
}

const oauth2ErrorSchemaRef = "#/components/schemas/OAuth2Error"

// Fakes that make every feature's routes register; no handler runs.
type openAPIPasskeys struct{ PasskeyService }

type openAPIFederation struct{ FederationService }

func (openAPIFederation) OIDCProvider(context.Context, string) (oidcflow.Provider, error) {
	return oidcflow.Provider{}, apierror.NotFound("no such identity provider")
}

type openAPIStates struct{ oidcflow.StateStore }

type openAPIServiceAccounts struct{ ServiceAccountService }

// openAPIRouter is the router with every feature on.
func openAPIRouter(t *testing.T) *Server {
	t.Helper()
	flow, err := oidcflow.New(oidcflow.Config{Store: openAPIStates{}})
	if err != nil {
		t.Fatal(err)
	}
	return &Server{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: NewMetrics(nil),
		V4:      &V4{Passkeys: openAPIPasskeys{}, Federation: openAPIFederation{}, ServiceAccounts: openAPIServiceAccounts{}, OIDC: flow},
	}
}

// openAPIPath turns echo's "/a/:b/*" into OpenAPI's "/a/{b}/{file}".
func openAPIPath(echoPath string) string {
	segs := strings.Split(echoPath, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{" + openAPIWildcard + "}"
		}
	}
	return strings.Join(segs, "/")
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type openAPIDoc struct {
	root map[string]any
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	raw, err := apidoc.JSON()
	if err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("%s: openapi %q, want 3.1.x", openAPIFile, v)
	}
	return &openAPIDoc{root: root}
}

// resolve follows a local "$ref" ("#/a/b"); ok false when it does not
// resolve.
func (d *openAPIDoc) resolve(ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var cur any = d.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// deref returns v, or what its "$ref" names.
func (d *openAPIDoc) deref(v any) map[string]any {
	m, _ := v.(map[string]any)
	for i := 0; i < 8 && m != nil; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		r, _ := d.resolve(ref)
		m, _ = r.(map[string]any)
	}
	return m
}

type openAPIOp struct {
	key      string // "GET /v4/..."
	path     string
	pathItem map[string]any
	op       map[string]any
}

func (d *openAPIDoc) operations(t *testing.T) []openAPIOp {
	t.Helper()
	paths, ok := d.root["paths"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no paths", openAPIFile)
	}
	var out []openAPIOp
	for p, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("path %s: not an object", p)
			continue
		}
		for _, m := range openAPIMethods {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, openAPIOp{key: strings.ToUpper(m) + " " + p, path: p, pathItem: item, op: op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// responseIsKeystoneError reports whether a response's JSON body is the
// shared error schema.
func (d *openAPIDoc) responseIsKeystoneError(v any) bool {
	return d.responseHasSchema(v, errorSchemaRef)
}

// responseHasSchema reports whether a response's JSON body is the schema
// ref.
func (d *openAPIDoc) responseHasSchema(v any, ref string) bool {
	r := d.deref(v)
	content, _ := r["content"].(map[string]any)
	mt, _ := content["application/json"].(map[string]any)
	schema, _ := mt["schema"].(map[string]any)
	got, _ := schema["$ref"].(string)
	return got == ref
}

// jsonMedia is a response's or request body's application/json media type.
func (d *openAPIDoc) jsonMedia(v any) map[string]any {
	content, _ := d.deref(v)["content"].(map[string]any)
	mt, _ := content["application/json"].(map[string]any)
	return mt
}

// examples lists a media type's example values (example, examples.*.value).
func (d *openAPIDoc) examples(mt map[string]any) []any {
	var out []any
	if ex, ok := mt["example"]; ok {
		out = append(out, ex)
	}
	exs, _ := mt["examples"].(map[string]any)
	for _, e := range exs {
		if v, ok := d.deref(e)["value"]; ok {
			out = append(out, v)
		}
	}
	return out
}

// checkResponseExamples: every JSON success answer has an example, and
// every example of a Keystone error answer carries that answer's status
// and its reason phrase (as apierror.New titles it).
func (d *openAPIDoc) checkResponseExamples(t *testing.T, key string, responses map[string]any) {
	t.Helper()
	for code, r := range responses {
		mt := d.jsonMedia(r)
		if mt == nil {
			continue
		}
		exs := d.examples(mt)
		if len(exs) == 0 && (strings.HasPrefix(code, "2") || d.responseIsKeystoneError(r)) {
			t.Errorf("%s: response %s has no example", key, code)
		}
		if !d.responseIsKeystoneError(r) {
			continue
		}
		status, err := strconv.Atoi(code)
		if err != nil {
			t.Errorf("%s: response %q is not a status code", key, code)
			continue
		}
		for _, ex := range exs {
			body, _ := ex.(map[string]any)
			e, _ := body["error"].(map[string]any)
			if c, _ := e["code"].(float64); int(c) != status || e["title"] != http.StatusText(status) {
				t.Errorf("%s: the example of %s has code %v and title %v", key, code, e["code"], e["title"])
			}
		}
	}
}

// TestOpenAPIMatchesRouter: every registered route is in
// docs/api/openapi.yaml, and the document names no route the router lacks
// (path parameters are ":id" in echo and "{id}" in OpenAPI).
func TestOpenAPIMatchesRouter(t *testing.T) {
	e := openAPIRouter(t).Echo()
	routes := map[string]string{} // "GET /v4/..{x}" -> echo path
	for _, r := range e.Routes() {
		routes[r.Method+" "+openAPIPath(r.Path)] = r.Path
	}
	if len(routes) == 0 {
		t.Fatal("no routes registered")
	}
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, op := range doc.operations(t) {
		documented[op.key] = true
	}
	var missing, extra []string
	for k := range routes {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if _, ok := routes[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is registered but not in %s", k, openAPIFile)
	}
	for _, k := range extra {
		t.Errorf("%s documents %s, which is not registered", openAPIFile, k)
	}
	v4 := 0
	for k := range routes {
		if strings.Contains(k, " /v4/") {
			v4++
		}
	}
	t.Logf("%d routes (%d under /v4), %d documented operations", len(routes), v4, len(documented))
}

// TestOpenAPIOperations checks each operation: a summary, responses, a
// 4xx answered with Keystone's error schema, 429 with Retry-After exactly
// on the rate-limited login routes (which need no token), an example for
// every request body, every path parameter declared, and every $ref
// resolving.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, o := range doc.operations(t) {
		if s, _ := o.op["summary"].(string); s == "" {
			t.Errorf("%s: no summary", o.key)
		}
		responses, _ := o.op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s: no responses", o.key)
			continue
		}

		// A client error in Keystone's JSON.
		keystoneErr := false
		for code, r := range responses {
			if strings.HasPrefix(code, "4") && doc.responseIsKeystoneError(r) {
				keystoneErr = true
			}
		}
		if !keystoneErr && !openAPINoKeystoneError[o.key] {
			t.Errorf("%s: no 4xx response with the schema %s", o.key, errorSchemaRef)
		}
		if keystoneErr && openAPINoKeystoneError[o.key] {
			t.Errorf("%s: has a Keystone error now: remove it from openAPINoKeystoneError", o.key)
		}
		for code, r := range responses {
			if len(code) != 3 || code[0] != '4' && code[0] != '5' || openAPINoKeystoneError[o.key] {
				continue
			}
			switch {
			case openAPIOAuth2[o.key] && code != "413" && code != "429":
				if !doc.responseHasSchema(r, oauth2ErrorSchemaRef) {
					t.Errorf("%s: %s is not RFC 6749's error schema", o.key, code)
				}
			case !doc.responseIsKeystoneError(r):
				t.Errorf("%s: %s is not Keystone's error schema", o.key, code)
			}
		}

		doc.checkResponseExamples(t, o.key, responses)

		// 429 with Retry-After on exactly the rate-limited routes.
		method, path, _ := strings.Cut(o.key, " ")
		echoPath := strings.ReplaceAll(path, "{"+openAPIWildcard+"}", "*")
		for {
			i := strings.Index(echoPath, "{")
			if i < 0 {
				break
			}
			j := strings.Index(echoPath[i:], "}")
			if j < 0 {
				break
			}
			echoPath = echoPath[:i] + ":" + echoPath[i+1:i+j] + echoPath[i+j+1:]
		}
		limited := rateLimited(method, echoPath)
		r429, has429 := responses["429"]
		switch {
		case limited && !has429:
			t.Errorf("%s: rate limited but no 429 response", o.key)
		case !limited && has429:
			t.Errorf("%s: documents 429 but is not rate limited", o.key)
		case has429:
			h, _ := doc.deref(r429)["headers"].(map[string]any)
			if _, ok := h["Retry-After"]; !ok {
				t.Errorf("%s: 429 without the Retry-After header", o.key)
			}
			if !doc.responseIsKeystoneError(r429) {
				t.Errorf("%s: 429 is not Keystone's error schema", o.key)
			}
		}
		if limited {
			// No X-Auth-Token: "security: []", or the JWT login's bearer.
			sec, ok := o.op["security"].([]any)
			if !ok {
				t.Errorf("%s: a login route must declare its own security (none: [])", o.key)
			}
			for _, req := range sec {
				if m, _ := req.(map[string]any); m != nil && m["AuthToken"] != nil {
					t.Errorf("%s: a login route needs no X-Auth-Token", o.key)
				}
			}
		}

		// Request bodies have a JSON schema and an example.
		if rb := doc.deref(o.op["requestBody"]); rb != nil {
			content, _ := rb["content"].(map[string]any)
			mt, _ := content["application/json"].(map[string]any)
			if openAPIOAuth2[o.key] {
				mt, _ = content["application/x-www-form-urlencoded"].(map[string]any)
			}
			if mt == nil || mt["schema"] == nil {
				t.Errorf("%s: request body without an application/json schema", o.key)
			} else if mt["example"] == nil && mt["examples"] == nil {
				t.Errorf("%s: request body without an example", o.key)
			}
		}

		// Every {param} of the path is declared.
		declared := map[string]bool{}
		for _, src := range []any{o.pathItem["parameters"], o.op["parameters"]} {
			list, _ := src.([]any)
			for _, p := range list {
				pm := doc.deref(p)
				if pm["in"] == "path" {
					name, _ := pm["name"].(string)
					declared[name] = true
					if pm["required"] != true {
						t.Errorf("%s: path parameter %s must be required", o.key, name)
					}
				}
			}
		}
		for _, seg := range strings.Split(o.path, "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && !declared[seg[1:len(seg)-1]] {
				t.Errorf("%s: path parameter %s is not declared", o.key, seg)
			}
		}
	}

	// Every $ref resolves.
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, ok := doc.resolve(ref); !ok {
					t.Errorf("%s: $ref %s does not resolve", where, ref)
				}
			}
			for k, c := range x {
				walk(where+"/"+k, c)
			}
		case []any:
			for _, c := range x {
				walk(where, c)
			}
		}
	}
	walk("#", doc.root)

	if _, ok := doc.resolve(errorSchemaRef); !ok {
		t.Fatalf("no %s", errorSchemaRef)
	}
}

// TestOpenAPIServed: GET /v4/openapi.json answers the embedded document as
// JSON without a token, cacheable, and 304 to a matching If-None-Match.
func TestOpenAPIServed(t *testing.T) {
	want, err := apidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	h := openAPIRouter(t).Echo()
	get := func(header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v4/openapi.json", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := get(nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	if rec.Body.String() != string(want) {
		t.Error("the body is not the embedded document")
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") || doc.Paths["/v4/openapi.json"] == nil || len(doc.Paths) < 20 {
		t.Errorf("openapi %q with %d paths", doc.OpenAPI, len(doc.Paths))
	}

	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	rec = get(http.Header{"If-None-Match": {`"other", ` + etag}})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
		t.Errorf("If-None-Match with the ETag: status %d, %d bytes, ETag %q", rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
	}
	if rec = get(http.Header{"If-None-Match": {`"other"`}}); rec.Code != http.StatusOK {
		t.Errorf("If-None-Match with another tag: status %d", rec.Code)
	}
}

func TestETagMatches(t *testing.T) {
	const etag = `"abc"`
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{``, false},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`*`, true},
		{`"x", "abc"`, true},
		{` "x" ,W/"abc" `, true},
		{`"abcd"`, false},
		{`abc`, false},
		{`"x", "y"`, false},
	} {
		if got := etagMatches(tc.header, etag); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// openAPIProbe is one request the router answers without any service:
// no token, or a body refused before a handler needs one.
type openAPIProbe struct {
	name        string
	contentType string
	body        string
}

var openAPIProbes = []openAPIProbe{
	{name: "bare"},
	{name: "not JSON", contentType: "text/plain", body: "x"},
	{name: "malformed JSON", contentType: "application/json", body: "{"},
	{name: "unknown field", contentType: "application/json", body: `{"no_such_field": 1}`},
}

// TestOpenAPIStatusesDocumented sends every documented operation requests
// that need no database (no token; a body that is not JSON, malformed, or
// with an unknown field) and checks that each answer's status is one the
// document lists for that operation, and that each JSON answer validates
// against the schema documented for that status (Keystone's error body for
// errors). Services the fakes lack panic into a 500, which every operation
// documents; what matters are the 4xx answered first.
func TestOpenAPIStatusesDocumented(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := newOpenAPISchemas(t)
	h := openAPIRouter(t).Echo()
	seen := map[int]int{}
	probes, validated := 0, 0
	for _, o := range doc.operations(t) {
		method, _, _ := strings.Cut(o.key, " ")
		path := strings.NewReplacer("{"+openAPIWildcard+"}", "login.js", "{", "x-", "}", "").Replace(o.path)
		responses, _ := o.op["responses"].(map[string]any)
		for i, p := range openAPIProbes {
			if i > 0 && o.op["requestBody"] == nil {
				break
			}
			req := httptest.NewRequest(method, path, strings.NewReader(p.body))
			if p.contentType != "" {
				req.Header.Set("Content-Type", p.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			probes++
			seen[rec.Code]++
			if _, ok := responses[strconv.Itoa(rec.Code)]; !ok {
				t.Errorf("%s (%s): answered %d, which the document does not list: %s", o.key, p.name, rec.Code, rec.Body)
				continue
			}
			if method != http.MethodHead && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				schemas.check(t, fmt.Sprintf("%s (%s)", o.key, p.name), o, rec)
				validated++
			}
		}
	}
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusUnsupportedMediaType, http.StatusOK} {
		if seen[code] == 0 {
			t.Errorf("no probe was answered %d: the probes no longer reach the handlers' checks", code)
		}
	}
	if validated == 0 {
		t.Error("no JSON answer was validated against its schema")
	}
	t.Logf("%d probes, statuses %v, %d JSON bodies validated against the document", probes, seen, validated)
}

// openAPISchemas validates answers against the document's response
// schemas.
type openAPISchemas struct {
	*apidoctest.Schemas
}

func newOpenAPISchemas(t *testing.T) *openAPISchemas {
	t.Helper()
	raw, err := apidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	s, err := apidoctest.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPISchemas{s}
}

// check validates a recorded JSON answer of operation o against the schema
// the document gives its status (following a $ref to a shared response).
func (s *openAPISchemas) check(t *testing.T, what string, o openAPIOp, rec *httptest.ResponseRecorder) {
	t.Helper()
	method, _, _ := strings.Cut(o.key, " ")
	code := strconv.Itoa(rec.Code)
	at := apidoctest.Pointer("", "paths", o.path, strings.ToLower(method), "responses", code)
	responses, _ := o.op["responses"].(map[string]any)
	if r, _ := responses[code].(map[string]any); r != nil {
		if ref, ok := r["$ref"].(string); ok {
			at = strings.TrimPrefix(ref, "#")
		}
	}
	body, err := apidoctest.Decode(rec.Body.Bytes())
	if err != nil {
		t.Errorf("%s: %d with a body that is not JSON: %s", what, rec.Code, rec.Body)
		return
	}
	if err := s.Validate(apidoctest.Pointer(at, "content", "application/json", "schema"), body); err != nil {
		t.Errorf("%s: the %d answer does not match the document: %v\n%s", what, rec.Code, err, rec.Body)
	}
}
