package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/uptrace/bun"
)

// Provisioning writes what a federated login provisions: the shadow user
// (Python's user and federated_user rows), expiring group memberships,
// the role assignments the mapping grants (assignment, recorded in
// ng_federation_grant), and the JWT replay record (ng_jwt_jti). Python's
// rows are written with the columns and value formats Python's own code
// writes (keystone/identity/backends/sql.py, keystone/identity/shadow_users/
// backends/sql.py, keystone/assignment/backends/sql.py).
type Provisioning struct {
	db    *bun.DB
	tUser string
}

// NewProvisioning wraps an open database.
func NewProvisioning(db *bun.DB) *Provisioning {
	return &Provisioning{db: db, tUser: sqldialect.FromBun(db.Dialect().Name()).User()}
}

// ProvisionGrant is one role assignment a mapping gives its user (Python's
// assignment row without inherited, which is always false here).
type ProvisionGrant struct {
	Type, TargetID, RoleID string
}

// ProvisionPlan is everything one federated login writes.
type ProvisionPlan struct {
	IdPID, ProtocolID string
	// JTI, when set, is recorded until JTIExpires; a JTI already recorded
	// for the IdP is ErrReplayedJTI.
	JTI        string
	JTIExpires time.Time
	// UserID is the existing user the mapping names; empty: the shadow
	// user of (ShadowDomainID, UniqueID) is created or updated.
	UserID         string
	ShadowUserID   string
	ShadowDomainID string
	UniqueID       string
	DisplayName    string
	// SetLastActive writes last_active_at of a shadow user, as Python
	// does when [security_compliance] disable_user_account_days_inactive
	// is set.
	SetLastActive bool
	GroupIDs      []string
	Grants        []ProvisionGrant
	Now           time.Time
}

// ErrReplayedJTI is a JWT id the identity provider already used.
var ErrReplayedJTI = errors.New("replayed jti")

// ErrShadowUserTaken is a shadow user id that already names a user who
// is not this identity provider's federated user (same unique id mapped
// by another IdP of the domain, or a concurrent first login).
var ErrShadowUserTaken = errors.New("shadow user id already taken")

// FederatedUserID returns the user of a federated identity; "" when
// there is none.
func (p *Provisioning) FederatedUserID(ctx context.Context, idpID, protocolID, uniqueID string) (string, error) {
	var id string
	err := p.db.QueryRowContext(ctx, `SELECT user_id FROM federated_user WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`,
		idpID, protocolID, uniqueID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// DomainEnabled reports whether the domain exists and whether it is
// enabled.
func (p *Provisioning) DomainEnabled(ctx context.Context, domainID string) (exists, enabled bool, err error) {
	var on nullBool
	err = p.db.QueryRowContext(ctx, `SELECT enabled FROM project WHERE id = ? AND is_domain = ?`, domainID, true).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, on.Bool, nil
}

// Provision writes plan in one transaction and returns the user id and
// the Undo that reverts exactly those writes.
func (p *Provisioning) Provision(ctx context.Context, plan *ProvisionPlan) (string, *Undo, error) {
	var (
		userID string
		undo   *Undo
	)
	err := p.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w := &provisionTx{p: p, tx: tx, undo: &Undo{db: p.db}} // a retried transaction starts over
		id, err := w.run(ctx, plan)
		userID, undo = id, w.undo
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return userID, undo, nil
}

// provisionTx is one Provision transaction and what would revert it.
type provisionTx struct {
	p    *Provisioning
	tx   bun.Tx
	undo *Undo
}

func (w *provisionTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := w.tx.ExecContext(ctx, q, args...)
	return err
}

func (w *provisionTx) run(ctx context.Context, plan *ProvisionPlan) (string, error) {
	if plan.JTI != "" {
		if err := w.exec(ctx, `INSERT INTO ng_jwt_jti (idp_id, jti, expires_at) VALUES (?, ?, ?)`,
			plan.IdPID, plan.JTI, plan.JTIExpires.UTC().UnixMicro()); err != nil {
			if sqldialect.IsDuplicate(err) {
				return "", ErrReplayedJTI
			}
			return "", fmt.Errorf("insert ng_jwt_jti: %w", err)
		}
		w.undo.add(`DELETE FROM ng_jwt_jti WHERE idp_id = ? AND jti = ?`, plan.IdPID, plan.JTI)
	}
	userID := plan.UserID
	if userID == "" {
		id, err := w.shadowUser(ctx, plan)
		if err != nil {
			return "", err
		}
		userID = id
	}
	for _, g := range plan.GroupIDs {
		if err := w.addExpiring(ctx, plan.IdPID, userID, g, plan.Now); err != nil {
			return "", err
		}
	}
	if err := w.syncGrants(ctx, plan.IdPID, userID, plan.Grants, plan.Now); err != nil {
		return "", err
	}
	return userID, nil
}

// shadowUser is Python's _shadow_federated_user: update the display name
// of an existing federated user, or create user + federated_user.
func (w *provisionTx) shadowUser(ctx context.Context, plan *ProvisionPlan) (string, error) {
	var id string
	var oldName any
	err := w.tx.QueryRowContext(ctx, `SELECT user_id, display_name FROM federated_user WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`,
		plan.IdPID, plan.ProtocolID, plan.UniqueID).Scan(&id, &oldName)
	switch {
	case err == nil:
		if err := w.exec(ctx, `UPDATE federated_user SET display_name = ? WHERE idp_id = ? AND protocol_id = ? AND unique_id = ? AND (display_name IS NULL OR display_name <> ?)`,
			plan.DisplayName, plan.IdPID, plan.ProtocolID, plan.UniqueID, plan.DisplayName); err != nil {
			return "", err
		}
		w.undo.add(`UPDATE federated_user SET display_name = ? WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`, oldName, plan.IdPID, plan.ProtocolID, plan.UniqueID)
	case errors.Is(err, sql.ErrNoRows):
		id = plan.ShadowUserID
		if err := w.exec(ctx, `INSERT INTO `+w.p.tUser+` (id, extra, enabled, default_project_id, created_at, last_active_at, domain_id)
			VALUES (?, ?, ?, NULL, ?, NULL, ?)`, id, "{}", true, sqldialect.DateTime(plan.Now), plan.ShadowDomainID); err != nil {
			if sqldialect.IsDuplicate(err) {
				return "", ErrShadowUserTaken
			}
			return "", fmt.Errorf("insert user: %w", err)
		}
		w.undo.add(`DELETE FROM `+w.p.tUser+` WHERE id = ?`, id)
		if err := w.exec(ctx, `INSERT INTO federated_user (user_id, idp_id, protocol_id, unique_id, display_name) VALUES (?, ?, ?, ?, ?)`,
			id, plan.IdPID, plan.ProtocolID, plan.UniqueID, plan.DisplayName); err != nil {
			return "", fmt.Errorf("insert federated_user: %w", err)
		}
		w.undo.add(`DELETE FROM federated_user WHERE user_id = ? AND idp_id = ? AND protocol_id = ?`, id, plan.IdPID, plan.ProtocolID)
	default:
		return "", err
	}
	if plan.SetLastActive {
		// set_last_active_at: utcnow().date()
		var last any
		if err := w.tx.QueryRowContext(ctx, `SELECT last_active_at FROM `+w.p.tUser+` WHERE id = ?`, id).Scan(&last); err != nil {
			return "", err
		}
		if err := w.exec(ctx, `UPDATE `+w.p.tUser+` SET last_active_at = ? WHERE id = ?`, sqldialect.Date(plan.Now), id); err != nil {
			return "", err
		}
		w.undo.add(`UPDATE `+w.p.tUser+` SET last_active_at = ? WHERE id = ?`, last, id)
	}
	return id, nil
}

// addExpiring is Python's add_user_to_group_expires.
func (w *provisionTx) addExpiring(ctx context.Context, idpID, userID, groupID string, now time.Time) error {
	// Existence is read, not inferred from RowsAffected: MySQL counts
	// changed rows only, and a second login within the column's
	// precision (DATETIME: one second) changes nothing.
	var last any
	err := w.tx.QueryRowContext(ctx, `SELECT last_verified FROM expiring_user_group_membership WHERE user_id = ? AND group_id = ?`,
		userID, groupID).Scan(&last)
	switch {
	case err == nil:
		if err := w.exec(ctx, `UPDATE expiring_user_group_membership SET last_verified = ? WHERE user_id = ? AND group_id = ?`,
			sqldialect.DateTime(now), userID, groupID); err != nil {
			return err
		}
		w.undo.add(`UPDATE expiring_user_group_membership SET last_verified = ? WHERE user_id = ? AND group_id = ?`, last, userID, groupID)
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if err := w.exec(ctx, `INSERT INTO expiring_user_group_membership (user_id, group_id, idp_id, last_verified) VALUES (?, ?, ?, ?)`,
		userID, groupID, idpID, sqldialect.DateTime(now)); err != nil {
		return err
	}
	w.undo.add(`DELETE FROM expiring_user_group_membership WHERE user_id = ? AND group_id = ?`, userID, groupID)
	return nil
}

// Statements on Python's assignment table and keystone-ng's record of the
// assignments a mapping made.
const (
	insertAssignment = `INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`
	deleteAssignment = `DELETE FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`
	insertGrant      = `INSERT INTO ng_federation_grant (idp_id, type, actor_id, target_id, role_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	deleteGrant      = `DELETE FROM ng_federation_grant WHERE idp_id = ? AND type = ? AND actor_id = ? AND target_id = ? AND role_id = ?`
)

// madeGrants reads the assignments earlier logins of this IdP made for
// the user, with when each was made.
func (w *provisionTx) madeGrants(ctx context.Context, idpID, userID string) (map[ProvisionGrant]int64, error) {
	rows, err := w.tx.QueryContext(ctx, `SELECT type, target_id, role_id, created_at FROM ng_federation_grant WHERE idp_id = ? AND actor_id = ?`, idpID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	had := map[ProvisionGrant]int64{}
	for rows.Next() {
		var g ProvisionGrant
		var at int64
		if err := rows.Scan(&g.Type, &g.TargetID, &g.RoleID, &at); err != nil {
			return nil, err
		}
		had[g] = at
	}
	return had, rows.Err()
}

// syncGrants makes the user's mapping-made grants equal to want: new ones
// are inserted (and recorded, unless an identical assignment already
// existed: that one is the admin's), recorded ones no longer wanted are
// deleted. Assignments made by hand are never touched.
func (w *provisionTx) syncGrants(ctx context.Context, idpID, userID string, want []ProvisionGrant, now time.Time) error {
	had, err := w.madeGrants(ctx, idpID, userID)
	if err != nil {
		return err
	}
	wantSet := map[ProvisionGrant]bool{}
	for _, g := range want {
		wantSet[g] = true
	}
	for _, g := range sortedGrants(wantSet) {
		if _, ok := had[g]; ok {
			continue
		}
		var n int
		if err := w.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
			g.Type, userID, g.TargetID, g.RoleID, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue // the admin's
		}
		if err := w.exec(ctx, insertAssignment, g.Type, userID, g.TargetID, g.RoleID, false); err != nil {
			return fmt.Errorf("insert assignment: %w", err)
		}
		if err := w.exec(ctx, insertGrant, idpID, g.Type, userID, g.TargetID, g.RoleID, now.UTC().UnixMicro()); err != nil {
			return err
		}
		w.undo.add(deleteAssignment, g.Type, userID, g.TargetID, g.RoleID, false)
		w.undo.add(deleteGrant, idpID, g.Type, userID, g.TargetID, g.RoleID)
	}
	for g, at := range had {
		if wantSet[g] {
			continue
		}
		if err := w.exec(ctx, deleteAssignment, g.Type, userID, g.TargetID, g.RoleID, false); err != nil {
			return err
		}
		if err := w.exec(ctx, deleteGrant, idpID, g.Type, userID, g.TargetID, g.RoleID); err != nil {
			return err
		}
		w.undo.add(insertAssignment, g.Type, userID, g.TargetID, g.RoleID, false)
		w.undo.add(insertGrant, idpID, g.Type, userID, g.TargetID, g.RoleID, at)
	}
	return nil
}

// sortedGrants orders a set of grants so that inserts always run in the
// same order (no lock-order deadlock between two logins of one user).
func sortedGrants(set map[ProvisionGrant]bool) []ProvisionGrant {
	out := make([]ProvisionGrant, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.TargetID != b.TargetID {
			return a.TargetID < b.TargetID
		}
		return a.RoleID < b.RoleID
	})
	return out
}

// Undo reverts one committed Provision. It exists because the token of a
// login is issued after the provisioning commits (issuing validates the
// token through the shared reader, which cannot see uncommitted rows); a
// login the issuer then refuses must leave the database as it found it.
type Undo struct {
	db  *bun.DB
	ops []undoOp
}

type undoOp struct {
	q    string
	args []any
}

func (u *Undo) add(q string, args ...any) { u.ops = append(u.ops, undoOp{q: q, args: args}) }

// Run reverts the provisioning in one transaction, last write first. Safe
// on a nil Undo and when run twice.
func (u *Undo) Run(ctx context.Context) error {
	if u == nil || len(u.ops) == 0 {
		return nil
	}
	err := u.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := len(u.ops) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, u.ops[i].q, u.ops[i].args...); err != nil {
				return fmt.Errorf("%s: %w", u.ops[i].q, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.ops = nil
	return nil
}

// PurgeJTIs deletes the replay records (ng_jwt_jti) of JWTs that expired
// before now: a replayed JWT past its expiry is refused by its exp claim.
func (p *Provisioning) PurgeJTIs(ctx context.Context, now time.Time) (int64, error) {
	res, err := p.db.ExecContext(ctx, `DELETE FROM ng_jwt_jti WHERE expires_at < ?`, sqldialect.Micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
