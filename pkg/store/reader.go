package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// nullDomainID is how Keystone stores "no domain" in role.domain_id.
const nullDomainID = "<<null>>"

// Reader implements token.Store on Python Keystone's tables. It only reads.
type Reader struct {
	db *bun.DB
	// quoted table names that are reserved words on some backends
	tUser, tGroup string
}

var _ token.Store = (*Reader)(nil)

// NewReader wraps an open database.
func NewReader(db *bun.DB) *Reader {
	r := &Reader{db: db}
	if db.Dialect().Name() == dialect.MySQL {
		r.tUser, r.tGroup = "`user`", "`group`"
	} else {
		r.tUser, r.tGroup = `"user"`, `"group"`
	}
	return r
}

// DB exposes the handle for health checks and metrics.
func (r *Reader) DB() *bun.DB { return r.db }

func (r *Reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(ctx, q, args...)
}

func (r *Reader) GetUser(ctx context.Context, id string) (*token.User, error) {
	// One statement of plain joins (no correlated subqueries: they cost
	// MariaDB's optimizer more than the rows they save): the user, its
	// local/nonlocal/federated name, its password history (the current
	// password is the one with the highest created_at_int, as the ORM's
	// order_by says; picked below), the inactivity-exemption option and
	// its domain row. Usually exactly one row.
	q := `SELECT u.id, u.domain_id, u.enabled, u.created_at, u.last_active_at,
		lu.name, nl.name, fu.display_name, fu.id,
		p.id, p.created_at_int, p.created_at, p.expires_at_int, p.expires_at,
		o.option_value,
		d.id, d.name, d.domain_id, d.parent_id, d.enabled, d.is_domain
		FROM ` + r.tUser + ` u
		LEFT JOIN local_user lu ON lu.user_id = u.id
		LEFT JOIN password p ON p.local_user_id = lu.id
		LEFT JOIN nonlocal_user nl ON nl.user_id = u.id
		LEFT JOIN federated_user fu ON fu.user_id = u.id
		LEFT JOIN user_option o ON o.user_id = u.id AND o.option_id = '1004'
		LEFT JOIN project d ON d.id = u.domain_id
		WHERE u.id = ?`
	rows, err := r.query(ctx, q, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	defer rows.Close()
	var (
		u               *token.User
		bestPw, bestFed int64 = -1, -1
		bestPwCreated   int64
		local, nonlocal nullString
		fedName         nullString
		pwExpInt        nullInt64
		pwExp           nullTime
		haveFed, havePw bool
	)
	for rows.Next() {
		var (
			row                    token.User
			enabled                nullBool
			created, lastActive    nullTime
			lname, nlname, fname   nullString
			fid, pid, pcInt, peInt nullInt64
			pc, pe                 nullTime
			opt                    nullString
			did, dname, ddom, dpar nullString
			denabled, disdom       nullBool
		)
		if err := rows.Scan(&row.ID, &row.DomainID, &enabled, &created, &lastActive,
			&lname, &nlname, &fname, &fid, &pid, &pcInt, &pc, &peInt, &pe, &opt,
			&did, &dname, &ddom, &dpar, &denabled, &disdom); err != nil {
			return nil, fmt.Errorf("get user: %w", err)
		}
		if u == nil {
			row.Enabled = enabled.Valid && enabled.Bool
			row.CreatedAt = created.ptr()
			row.LastActiveAt = lastActive.ptr()
			row.IgnoreInactivity = opt.Valid && strings.TrimSpace(opt.String) == "true"
			if did.Valid {
				row.Domain = &token.Project{ID: did.String, Name: dname.String, DomainID: ddom.String, ParentID: dpar.String,
					Enabled: denabled.Valid && denabled.Bool, IsDomain: disdom.Bool}
			}
			u = &row
			local, nonlocal = lname, nlname
		}
		// federated_users[0]: the relationship's default order, by id.
		if fid.Valid && (!haveFed || fid.Int64 < bestFed) {
			haveFed, bestFed, fedName = true, fid.Int64, fname
		}
		if pid.Valid {
			// Password.created_at is "created_at_int or _created_at".
			created := pcInt.Int64
			if !pcInt.Valid || created == 0 {
				created = pc.Time.UnixMicro()
			}
			if !havePw || created > bestPwCreated || (created == bestPwCreated && pid.Int64 > bestPw) {
				havePw, bestPw, bestPwCreated, pwExpInt, pwExp = true, pid.Int64, created, peInt, pe
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	if u == nil {
		return nil, token.ErrNotFound
	}
	switch {
	case local.Valid:
		u.Name = local.String
	case nonlocal.Valid:
		u.Name = nonlocal.String
	case haveFed:
		u.Name = fedName.String
	}
	// Password.expires_at is "expires_at_int or _expires_at".
	if havePw {
		if pwExpInt.Valid && pwExpInt.Int64 != 0 {
			t := microsToTime(pwExpInt.Int64)
			u.PasswordExpiresAt = &t
		} else {
			u.PasswordExpiresAt = pwExp.ptr()
		}
	}
	return u, nil
}

func (r *Reader) ListMemberships(ctx context.Context, userID string) ([]token.Membership, error) {
	q := `SELECT m.group_id, 0, NULL, NULL FROM user_group_membership m WHERE m.user_id = ?
		UNION ALL
		SELECT e.group_id, 1, e.last_verified, i.authorization_ttl FROM expiring_user_group_membership e
		LEFT JOIN identity_provider i ON i.id = e.idp_id WHERE e.user_id = ?`
	rows, err := r.query(ctx, q, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	var out []token.Membership
	for rows.Next() {
		var (
			m   token.Membership
			exp nullInt64
			lv  nullTime
			ttl nullInt64
		)
		if err := rows.Scan(&m.GroupID, &exp, &lv, &ttl); err != nil {
			return nil, fmt.Errorf("list memberships: %w", err)
		}
		m.Expiring = exp.Int64 == 1
		m.LastVerified = lv.Time
		if ttl.Valid {
			v := int(ttl.Int64)
			m.IdPTTLMinutes = &v
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

const projectCols = `id, name, domain_id, parent_id, enabled, is_domain`

func scanProject(rows *sql.Rows) (*token.Project, error) {
	var (
		p                 token.Project
		parent            nullString
		enabled, isDomain nullBool
	)
	if err := rows.Scan(&p.ID, &p.Name, &p.DomainID, &parent, &enabled, &isDomain); err != nil {
		return nil, err
	}
	p.ParentID = parent.String
	p.Enabled = enabled.Valid && enabled.Bool
	p.IsDomain = isDomain.Bool
	return &p, nil
}

func (r *Reader) GetProjects(ctx context.Context, ids ...string) (map[string]*token.Project, error) {
	out := make(map[string]*token.Project, len(ids))
	ids = nonEmptyUnique(ids)
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := r.query(ctx, `SELECT `+projectCols+` FROM project WHERE id IN (?)`, bun.In(ids))
	if err != nil {
		return nil, fmt.Errorf("get projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("get projects: %w", err)
		}
		out[p.ID] = p
	}
	return out, rows.Err()
}

// maxProjectDepth bounds the parent walk; Keystone's own
// [DEFAULT] max_project_tree_depth defaults to 5, and a corrupt cycle must
// not loop forever.
const maxProjectDepth = 64

// lineageJoins is how many ancestors one lineage query fetches: a project,
// four levels of parents and the domain cover the usual trees in one
// statement; deeper trees (Keystone's max_project_tree_depth is 5 by
// default) take one more statement per lineageJoins+1 levels.
const lineageJoins = 4

var lineageSQL = func() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := 0; i <= lineageJoins; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "p%d.id, p%d.name, p%d.domain_id, p%d.parent_id, p%d.enabled, p%d.is_domain", i, i, i, i, i, i)
	}
	b.WriteString(" FROM project p0")
	for i := 1; i <= lineageJoins; i++ {
		fmt.Fprintf(&b, " LEFT JOIN project p%d ON p%d.id = p%d.parent_id", i, i, i-1)
	}
	b.WriteString(" WHERE p0.id = ?")
	return b.String()
}()

func (r *Reader) ProjectLineage(ctx context.Context, projectID string) ([]*token.Project, error) {
	// A chain of self-joins on the primary key: far cheaper on MariaDB
	// than a recursive CTE, which materialises a temporary table.
	var out []*token.Project
	seen := map[string]bool{}
	next := projectID
	for next != "" && len(out) < maxProjectDepth {
		rows, err := r.query(ctx, lineageSQL, next)
		if err != nil {
			return nil, fmt.Errorf("project lineage: %w", err)
		}
		next = ""
		if rows.Next() {
			cols := make([]any, 0, 6*(lineageJoins+1))
			type rowT struct {
				id, name, dom, parent nullString
				enabled, isDomain     nullBool
			}
			vals := make([]rowT, lineageJoins+1)
			for i := range vals {
				v := &vals[i]
				cols = append(cols, &v.id, &v.name, &v.dom, &v.parent, &v.enabled, &v.isDomain)
			}
			if err := rows.Scan(cols...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("project lineage: %w", err)
			}
			for _, v := range vals {
				if !v.id.Valid || seen[v.id.String] {
					break
				}
				seen[v.id.String] = true
				out = append(out, &token.Project{ID: v.id.String, Name: v.name.String, DomainID: v.dom.String,
					ParentID: v.parent.String, Enabled: v.enabled.Valid && v.enabled.Bool, IsDomain: v.isDomain.Bool})
			}
			if last := out[len(out)-1]; len(out)%(lineageJoins+1) == 0 && last.ParentID != "" && !seen[last.ParentID] {
				next = last.ParentID
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("project lineage: %w", err)
		}
	}
	return out, nil
}

func (r *Reader) scanAssignments(rows *sql.Rows) ([]token.Assignment, error) {
	defer rows.Close()
	var out []token.Assignment
	for rows.Next() {
		var (
			a         token.Assignment
			inherited nullBool
			dom       nullString
		)
		if err := rows.Scan(&a.Type, &a.ActorID, &a.TargetID, &a.RoleID, &inherited, &a.RoleName, &dom); err != nil {
			return nil, err
		}
		a.Inherited = inherited.Bool
		if dom.String != nullDomainID {
			a.RoleDomainID = dom.String
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (r *Reader) Assignments(ctx context.Context, actorIDs, targetIDs []string) ([]token.Assignment, error) {
	actorIDs, targetIDs = nonEmptyUnique(actorIDs), nonEmptyUnique(targetIDs)
	if len(actorIDs) == 0 || len(targetIDs) == 0 {
		return nil, nil
	}
	rows, err := r.query(ctx, `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id
		FROM assignment a JOIN role r ON r.id = a.role_id
		WHERE a.actor_id IN (?) AND a.target_id IN (?)`, bun.In(actorIDs), bun.In(targetIDs))
	if err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	out, err := r.scanAssignments(rows)
	if err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	return out, nil
}

func (r *Reader) UserAssignments(ctx context.Context, userID string, targetIDs []string) ([]token.Assignment, error) {
	targetIDs = nonEmptyUnique(targetIDs)
	if len(targetIDs) == 0 {
		return nil, nil
	}
	rows, err := r.query(ctx, `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id
		FROM assignment a JOIN role r ON r.id = a.role_id
		WHERE a.target_id IN (?) AND (a.actor_id = ?
			OR a.actor_id IN (SELECT m.group_id FROM user_group_membership m WHERE m.user_id = ?)
			OR a.actor_id IN (SELECT e.group_id FROM expiring_user_group_membership e WHERE e.user_id = ?))`,
		bun.In(targetIDs), userID, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("user assignments: %w", err)
	}
	out, err := r.scanAssignments(rows)
	if err != nil {
		return nil, fmt.Errorf("user assignments: %w", err)
	}
	return out, nil
}

func (r *Reader) SystemAssignments(ctx context.Context, actorIDs []string) ([]token.Assignment, error) {
	actorIDs = nonEmptyUnique(actorIDs)
	if len(actorIDs) == 0 {
		return nil, nil
	}
	rows, err := r.query(ctx, `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id
		FROM system_assignment a JOIN role r ON r.id = a.role_id
		WHERE a.actor_id IN (?)`, bun.In(actorIDs))
	if err != nil {
		return nil, fmt.Errorf("system assignments: %w", err)
	}
	out, err := r.scanAssignments(rows)
	if err != nil {
		return nil, fmt.Errorf("system assignments: %w", err)
	}
	return out, nil
}

func (r *Reader) ImpliedRoles(ctx context.Context) ([]token.Implied, error) {
	rows, err := r.query(ctx, `SELECT i.prior_role_id, i.implied_role_id, r.name, r.domain_id
		FROM implied_role i JOIN role r ON r.id = i.implied_role_id`)
	if err != nil {
		return nil, fmt.Errorf("implied roles: %w", err)
	}
	defer rows.Close()
	var out []token.Implied
	for rows.Next() {
		var (
			i   token.Implied
			dom nullString
		)
		if err := rows.Scan(&i.PriorID, &i.ImpliedID, &i.ImpliedName, &dom); err != nil {
			return nil, fmt.Errorf("implied roles: %w", err)
		}
		if dom.String != nullDomainID {
			i.ImpliedDomID = dom.String
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

func (r *Reader) GetRoles(ctx context.Context, ids []string) (map[string]*token.Role, error) {
	out := map[string]*token.Role{}
	ids = nonEmptyUnique(ids)
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := r.query(ctx, `SELECT r.id, r.name, r.domain_id, r.description, r.extra, o.option_id, o.option_value
		FROM role r LEFT JOIN role_option o ON o.role_id = r.id WHERE r.id IN (?) ORDER BY r.id, o.option_id`, bun.In(ids))
	if err != nil {
		return nil, fmt.Errorf("get roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, name         string
			dom, desc, extra nullString
			optID, optVal    nullString
		)
		if err := rows.Scan(&id, &name, &dom, &desc, &extra, &optID, &optVal); err != nil {
			return nil, fmt.Errorf("get roles: %w", err)
		}
		role := out[id]
		if role == nil {
			ex, err := pyjson.ParseObject([]byte(extra.String))
			if err != nil {
				return nil, fmt.Errorf("role %s extra: %w", id, err)
			}
			role = &token.Role{ID: id, Name: name, Description: desc.ptr(), Extra: ex, Options: pyjson.Object{}}
			if dom.String != nullDomainID {
				role.DomainID = dom.String
			}
			out[id] = role
		}
		if optID.Valid {
			if name, ok := roleOptionNames[optID.String]; ok {
				v, err := pyjson.Parse([]byte(optVal.String))
				if err != nil {
					return nil, fmt.Errorf("role %s option %s: %w", id, optID.String, err)
				}
				role.Options.Set(name, v)
			}
		}
	}
	return out, rows.Err()
}

// roleOptionNames maps role_option ids to the names role_api.get_role
// renders (keystone/assignment/role_backends/resource_options.py).
var roleOptionNames = map[string]string{"IMMU": "immutable"}

func (r *Reader) RevocationEvents(ctx context.Context, rq token.RevocationQuery) ([]token.RevocationEvent, error) {
	var (
		where = []string{"issued_before >= ?"}
		args  = []any{rq.IssuedAt.UTC().Format("2006-01-02 15:04:05")}
	)
	if ids := nonEmptyUnique(rq.UserIDs); len(ids) > 0 {
		where = append(where, "(user_id IS NULL OR user_id IN (?))")
		args = append(args, bun.In(ids))
	} else {
		where = append(where, "user_id IS NULL")
	}
	if rq.ProjectID != "" {
		where = append(where, "(project_id IS NULL OR project_id = ?)")
		args = append(args, rq.ProjectID)
	} else {
		where = append(where, "project_id IS NULL")
	}
	if rq.AuditID != "" {
		where = append(where, "(audit_id IS NULL OR audit_id = ?)")
		args = append(args, rq.AuditID)
	} else {
		where = append(where, "audit_id IS NULL")
	}
	q := `SELECT domain_id, project_id, user_id, role_id, trust_id, consumer_id, access_token_id,
		audit_id, audit_chain_id, issued_before, expires_at, revoked_at FROM revocation_event WHERE ` + strings.Join(where, " AND ")
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("revocation events: %w", err)
	}
	defer rows.Close()
	var out []token.RevocationEvent
	for rows.Next() {
		var (
			dom, proj, user, role, trust, consumer, at, audit, chain nullString
			ib, exp, rev                                             nullTime
		)
		if err := rows.Scan(&dom, &proj, &user, &role, &trust, &consumer, &at, &audit, &chain, &ib, &exp, &rev); err != nil {
			return nil, fmt.Errorf("revocation events: %w", err)
		}
		out = append(out, token.RevocationEvent{
			DomainID: dom.String, ProjectID: proj.String, UserID: user.String, RoleID: role.String,
			TrustID: trust.String, ConsumerID: consumer.String, AccessTokenID: at.String,
			AuditID: audit.String, AuditChainID: chain.String,
			IssuedBefore: ib.Time, ExpiresAt: exp.ptr(), RevokedAt: rev.Time,
		})
	}
	return out, rows.Err()
}

func (r *Reader) Services(ctx context.Context) ([]token.Service, error) {
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
	var out []token.Service
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
			out = append(out, token.Service{ID: sid, Type: stype, Extra: ex})
		}
		if !eid.Valid {
			continue
		}
		ex, err := pyjson.ParseObject([]byte(extra.String))
		if err != nil {
			return nil, fmt.Errorf("endpoint %s extra: %w", eid.String, err)
		}
		s := &out[si]
		s.Endpoints = append(s.Endpoints, token.Endpoint{
			ID: eid.String, Interface: iface.String, RegionID: region.ptr(), ServiceID: sid,
			URL: url.String, Enabled: enabled.Bool, Extra: ex,
		})
	}
	return out, rows.Err()
}

func (r *Reader) ProjectEndpoints(ctx context.Context, projectID string) (*token.ProjectEndpoints, error) {
	rows, err := r.query(ctx, `SELECT 'e', endpoint_id, NULL FROM project_endpoint WHERE project_id = ?
		UNION ALL
		SELECT 'g', g.id, g.filters FROM project_endpoint_group pg JOIN endpoint_group g ON g.id = pg.endpoint_group_id
		WHERE pg.project_id = ?`, projectID, projectID)
	if err != nil {
		return nil, fmt.Errorf("project endpoints: %w", err)
	}
	defer rows.Close()
	pe := &token.ProjectEndpoints{}
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
		pe.Groups = append(pe.Groups, token.EndpointGroup{ID: id, Filters: f})
	}
	return pe, rows.Err()
}

func (r *Reader) EnabledServiceProviders(ctx context.Context) ([]token.ServiceProvider, error) {
	rows, err := r.query(ctx, `SELECT id, auth_url, sp_url FROM service_provider WHERE enabled = ?`, true)
	if err != nil {
		return nil, fmt.Errorf("service providers: %w", err)
	}
	defer rows.Close()
	var out []token.ServiceProvider
	for rows.Next() {
		var (
			sp      token.ServiceProvider
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

func (r *Reader) GetTrust(ctx context.Context, id string) (*token.Trust, error) {
	rows, err := r.query(ctx, `SELECT t.id, t.trustor_user_id, t.trustee_user_id, t.project_id, t.impersonation,
		t.deleted_at, t.expires_at, t.expires_at_int, t.remaining_uses, t.redelegated_trust_id, tr.role_id
		FROM trust t LEFT JOIN trust_role tr ON tr.trust_id = t.id WHERE t.id = ? ORDER BY tr.role_id`, id)
	if err != nil {
		return nil, fmt.Errorf("get trust: %w", err)
	}
	defer rows.Close()
	var t *token.Trust
	for rows.Next() {
		var (
			tr                     token.Trust
			project, redel, roleID nullString
			imp                    nullBool
			deleted, exp           nullTime
			expInt, remaining      nullInt64
		)
		if err := rows.Scan(&tr.ID, &tr.TrustorUserID, &tr.TrusteeUserID, &project, &imp, &deleted, &exp, &expInt, &remaining, &redel, &roleID); err != nil {
			return nil, fmt.Errorf("get trust: %w", err)
		}
		if t == nil {
			tr.ProjectID, tr.Impersonation, tr.Deleted = project.String, imp.Bool, deleted.Valid
			tr.RedelegatedTrustID = redel.String
			if expInt.Valid && expInt.Int64 != 0 {
				e := microsToTime(expInt.Int64)
				tr.ExpiresAt = &e
			} else {
				tr.ExpiresAt = exp.ptr()
			}
			if remaining.Valid {
				v := int(remaining.Int64)
				tr.RemainingUses = &v
			}
			t = &tr
		}
		if roleID.Valid {
			t.RoleIDs = append(t.RoleIDs, roleID.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get trust: %w", err)
	}
	if t == nil {
		return nil, token.ErrNotFound
	}
	return t, nil
}

func (r *Reader) GetAppCred(ctx context.Context, id string) (*token.AppCred, error) {
	rows, err := r.query(ctx, `SELECT a.internal_id, a.id, a.name, a.user_id, a.project_id, a.unrestricted
		FROM application_credential a WHERE a.id = ? ORDER BY a.internal_id LIMIT 1`, id)
	if err != nil {
		return nil, fmt.Errorf("get application credential: %w", err)
	}
	var (
		ac       token.AppCred
		internal int64
		project  nullString
		unres    nullBool
		found    bool
	)
	for rows.Next() {
		if err := rows.Scan(&internal, &ac.ID, &ac.Name, &ac.UserID, &project, &unres); err != nil {
			rows.Close()
			return nil, fmt.Errorf("get application credential: %w", err)
		}
		found = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get application credential: %w", err)
	}
	if !found {
		return nil, token.ErrNotFound
	}
	ac.ProjectID, ac.Unrestricted = project.String, unres.Bool
	rows, err = r.query(ctx, `SELECT 'r', role_id, NULL, NULL, NULL FROM application_credential_role WHERE application_credential_id = ?
		UNION ALL
		SELECT 'a', ar.external_id, ar.service, ar.path, ar.method FROM application_credential_access_rule x
		JOIN access_rule ar ON ar.id = x.access_rule_id WHERE x.application_credential_id = ?`, internal, internal)
	if err != nil {
		return nil, fmt.Errorf("application credential roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind              string
			id                nullString
			svc, path, method nullString
		)
		if err := rows.Scan(&kind, &id, &svc, &path, &method); err != nil {
			return nil, fmt.Errorf("application credential roles: %w", err)
		}
		if kind == "r" {
			ac.RoleIDs = append(ac.RoleIDs, id.String)
		} else {
			ac.AccessRules = append(ac.AccessRules, token.AccessRule{ID: id.String, Service: svc.String, Path: path.String, Method: method.String})
		}
	}
	return &ac, rows.Err()
}

func (r *Reader) GetAccessToken(ctx context.Context, id string) (*token.AccessToken, error) {
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
		at    token.AccessToken
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

func (r *Reader) IdentityProviderExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_provider WHERE id = ?`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("identity provider: %w", err)
	}
	return n > 0, nil
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

// IsNotFound reports a missing row.
func IsNotFound(err error) bool { return errors.Is(err, token.ErrNotFound) }
