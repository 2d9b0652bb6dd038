package pyjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Parse reads JSON text (as Keystone stores in its "extra" TEXT columns)
// keeping object key order, so that re-rendering it gives what Python's
// json.loads followed by json.dumps gives. Numbers are kept as their
// literal text.
func Parse(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return nil, errors.New("pyjson: trailing data")
	}
	return v, nil
}

// ParseObject parses a JSON object; empty input or "null" yields an empty
// Object (Keystone treats a NULL extra column as {}).
func ParseObject(data []byte) (Object, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || string(t) == "null" {
		return Object{}, nil
	}
	v, err := Parse(t)
	if err != nil {
		return nil, err
	}
	o, ok := v.(Object)
	if !ok {
		return nil, fmt.Errorf("pyjson: expected an object, got %T", v)
	}
	return o, nil
}

func parseValue(dec *json.Decoder) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := Object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("pyjson: object key is not a string")
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				// Python's dict keeps the first position and the last value.
				obj.Set(key, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []Value{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("pyjson: unexpected delimiter %v", t)
	case json.Number:
		return RawJSON(t.String()), nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("pyjson: unexpected token %T", tok)
}
