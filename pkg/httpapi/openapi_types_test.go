package httpapi

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/federation"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
)

// jsonFields lists the JSON names encoding/json gives a struct's exported
// fields, and which of them are always written (no omitempty).
func jsonFields(t reflect.Type) (names []string, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(","+opts+",", ",omitempty,") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}

func schemaFields(schema map[string]any) (props []string, required []string) {
	p, _ := schema["properties"].(map[string]any)
	for k := range p {
		props = append(props, k)
	}
	r, _ := schema["required"].([]any)
	for _, k := range r {
		s, _ := k.(string)
		required = append(required, s)
	}
	sort.Strings(props)
	sort.Strings(required)
	return props, required
}

// TestOpenAPISchemasMatchGoTypes: the component schemas of what the
// handlers decode and render name exactly the JSON fields of the Go types,
// so the document neither invents a field nor misses one. An answer's
// schema requires every field the type always writes.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		schema string
		typ    any
		answer bool // rendered by keystone-ng (else: decoded from clients)
	}{
		{"Passkey", passkeyView{}, true},
		{"LoginIdentityProvider", loginEntry{}, true},
		{"IdentityProvider", federation.IdP{}, true},
		{"Mapping", federation.Mapping{}, true},
		{"IdentityProviderFields", federation.IdPFields{}, false},
		{"PasskeyUserRef", passkey.UserRef{}, false},
		{"ScopeRequest", issue.ScopeRequest{}, false},
		{"NamedRef", issue.NamedRef{}, false},
	} {
		schema, ok := doc.resolve("#/components/schemas/" + tc.schema)
		if !ok {
			t.Errorf("no schema %s", tc.schema)
			continue
		}
		props, required := schemaFields(schema.(map[string]any))
		names, always := jsonFields(reflect.TypeOf(tc.typ))
		if len(names) == 0 {
			t.Fatalf("%T has no JSON fields", tc.typ)
		}
		if !reflect.DeepEqual(props, names) {
			t.Errorf("schema %s has properties %v; %T has JSON fields %v", tc.schema, props, tc.typ, names)
		}
		if tc.answer && !reflect.DeepEqual(required, always) {
			t.Errorf("schema %s requires %v; %T always writes %v", tc.schema, required, tc.typ, always)
		}
	}
}
