package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/ldapidentity"
)

// The tables of Python's identity mapping and domain-specific
// configuration, read only when a domain is served by a non-SQL identity
// backend (pkg/ldapidentity). They are kept out of statements.go: no SQL
// validation reads them.

var _ ldapidentity.IDMapper = (*Reader)(nil)

// IDMapping reads the id_mapping row of a public id
// (keystone/identity/mapping_backends/sql.py get_id_mapping).
func (r *Reader) IDMapping(ctx context.Context, publicID string) (ldapidentity.Mapping, bool, error) {
	rows, err := r.query(ctx, `SELECT domain_id, local_id, entity_type FROM id_mapping WHERE public_id = ?`, publicID)
	if err != nil {
		return ldapidentity.Mapping{}, false, fmt.Errorf("lookup id_mapping: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return ldapidentity.Mapping{}, false, rows.Err()
	}
	var m ldapidentity.Mapping
	if err := rows.Scan(&m.DomainID, &m.LocalID, &m.EntityType); err != nil {
		return m, false, fmt.Errorf("lookup id_mapping: %w", err)
	}
	return m, true, rows.Err()
}

// PublicIDs reads the public ids of local entities of a domain
// (get_public_id), local id -> public id; entities without a row are
// absent.
func (r *Reader) PublicIDs(ctx context.Context, domainID, entityType string, localIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(localIDs))
	if len(localIDs) == 0 {
		return out, nil
	}
	rows, err := r.query(ctx, `SELECT local_id, public_id FROM id_mapping WHERE domain_id = ? AND entity_type = ? AND local_id IN (?)`,
		domainID, entityType, inList(localIDs))
	if err != nil {
		return nil, fmt.Errorf("lookup id_mapping: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var local, public string
		if err := rows.Scan(&local, &public); err != nil {
			return nil, fmt.Errorf("lookup id_mapping: %w", err)
		}
		out[local] = public
	}
	return out, rows.Err()
}

// DomainConfigs reads the domain-specific configuration stored in the
// database (whitelisted_config and sensitive_config, keystone/resource/
// config_backends/sql.py): domain id -> group -> option -> value as
// option text. Python stores each value JSON-encoded and hands it to
// oslo.config's set_override, which converts it as it converts a file's
// text; a list becomes its comma-joined items.
func (r *Reader) DomainConfigs(ctx context.Context) (map[string]map[string]map[string]string, error) {
	out := map[string]map[string]map[string]string{}
	for _, table := range []string{"whitelisted_config", "sensitive_config"} {
		// "group" and "option" are reserved words: quoted as this
		// backend quotes the group table's name.
		q := r.tGroup[:1]
		rows, err := r.db.QueryContext(ctx, "SELECT domain_id, "+q+"group"+q+", "+q+"option"+q+", value FROM "+table)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		for rows.Next() {
			var dom, group, opt string
			var raw []byte
			if err := rows.Scan(&dom, &group, &opt, &raw); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", table, err)
			}
			text, err := configText(raw)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: [%s] %s of domain %s: %w", table, group, opt, dom, err)
			}
			if out[dom] == nil {
				out[dom] = map[string]map[string]string{}
			}
			if out[dom][group] == nil {
				out[dom][group] = map[string]string{}
			}
			out[dom][group][opt] = text
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
	}
	return out, nil
}

// configText turns a stored JSON value into option text.
func configText(raw []byte) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return jsonText(v)
}

func jsonText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case nil:
		return "", nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, err := jsonText(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}
