package store

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/uptrace/bun/dialect"
)

// stmt is one SELECT with the code that reads its result set. Statements
// are built separately from running them so that the validation lookups can
// be sent together: on MySQL/MariaDB and PostgreSQL as one combined
// statement (combine.go), on SQLite concurrently.
type stmt struct {
	sql  string
	args []any
	// cols is the number of columns sql selects (every branch of a
	// UNION ALL alike); combine pads to the widest.
	cols int
	// scan reads every row of the statement's result set: *sql.Rows, or
	// the statement's share of a combined statement's rows.
	scan func(rowReader) error
}

// rowReader is the part of *sql.Rows the scanners use.
type rowReader interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// run executes one statement.
func (r *Reader) run(ctx context.Context, st stmt) error {
	rows, err := r.query(ctx, st.sql, st.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := st.scan(rows); err != nil {
		return err
	}
	return rows.Err()
}

// runAll executes statements that do not depend on each other. On MySQL,
// MariaDB and PostgreSQL they travel as one combined prepared statement
// (or, should the server refuse prepared statements, MySQL's one
// multi-statement query): one round trip, one execution and one connection
// instead of one each, which matters more than anything else for the
// throughput of validation there. On SQLite they run concurrently.
func (r *Reader) runAll(ctx context.Context, sts []stmt) error {
	switch {
	case len(sts) == 0:
		return nil
	case len(sts) == 1:
		return r.run(ctx, sts[0])
	case r.prep != nil && !r.prep.off.Load() && !r.prep.noUnion.Load():
		// One combined prepared statement costs the server less than the
		// same reads one by one, and one round trip (combine.go).
		if done, err := r.runCombined(ctx, sts); done {
			return err
		}
	}
	switch {
	case r.prep != nil && !r.prep.off.Load() && r.multi:
		// Prepared statements cost MariaDB less than one multi-statement
		// text query of the same reads, round trips included.
		for _, st := range sts {
			if err := r.run(ctx, st); err != nil {
				return err
			}
		}
		return nil
	case r.multi:
		gen := r.db.QueryGen()
		parts := make([]string, len(sts))
		for i, st := range sts {
			parts[i] = gen.FormatQuery(st.sql, bunArgs(st.args)...)
		}
		r.queries.Add(1)
		rows, err := r.db.DB.QueryContext(detach(ctx), strings.Join(parts, ";\n"))
		if err != nil {
			return err
		}
		defer rows.Close()
		for i, st := range sts {
			if i > 0 && !rows.NextResultSet() {
				if err := rows.Err(); err != nil {
					return err
				}
				return fmt.Errorf("store: statement %d of %d returned no result set", i+1, len(sts))
			}
			if err := st.scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sts))
	for i := range sts[1:] {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = r.run(ctx, sts[i])
		}(i + 1)
	}
	errs[0] = r.run(ctx, sts[0])
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// --- users

// userRead is what the user statement found.
type userRead struct {
	user *keystone.User // nil: no such user
	// named: the user's name was found (in local_user, or with the full
	// statement in nonlocal_user/federated_user too).
	named bool
	// local: the user has a local_user row.
	local bool
}

// userJoinsFull and userJoinsSlim are the two forms of the user statement.
// The full one reads the user, its local/nonlocal/federated name, its
// password history (the current password is the one with the highest
// created_at_int, as the ORM's order_by says), the inactivity-exemption
// option and its domain row, in plain joins (correlated subqueries cost
// MariaDB's optimizer more than the rows they save). The slim one, used
// for the first round of a validation, leaves out the nonlocal and
// federated names and the option: each join is a table MariaDB opens and
// probes for every token, and those three rows matter only for users
// without a local_user row (read then by userNamesStmt) and when
// [security_compliance] disable_user_account_days_inactive is set.
// Measured on MariaDB: the slim statement costs about 30 us of server CPU
// less per validation (docs/performance.md).
const (
	userColsFull = `lu.name, nl.name, fu.display_name, fu.id,
		p.id, p.created_at_int, p.created_at, p.expires_at_int, p.expires_at,
		o.option_value,`
	userJoinsFull = `
		LEFT JOIN local_user lu ON lu.user_id = u.id
		LEFT JOIN password p ON p.local_user_id = lu.id
		LEFT JOIN nonlocal_user nl ON nl.user_id = u.id
		LEFT JOIN federated_user fu ON fu.user_id = u.id
		LEFT JOIN user_option o ON o.user_id = u.id AND o.option_id = '1004'
		LEFT JOIN project d ON d.id = u.domain_id`
	userColsSlim = `lu.name, NULL, NULL, NULL,
		p.id, p.created_at_int, p.created_at, p.expires_at_int, p.expires_at,
		NULL,`
	userJoinsSlim = `
		LEFT JOIN local_user lu ON lu.user_id = u.id
		LEFT JOIN password p ON p.local_user_id = lu.id
		LEFT JOIN project d ON d.id = u.domain_id`
)

// userSQL builds the slim and the full user statement for a user table
// name (quoted for the dialect), once per Reader.
func userSQL(tUser string) [2]string {
	q := func(cols, joins string) string {
		return `SELECT u.id, u.domain_id, u.enabled, u.created_at, u.last_active_at,
		` + cols + `
		d.id, d.name, d.domain_id, d.parent_id, d.enabled, d.is_domain
		FROM ` + tUser + ` u` + joins + `
		WHERE u.id = ?`
	}
	return [2]string{q(userColsSlim, userJoinsSlim), q(userColsFull, userJoinsFull)}
}

// userStmt reads a user in one statement, fully or slim (see above).
func (r *Reader) userStmt(id string, full bool, out *userRead) stmt {
	q := r.sql.user[0]
	if full {
		q = r.sql.user[1]
	}
	return stmt{sql: q, args: []any{id}, cols: 21, scan: func(rows rowReader) error {
		var (
			u             *keystone.User
			names         userNames
			bestPw        int64
			bestPwCreated int64
			local         nullString
			pwExpInt      nullInt64
			pwExp         nullTime
			havePw        bool
		)
		// The scan destinations live in one value for all rows: each
		// local whose address goes to Scan is a heap allocation of its
		// own (they escape through the interface), per row.
		var c struct {
			id, domainID           string
			enabled                nullBool
			created, lastActive    nullTime
			lname, nlname, fname   nullString
			fid, pid, pcInt, peInt nullInt64
			pc, pe                 nullTime
			opt                    nullString
			did, dname, ddom, dpar nullString
			denabled, disdom       nullBool
		}
		for rows.Next() {
			if err := rows.Scan(&c.id, &c.domainID, &c.enabled, &c.created, &c.lastActive,
				&c.lname, &c.nlname, &c.fname, &c.fid, &c.pid, &c.pcInt, &c.pc, &c.peInt, &c.pe, &c.opt,
				&c.did, &c.dname, &c.ddom, &c.dpar, &c.denabled, &c.disdom); err != nil {
				return fmt.Errorf("get user: %w", err)
			}
			if u == nil {
				u = &keystone.User{ID: c.id, DomainID: c.domainID,
					Enabled:          c.enabled.Valid && c.enabled.Bool,
					CreatedAt:        c.created.ptr(),
					LastActiveAt:     c.lastActive.ptr(),
					IgnoreInactivity: c.opt.Valid && strings.TrimSpace(c.opt.String) == "true"}
				if c.did.Valid {
					u.Domain = &keystone.Project{ID: c.did.String, Name: c.dname.String, DomainID: c.ddom.String, ParentID: c.dpar.String,
						Enabled: c.denabled.Valid && c.denabled.Bool, IsDomain: c.disdom.Bool}
				}
				local = c.lname
				names.nonlocal = c.nlname
			}
			names.addFederated(c.fid, c.fname)
			if c.pid.Valid {
				// Password.created_at is "created_at_int or _created_at".
				pwCreated := c.pcInt.Int64
				if !c.pcInt.Valid || pwCreated == 0 {
					pwCreated = c.pc.Time.UnixMicro()
				}
				if !havePw || pwCreated > bestPwCreated || (pwCreated == bestPwCreated && c.pid.Int64 > bestPw) {
					havePw, bestPw, bestPwCreated, pwExpInt, pwExp = true, c.pid.Int64, pwCreated, c.peInt, c.pe
				}
			}
		}
		if u == nil {
			return rows.Err()
		}
		if local.Valid {
			u.Name = local.String
			out.named, out.local = true, true
		} else if full {
			out.named = names.apply(u)
		}
		// Password.expires_at is "expires_at_int or _expires_at".
		if havePw {
			if pwExpInt.Valid && pwExpInt.Int64 != 0 {
				t := sqldialect.FromMicros(pwExpInt.Int64)
				u.PasswordExpiresAt = &t
			} else {
				u.PasswordExpiresAt = pwExp.ptr()
			}
		}
		out.user = u
		return rows.Err()
	}}
}

// userNames is the name of a user without a local_user row: the
// nonlocal_user name, else federated_users[0] (the relationship's default
// order, by id).
type userNames struct {
	nonlocal nullString
	fedName  nullString
	fedID    int64
	haveFed  bool
}

func (n *userNames) addFederated(id nullInt64, name nullString) {
	if id.Valid && (!n.haveFed || id.Int64 < n.fedID) {
		n.haveFed, n.fedID, n.fedName = true, id.Int64, name
	}
}

func (n *userNames) apply(u *keystone.User) bool {
	switch {
	case n.nonlocal.Valid:
		u.Name = n.nonlocal.String
	case n.haveFed:
		u.Name = n.fedName.String
	default:
		return false
	}
	return true
}

// userNamesStmt reads the names a user without a local_user row has
// (nonlocal_user, federated_user) into *out, to complete a slim user read.
func userNamesStmt(userID string, out *userNames) stmt {
	return stmt{cols: 3, sql: `SELECT nl.name, NULL, NULL FROM nonlocal_user nl WHERE nl.user_id = ?
		UNION ALL
		SELECT NULL, fu.display_name, fu.id FROM federated_user fu WHERE fu.user_id = ?`,
		args: []any{userID, userID},
		scan: func(rows rowReader) error {
			var c struct {
				nl, fname nullString
				fid       nullInt64
			}
			for rows.Next() {
				if err := rows.Scan(&c.nl, &c.fname, &c.fid); err != nil {
					return fmt.Errorf("user names: %w", err)
				}
				if c.nl.Valid {
					out.nonlocal = c.nl
				}
				out.addFederated(c.fid, c.fname)
			}
			return nil
		}}
}

func (r *Reader) GetUser(ctx context.Context, id string) (*keystone.User, error) {
	var ur userRead
	if err := r.run(ctx, r.userStmt(id, true, &ur)); err != nil {
		return nil, err
	}
	if ur.user == nil {
		return nil, token.ErrNotFound
	}
	return ur.user, nil
}

// membershipsSQL reads a user's group memberships: regular ones and, where
// the schema has them, expiring ones with their identity provider's
// authorization_ttl. It has one placeholder per branch, each the user id.
func membershipsSQL(s Schema) string {
	q := `SELECT m.group_id, 0, NULL, NULL FROM user_group_membership m WHERE m.user_id = ?`
	if s.ExpiringMemberships {
		ttl := "i.authorization_ttl"
		if !s.IdPAuthorizationTTL {
			ttl = "NULL"
		}
		q += `
		UNION ALL
		SELECT e.group_id, 1, e.last_verified, ` + ttl + ` FROM expiring_user_group_membership e
		LEFT JOIN identity_provider i ON i.id = e.idp_id WHERE e.user_id = ?`
	}
	return q
}

func (r *Reader) membershipsStmt(userID string, out *[]keystone.Membership) stmt {
	return stmt{cols: 4, sql: r.sql.memberships, args: repeatArg(userID, r.sql.membershipBranches),
		scan: func(rows rowReader) error {
			var c struct {
				group    string
				exp, ttl nullInt64
				lv       nullTime
			}
			for rows.Next() {
				if err := rows.Scan(&c.group, &c.exp, &c.lv, &c.ttl); err != nil {
					return fmt.Errorf("list memberships: %w", err)
				}
				m := keystone.Membership{GroupID: c.group, Expiring: c.exp.Int64 == 1, LastVerified: c.lv.Time}
				if c.ttl.Valid {
					v := int(c.ttl.Int64)
					m.IdPTTLMinutes = &v
				}
				*out = append(*out, m)
			}
			return nil
		}}
}

func (r *Reader) ListMemberships(ctx context.Context, userID string) ([]keystone.Membership, error) {
	var out []keystone.Membership
	err := r.run(ctx, r.membershipsStmt(userID, &out))
	return out, err
}

// --- projects

func projectsStmt(ids []string, out map[string]*keystone.Project) stmt {
	return stmt{cols: 6, sql: `SELECT id, name, domain_id, parent_id, enabled, is_domain FROM project WHERE id IN (?)`,
		args: []any{inList(ids)},
		scan: func(rows rowReader) error {
			var c struct {
				id, name, domainID string
				parent             nullString
				enabled, isDomain  nullBool
			}
			for rows.Next() {
				if err := rows.Scan(&c.id, &c.name, &c.domainID, &c.parent, &c.enabled, &c.isDomain); err != nil {
					return fmt.Errorf("get projects: %w", err)
				}
				out[c.id] = &keystone.Project{ID: c.id, Name: c.name, DomainID: c.domainID, ParentID: c.parent.String,
					Enabled: c.enabled.Valid && c.enabled.Bool, IsDomain: c.isDomain.Bool}
			}
			return nil
		}}
}

func (r *Reader) GetProjects(ctx context.Context, ids ...string) (map[string]*keystone.Project, error) {
	out := make(map[string]*keystone.Project, len(ids))
	ids = nonEmptyUnique(ids)
	if len(ids) == 0 {
		return out, nil
	}
	err := r.run(ctx, projectsStmt(ids, out))
	return out, err
}

// maxProjectDepth bounds the parent walk; Keystone's own
// [DEFAULT] max_project_tree_depth defaults to 5, and a corrupt cycle must
// not loop forever.
const maxProjectDepth = 64

// lineageJoins is how many ancestors one lineage statement fetches: the
// project, its parent and grandparent, which covers a project directly under
// its domain and one level of nesting in one statement; deeper trees
// (Keystone's max_project_tree_depth is 5 by default) take one more
// statement per lineageJoins+1 levels. Each join is a table the database
// opens and probes even when the parent is NULL: on MariaDB four joins cost
// about 40 us more per validation than two, paid by every token, so the
// rarer deep trees pay the extra round trip instead. A chain of
// self-joins on the primary key is far cheaper on MariaDB than a recursive
// CTE, which materialises a temporary table.
const lineageJoins = 2

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

// lineageStmt appends up to lineageJoins+1 levels starting at projectID to
// *out, skipping ids already seen (a corrupt cycle).
func lineageStmt(projectID string, out *[]*keystone.Project) stmt {
	return stmt{sql: lineageSQL, cols: 6 * (lineageJoins + 1), args: []any{projectID}, scan: func(rows rowReader) error {
		type level struct {
			id, name, dom, parent nullString
			enabled, isDomain     nullBool
		}
		var vals [lineageJoins + 1]level
		cols := make([]any, 0, 6*(lineageJoins+1))
		for i := range vals {
			v := &vals[i]
			cols = append(cols, &v.id, &v.name, &v.dom, &v.parent, &v.enabled, &v.isDomain)
		}
		for rows.Next() {
			if err := rows.Scan(cols...); err != nil {
				return fmt.Errorf("project lineage: %w", err)
			}
			for _, v := range vals {
				if !v.id.Valid || containsProject(*out, v.id.String) {
					break
				}
				*out = append(*out, &keystone.Project{ID: v.id.String, Name: v.name.String, DomainID: v.dom.String,
					ParentID: v.parent.String, Enabled: v.enabled.Valid && v.enabled.Bool, IsDomain: v.isDomain.Bool})
			}
		}
		return nil
	}}
}

func containsProject(ps []*keystone.Project, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

// continueLineage fetches further levels while the walk stopped at a
// project that still has a parent.
func (r *Reader) continueLineage(ctx context.Context, out *[]*keystone.Project) error {
	for len(*out) > 0 && len(*out) < maxProjectDepth {
		last := (*out)[len(*out)-1]
		if last.ParentID == "" || containsProject(*out, last.ParentID) {
			return nil
		}
		n := len(*out)
		if err := r.run(ctx, lineageStmt(last.ParentID, out)); err != nil {
			return err
		}
		if len(*out) == n {
			return nil // the parent row is missing
		}
	}
	return nil
}

func (r *Reader) ProjectLineage(ctx context.Context, projectID string) ([]*keystone.Project, error) {
	var out []*keystone.Project
	if err := r.run(ctx, lineageStmt(projectID, &out)); err != nil {
		return nil, err
	}
	return out, r.continueLineage(ctx, &out)
}

// --- roles

func (r *Reader) scanAssignmentsInto(rows rowReader, out *[]keystone.Assignment) error {
	var c struct {
		a         keystone.Assignment
		inherited nullBool
		dom       nullString
	}
	for rows.Next() {
		if err := rows.Scan(&c.a.Type, &c.a.ActorID, &c.a.TargetID, &c.a.RoleID, &c.inherited, &c.a.RoleName, &c.dom); err != nil {
			return err
		}
		a := c.a
		a.Inherited = c.inherited.Bool
		if c.dom.String != nullDomainID {
			a.RoleDomainID = c.dom.String
		}
		*out = append(*out, a)
	}
	return nil
}

// userAssignmentsSQL is one indexed branch per kind of actor. A single
// WHERE with "actor_id = ? OR actor_id IN (membership subquery)" cannot use
// the actor_id index for the OR, so MariaDB scanned the whole assignment
// table for every domain-scoped or trust token (seen with EXPLAIN on 200k
// rows); each branch here is an index lookup. A group held through both a
// regular and an expiring membership yields its rows twice, which the
// role computation de-duplicates.
//
// The branch through expiring memberships exists only where the schema has
// them (Schema.ExpiringMemberships).
func userAssignmentsSQL(s Schema) string {
	const cols = `SELECT a.type, a.actor_id, a.target_id, a.role_id, a.inherited, r.name, r.domain_id`
	q := cols + `
		FROM assignment a JOIN role r ON r.id = a.role_id
		WHERE a.actor_id = ? AND a.target_id IN (?)
	UNION ALL
	` + cols + `
		FROM user_group_membership m JOIN assignment a ON a.actor_id = m.group_id JOIN role r ON r.id = a.role_id
		WHERE m.user_id = ? AND a.target_id IN (?)`
	if s.ExpiringMemberships {
		q += `
	UNION ALL
	` + cols + `
		FROM expiring_user_group_membership e JOIN assignment a ON a.actor_id = e.group_id JOIN role r ON r.id = a.role_id
		WHERE e.user_id = ? AND a.target_id IN (?)`
	}
	return q
}

func (r *Reader) userAssignmentsStmt(userID string, targetIDs []string, out *[]keystone.Assignment) stmt {
	in := inList(targetIDs)
	args := make([]any, 0, 2*r.sql.membershipBranches+2)
	for range r.sql.membershipBranches + 1 {
		args = append(args, userID, in)
	}
	return stmt{sql: r.sql.userAssignments, cols: 7, args: args,
		scan: func(rows rowReader) error {
			if err := r.scanAssignmentsInto(rows, out); err != nil {
				return fmt.Errorf("user assignments: %w", err)
			}
			return nil
		}}
}

func (r *Reader) UserAssignments(ctx context.Context, userID string, targetIDs []string) ([]keystone.Assignment, error) {
	targetIDs = nonEmptyUnique(targetIDs)
	if len(targetIDs) == 0 {
		return nil, nil
	}
	var out []keystone.Assignment
	err := r.run(ctx, r.userAssignmentsStmt(userID, targetIDs, &out))
	return out, err
}

func impliedStmt(out *[]keystone.Implied) stmt {
	return stmt{cols: 4, sql: `SELECT i.prior_role_id, i.implied_role_id, r.name, r.domain_id
		FROM implied_role i JOIN role r ON r.id = i.implied_role_id`,
		scan: func(rows rowReader) error {
			var c struct {
				i   keystone.Implied
				dom nullString
			}
			for rows.Next() {
				if err := rows.Scan(&c.i.PriorID, &c.i.ImpliedID, &c.i.ImpliedName, &c.dom); err != nil {
					return fmt.Errorf("implied roles: %w", err)
				}
				i := c.i
				if c.dom.String != nullDomainID {
					i.ImpliedDomID = c.dom.String
				}
				*out = append(*out, i)
			}
			return nil
		}}
}

func (r *Reader) ImpliedRoles(ctx context.Context) ([]keystone.Implied, error) {
	var out []keystone.Implied
	err := r.run(ctx, impliedStmt(&out))
	return out, err
}

// --- revocation

// The forms of the revocation pre-filter: which of the user, project and
// audit conditions compare with a value (the others match only NULL).
const (
	revokeByUser = 1 << iota
	revokeByProject
	revokeByAudit
)

// revocationSQL is the statement of each form, built once: the same text
// (the same string) every request, as the combined-statement cache and the
// prepared-statement cache want.
var revocationSQL = func() (out [8]string) {
	for form := range out {
		where := []string{"issued_before >= ?"}
		cond := func(bit int, match, null string) {
			if form&bit != 0 {
				where = append(where, match)
			} else {
				where = append(where, null)
			}
		}
		cond(revokeByUser, "(user_id IS NULL OR user_id IN (?))", "user_id IS NULL")
		cond(revokeByProject, "(project_id IS NULL OR project_id = ?)", "project_id IS NULL")
		cond(revokeByAudit, "(audit_id IS NULL OR audit_id = ?)", "audit_id IS NULL")
		out[form] = `SELECT domain_id, project_id, user_id, role_id, trust_id, consumer_id, access_token_id,
		audit_id, audit_chain_id, issued_before, expires_at, revoked_at FROM revocation_event WHERE ` + strings.Join(where, " AND ")
	}
	return out
}()

// revocationStmt is Python's SQL pre-filter
// (keystone/revoke/backends/sql.py _list_token_events).
func revocationStmt(rq token.RevocationQuery, out *[]keystone.RevocationEvent) stmt {
	args := make([]any, 1, 4)
	args[0] = rq.IssuedAt.UTC().Format("2006-01-02 15:04:05")
	form := 0
	if ids := nonEmptyUnique(rq.UserIDs); len(ids) > 0 {
		form |= revokeByUser
		args = append(args, inList(ids))
	}
	if rq.ProjectID != "" {
		form |= revokeByProject
		args = append(args, rq.ProjectID)
	}
	if rq.AuditID != "" {
		form |= revokeByAudit
		args = append(args, rq.AuditID)
	}
	q := revocationSQL[form]
	return stmt{sql: q, args: args, cols: 12, scan: func(rows rowReader) error {
		var c struct {
			dom, proj, user, role, trust, consumer, at, audit, chain nullString
			ib, exp, rev                                             nullTime
		}
		for rows.Next() {
			if err := rows.Scan(&c.dom, &c.proj, &c.user, &c.role, &c.trust, &c.consumer, &c.at, &c.audit, &c.chain, &c.ib, &c.exp, &c.rev); err != nil {
				return fmt.Errorf("revocation events: %w", err)
			}
			*out = append(*out, keystone.RevocationEvent{
				DomainID: c.dom.String, ProjectID: c.proj.String, UserID: c.user.String, RoleID: c.role.String,
				TrustID: c.trust.String, ConsumerID: c.consumer.String, AccessTokenID: c.at.String,
				AuditID: c.audit.String, AuditChainID: c.chain.String,
				IssuedBefore: c.ib.Time, ExpiresAt: c.exp.ptr(), RevokedAt: c.rev.Time,
			})
		}
		return nil
	}}
}

func (r *Reader) RevocationEvents(ctx context.Context, rq token.RevocationQuery) ([]keystone.RevocationEvent, error) {
	var out []keystone.RevocationEvent
	err := r.run(ctx, revocationStmt(rq, &out))
	return out, err
}

// --- the first round of a validation

// Prefetch reads in one round trip what a validation needs first (see
// token.Prefetcher).
func (r *Reader) Prefetch(ctx context.Context, q token.PrefetchQuery) (*token.Prefetched, error) {
	out := &token.Prefetched{Domains: map[string]*keystone.Project{}}
	var ur userRead
	fullUser := q.UserInactivity
	sts := []stmt{
		r.userStmt(q.UserID, fullUser, &ur),
		r.membershipsStmt(q.UserID, &out.Memberships),
		impliedStmt(&out.Implied),
	}
	if q.ProjectID != "" {
		sts = append(sts, lineageStmt(q.ProjectID, &out.Lineage))
	}
	if q.DomainID != "" {
		sts = append(sts, projectsStmt([]string{q.DomainID}, out.Domains))
		if q.DomainAssignments {
			sts = append(sts, r.userAssignmentsStmt(q.UserID, []string{q.DomainID}, &out.Assignments))
		}
	}
	if h := q.AssignmentHint; h != nil {
		actors, targets := nonEmptyUnique(h.Actors), nonEmptyUnique(h.Targets)
		if len(actors) > 0 && len(targets) > 0 {
			sts = append(sts, r.assignmentsStmt(actors, targets, &out.Assignments))
		}
	}
	var names userNames
	namesRead := q.UserNames && !fullUser
	if namesRead {
		sts = append(sts, userNamesStmt(q.UserID, &names))
	}
	if q.Revocation != nil {
		sts = append(sts, revocationStmt(*q.Revocation, &out.Events))
	}
	if q.IdentityProvider != "" {
		sts = append(sts, identityProviderStmt(q.IdentityProvider, &out.IdentityProviderExists))
	}
	if actors := nonEmptyUnique(q.SystemActors); len(actors) > 0 {
		sts = append(sts, r.systemAssignmentsStmt(actors, &out.SystemAssignments))
	}
	if ids := nonEmptyUnique(q.Roles); len(ids) > 0 {
		out.Roles = map[string]*keystone.Role{}
		sts = append(sts, r.rolesStmt(ids, out.Roles))
	}
	if q.AppCred != "" {
		sts = append(sts, r.appCredStmt(q.AppCred, &out.AppCred))
	}
	var trustor userRead
	if tq := q.Trust; tq != nil {
		sts = append(sts, r.trustStmt(tq.ID, &out.Trust))
		if tq.TrustorID != "" {
			sts = append(sts, r.userStmt(tq.TrustorID, fullUser, &trustor),
				r.membershipsStmt(tq.TrustorID, &out.TrustorMemberships))
			if targets := nonEmptyUnique(tq.TrustorTargets); len(targets) > 0 {
				sts = append(sts, r.userAssignmentsStmt(tq.TrustorID, targets, &out.TrustorAssignments))
			}
		}
	}
	if err := r.runAll(ctx, sts); err != nil {
		return nil, err
	}
	if trustor.user != nil {
		// A trustor without a local_user row has its names read now
		// (rare: no hint for them).
		if !trustor.named && !fullUser {
			var tn userNames
			if err := r.run(ctx, userNamesStmt(q.Trust.TrustorID, &tn)); err != nil {
				return nil, err
			}
			tn.apply(trustor.user)
		}
		out.Trustor = trustor.user
	}
	out.User = ur.user
	out.UserNonLocal = ur.user != nil && !ur.local
	if ur.user != nil && !ur.named && !fullUser {
		if !namesRead {
			if err := r.run(ctx, userNamesStmt(q.UserID, &names)); err != nil {
				return nil, err
			}
		}
		names.apply(ur.user)
	}
	if err := r.continueLineage(ctx, &out.Lineage); err != nil {
		return nil, err
	}
	return out, nil
}

var _ token.Prefetcher = (*Reader)(nil)

// multiStatements reports whether the dialect can run several statements
// in one query (MySQL/MariaDB with the DSN flag set in ParseURL).
func multiStatements(d dialect.Name) bool { return d == dialect.MySQL }
