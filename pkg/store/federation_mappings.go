package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
)

// keystone-ng's mappings (ng_mapping), kept by Federation.

// MappingRow is one of keystone-ng's mappings (ng_mapping): its rules are
// the canonical JSON of the rules list.
type MappingRow struct {
	Name  string
	Rules string
}

// CountMappings counts the IdP's mappings.
func (f *Federation) CountMappings(ctx context.Context, idpID string) (int, error) {
	var n int
	err := f.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_mapping WHERE idp_id = ?`, idpID).Scan(&n)
	return n, err
}

// CreateMapping stores a new mapping; ErrMappingExists when the name is
// taken.
func (f *Federation) CreateMapping(ctx context.Context, idpID, name, rules string, now time.Time) error {
	at := sqldialect.Micros(now)
	_, err := f.db.ExecContext(ctx, `INSERT INTO ng_mapping (idp_id, name, rules, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		idpID, name, rules, at, at)
	if sqldialect.IsDuplicate(err) {
		return fmt.Errorf("%w: %w", ErrMappingExists, err)
	}
	if err != nil {
		return fmt.Errorf("insert mapping: %w", err)
	}
	return nil
}

// MappingRules reads a mapping's rules; ErrNotFound.
func (f *Federation) MappingRules(ctx context.Context, idpID, name string) (string, error) {
	var rules string
	err := f.db.QueryRowContext(ctx, `SELECT rules FROM ng_mapping WHERE idp_id = ? AND name = ?`, idpID, name).Scan(&rules)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read mapping: %w", err)
	}
	return rules, nil
}

// ListMappings lists the IdP's mappings by name.
func (f *Federation) ListMappings(ctx context.Context, idpID string) ([]MappingRow, error) {
	rows, err := f.db.QueryContext(ctx, `SELECT name, rules FROM ng_mapping WHERE idp_id = ? ORDER BY name`, idpID)
	if err != nil {
		return nil, fmt.Errorf("list mappings: %w", err)
	}
	defer rows.Close()
	out := []MappingRow{}
	for rows.Next() {
		var m MappingRow
		if err := rows.Scan(&m.Name, &m.Rules); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateMapping replaces a mapping's rules.
func (f *Federation) UpdateMapping(ctx context.Context, idpID, name, rules string, now time.Time) error {
	if _, err := f.db.ExecContext(ctx, `UPDATE ng_mapping SET rules = ?, updated_at = ? WHERE idp_id = ? AND name = ?`,
		rules, sqldialect.Micros(now), idpID, name); err != nil {
		return fmt.Errorf("update mapping: %w", err)
	}
	return nil
}

// DeleteMapping deletes a mapping; ErrNotFound when there was none.
func (f *Federation) DeleteMapping(ctx context.Context, idpID, name string) error {
	res, err := f.db.ExecContext(ctx, `DELETE FROM ng_mapping WHERE idp_id = ? AND name = ?`, idpID, name)
	if err != nil {
		return fmt.Errorf("delete mapping: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
