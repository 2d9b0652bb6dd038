// Package apidoc carries the OpenAPI 3.1 document of keystone-ng's /v4 API
// (openapi.yaml beside this file) into the binary, which serves it as JSON
// at GET /v4/openapi.json. The package sits next to the document because
// go:embed cannot reach a parent directory.
//
// The document is checked by tests: here, that it is valid OpenAPI 3.1 and
// that every example validates against its schema; in pkg/httpapi, that it
// names exactly the routes and methods the router registers.
package apidoc

import (
	"bytes"
	_ "embed" // the document
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var document []byte

// YAML returns the document as written (a copy).
func YAML() []byte { return bytes.Clone(document) }

// JSON returns the document converted to JSON, converted on first use and
// then shared: callers must not modify the slice.
var JSON = sync.OnceValues(func() ([]byte, error) { return ToJSON(document) })

// ToJSON converts one YAML document to compact JSON, keeping the order of
// mapping keys (so the JSON reads like the YAML: openapi, info, paths, ...).
// It refuses what JSON cannot say the same way: non-scalar mapping keys,
// merge keys, timestamps and binary scalars (quote them in the YAML).
func ToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root.Content[0], 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxDepth bounds the nesting (and alias chains) ToJSON follows.
const maxDepth = 200

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: nested too deep", n.Line)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias, depth+1)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.MappingNode:
		return writeMapping(buf, n, depth)
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	}
	return fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// writeMapping writes a mapping's keys in document order, refusing a
// repeated key (which a decoder would silently resolve one way).
func writeMapping(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	seen := make(map[string]bool, len(n.Content)/2)
	buf.WriteByte('{')
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return fmt.Errorf("line %d: a mapping key must be a plain scalar", k.Line)
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q already defined", k.Line, k.Value)
		}
		seen[k.Value] = true
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeString(buf, k.Value); err != nil {
			return err
		}
		buf.WriteByte(':')
		if err := writeJSON(buf, v, depth+1); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

// writeScalar writes a scalar as its resolved YAML type: "200" stays a
// string, 200 a number, null, true.
func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!str":
		return writeString(buf, n.Value)
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v) // NaN and infinities are refused here
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: scalar %q has type %s, which JSON lacks: quote it", n.Line, n.Value, n.ShortTag())
}

// writeString writes s as a JSON string without HTML escaping (the
// document's descriptions hold <, > and &).
func writeString(buf *bytes.Buffer, s string) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}
