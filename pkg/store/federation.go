package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// Federation keeps keystone-ng's identity providers and mappings: its own
// ng_ rows and the rows of Python's federation tables (identity_provider,
// idp_remote_ids, mapping, federation_protocol, and the domain Python
// creates for a global IdP) written exactly as Python's federation
// backend writes them, so that Python's own federated login, token
// validation and rescoping see an ordinary IdP. It also reads what the
// federation service validates mappings against (users, groups, roles,
// projects and domains by id or name, assignments, implied roles) and
// remembers workload tokens. Every method runs on its own statement or
// transaction.
type Federation struct {
	db    *bun.DB
	tUser string
	tGrp  string
}

// NewFederation works on db.
func NewFederation(db *bun.DB) *Federation {
	d := sqldialect.Of(db)
	return &Federation{db: db, tUser: d.User(), tGrp: d.Group()}
}

// The federation store's errors; the service maps each to Keystone's
// answer.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("store: not found")
	// ErrIdPExists: an identity_provider row with the id exists.
	ErrIdPExists = errors.New("store: identity provider id taken")
	// ErrIdPNameTaken: the owner already has an IdP of that name.
	ErrIdPNameTaken = errors.New("store: identity provider name taken in its domain")
	// ErrNoSuchDomain: the owning domain does not exist.
	ErrNoSuchDomain = errors.New("store: owning domain not found")
	// ErrMappingExists: the IdP already has a mapping of that name.
	ErrMappingExists = errors.New("store: mapping name taken")
)

// rootDomainID is the pseudo-domain every domain row belongs to
// (keystone/resource/backends/base.py NULL_DOMAIN_ID).
const rootDomainID = "<<keystone.domain.root>>"

// IdPRow is an identity provider: its ng_identity_provider row joined to
// Python's identity_provider row.
type IdPRow struct {
	ID   string
	Name string
	// OwnerDomainID is the domain that owns the IdP; "" for a global one.
	OwnerDomainID  string
	ShadowDomainID string
	Issuer         string
	DiscoveryURL   string
	// JWKSURL, ClientID and DefaultMapping are nil when unset (NULL or "").
	JWKSURL, ClientID, DefaultMapping *string
	// ClientSecret is the encrypted secret ("" when none).
	ClientSecret                    string
	Scopes, RedirectURIs, Audiences []string
	// PythonMappingID is the Python mapping row created with the IdP.
	PythonMappingID string
	// Enabled, Description and AuthorizationTTL live in Python's row.
	Enabled          bool
	Description      string
	AuthorizationTTL *int
}

// IdPFilter selects IdPs; zero fields do not filter.
type IdPFilter struct {
	// Global selects IdPs without an owner; else OwnerDomainID, when set,
	// selects that domain's.
	Global        bool
	OwnerDomainID *string
	Name          *string
	Enabled       *bool
}

const idpColumns = `n.id, n.name, n.owner_domain_id, n.shadow_domain_id, n.issuer, n.discovery_url, n.jwks_url, n.client_id, n.client_secret,
	n.scopes, n.redirect_uris, n.audiences, n.default_mapping, n.python_mapping_id, i.enabled, i.description, i.authorization_ttl`

type rowScanner interface{ Scan(...any) error }

func scanIdP(r rowScanner) (*IdPRow, error) {
	var (
		p                            IdPRow
		jwks, cid, secret, def, desc sql.NullString
		scopes, redirects, auds      string
		enabled                      any
		ttl                          sql.NullInt64
	)
	if err := r.Scan(&p.ID, &p.Name, &p.OwnerDomainID, &p.ShadowDomainID, &p.Issuer, &p.DiscoveryURL, &jwks, &cid, &secret,
		&scopes, &redirects, &auds, &def, &p.PythonMappingID, &enabled, &desc, &ttl); err != nil {
		return nil, err
	}
	p.JWKSURL, p.ClientID, p.DefaultMapping = nonEmpty(jwks), nonEmpty(cid), nonEmpty(def)
	p.ClientSecret, p.Description = secret.String, desc.String
	p.Enabled = sqldialect.Truthy(enabled)
	if ttl.Valid {
		v := int(ttl.Int64)
		p.AuthorizationTTL = &v
	}
	for _, l := range []struct {
		raw string
		dst *[]string
	}{{scopes, &p.Scopes}, {redirects, &p.RedirectURIs}, {auds, &p.Audiences}} {
		if err := json.Unmarshal([]byte(l.raw), l.dst); err != nil {
			return nil, fmt.Errorf("identity provider %s: corrupt list: %w", p.ID, err)
		}
		if *l.dst == nil {
			*l.dst = []string{}
		}
	}
	return &p, nil
}

// nonEmpty is an optional text column: nil for NULL and "".
func nonEmpty(n sql.NullString) *string {
	if !n.Valid || n.String == "" {
		return nil
	}
	v := n.String
	return &v
}

// jsonList is how ng_identity_provider stores a list.
func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// nullable writes "" as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// optStr writes nil as NULL.
func optStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func optInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// GetIdP reads one of keystone-ng's IdPs; ErrNotFound when there is none.
func (f *Federation) GetIdP(ctx context.Context, id string) (*IdPRow, error) {
	row := f.db.QueryRowContext(ctx, `SELECT `+idpColumns+` FROM ng_identity_provider n JOIN identity_provider i ON i.id = n.id WHERE n.id = ?`, id)
	p, err := scanIdP(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read identity provider: %w", err)
	}
	return p, nil
}

// ListIdPs lists keystone-ng's IdPs by owner and name (those Python alone
// created are not keystone-ng's and are left out).
func (f *Federation) ListIdPs(ctx context.Context, flt IdPFilter) ([]*IdPRow, error) {
	q := `SELECT ` + idpColumns + ` FROM ng_identity_provider n JOIN identity_provider i ON i.id = n.id WHERE 1 = 1`
	var args []any
	if flt.Global {
		q += ` AND n.owner_domain_id = ''`
	} else if flt.OwnerDomainID != nil {
		q += ` AND n.owner_domain_id = ?`
		args = append(args, *flt.OwnerDomainID)
	}
	if flt.Name != nil {
		q += ` AND n.name = ?`
		args = append(args, *flt.Name)
	}
	q += ` ORDER BY n.owner_domain_id, n.name`
	rows, err := f.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list identity providers: %w", err)
	}
	defer rows.Close()
	out := []*IdPRow{}
	for rows.Next() {
		p, err := scanIdP(rows)
		if err != nil {
			return nil, fmt.Errorf("list identity providers: %w", err)
		}
		if flt.Enabled != nil && p.Enabled != *flt.Enabled {
			continue
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// pythonEmptyRules is an empty rule list as Python stores it:
// MappingModel.from_dict stores jsonutils.dumps(rules) in a JsonBlob
// column, which JSON-encodes it again, so the column holds a JSON string
// whose content is the list (mapped.handle_scoped_token decodes it twice).
const pythonEmptyRules = `"[]"`

// CreateIdP writes p (ID, ShadowDomainID and PythonMappingID chosen by the
// caller) and Python's rows for it in one transaction: for a global IdP
// the domain Python's _create_idp_domain creates (id ShadowDomainID),
// identity_provider, idp_remote_ids (the issuer; see below), mapping (no
// rules: Python's own federated login through this IdP maps nobody) and
// federation_protocol "openid" (protocolID). For an owned IdP, admit is
// called inside the transaction with the number of IdPs the owner has,
// and its error aborts the creation. ErrIdPExists, ErrNoSuchDomain,
// ErrIdPNameTaken.
func (f *Federation) CreateIdP(ctx context.Context, p *IdPRow, protocolID string, now time.Time, admit func(ownerIdPs int) error) error {
	return f.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_provider WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrIdPExists
		}
		// Python keys idp_remote_ids by remote_id alone, so only one IdP
		// can carry an issuer there. Python needs remote ids only for its
		// own federated login (matching an incoming assertion to an IdP),
		// never for tokens; keystone-ng matches its own logins by IdP id. So
		// several domains may each have an IdP for the same issuer (GitHub
		// Actions uses one for every repository). Only a global IdP (a
		// system admin's) gets the remote id row, and only while no other
		// IdP has it: a domain admin must not be able to claim an issuer
		// before the operator configures it for Python's own federation.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_remote_ids WHERE remote_id = ?`, p.Issuer).Scan(&n); err != nil {
			return err
		}
		issuerTaken := n > 0 || p.OwnerDomainID != ""
		if p.OwnerDomainID != "" {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM project WHERE id = ? AND is_domain = ?`, p.OwnerDomainID, true).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return ErrNoSuchDomain
			}
			if admit != nil {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ng_identity_provider WHERE owner_domain_id = ?`, p.OwnerDomainID).Scan(&n); err != nil {
					return err
				}
				if err := admit(n); err != nil {
					return err
				}
			}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain)
				VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`, p.ShadowDomainID, p.ShadowDomainID, "{}",
			"Auto generated federated domain for Identity Provider: "+p.ID, true, rootDomainID, true); err != nil {
			// keystone/federation/core.py _create_idp_domain.
			return fmt.Errorf("create domain for identity provider: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_provider (id, enabled, description, domain_id, authorization_ttl) VALUES (?, ?, ?, ?, ?)`,
			p.ID, p.Enabled, nullable(p.Description), p.ShadowDomainID, optInt(p.AuthorizationTTL)); err != nil {
			return fmt.Errorf("insert identity_provider: %w", err)
		}
		if !issuerTaken {
			if _, err := tx.ExecContext(ctx, `INSERT INTO idp_remote_ids (idp_id, remote_id) VALUES (?, ?)`, p.ID, p.Issuer); err != nil {
				return fmt.Errorf("insert idp_remote_ids: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mapping (id, rules) VALUES (?, ?)`, p.PythonMappingID, pythonEmptyRules); err != nil {
			return fmt.Errorf("insert mapping: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO federation_protocol (id, idp_id, mapping_id, remote_id_attribute) VALUES (?, ?, ?, NULL)`,
			protocolID, p.ID, p.PythonMappingID); err != nil {
			return fmt.Errorf("insert federation_protocol: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ng_identity_provider (id, name, owner_domain_id, shadow_domain_id, issuer, discovery_url, jwks_url,
			client_id, client_secret, scopes, redirect_uris, audiences, default_mapping, python_mapping_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.OwnerDomainID, p.ShadowDomainID, p.Issuer, p.DiscoveryURL, optStr(p.JWKSURL), optStr(p.ClientID), nullable(p.ClientSecret),
			jsonList(p.Scopes), jsonList(p.RedirectURIs), jsonList(p.Audiences), optStr(p.DefaultMapping), p.PythonMappingID,
			sqldialect.Micros(now), sqldialect.Micros(now)); err != nil {
			if sqldialect.IsDuplicate(err) {
				return fmt.Errorf("%w: %w", ErrIdPNameTaken, err)
			}
			return fmt.Errorf("insert ng_identity_provider: %w", err)
		}
		return nil
	})
}

// UpdateIdP writes p over the stored IdP: Python's enabled, description
// and authorization_ttl, the remote id when the issuer changed from
// oldIssuer (under CreateIdP's rule: only for a global IdP and only while
// no other IdP has it), and keystone-ng's row. ErrIdPNameTaken.
func (f *Federation) UpdateIdP(ctx context.Context, p *IdPRow, oldIssuer string, now time.Time) error {
	return f.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE identity_provider SET enabled = ?, description = ?, authorization_ttl = ? WHERE id = ?`,
			p.Enabled, nullable(p.Description), optInt(p.AuthorizationTTL), p.ID); err != nil {
			return err
		}
		if p.Issuer != oldIssuer {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_remote_ids WHERE remote_id = ? AND idp_id <> ?`, p.Issuer, p.ID).Scan(&n); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM idp_remote_ids WHERE idp_id = ? AND remote_id = ?`, p.ID, oldIssuer); err != nil {
				return err
			}
			if n == 0 && p.OwnerDomainID == "" {
				if _, err := tx.ExecContext(ctx, `INSERT INTO idp_remote_ids (idp_id, remote_id) VALUES (?, ?)`, p.ID, p.Issuer); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE ng_identity_provider SET name = ?, issuer = ?, discovery_url = ?, jwks_url = ?, client_id = ?, client_secret = ?,
			scopes = ?, redirect_uris = ?, audiences = ?, default_mapping = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Issuer, p.DiscoveryURL, optStr(p.JWKSURL), optStr(p.ClientID), nullable(p.ClientSecret),
			jsonList(p.Scopes), jsonList(p.RedirectURIs), jsonList(p.Audiences), optStr(p.DefaultMapping), sqldialect.Micros(now), p.ID)
		if sqldialect.IsDuplicate(err) {
			return fmt.Errorf("%w: %w", ErrIdPNameTaken, err)
		}
		return err
	})
}

// DeleteIdP removes the IdP as Python's delete_idp does (its protocols,
// then the IdP with its remote ids, expiring group memberships and —
// what the foreign keys cascade — its federated_user rows; the shadow
// users' user rows stay, as in Python), plus the Python mapping row
// created with it, its ng_ rows, and the role assignments its mappings
// granted (ng_federation_grant), in one transaction.
func (f *Federation) DeleteIdP(ctx context.Context, p *IdPRow) error {
	return f.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT type, actor_id, target_id, role_id FROM ng_federation_grant WHERE idp_id = ?`, p.ID)
		if err != nil {
			return err
		}
		var grants [][4]string
		for rows.Next() {
			var a [4]string
			if err := rows.Scan(&a[0], &a[1], &a[2], &a[3]); err != nil {
				rows.Close()
				return err
			}
			grants = append(grants, a)
		}
		rows.Close()
		for _, a := range grants {
			if _, err := tx.ExecContext(ctx, `DELETE FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
				a[0], a[1], a[2], a[3], false); err != nil {
				return err
			}
		}
		for _, st := range []string{
			`DELETE FROM ng_federation_grant WHERE idp_id = ?`,
			`DELETE FROM ng_jwt_jti WHERE idp_id = ?`,
			`DELETE FROM ng_mapping WHERE idp_id = ?`,
			`DELETE FROM ng_identity_provider WHERE id = ?`,
			`DELETE FROM expiring_user_group_membership WHERE idp_id = ?`,
			`DELETE FROM federated_user WHERE idp_id = ?`,
			`DELETE FROM federation_protocol WHERE idp_id = ?`,
			`DELETE FROM idp_remote_ids WHERE idp_id = ?`,
			`DELETE FROM identity_provider WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, st, p.ID); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM mapping WHERE id = ?`, p.PythonMappingID)
		return err
	})
}
