// Package apidoctest validates JSON values against the schemas of an
// OpenAPI 3.1 document (JSON Schema 2020-12, formats asserted), for the
// tests of the document (docs/api) and of the router (pkg/httpapi). Only
// tests import it, so the validator stays out of the binary.
package apidoctest

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// documentURL names the document for the compiler; nothing is fetched.
const documentURL = "https://keystone-ng.invalid/openapi.json"

// Schemas compiles schemas found anywhere in one document, so that their
// local $refs ("#/components/schemas/...") resolve.
type Schemas struct {
	c *jsonschema.Compiler
	// Doc is the document as decoded for validation (numbers json.Number).
	Doc any
}

// New loads a document given as JSON.
func New(docJSON []byte) (*Schemas, error) {
	doc, err := Decode(docJSON)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(documentURL, doc); err != nil {
		return nil, err
	}
	return &Schemas{c: c, Doc: doc}, nil
}

// Decode reads JSON the way the validator wants values.
func Decode(b []byte) (any, error) { return jsonschema.UnmarshalJSON(bytes.NewReader(b)) }

// Validate checks value against the schema at a JSON pointer into the
// document ("/components/schemas/Error"). A pointer that names no schema
// is an error too.
func (s *Schemas) Validate(schemaPointer string, value any) error {
	sch, err := s.c.Compile(documentURL + "#" + (&url.URL{Fragment: schemaPointer}).EscapedFragment())
	if err != nil {
		return err
	}
	return sch.Validate(value)
}

// Pointer appends map keys (strings) and list indexes (ints) to a JSON
// pointer, escaped as RFC 6901 says.
func Pointer(base string, keys ...any) string {
	var b strings.Builder
	b.WriteString(base)
	for _, k := range keys {
		b.WriteByte('/')
		switch k := k.(type) {
		case int:
			b.WriteString(strconv.Itoa(k))
		case string:
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
		default:
			panic("apidoctest.Pointer: a key is a string or an int")
		}
	}
	return b.String()
}
