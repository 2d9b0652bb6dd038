package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkCase is one validation request (GET and/or HEAD /v3/auth/tokens+query).
type checkCase struct {
	label     string
	authToken string // X-Auth-Token ("" = none)
	subject   string // X-Subject-Token ("" = none)
	query     string // "" or "?nocatalog" etc.
	methods   []string
	headers   []string // extra request headers: name, value, ...
	wantPy    int      // status Python is expected to give (0 = no expectation)
}

// checker judges validation requests. Two kinds exist: pyOnly (Python alone;
// verifies the dataset and the steps while keystone-ng is unfinished) and pair
// (Python and keystone-ng must agree).
type checker interface {
	check(t *testing.T, c checkCase)
	python() *ksClient
}

// parallelism: Python without a cache needs 0.2-0.8 s per validation; its
// uWSGI runs 2 processes, so 2 requests in flight halve the suite's time.
func parallelism() int {
	if n, err := strconv.Atoi(os.Getenv("KSNG_INTEROP_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 2
}

// runChecks runs the cases on a small worker pool. Checks report with
// t.Errorf only (safe from goroutines), never t.Fatal.
func runChecks(t *testing.T, chk checker, cases []checkCase) {
	t.Helper()
	jobs := make(chan checkCase)
	var wg sync.WaitGroup
	for i := 0; i < parallelism(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				chk.check(t, c)
			}
		}()
	}
	for _, c := range cases {
		if len(c.methods) == 0 {
			c.methods = []string{"GET", "HEAD"}
		}
		jobs <- c
	}
	close(jobs)
	wg.Wait()
}

type pyOnly struct{ py *ksClient }

func (c pyOnly) python() *ksClient { return c.py }

func (c pyOnly) check(t *testing.T, cc checkCase) {
	for _, method := range cc.methods {
		r, err := validateE(c.py, method, cc.authToken, cc.subject, cc.query, cc.headers...)
		if err != nil {
			t.Errorf("%s: %v", cc.label, err)
			continue
		}
		verbose(t, "%s %s%s: python %d", method, cc.label, cc.query, r.Status)
		dump(cc, method, r)
		if cc.wantPy != 0 && r.Status != cc.wantPy {
			t.Errorf("%s: python %s /v3/auth/tokens%s: status %d, want %d\n%s", cc.label, method, cc.query, r.Status, cc.wantPy, r.Body)
		}
	}
}

type pair struct {
	py *ksClient
	ng *sidecar
}

func (c pair) python() *ksClient { return c.py }

func (c pair) check(t *testing.T, cc checkCase) {
	status := compareMethods(t, c.py, c.ng.ksClient, cc)
	if cc.wantPy != 0 && status != 0 && status != cc.wantPy {
		t.Errorf("%s%s: python answered %d, the scenario expected %d (a dataset/step problem, not a keystone-ng one)", cc.label, cc.query, status, cc.wantPy)
	}
}

// compare is the brief's compare(t, authToken, subjectToken, query): GET and
// HEAD /v3/auth/tokens<query> to Python and keystone-ng must give the same
// status, the same relevant headers and (GET) the same canonical JSON.
func (c pair) compare(t *testing.T, authToken, subject, query string) int {
	t.Helper()
	return compareMethods(t, c.py, c.ng.ksClient, checkCase{label: "token", authToken: authToken, subject: subject, query: query,
		methods: []string{"GET", "HEAD"}})
}

// validateE sends one GET/HEAD /v3/auth/tokens. An empty subject or auth token
// omits the header.
func validateE(c *ksClient, method, authToken, subject, query string, extra ...string) (*response, error) {
	hdr := append([]string(nil), extra...)
	if authToken != "" {
		hdr = append(hdr, "X-Auth-Token", authToken)
	}
	if subject != "" {
		hdr = append(hdr, "X-Subject-Token", subject)
	}
	return c.fetch(method, "/v3/auth/tokens"+query, nil, hdr...)
}

func validate(t testing.TB, c *ksClient, method, authToken, subject, query string) *response {
	t.Helper()
	r, err := validateE(c, method, authToken, subject, query)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compareMethods does the comparison for each method of cc (Python and
// keystone-ng are asked concurrently) and returns Python's status for the
// first method (0 if it could not be reached).
func compareMethods(t *testing.T, py, ng *ksClient, cc checkCase) int {
	pyStatus := 0
	for i, method := range cc.methods {
		var pr, nr *response
		var perr, nerr error
		done := make(chan struct{})
		go func() {
			nr, nerr = validateE(ng, method, cc.authToken, cc.subject, cc.query, cc.headers...)
			close(done)
		}()
		pr, perr = validateE(py, method, cc.authToken, cc.subject, cc.query, cc.headers...)
		<-done
		what := fmt.Sprintf("%s: %s /v3/auth/tokens%s", cc.label, method, cc.query)
		if perr != nil || nerr != nil {
			t.Errorf("%s: transport error: python: %v; keystone-ng: %v", what, perr, nerr)
			continue
		}
		if i == 0 {
			pyStatus = pr.Status
		}
		verbose(t, "%s: python %d, keystone-ng %d", what, pr.Status, nr.Status)
		dump(cc, method, pr)
		if pr.Status != nr.Status {
			t.Errorf("%s: status python %d, keystone-ng %d\npython body: %s\nkeystone-ng body: %s", what, pr.Status, nr.Status, pr.Body, nr.Body)
			continue
		}
		compareHeaders(t, what, py, ng, pr, nr)
		if method == "HEAD" {
			if len(nr.Body) != 0 {
				t.Errorf("%s: keystone-ng sent a body with HEAD (%d bytes)", what, len(nr.Body))
			}
			continue
		}
		pj, perr := canonicalJSON(pr.Body)
		nj, nerr := canonicalJSON(nr.Body)
		if perr != nil {
			t.Errorf("%s: python body is not JSON: %v\n%s", what, perr, pr.Body)
			continue
		}
		if nerr != nil {
			t.Errorf("%s: keystone-ng body is not JSON: %v\n%s", what, nerr, nr.Body)
			continue
		}
		if !reflect.DeepEqual(pj, nj) {
			t.Errorf("%s: JSON differs (status %d)\n%s", what, pr.Status, jsonDiff(pj, nj))
		}
	}
	return pyStatus
}

// compareHeaders checks the headers a client can rely on. Hop-by-hop and
// server-specific headers (Date, Server, Connection, Content-Length,
// X-Openstack-Request-Id, keystone-ng's request id) are deliberately not
// compared: they differ between any two servers or requests.
func compareHeaders(t *testing.T, what string, py, ng *ksClient, pr, nr *response) {
	t.Helper()
	for _, h := range []string{"X-Subject-Token", "Vary"} {
		if pv, nv := pr.Header.Get(h), nr.Header.Get(h); pv != nv {
			t.Errorf("%s: header %s: python %q, keystone-ng %q", what, h, pv, nv)
		}
	}
	// Content-Type only where there is a body to describe.
	if pr.Status != http.StatusNoContent {
		pv, nv := mediaType(pr.Header.Get("Content-Type")), mediaType(nr.Header.Get("Content-Type"))
		if pv != nv {
			t.Errorf("%s: Content-Type: python %q, keystone-ng %q", what, pv, nv)
		}
	}
	// Framing: Python (uWSGI) sends Content-Length; so must keystone-ng,
	// matching its body (on GET; HEAD carries GET's length and no body),
	// not chunked transfer encoding.
	if pr.Header.Get("Content-Length") != "" && pr.Status == http.StatusOK {
		cl := nr.Header.Get("Content-Length")
		if cl == "" {
			t.Errorf("%s: python sends Content-Length %s, keystone-ng none", what, pr.Header.Get("Content-Length"))
		} else if n, err := strconv.Atoi(cl); err != nil || (len(nr.Body) > 0 && n != len(nr.Body)) {
			t.Errorf("%s: keystone-ng Content-Length %q for a body of %d bytes", what, cl, len(nr.Body))
		}
	}
	// WWW-Authenticate names the server's own base URL, which necessarily
	// differs (another port); compare it with each server's base replaced.
	pv := strings.ReplaceAll(pr.Header.Get("WWW-Authenticate"), py.base, "<base>")
	nv := strings.ReplaceAll(nr.Header.Get("WWW-Authenticate"), ng.base, "<base>")
	if pv != nv {
		t.Errorf("%s: WWW-Authenticate: python %q, keystone-ng %q", what, pr.Header.Get("WWW-Authenticate"), nr.Header.Get("WWW-Authenticate"))
	}
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// canonicalJSON decodes a body (empty -> nil) and puts the lists whose order
// Python leaves unspecified into a fixed order: "roles" by id, "catalog" by
// type then id, "endpoints" by id. Everything else is compared as is.
func canonicalJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	canonicalize(v)
	return v, nil
}

func canonicalize(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			canonicalize(child)
			list, ok := child.([]any)
			if !ok {
				continue
			}
			switch k {
			case "roles", "endpoints":
				sortBy(list, "id")
			case "catalog":
				sortBy(list, "type", "id")
			}
		}
	case []any:
		for _, child := range x {
			canonicalize(child)
		}
	}
}

func sortBy(list []any, keys ...string) {
	key := func(v any) string {
		m, _ := v.(map[string]any)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprint(m[k])
		}
		return strings.Join(parts, "\x00")
	}
	sort.SliceStable(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
}

// jsonDiff renders both values (map keys sorted by encoding/json) and lists the
// differing lines with a little context.
func jsonDiff(py, ng any) string {
	pb, _ := json.MarshalIndent(py, "", "  ")
	nb, _ := json.MarshalIndent(ng, "", "  ")
	pl, nl := strings.Split(string(pb), "\n"), strings.Split(string(nb), "\n")
	var out strings.Builder
	shown := 0
	for i := 0; i < len(pl) || i < len(nl); i++ {
		var a, b string
		if i < len(pl) {
			a = pl[i]
		}
		if i < len(nl) {
			b = nl[i]
		}
		if a == b {
			continue
		}
		fmt.Fprintf(&out, "line %d:\n  python:      %s\n  keystone-ng: %s\n", i+1, a, b)
		if shown++; shown >= 15 {
			out.WriteString("  ...\n")
			break
		}
	}
	fmt.Fprintf(&out, "---- python ----\n%s\n---- keystone-ng ----\n%s", pb, nb)
	return out.String()
}

// dump writes Python's answer to $KSNG_INTEROP_DUMP/<label><query>.<method>.json
// when that variable names a directory: a record of Python's exact output.
func dump(cc checkCase, method string, r *response) {
	dir := os.Getenv("KSNG_INTEROP_DUMP")
	if dir == "" || method != "GET" {
		return
	}
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, cc.label+cc.query)
	body := fmt.Sprintf("{\"status\": %d, \"body\": %s}\n", r.Status, orNull(r.Body))
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644)
}

func orNull(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("null")
	}
	return b
}

func verbose(t testing.TB, format string, args ...any) {
	if os.Getenv("KSNG_INTEROP_VERBOSE") != "" {
		t.Helper()
		t.Logf(format, args...)
	}
}

// waitAgree polls until Python and keystone-ng give the same GET status for
// subject, for at most within. Used only where keystone-ng may lag by design:
// it reloads the Fernet key repository "within a second" of a rotation, while
// Python re-reads it on every request. The strict comparisons run afterwards.
func waitAgree(t *testing.T, py, ng *ksClient, authToken, subject string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := validate(t, py, "GET", authToken, subject, "").Status
		n := validate(t, ng, "GET", authToken, subject, "").Status
		if p == n || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
