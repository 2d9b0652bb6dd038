package apidoc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/keystone-ng/keystone-ng/docs/api/apidoctest"
	"gopkg.in/yaml.v3"
)

func TestToJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"key order kept", "b: 1\na: 2\nc: 3\n", `{"b":1,"a":2,"c":3}`},
		{"quoted status stays a string", "'200': {description: ok}\n", `{"200":{"description":"ok"}}`},
		{"plain status key is the key's text", "404: x\n", `{"404":"x"}`},
		{"scalars", "s: text\nn: null\ne: ~\nt: true\ni: -7\nf: 1.5\nq: '1.5'\n",
			`{"s":"text","n":null,"e":null,"t":true,"i":-7,"f":1.5,"q":"1.5"}`},
		{"type list", "type: [string, 'null']\n", `{"type":["string","null"]}`},
		{"nested", "a:\n  - {x: [1, 2]}\n  - []\n  - {}\n", `{"a":[{"x":[1,2]},[],{}]}`},
		{"no HTML escaping", "d: \"a <b> & 'c'\"\n", `{"d":"a <b> & 'c'"}`},
		{"escapes", "d: \"tab\\there \\\"q\\\" \\\\ é\"\n", `{"d":"tab\there \"q\" \\ é"}`},
		{"block text", "d: |\n  one\n  two\n", `{"d":"one\ntwo\n"}`},
		{"alias", "a: &x {k: v}\nb: *x\n", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"top-level list", "- 1\n- two\n", `[1,"two"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToJSON([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestToJSONRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"timestamp", "at: 2026-11-23T10:00:00Z\n", "!!timestamp"},
		{"binary", "b: !!binary aGVsbG8=\n", "!!binary"},
		{"merge key", "a: &x {k: v}\nb:\n  <<: *x\n", "plain scalar"},
		{"mapping key", "? {k: v}\n: x\n", "plain scalar"},
		{"infinity", "f: .inf\n", "unsupported value"},
		{"empty", "", "not one YAML document"},
		{"malformed", "a: [1, 2\n", "yaml"},
		{"duplicate key", "a: 1\na: 2\n", "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToJSON([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %s", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// The served JSON says what the YAML says: the same values, decoded
// independently.
func TestJSONMatchesYAML(t *testing.T) {
	js, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := yaml.Unmarshal(YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// yaml.v3's ints become JSON numbers: compare both as JSON values.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var viaYAML any
	if err := json.Unmarshal(b, &viaYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, viaYAML) {
		t.Error("the JSON document differs from the YAML it was converted from")
	}
	if !bytes.HasPrefix(js, []byte(`{"openapi":"3.1.`)) {
		t.Errorf("document starts %.40s, want the openapi version first", js)
	}
}

// TestOpenAPIValid parses the document with kin-openapi and validates it as
// OpenAPI 3.1 (structure, references, parameters, and its own check of the
// examples under JSON Schema 2020-12).
func TestOpenAPIValid(t *testing.T) {
	js, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(js)
	if err != nil {
		t.Fatalf("kin-openapi cannot load the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("not valid OpenAPI 3.1: %v", err)
	}
	ops := 0
	for _, item := range doc.Paths.Map() {
		ops += len(item.Operations())
	}
	if doc.Paths.Len() < 20 || ops < 30 || len(doc.Components.Schemas) == 0 {
		t.Fatalf("%d paths, %d operations, %d schemas: the document is nearly empty", doc.Paths.Len(), ops, len(doc.Components.Schemas))
	}
	t.Logf("%d paths, %d operations, %d component schemas", doc.Paths.Len(), ops, len(doc.Components.Schemas))
}

// exampleCase is one example and the schema it must satisfy, both named by
// JSON pointers into the document.
type exampleCase struct {
	at     string // the example
	schema string // its schema
	value  any
}

// kind sorts a case for the counts: where the example stands.
func (e exampleCase) kind() string {
	for _, k := range []string{"requestBody", "responses", "parameters", "headers"} {
		if strings.Contains(e.at, "/"+k+"/") {
			return k
		}
	}
	return "schemas"
}

// Schema keywords whose value is a schema, a map of schemas, or a list of
// schemas (JSON Schema 2020-12, applicator vocabulary).
var (
	schemaKeywords     = []string{"items", "not", "if", "then", "else", "contains", "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	schemaMapKeywords  = []string{"properties", "patternProperties", "$defs", "dependentSchemas"}
	schemaListKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
)

// pointer appends keys and indexes to a JSON pointer.
var pointer = apidoctest.Pointer

// exampleWalker finds every example of the document: of media types,
// parameters and headers (example, examples.*.value, or a $ref to
// #/components/examples) against their "schema", and of schemas
// (example, examples[]) against the schema itself.
type exampleWalker struct {
	root  map[string]any
	cases []exampleCase
	refs  map[string]int // component examples used, by name
	errs  []string
}

func (w *exampleWalker) other(v any, at string) {
	switch x := v.(type) {
	case []any:
		for i, c := range x {
			w.other(c, pointer(at, i))
		}
	case map[string]any:
		_, hasSchema := x["schema"]
		if hasSchema {
			w.objectExamples(x, at)
		}
		for k, c := range x {
			switch {
			case hasSchema && (k == "example" || k == "examples"):
			case k == "schema":
				w.schema(c, pointer(at, k))
			case at == "/components" && k == "schemas":
				for name, s := range c.(map[string]any) {
					w.schema(s, pointer(pointer(at, k), name))
				}
			case at == "/components" && k == "examples":
				// Reached through the $refs that use them.
			default:
				w.other(c, pointer(at, k))
			}
		}
	}
}

func (w *exampleWalker) objectExamples(x map[string]any, at string) {
	sch := pointer(at, "schema")
	if ex, ok := x["example"]; ok {
		w.cases = append(w.cases, exampleCase{pointer(at, "example"), sch, ex})
	}
	exs, _ := x["examples"].(map[string]any)
	for name, e := range exs {
		em, _ := e.(map[string]any)
		where := pointer(pointer(at, "examples"), name)
		if ref, ok := em["$ref"].(string); ok {
			name, found := strings.CutPrefix(ref, "#/components/examples/")
			comp, _ := w.root["components"].(map[string]any)
			lib, _ := comp["examples"].(map[string]any)
			if em, _ = lib[name].(map[string]any); !found || em == nil {
				w.errs = append(w.errs, where+": $ref "+ref+" is not a component example")
				continue
			}
			w.refs[name]++
		}
		val, ok := em["value"]
		if !ok {
			w.errs = append(w.errs, where+": no value (externalValue is not checked)")
			continue
		}
		w.cases = append(w.cases, exampleCase{where, sch, val})
	}
}

func (w *exampleWalker) schema(v any, at string) {
	x, ok := v.(map[string]any)
	if !ok {
		return
	}
	if _, ok := x["nullable"]; ok {
		w.errs = append(w.errs, at+": nullable is OpenAPI 3.0; in 3.1 write type: [T, 'null']")
	}
	if ex, ok := x["example"]; ok {
		w.cases = append(w.cases, exampleCase{pointer(at, "example"), at, ex})
	}
	if exs, ok := x["examples"].([]any); ok {
		for i, ex := range exs {
			w.cases = append(w.cases, exampleCase{pointer(pointer(at, "examples"), i), at, ex})
		}
	}
	for _, k := range schemaKeywords {
		if c, ok := x[k]; ok {
			w.schema(c, pointer(at, k))
		}
	}
	for _, k := range schemaMapKeywords {
		m, _ := x[k].(map[string]any)
		for name, c := range m {
			w.schema(c, pointer(pointer(at, k), name))
		}
	}
	for _, k := range schemaListKeywords {
		l, _ := x[k].([]any)
		for i, c := range l {
			w.schema(c, pointer(pointer(at, k), i))
		}
	}
}

// TestOpenAPIExamples validates every example against its schema with an
// independent JSON Schema 2020-12 validator (formats asserted), and checks
// that every component example is used (so that it is validated).
func TestOpenAPIExamples(t *testing.T) {
	js, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := apidoctest.New(js)
	if err != nil {
		t.Fatal(err)
	}
	root := schemas.Doc.(map[string]any)
	w := &exampleWalker{root: root, refs: map[string]int{}}
	w.other(root, "")
	for _, e := range w.errs {
		t.Error(e)
	}
	sort.Slice(w.cases, func(i, j int) bool { return w.cases[i].at < w.cases[j].at })

	counts := map[string]int{}
	for _, e := range w.cases {
		counts[e.kind()]++
		if err := schemas.Validate(e.schema, e.value); err != nil {
			t.Errorf("example %s does not validate against %s:\n%v", e.at, e.schema, err)
		}
	}
	comp, _ := root["components"].(map[string]any)
	lib, _ := comp["examples"].(map[string]any)
	for name := range lib {
		if w.refs[name] == 0 {
			t.Errorf("#/components/examples/%s is used nowhere, so never checked", name)
		}
	}
	for _, k := range []string{"requestBody", "responses", "parameters", "schemas"} {
		if counts[k] == 0 {
			t.Errorf("no example checked in %s", k)
		}
	}
	t.Logf("%d examples validated: %v", len(w.cases), counts)
}

// The walker finds examples where they are, and only there.
func TestExampleWalker(t *testing.T) {
	var root map[string]any
	src := `{
	  "paths": {"/a/{id}": {"post": {
	    "parameters": [{"name": "id", "in": "path", "schema": {"type": "string"}, "example": "x"}],
	    "requestBody": {"content": {"application/json": {"schema": {"type": "object",
	      "properties": {"example": {"type": "string", "examples": ["p"]}}},
	      "examples": {"one": {"value": {"example": 1}}, "two": {"$ref": "#/components/examples/Two"}}}}},
	    "responses": {"200": {"headers": {"H": {"schema": {"type": "integer"}, "example": 3}},
	      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}, "example": {}}}}}}}},
	  "components": {
	    "schemas": {"S": {"type": "object", "example": {"s": 1}, "allOf": [{"example": 2}]}},
	    "examples": {"Two": {"value": {"b": 2}}}}}`
	if err := json.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	w := &exampleWalker{root: root, refs: map[string]int{}}
	w.other(root, "")
	if len(w.errs) > 0 {
		t.Fatal(w.errs)
	}
	got := map[string]string{}
	for _, e := range w.cases {
		got[e.at] = e.schema
	}
	rb := "/paths/~1a~1{id}/post/requestBody/content/application~1json"
	want := map[string]string{
		"/paths/~1a~1{id}/post/parameters/0/example":                            "/paths/~1a~1{id}/post/parameters/0/schema",
		rb + "/examples/one":                                                    rb + "/schema",
		rb + "/examples/two":                                                    rb + "/schema",
		rb + "/schema/properties/example/examples/0":                            rb + "/schema/properties/example",
		"/paths/~1a~1{id}/post/responses/200/headers/H/example":                 "/paths/~1a~1{id}/post/responses/200/headers/H/schema",
		"/paths/~1a~1{id}/post/responses/200/content/application~1json/example": "/paths/~1a~1{id}/post/responses/200/content/application~1json/schema",
		"/components/schemas/S/example":                                         "/components/schemas/S",
		"/components/schemas/S/allOf/0/example":                                 "/components/schemas/S/allOf/0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if w.refs["Two"] != 1 {
		t.Errorf("component example Two used %d times, want 1", w.refs["Two"])
	}
}
