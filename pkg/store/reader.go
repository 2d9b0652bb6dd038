package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/uptrace/bun"
)

// nullDomainID is how Keystone stores "no domain" in role.domain_id.
const nullDomainID = "<<null>>"

// Reader implements token.Store on Python Keystone's tables. It only reads.
type Reader struct {
	db *bun.DB
	// multi: the connection accepts several statements per query.
	multi bool
	// quoted table names that are reserved words on some backends
	tUser, tGroup string
	// sql holds the statement texts that depend on the table names and
	// the schema (texts, UseSchema).
	sql texts
	// schema is the schema the texts were built for.
	schema Schema
	// prep runs statements prepared (MySQL/MariaDB, PostgreSQL); nil
	// elsewhere (SQLite, in-process: nothing to save).
	prep *preparer
	// combined caches the text of combined statements (combine.go).
	combined combinedCache
	// batch batches combined statements (batch.go); nil: no batching.
	batch *batcher
	// gate bounds the validation rounds reading at once, roundWaited is
	// told how long each waited (Limit, Round; batch.go).
	gate        roundGate
	roundWaited func(time.Duration)
	// queries counts the queries sent to the database (Queries).
	queries atomic.Uint64
	// batches and batchedRounds count the batched statements that ran
	// and the rounds they carried (Batched).
	batches, batchedRounds atomic.Uint64
	// coalesced counts the batched rounds that asked for the same rows as
	// another round of their statement and were handed those rows.
	coalesced atomic.Uint64
}

var _ token.Store = (*Reader)(nil)

// NewReader wraps an open database.
func NewReader(db *bun.DB) *Reader {
	d := sqldialect.Of(db)
	r := &Reader{db: db, multi: multiStatements(db.Dialect().Name()), tUser: d.User(), tGroup: d.Group()}
	switch d {
	case sqldialect.MySQL, sqldialect.Postgres:
		r.prep = newPreparer(db.DB, d, &r.queries)
		r.combined.asText = d == sqldialect.Postgres
	}
	r.UseSchema(NewestSchema)
	return r
}

// UseSchema adapts the reads to a database's schema (DetectSchema). It
// must be called before the reader serves requests.
func (r *Reader) UseSchema(s Schema) {
	r.schema = s
	r.sql = buildTexts(r.tUser, s)
}

// Schema is the schema the reads are built for.
func (r *Reader) Schema() Schema { return r.schema }

// texts are the statement texts that depend on the table names and the
// schema, built once (as the prepared-statement and combined-statement
// caches want the same string every time).
type texts struct {
	// user is the slim and the full user statement (statements.go).
	user [2]string
	// memberships and its number of branches (one user id each);
	// userAssignments has one more branch than memberships (the user's
	// own assignments), each with the user id and the target list.
	memberships        string
	membershipBranches int
	userAssignments    string
	roles              string
	trust              string
	// appCred and the number of its branches (one id each).
	appCred         string
	appCredBranches int
}

func buildTexts(tUser string, s Schema) texts {
	t := texts{
		user:               userSQL(tUser),
		memberships:        membershipsSQL(s),
		membershipBranches: 1,
		userAssignments:    userAssignmentsSQL(s),
		roles:              rolesSQL(s),
		trust:              trustSQL(s),
		appCred:            appCredSQL(s),
		appCredBranches:    2,
	}
	if s.ExpiringMemberships {
		t.membershipBranches = 2
	}
	if s.AccessRules {
		t.appCredBranches = 3
	}
	return t
}

// repeatArg is n copies of v, the arguments of a statement whose every
// placeholder takes the same value.
func repeatArg(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// DB exposes the handle for health checks and metrics.
func (r *Reader) DB() *bun.DB { return r.db }

// Queries reports how many queries the reader has executed on the
// database: a combined or multi-statement query counts once, as it is one
// round trip; preparing a statement (once per connection) is not counted.
// It feeds keystone_ng_db_queries_total, from which operators and the
// interop suite read the round trips a validation costs.
func (r *Reader) Queries() uint64 { return r.queries.Load() }

// Batched reports how many statements carried several validation rounds
// at once (batch.go) and how many rounds they carried in all.
func (r *Reader) Batched() (batches, rounds uint64) {
	return r.batches.Load(), r.batchedRounds.Load()
}

// Coalesced reports how many of the batched rounds asked for exactly the
// rows another round of their statement asked for (the same token's
// validations arriving together, say) and so added no branch to it.
func (r *Reader) Coalesced() uint64 { return r.coalesced.Load() }

// query runs one read: prepared where the backend benefits (see
// preparer), otherwise formatted by bun.
func (r *Reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = detach(ctx)
	if r.prep != nil {
		if rows, ok, err := r.prep.query(ctx, q, args); ok {
			return rows, err
		}
	}
	r.queries.Add(1)
	return r.db.QueryContext(ctx, q, bunArgs(args)...)
}

// detach drops ctx's cancellation for a validation read. With a
// cancellable context, database/sql starts a goroutine per result set and
// the MySQL driver hands every query to its per-connection watcher
// goroutine, so each statement costs goroutine wake-ups that showed as the
// largest share of keystone-ng's CPU under load (futex and scheduler time
// in the profile). Reads here are short and bounded instead by the
// driver's per-I/O deadlines (Open's IOTimeout; pgdriver's timeout), so a
// stalled database still fails the request rather than hanging it.
func detach(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

func (r *Reader) Assignments(ctx context.Context, actorIDs, targetIDs []string) ([]keystone.Assignment, error) {
	actorIDs, targetIDs = nonEmptyUnique(actorIDs), nonEmptyUnique(targetIDs)
	if len(actorIDs) == 0 || len(targetIDs) == 0 {
		return nil, nil
	}
	var out []keystone.Assignment
	if err := r.run(ctx, r.assignmentsStmt(actorIDs, targetIDs, &out)); err != nil {
		return nil, err
	}
	return out, nil
}

// assignmentsStmt reads the assignments of actors on targets (both
// non-empty, de-duplicated), with their role's name and domain.
func (r *Reader) assignmentsStmt(actorIDs, targetIDs []string, out *[]keystone.Assignment) stmt {
	return stmt{sql: `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id
		FROM assignment a JOIN role r ON r.id = a.role_id
		WHERE a.actor_id IN (?) AND a.target_id IN (?)`,
		args: []any{inList(actorIDs), inList(targetIDs)}, cols: 7,
		scan: func(rows rowReader) error {
			if err := r.scanAssignmentsInto(rows, out); err != nil {
				return fmt.Errorf("assignments: %w", err)
			}
			return nil
		}}
}

func (r *Reader) SystemAssignments(ctx context.Context, actorIDs []string) ([]keystone.Assignment, error) {
	actorIDs = nonEmptyUnique(actorIDs)
	if len(actorIDs) == 0 {
		return nil, nil
	}
	var out []keystone.Assignment
	if err := r.run(ctx, r.systemAssignmentsStmt(actorIDs, &out)); err != nil {
		return nil, err
	}
	return out, nil
}

// systemAssignmentsStmt reads the system role grants of actors (non-empty,
// de-duplicated), with their role's name and domain.
func (r *Reader) systemAssignmentsStmt(actorIDs []string, out *[]keystone.Assignment) stmt {
	return stmt{sql: `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id
		FROM system_assignment a JOIN role r ON r.id = a.role_id
		WHERE a.actor_id IN (?)`,
		args: []any{inList(actorIDs)}, cols: 7,
		scan: func(rows rowReader) error {
			if err := r.scanAssignmentsInto(rows, out); err != nil {
				return fmt.Errorf("system assignments: %w", err)
			}
			return nil
		}}
}

func (r *Reader) GetRoles(ctx context.Context, ids []string) (map[string]*keystone.Role, error) {
	out := map[string]*keystone.Role{}
	ids = nonEmptyUnique(ids)
	if len(ids) == 0 {
		return out, nil
	}
	if err := r.run(ctx, r.rolesStmt(ids, out)); err != nil {
		return nil, err
	}
	return out, nil
}

// rolesStmt reads full role records (non-empty, de-duplicated ids) into
// out, with the options role_api.get_role renders. No ORDER BY, so that
// it can be a branch of a combined statement: a role has at most one row
// per option id and only one option id is rendered (roleOptionNames), so
// the order of the rows cannot change a record.
//
// Before Stein a role has neither a description nor options: those
// columns are NULL then, as Python's role record lacks them.
func rolesSQL(s Schema) string {
	desc := "r.description"
	if !s.RoleDescription {
		desc = "NULL"
	}
	if !s.RoleOptions {
		return `SELECT r.id, r.name, r.domain_id, ` + desc + `, r.extra, NULL, NULL FROM role r WHERE r.id IN (?)`
	}
	return `SELECT r.id, r.name, r.domain_id, ` + desc + `, r.extra, o.option_id, o.option_value
		FROM role r LEFT JOIN role_option o ON o.role_id = r.id WHERE r.id IN (?)`
}

func (r *Reader) rolesStmt(ids []string, out map[string]*keystone.Role) stmt {
	return stmt{sql: r.sql.roles,
		args: []any{inList(ids)}, cols: 7,
		scan: func(rows rowReader) error {
			var c struct{ id, name, dom, desc, extra, optID, optVal nullString }
			for rows.Next() {
				if err := rows.Scan(&c.id, &c.name, &c.dom, &c.desc, &c.extra, &c.optID, &c.optVal); err != nil {
					return fmt.Errorf("get roles: %w", err)
				}
				role := out[c.id.String]
				if role == nil {
					ex, err := pyjson.ParseObject([]byte(c.extra.String))
					if err != nil {
						return fmt.Errorf("role %s extra: %w", c.id.String, err)
					}
					role = &keystone.Role{ID: c.id.String, Name: c.name.String, Description: c.desc.ptr(), Extra: ex, Options: pyjson.Object{},
						Bare: !r.schema.RoleDescription && !r.schema.RoleOptions}
					if c.dom.String != nullDomainID {
						role.DomainID = c.dom.String
					}
					out[c.id.String] = role
				}
				if c.optID.Valid {
					if name, ok := roleOptionNames[c.optID.String]; ok {
						v, err := pyjson.Parse([]byte(c.optVal.String))
						if err != nil {
							return fmt.Errorf("role %s option %s: %w", c.id.String, c.optID.String, err)
						}
						role.Options.Set(name, v)
					}
				}
			}
			return nil
		}}
}

// roleOptionNames maps role_option ids to the names role_api.get_role
// renders (keystone/assignment/role_backends/resource_options.py).
var roleOptionNames = map[string]string{"IMMU": "immutable"}

func (r *Reader) Services(ctx context.Context) ([]keystone.Service, error) {
	rows, err := r.query(ctx, `SELECT s.id, s.type, s.extra, e.id, e.interface, e.region_id, e.url, e.enabled, e.extra
		FROM service s LEFT JOIN endpoint e ON e.service_id = s.id
		WHERE s.enabled = ?`, true)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	defer rows.Close()
	// No ORDER BY: sorting rows with TEXT columns makes MariaDB use an
	// on-disk temporary table. Rows are grouped here instead, services in
	// the order they first appear (Python's query has no order either).
	var out []keystone.Service
	index := map[string]int{}
	for rows.Next() {
		var (
			sid, stype                     string
			sextra                         nullString
			eid, iface, region, url, extra nullString
			enabled                        nullBool
		)
		if err := rows.Scan(&sid, &stype, &sextra, &eid, &iface, &region, &url, &enabled, &extra); err != nil {
			return nil, fmt.Errorf("services: %w", err)
		}
		si, ok := index[sid]
		if !ok {
			ex, err := pyjson.ParseObject([]byte(sextra.String))
			if err != nil {
				return nil, fmt.Errorf("service %s extra: %w", sid, err)
			}
			si = len(out)
			index[sid] = si
			out = append(out, keystone.Service{ID: sid, Type: stype, Extra: ex})
		}
		if !eid.Valid {
			continue
		}
		ex, err := pyjson.ParseObject([]byte(extra.String))
		if err != nil {
			return nil, fmt.Errorf("endpoint %s extra: %w", eid.String, err)
		}
		s := &out[si]
		s.Endpoints = append(s.Endpoints, keystone.Endpoint{
			ID: eid.String, Interface: iface.String, RegionID: region.ptr(), ServiceID: sid,
			URL: url.String, Enabled: enabled.Bool, Extra: ex,
		})
	}
	return out, rows.Err()
}

func (r *Reader) ProjectEndpoints(ctx context.Context, projectID string) (*keystone.ProjectEndpoints, error) {
	rows, err := r.query(ctx, `SELECT 'e', endpoint_id, NULL FROM project_endpoint WHERE project_id = ?
		UNION ALL
		SELECT 'g', g.id, g.filters FROM project_endpoint_group pg JOIN endpoint_group g ON g.id = pg.endpoint_group_id
		WHERE pg.project_id = ?`, projectID, projectID)
	if err != nil {
		return nil, fmt.Errorf("project endpoints: %w", err)
	}
	defer rows.Close()
	pe := &keystone.ProjectEndpoints{}
	for rows.Next() {
		var (
			kind, id string
			filters  nullString
		)
		if err := rows.Scan(&kind, &id, &filters); err != nil {
			return nil, fmt.Errorf("project endpoints: %w", err)
		}
		if kind == "e" {
			pe.EndpointIDs = append(pe.EndpointIDs, id)
			continue
		}
		f, err := pyjson.ParseObject([]byte(filters.String))
		if err != nil {
			return nil, fmt.Errorf("endpoint group %s filters: %w", id, err)
		}
		pe.Groups = append(pe.Groups, keystone.EndpointGroup{ID: id, Filters: f})
	}
	return pe, rows.Err()
}

func (r *Reader) EnabledServiceProviders(ctx context.Context) ([]keystone.ServiceProvider, error) {
	rows, err := r.query(ctx, `SELECT id, auth_url, sp_url FROM service_provider WHERE enabled = ?`, true)
	if err != nil {
		return nil, fmt.Errorf("service providers: %w", err)
	}
	defer rows.Close()
	var out []keystone.ServiceProvider
	for rows.Next() {
		var (
			sp      keystone.ServiceProvider
			au, spu nullString
		)
		if err := rows.Scan(&sp.ID, &au, &spu); err != nil {
			return nil, fmt.Errorf("service providers: %w", err)
		}
		sp.AuthURL, sp.SPURL = au.String, spu.String
		out = append(out, sp)
	}
	return out, rows.Err()
}

func (r *Reader) GetTrust(ctx context.Context, id string) (*keystone.Trust, error) {
	var t *keystone.Trust
	if err := r.run(ctx, r.trustStmt(id, &t)); err != nil {
		return nil, err
	}
	if t == nil {
		return nil, token.ErrNotFound
	}
	return t, nil
}

// trustStmt reads a trust with its role ids into *out (left nil when it
// does not exist). The role ids are sorted here rather than by the
// statement, which must be able to run as a branch of a combined one.
//
// Before Stein trusts have no redelegation columns (and are never
// redelegated): NULL then.
func trustSQL(s Schema) string {
	redel := "t.redelegated_trust_id, t.redelegation_count"
	if !s.TrustRedelegation {
		redel = "NULL, NULL"
	}
	return `SELECT t.id, t.trustor_user_id, t.trustee_user_id, t.project_id, t.impersonation,
		t.deleted_at, t.expires_at, t.expires_at_int, t.remaining_uses, ` + redel + `, tr.role_id
		FROM trust t LEFT JOIN trust_role tr ON tr.trust_id = t.id WHERE t.id = ?`
}

func (r *Reader) trustStmt(id string, out **keystone.Trust) stmt {
	return stmt{sql: r.sql.trust,
		args: []any{id}, cols: 12,
		scan: func(rows rowReader) error {
			var c struct {
				id, trustor, trustee   string
				project, redel, roleID nullString
				imp                    nullBool
				deleted, exp           nullTime
				expInt, remaining      nullInt64
				redelCount             nullInt64
			}
			var t *keystone.Trust
			for rows.Next() {
				if err := rows.Scan(&c.id, &c.trustor, &c.trustee, &c.project, &c.imp, &c.deleted, &c.exp, &c.expInt, &c.remaining, &c.redel, &c.redelCount, &c.roleID); err != nil {
					return fmt.Errorf("get trust: %w", err)
				}
				if t == nil {
					t = &keystone.Trust{ID: c.id, TrustorUserID: c.trustor, TrusteeUserID: c.trustee,
						ProjectID: c.project.String, Impersonation: c.imp.Bool, Deleted: c.deleted.Valid,
						RedelegatedTrustID: c.redel.String}
					if c.expInt.Valid && c.expInt.Int64 != 0 {
						e := sqldialect.FromMicros(c.expInt.Int64)
						t.ExpiresAt = &e
					} else {
						t.ExpiresAt = c.exp.ptr()
					}
					if c.remaining.Valid {
						v := int(c.remaining.Int64)
						t.RemainingUses = &v
					}
					if c.redelCount.Valid {
						v := int(c.redelCount.Int64)
						t.RedelegationCount = &v
					}
				}
				if c.roleID.Valid {
					t.RoleIDs = append(t.RoleIDs, c.roleID.String)
				}
			}
			if t != nil {
				slices.Sort(t.RoleIDs)
			}
			*out = t
			return nil
		}}
}

// GetAppCred reads one application credential alone; validation reads it
// with the first round (Prefetch).
func (r *Reader) GetAppCred(ctx context.Context, id string) (*keystone.AppCred, error) {
	var ac *keystone.AppCred
	if err := r.run(ctx, r.appCredStmt(id, &ac)); err != nil {
		return nil, err
	}
	if ac == nil {
		return nil, token.ErrNotFound
	}
	return ac, nil
}

// appCredSQL reads an application credential, its role ids and its access
// rules in one statement (one round trip, and a branch of the first
// round's combined statement). Should two rows share the id, the one with
// the lowest internal_id is Python's (get_application_credential's first).
//
// Before Train there are no access rules: the statement has no such
// branch.
func appCredSQL(s Schema) string {
	q := `SELECT 'c', a.id, a.name, a.user_id, a.project_id, a.unrestricted
		FROM application_credential a
		WHERE a.internal_id = (SELECT MIN(x.internal_id) FROM application_credential x WHERE x.id = ?)
	UNION ALL
	SELECT 'r', r.role_id, NULL, NULL, NULL, NULL FROM application_credential_role r
		WHERE r.application_credential_id = (SELECT MIN(x.internal_id) FROM application_credential x WHERE x.id = ?)`
	if s.AccessRules {
		q += `
	UNION ALL
	SELECT 'a', ar.external_id, ar.service, ar.path, ar.method, NULL
		FROM application_credential_access_rule y JOIN access_rule ar ON ar.id = y.access_rule_id
		WHERE y.application_credential_id = (SELECT MIN(x.internal_id) FROM application_credential x WHERE x.id = ?)`
	}
	return q
}

// appCredStmt reads the application credential id into *out (left nil
// when it does not exist). Role ids are sorted (the order in which rows
// arrive is not defined, and differs between a statement run alone and as
// a branch); access rules keep theirs.
func (r *Reader) appCredStmt(id string, out **keystone.AppCred) stmt {
	return stmt{sql: r.sql.appCred, args: repeatArg(id, r.sql.appCredBranches), cols: 6,
		scan: func(rows rowReader) error {
			var (
				c struct {
					kind        string
					a, b, cc, d nullString
					unres       nullBool
				}
				ac          keystone.AppCred
				found       bool
				roles       []string
				accessRules []keystone.AccessRule
			)
			for rows.Next() {
				if err := rows.Scan(&c.kind, &c.a, &c.b, &c.cc, &c.d, &c.unres); err != nil {
					return fmt.Errorf("get application credential: %w", err)
				}
				switch c.kind {
				case "c":
					ac = keystone.AppCred{ID: c.a.String, Name: c.b.String, UserID: c.cc.String, ProjectID: c.d.String, Unrestricted: c.unres.Bool}
					found = true
				case "r":
					roles = append(roles, c.a.String)
				default:
					accessRules = append(accessRules, keystone.AccessRule{ID: c.a.String, Service: c.b.String, Path: c.cc.String, Method: c.d.String})
				}
			}
			if found {
				slices.Sort(roles)
				ac.RoleIDs, ac.AccessRules = roles, accessRules
				*out = &ac
			}
			return nil
		}}
}

func (r *Reader) GetAccessToken(ctx context.Context, id string) (*keystone.AccessToken, error) {
	rows, err := r.query(ctx, `SELECT id, consumer_id, role_ids FROM access_token WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get access token: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, token.ErrNotFound
	}
	var (
		at    keystone.AccessToken
		roles nullString
	)
	if err := rows.Scan(&at.ID, &at.ConsumerID, &roles); err != nil {
		return nil, fmt.Errorf("get access token: %w", err)
	}
	if roles.Valid {
		v, err := pyjson.Parse([]byte(roles.String))
		if err != nil {
			return nil, fmt.Errorf("access token role_ids: %w", err)
		}
		list, _ := v.([]pyjson.Value)
		for _, e := range list {
			if s, ok := e.(string); ok {
				at.RoleIDs = append(at.RoleIDs, s)
			}
		}
	}
	return &at, rows.Err()
}

// IdentityProviderExists reads one identity provider alone; validation
// reads it with the first round (Prefetch).
func (r *Reader) IdentityProviderExists(ctx context.Context, id string) (bool, error) {
	var found bool
	err := r.run(ctx, identityProviderStmt(id, &found))
	return found, err
}

// identityProviderStmt reports in found whether the identity provider
// exists.
func identityProviderStmt(id string, found *bool) stmt {
	return stmt{sql: `SELECT id FROM identity_provider WHERE id = ?`, args: []any{id}, cols: 1,
		scan: func(rows rowReader) error {
			for rows.Next() {
				*found = true
			}
			return nil
		}}
}

// Ping checks the database is reachable (for /readyz).
func (r *Reader) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return r.db.PingContext(ctx)
}

func nonEmptyUnique(in []string) []string {
	out := in[:0:0]
	seen := make(map[string]struct{}, len(in))
	for _, s := range in {
		if s == "" {
			continue
		}
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}
