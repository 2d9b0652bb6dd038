package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/mapping"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// Provisioner writes what a federated login provisions
// (*store.Provisioning): the reads that decide it and the one transaction
// that writes it.
type Provisioner interface {
	FederatedUserID(ctx context.Context, idpID, protocolID, uniqueID string) (string, error)
	DomainEnabled(ctx context.Context, domainID string) (exists, enabled bool, err error)
	Provision(ctx context.Context, plan *store.ProvisionPlan) (string, *store.Undo, error)
	// PurgeJTIs deletes the replay records of JWTs expired before now.
	PurgeJTIs(ctx context.Context, now time.Time) (int64, error)
}

var _ Provisioner = (*store.Provisioning)(nil)

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

// JWT is the workload login as an authenticator (pkg/login): verify the
// bearer JWT against the IdP, evaluate the mapping (mappingName, else the
// IdP's default_mapping), then provision in one transaction (jti record,
// shadow user, expiring group memberships, grants) and, once the token is
// minted, remember it as a workload token. Every refusal is a 401 with the
// cause in Cause, and writes nothing; an unknown IdP is 404.
func (s *Service) JWT(idpID, raw, mappingName string) login.Authenticator {
	return &jwtLogin{s: s, idpID: idpID, raw: raw, mapping: mappingName}
}

type jwtLogin struct {
	s                   *Service
	idpID, raw, mapping string
}

func (j *jwtLogin) Authenticate(ctx context.Context) (*login.Attempt, error) {
	s := j.s
	p, err := s.GetIdP(ctx, j.idpID)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, refuse("identity provider %s is disabled", p.ID)
	}
	if j.raw == "" {
		return nil, refuse("no bearer JWT")
	}
	v, err := s.VerifyJWT(ctx, p, j.raw)
	if err != nil {
		return nil, refuse("identity provider %s: JWT refused: %v", p.ID, err)
	}
	att, err := s.attempt(ctx, p, v, j.mapping)
	if err != nil {
		return nil, err
	}
	att.Kind = "jwt"
	// Remembered before the token is handed out: the policy must never
	// see a workload token it cannot recognise.
	att.Record = func(ctx context.Context, issued *issue.Issued) error {
		pl := issued.Token.Payload
		if err := s.RecordWorkloadToken(ctx, pl.AuditIDs[0], p.ID, pl.ExpiresAt); err != nil {
			return apierror.Internal(err)
		}
		return nil
	}
	return att, nil
}

// attempt maps verified claims and plans their provisioning (shared with
// the OIDC logins). Nothing is written here: the pipeline applies the
// usability rule to a known user first, then runs Provision.
func (s *Service) attempt(ctx context.Context, p *IdP, v *Verified, mappingName string) (*login.Attempt, error) {
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
	rr, err := s.resolveRule(ctx, p, m.Rules[res.Rule])
	if err != nil {
		var re *refError
		var be *boundsError
		if errors.As(err, &re) || errors.As(err, &be) {
			return nil, refuse("identity provider %s: mapping %q rules[%d]: %v", p.ID, mappingName, res.Rule, err)
		}
		return nil, apierror.Internal(err)
	}
	if v.JTI != "" && len(v.JTI) > 255 {
		return nil, refuse("jti longer than 255 bytes")
	}
	prov := s.prov
	userID := rr.UserID
	if userID == "" {
		// An existing shadow user is checked like any user; a new one
		// will live in the IdP's domain, which must be enabled.
		id, err := prov.FederatedUserID(ctx, p.ID, ProtocolID, res.UniqueID)
		if err != nil {
			return nil, apierror.Internal(err)
		}
		if id == "" {
			if err := domainUsable(ctx, prov, p.ShadowDomainID); err != nil {
				return nil, err
			}
		}
		userID = id
	}
	groups := rr.GroupIDs
	if groups == nil {
		groups = []string{}
	}
	plan := &store.ProvisionPlan{
		IdPID: p.ID, ProtocolID: ProtocolID, JTI: v.JTI, JTIExpires: v.Expiry.Add(s.opt.Leeway),
		UserID: rr.UserID, ShadowUserID: ShadowUserID(p.ShadowDomainID, res.UniqueID), ShadowDomainID: p.ShadowDomainID,
		UniqueID: res.UniqueID, DisplayName: res.UserName, SetLastActive: s.opt.DisableUserAccountDaysInactive > 0,
		GroupIDs: rr.GroupIDs, Grants: storeGrants(rr.Grants), Now: s.opt.Now(),
	}
	return &login.Attempt{
		UserID: userID,
		Grant: issue.Grant{
			Methods:     []string{"mapped"},
			Scope:       issue.Scope{ProjectID: rr.ProjectID, DomainID: rr.DomainID},
			MaxLifetime: res.MaxTokenLifetime,
			Federation:  &issue.Federation{IdentityProviderID: p.ID, ProtocolID: ProtocolID, GroupIDs: groups},
		},
		Provision: func(ctx context.Context) (string, login.Undo, error) {
			return s.provision(ctx, prov, p, plan)
		},
	}, nil
}

// storeGrants are a mapping's assignments as the store writes them.
func storeGrants(as []assignment) []store.ProvisionGrant {
	out := make([]store.ProvisionGrant, len(as))
	for i, a := range as {
		out[i] = store.ProvisionGrant{Type: a.Type, TargetID: a.TargetID, RoleID: a.RoleID}
	}
	return out
}

// provision runs the plan and turns the store's refusals into Keystone's
// answers.
func (s *Service) provision(ctx context.Context, prov Provisioner, p *IdP, plan *store.ProvisionPlan) (string, login.Undo, error) {
	id, undo, err := prov.Provision(ctx, plan)
	switch {
	case err == nil:
		return id, undo, nil
	case errors.Is(err, store.ErrReplayedJTI):
		return "", nil, refuse("identity provider %s: replayed jti %q", p.ID, plan.JTI)
	case errors.Is(err, store.ErrShadowUserTaken):
		// Python's id generator derives the id from the domain and the
		// unique id only, so the same unique id mapped by two identity
		// providers of one domain names one user. Python answers that
		// with a 409 too (create_federated_user's handle_conflicts);
		// taking the existing user over for a second IdP would let one
		// IdP log in as another's users. A concurrent first login of the
		// same user also lands here; retrying then finds the user.
		return "", nil, apierror.New(http.StatusConflict, fmt.Sprintf(
			"Conflict occurred attempting to store federated_user - user %s (unique id %q in domain %s) already exists: it was created for another (or a deleted) identity provider of the domain, or by a concurrent login, which a retry resolves. Delete that user or map a different unique id.",
			plan.ShadowUserID, plan.UniqueID, plan.ShadowDomainID))
	}
	return "", nil, apierror.Internal(fmt.Errorf("federated login provisioning: %w", err))
}

// domainUsable refuses a login whose new shadow user would live in a
// disabled (or missing) domain.
func domainUsable(ctx context.Context, prov Provisioner, domainID string) error {
	exists, enabled, err := prov.DomainEnabled(ctx, domainID)
	switch {
	case err != nil:
		return apierror.Internal(err)
	case !exists:
		return refuse("domain %s of the identity provider not found", domainID)
	case !enabled:
		return refuse("domain %s of the identity provider is disabled", domainID)
	}
	return nil
}

// JTIPurger deletes expired ng_jwt_jti rows.
type JTIPurger struct{ S *Service }

// Name names the table.
func (JTIPurger) Name() string { return "ng_jwt_jti" }

// Purge deletes rows whose JWT expired before now.
func (p JTIPurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	return p.S.prov.PurgeJTIs(ctx, now)
}
