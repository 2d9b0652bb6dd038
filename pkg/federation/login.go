package federation

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/mapping"
	"github.com/uptrace/bun"
)

// Login is a successful federated login, ready to be turned into a token
// (issue.Grant with Methods ["mapped"] and Federation).
type Login struct {
	IdPID       string
	UserID      string
	GroupIDs    []string
	Scope       issue.Scope
	MaxLifetime time.Duration

	svc  *Service
	undo undoLog
}

// Rollback undoes the login's provisioning: the caller refused the login
// after it was provisioned (the issuer would not mint its token), and a
// refused login writes nothing. Safe on a nil Login.
func (l *Login) Rollback(ctx context.Context) error {
	if l == nil || l.svc == nil || len(l.undo) == 0 {
		return nil
	}
	err := l.svc.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := len(l.undo) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, l.undo[i].q, l.undo[i].args...); err != nil {
				return fmt.Errorf("%s: %w", l.undo[i].q, err)
			}
		}
		return nil
	})
	if err != nil {
		l.svc.opt.Log.ErrorContext(ctx, "federated login refused after provisioning; undoing the provisioning failed", "idp_id", l.IdPID, "user_id", l.UserID, "error", err)
		return err
	}
	l.undo = nil
	return nil
}

// undoOp is one statement that reverts one provisioning write; an
// undoLog is run last to first.
type undoOp struct {
	q    string
	args []any
}

type undoLog []undoOp

func (u *undoLog) add(q string, args ...any) { *u = append(*u, undoOp{q: q, args: args}) }

// Grant is the issue.Grant of the login.
func (l *Login) Grant() issue.Grant {
	return issue.Grant{
		UserID:      l.UserID,
		Methods:     []string{"mapped"},
		Scope:       l.Scope,
		MaxLifetime: l.MaxLifetime,
		Federation:  &issue.Federation{IdentityProviderID: l.IdPID, ProtocolID: ProtocolID, GroupIDs: l.GroupIDs},
	}
}

// refuse is the generic 401; the cause goes to the log only.
func refuse(format string, a ...any) *apierror.Error {
	e := apierror.Unauthorized()
	e.Cause = fmt.Errorf(format, a...)
	return e
}

// ShadowUserID is the id Python gives a federated user
// (keystone/identity/id_generators/sha256.py over the local entity
// {domain_id, entity_type "user", local_id unique_id}, keys sorted).
func ShadowUserID(domainID, uniqueID string) string {
	h := sha256.New()
	h.Write([]byte(domainID))
	h.Write([]byte("user"))
	h.Write([]byte(uniqueID))
	return hex.EncodeToString(h.Sum(nil))
}

// JWTLogin is the workload login: verify the bearer JWT against the IdP,
// evaluate the mapping (mappingName, else the IdP's default_mapping),
// then provision in one transaction (jti record, shadow user, expiring
// group memberships, grants). Every refusal is a 401 with the cause in
// Cause, and writes nothing; an unknown IdP is 404.
func (s *Service) JWTLogin(ctx context.Context, idpID, raw, mappingName string) (*Login, error) {
	p, err := s.GetIdP(ctx, idpID)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, refuse("identity provider %s is disabled", p.ID)
	}
	if raw == "" {
		return nil, refuse("no bearer JWT")
	}
	v, err := s.VerifyJWT(ctx, p, raw)
	if err != nil {
		return nil, refuse("identity provider %s: JWT refused: %v", p.ID, err)
	}
	return s.login(ctx, p, v, mappingName)
}

// login maps verified claims and provisions (shared with the OIDC flows).
func (s *Service) login(ctx context.Context, p *IdP, v *Verified, mappingName string) (*Login, error) {
	if mappingName == "" {
		if p.DefaultMapping == nil {
			return nil, refuse("identity provider %s: no mapping requested and no default_mapping", p.ID)
		}
		mappingName = *p.DefaultMapping
	}
	stored, err := s.GetMapping(ctx, p.ID, mappingName)
	if err != nil {
		if ae := apierror.As(err); ae.Code == 404 {
			return nil, refuse("identity provider %s: mapping %q not found", p.ID, mappingName)
		}
		return nil, err
	}
	m, err := mapping.Parse(append(append([]byte(`{"rules":`), stored.Rules...), '}'))
	if err != nil {
		return nil, apierror.Internal(fmt.Errorf("stored mapping %s/%s no longer parses: %w", p.ID, mappingName, err))
	}
	res, err := m.Evaluate(v.Claims)
	if err != nil {
		return nil, refuse("identity provider %s: mapping %q: %v", p.ID, mappingName, err)
	}
	rr, err := s.resolveRule(ctx, s.db, p, m.Rules[res.Rule])
	if err != nil {
		var re *refError
		var be *boundsError
		if errors.As(err, &re) || errors.As(err, &be) {
			return nil, refuse("identity provider %s: mapping %q rules[%d]: %v", p.ID, mappingName, res.Rule, err)
		}
		return nil, apierror.Internal(err)
	}
	now := s.opt.Now()
	userID := rr.UserID
	if userID == "" {
		// An existing shadow user is checked like any user; a new one
		// will live in the IdP's domain, which must be enabled.
		err := s.db.QueryRowContext(ctx, `SELECT user_id FROM federated_user WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`,
			p.ID, ProtocolID, res.UniqueID).Scan(&userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if err := s.domainUsable(ctx, p.ShadowDomainID); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, apierror.Internal(err)
		}
	}
	// Who may obtain a token is one rule, Python's, shared with validation
	// and every other login (identity.Checker.Usable): checked before
	// anything is written.
	if userID != "" {
		if err := s.usable(ctx, userID); err != nil {
			return nil, err
		}
	}
	var undo undoLog
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		undo = nil // a retried transaction starts over
		if v.JTI != "" {
			if len(v.JTI) > 255 {
				return refuse("jti longer than 255 bytes")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ng_jwt_jti (idp_id, jti, expires_at) VALUES (?, ?, ?)`,
				p.ID, v.JTI, micros(v.Expiry.Add(s.opt.Leeway))); err != nil {
				if isDuplicate(err) {
					return refuse("identity provider %s: replayed jti %q", p.ID, v.JTI)
				}
				return err
			}
			undo.add(`DELETE FROM ng_jwt_jti WHERE idp_id = ? AND jti = ?`, p.ID, v.JTI)
		}
		if rr.UserID == "" {
			id, err := s.shadowUser(ctx, tx, &undo, p, res.UniqueID, res.UserName, now)
			if err != nil {
				return err
			}
			userID = id
		}
		for _, g := range rr.GroupIDs {
			if err := s.addExpiring(ctx, tx, &undo, p.ID, userID, g, now); err != nil {
				return err
			}
		}
		return s.syncGrants(ctx, tx, &undo, p.ID, userID, rr.Grants, now)
	})
	if err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, apierror.Internal(fmt.Errorf("federated login provisioning: %w", err))
	}
	l := &Login{IdPID: p.ID, UserID: userID, GroupIDs: rr.GroupIDs, MaxLifetime: res.MaxTokenLifetime, svc: s, undo: undo}
	if l.GroupIDs == nil {
		l.GroupIDs = []string{}
	}
	l.Scope = issue.Scope{ProjectID: rr.ProjectID, DomainID: rr.DomainID}
	return l, nil
}

// usable applies the one rule of who may obtain a token
// (identity.Checker.Usable: enabled with Python's inactivity rule, domain
// enabled, not locked out).
func (s *Service) usable(ctx context.Context, userID string) error {
	_, err := s.opt.Users.Usable(ctx, userID)
	return err
}

// domainUsable refuses a login whose new shadow user would live in a
// disabled (or missing) domain.
func (s *Service) domainUsable(ctx context.Context, domainID string) error {
	var enabled any
	err := s.db.QueryRowContext(ctx, `SELECT enabled FROM project WHERE id = ? AND is_domain = ?`, domainID, true).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return refuse("domain %s of the identity provider not found", domainID)
	}
	if err != nil {
		return apierror.Internal(err)
	}
	if !truthy(enabled) {
		return refuse("domain %s of the identity provider is disabled", domainID)
	}
	return nil
}

// shadowUser is Python's _shadow_federated_user: update the display name
// of an existing federated user, or create user + federated_user.
func (s *Service) shadowUser(ctx context.Context, tx bun.Tx, undo *undoLog, p *IdP, uniqueID, name string, now time.Time) (string, error) {
	var id string
	var oldName any
	err := tx.QueryRowContext(ctx, `SELECT user_id, display_name FROM federated_user WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`,
		p.ID, ProtocolID, uniqueID).Scan(&id, &oldName)
	switch {
	case err == nil:
		if _, err := tx.ExecContext(ctx, `UPDATE federated_user SET display_name = ? WHERE idp_id = ? AND protocol_id = ? AND unique_id = ? AND (display_name IS NULL OR display_name <> ?)`,
			name, p.ID, ProtocolID, uniqueID, name); err != nil {
			return "", err
		}
		undo.add(`UPDATE federated_user SET display_name = ? WHERE idp_id = ? AND protocol_id = ? AND unique_id = ?`, oldName, p.ID, ProtocolID, uniqueID)
	case errors.Is(err, sql.ErrNoRows):
		id = ShadowUserID(p.ShadowDomainID, uniqueID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.tUser+` (id, extra, enabled, default_project_id, created_at, last_active_at, domain_id)
			VALUES (?, ?, ?, NULL, ?, NULL, ?)`, id, "{}", true, pyDateTime(now), p.ShadowDomainID); err != nil {
			if isDuplicate(err) {
				// Python's id generator derives the id from the domain and
				// the unique id only, so the same unique id mapped by two
				// identity providers of one domain names one user. Python
				// answers that with a 409 too (create_federated_user's
				// handle_conflicts); taking the existing user over for a
				// second IdP would let one IdP log in as another's users.
				// A concurrent first login of the same user also lands
				// here; retrying then finds the user.
				return "", apierror.New(http.StatusConflict, fmt.Sprintf(
					"Conflict occurred attempting to store federated_user - user %s (unique id %q in domain %s) already exists: it was created for another (or a deleted) identity provider of the domain, or by a concurrent login, which a retry resolves. Delete that user or map a different unique id.",
					id, uniqueID, p.ShadowDomainID))
			}
			return "", fmt.Errorf("insert user: %w", err)
		}
		undo.add(`DELETE FROM `+s.tUser+` WHERE id = ?`, id)
		if _, err := tx.ExecContext(ctx, `INSERT INTO federated_user (user_id, idp_id, protocol_id, unique_id, display_name) VALUES (?, ?, ?, ?, ?)`,
			id, p.ID, ProtocolID, uniqueID, name); err != nil {
			return "", fmt.Errorf("insert federated_user: %w", err)
		}
		undo.add(`DELETE FROM federated_user WHERE user_id = ? AND idp_id = ? AND protocol_id = ?`, id, p.ID, ProtocolID)
	default:
		return "", err
	}
	if s.opt.DisableUserAccountDaysInactive > 0 {
		// set_last_active_at: utcnow().date()
		var last any
		if err := tx.QueryRowContext(ctx, `SELECT last_active_at FROM `+s.tUser+` WHERE id = ?`, id).Scan(&last); err != nil {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+s.tUser+` SET last_active_at = ? WHERE id = ?`, now.UTC().Format("2006-01-02"), id); err != nil {
			return "", err
		}
		undo.add(`UPDATE `+s.tUser+` SET last_active_at = ? WHERE id = ?`, last, id)
	}
	return id, nil
}

// addExpiring is Python's add_user_to_group_expires.
func (s *Service) addExpiring(ctx context.Context, tx bun.Tx, undo *undoLog, idpID, userID, groupID string, now time.Time) error {
	// Existence is read, not inferred from RowsAffected: MySQL counts
	// changed rows only, and a second login within the column's
	// precision (DATETIME: one second) changes nothing.
	var last any
	err := tx.QueryRowContext(ctx, `SELECT last_verified FROM expiring_user_group_membership WHERE user_id = ? AND group_id = ?`,
		userID, groupID).Scan(&last)
	switch {
	case err == nil:
		if _, err := tx.ExecContext(ctx, `UPDATE expiring_user_group_membership SET last_verified = ? WHERE user_id = ? AND group_id = ?`,
			pyDateTime(now), userID, groupID); err != nil {
			return err
		}
		undo.add(`UPDATE expiring_user_group_membership SET last_verified = ? WHERE user_id = ? AND group_id = ?`, last, userID, groupID)
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO expiring_user_group_membership (user_id, group_id, idp_id, last_verified) VALUES (?, ?, ?, ?)`,
		userID, groupID, idpID, pyDateTime(now)); err != nil {
		return err
	}
	undo.add(`DELETE FROM expiring_user_group_membership WHERE user_id = ? AND group_id = ?`, userID, groupID)
	return nil
}

// syncGrants makes the user's mapping-made grants equal to want: new ones
// are inserted (and recorded, unless an identical assignment already
// existed: that one is the admin's), recorded ones no longer wanted are
// deleted. Assignments made by hand are never touched.
func (s *Service) syncGrants(ctx context.Context, tx bun.Tx, undo *undoLog, idpID, userID string, want []assignment, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT type, target_id, role_id, created_at FROM ng_federation_grant WHERE idp_id = ? AND actor_id = ?`, idpID, userID)
	if err != nil {
		return err
	}
	had := map[assignment]bool{}
	createdAt := map[assignment]int64{}
	for rows.Next() {
		a := assignment{ActorID: userID}
		var at int64
		if err := rows.Scan(&a.Type, &a.TargetID, &a.RoleID, &at); err != nil {
			rows.Close()
			return err
		}
		had[a] = true
		createdAt[a] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	wantSet := map[assignment]bool{}
	for _, a := range want {
		a.ActorID = userID
		wantSet[a] = true
	}
	keys := make([]assignment, 0, len(wantSet))
	for a := range wantSet {
		keys = append(keys, a)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, a := range keys {
		if had[a] {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue // the admin's
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, false); err != nil {
			return fmt.Errorf("insert assignment: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ng_federation_grant (idp_id, type, actor_id, target_id, role_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			idpID, a.Type, a.ActorID, a.TargetID, a.RoleID, micros(now)); err != nil {
			return err
		}
		undo.add(`DELETE FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, false)
		undo.add(`DELETE FROM ng_federation_grant WHERE idp_id = ? AND type = ? AND actor_id = ? AND target_id = ? AND role_id = ?`,
			idpID, a.Type, a.ActorID, a.TargetID, a.RoleID)
	}
	for a := range had {
		if wantSet[a] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM assignment WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ng_federation_grant WHERE idp_id = ? AND type = ? AND actor_id = ? AND target_id = ? AND role_id = ?`,
			idpID, a.Type, a.ActorID, a.TargetID, a.RoleID); err != nil {
			return err
		}
		undo.add(`INSERT INTO assignment (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)`,
			a.Type, a.ActorID, a.TargetID, a.RoleID, false)
		undo.add(`INSERT INTO ng_federation_grant (idp_id, type, actor_id, target_id, role_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			idpID, a.Type, a.ActorID, a.TargetID, a.RoleID, createdAt[a])
	}
	return nil
}

// JTIPurger deletes expired ng_jwt_jti rows.
type JTIPurger struct{ S *Service }

// Name names the table.
func (JTIPurger) Name() string { return "ng_jwt_jti" }

// Purge deletes rows whose JWT expired before now.
func (p JTIPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	res, err := p.S.db.ExecContext(ctx, `DELETE FROM ng_jwt_jti WHERE expires_at < ?`, micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
