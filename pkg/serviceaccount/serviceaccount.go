// Package serviceaccount manages service accounts: non-human Keystone
// users owned by a domain (docs/service-accounts.md). The account is an
// ordinary user in Python's tables (so Python lists it, grants roles to it
// and validates its tokens) that can never sign in with a password or a
// passkey; keystone-ng marks it in ng_service_account. Who may manage
// which account is the /v4 policy's decision (pkg/authz); this package
// checks the request itself and keeps the rows.
package serviceaccount

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// Store keeps the accounts (*store.ServiceAccounts).
type Store interface {
	Create(ctx context.Context, r *store.ServiceAccountRow, setLastActive bool) error
	Get(ctx context.Context, id string) (*store.ServiceAccountRow, error)
	List(ctx context.Context, f store.ServiceAccountFilter) ([]*store.ServiceAccountRow, error)
	Update(ctx context.Context, id string, p store.ServiceAccountPatch, now time.Time, setLastActive bool) error
	Delete(ctx context.Context, id string) error
	IsServiceAccount(ctx context.Context, userID string) (bool, error)
}

var _ Store = (*store.ServiceAccounts)(nil)

// Projects reads projects and domains (*store.Reader).
type Projects interface {
	GetProjects(ctx context.Context, ids ...string) (map[string]*keystone.Project, error)
}

// Options are the settings the service applies.
type Options struct {
	// SetLastActive mirrors [security_compliance]
	// disable_user_account_days_inactive being set: Python then writes
	// last_active_at whenever a user is created or enabled.
	SetLastActive bool
	// MaxCredentials is [keystone_ng] max_credentials_per_service_account
	// (0: no limit).
	MaxCredentials int
	// SecretIterations is the PBKDF2 cost of new secrets (0:
	// SecretIterations; tests lower it).
	SecretIterations int
	Now              func() time.Time
	// SQLDomain reports whether Python reads the users of a domain from
	// SQL (nil: every domain). A service account is a row in Python's SQL
	// user tables, which Python ignores for a domain served by LDAP
	// (docs/python-compat.md §7.1), so it is only created in SQL domains.
	SQLDomain func(domainID string) bool
}

// Service manages service accounts.
type Service struct {
	st       Store
	projects Projects
	opt      Options
	log      *slog.Logger
}

// New returns the service.
func New(st Store, projects Projects, opt Options, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, projects: projects, opt: opt, log: log}
}

func (s *Service) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now().UTC()
	}
	return time.Now().UTC()
}

// Account is a service account as the API shows it.
type Account = store.ServiceAccountRow

// CreateRequest is the body of POST /v4/service_accounts.
type CreateRequest struct {
	Name             string  `json:"name"`
	DomainID         string  `json:"domain_id"`
	Description      string  `json:"description"`
	Enabled          *bool   `json:"enabled"`
	DefaultProjectID *string `json:"default_project_id"`
}

// UpdateRequest is the body of PATCH /v4/service_accounts/{id}; absent
// fields are left alone. domain_id may be sent only unchanged (an account
// never moves between domains: its grants and owners are the domain's).
type UpdateRequest struct {
	Name             *string `json:"name"`
	DomainID         *string `json:"domain_id"`
	Description      *string `json:"description"`
	Enabled          *bool   `json:"enabled"`
	DefaultProjectID *string `json:"default_project_id"`
}

// ErrNotFound is an id that is no service account.
var ErrNotFound = store.ErrNotFound

// Python's column limits (local_user.name String(255), ids String(64)) and
// a bound on the description kept in user.extra.
const (
	maxName        = 255
	maxID          = 64
	maxDescription = 1024
)

func badRequest(msg string) *apierror.Error {
	return apierror.New(http.StatusBadRequest, msg)
}

// checkName applies Python's user name rule (identity/core.py strips the
// name; the schema wants 1..255 characters) and returns the stripped name.
func checkName(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", badRequest("Invalid input for field 'name': the name must not be empty.")
	case utf8.RuneCountInString(n) > maxName:
		return "", badRequest(fmt.Sprintf("Invalid input for field 'name': at most %d characters.", maxName))
	}
	return n, nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > maxDescription {
		return badRequest(fmt.Sprintf("Invalid input for field 'description': at most %d characters.", maxDescription))
	}
	return nil
}

// CheckCreate validates a create request without touching the database
// and returns the row to write (id, times and creator are the caller's).
func CheckCreate(r *CreateRequest) (*store.ServiceAccountRow, error) {
	name, err := checkName(r.Name)
	if err != nil {
		return nil, err
	}
	if r.DomainID == "" || len(r.DomainID) > maxID {
		return nil, badRequest("Invalid input for field 'domain_id': a domain id is required.")
	}
	if err := checkDescription(r.Description); err != nil {
		return nil, err
	}
	row := &store.ServiceAccountRow{Name: name, DomainID: r.DomainID, Description: r.Description, Enabled: true}
	if r.Enabled != nil {
		row.Enabled = *r.Enabled
	}
	if r.DefaultProjectID != nil {
		if len(*r.DefaultProjectID) > maxID {
			return nil, badRequest("Invalid input for field 'default_project_id': not a project id.")
		}
		row.DefaultProjectID = *r.DefaultProjectID
	}
	return row, nil
}

// CheckUpdate validates a patch of cur and returns what to write.
func CheckUpdate(cur *store.ServiceAccountRow, r *UpdateRequest) (store.ServiceAccountPatch, error) {
	var p store.ServiceAccountPatch
	if r.DomainID != nil && *r.DomainID != cur.DomainID {
		return p, badRequest("Invalid input for field 'domain_id': a service account cannot move to another domain.")
	}
	if r.Name != nil {
		n, err := checkName(*r.Name)
		if err != nil {
			return p, err
		}
		p.Name = &n
	}
	if r.Description != nil {
		if err := checkDescription(*r.Description); err != nil {
			return p, err
		}
		p.Description = r.Description
	}
	if r.DefaultProjectID != nil && len(*r.DefaultProjectID) > maxID {
		return p, badRequest("Invalid input for field 'default_project_id': not a project id.")
	}
	p.Enabled, p.DefaultProjectID = r.Enabled, r.DefaultProjectID
	return p, nil
}

// checkDefaultProject requires the default project to be a project (not a
// domain, as Python's _assert_default_project_id_is_not_domain) of the
// account's own domain: an account's owners must not point it at another
// domain's project.
func (s *Service) checkDefaultProject(ctx context.Context, domainID, projectID string) error {
	if projectID == "" {
		return nil
	}
	ps, err := s.projects.GetProjects(ctx, projectID)
	if err != nil {
		return apierror.Internal(err)
	}
	p := ps[projectID]
	switch {
	case p == nil || p.IsDomain:
		return badRequest("Invalid input for field 'default_project_id': no such project.")
	case p.DomainID != domainID:
		return badRequest("Invalid input for field 'default_project_id': the project must belong to the service account's domain.")
	}
	return nil
}

// checkDomain requires the owning domain to exist (and be a domain).
func (s *Service) checkDomain(ctx context.Context, domainID string) error {
	ps, err := s.projects.GetProjects(ctx, domainID)
	if err != nil {
		return apierror.Internal(err)
	}
	if p := ps[domainID]; p == nil || !p.IsDomain {
		return badRequest("Invalid input for field 'domain_id': no such domain.")
	}
	if s.opt.SQLDomain != nil && !s.opt.SQLDomain(domainID) {
		return badRequest("Invalid input for field 'domain_id': the domain's users come from an identity backend other than SQL; service accounts live in SQL domains only.")
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func nameTaken(name string) *apierror.Error {
	return apierror.New(http.StatusConflict, "Conflict occurred attempting to store user - Duplicate entry found with name "+name+".")
}

// Create writes a new account; createdBy is the caller's user id, and
// bounded says the caller is a domain's admin or manager (not a system
// admin): the account's roles then stay inside domain_grantable_roles.
func (s *Service) Create(ctx context.Context, r *CreateRequest, createdBy string, bounded bool) (*Account, error) {
	row, err := CheckCreate(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkDomain(ctx, row.DomainID); err != nil {
		return nil, err
	}
	if err := s.checkDefaultProject(ctx, row.DomainID, row.DefaultProjectID); err != nil {
		return nil, err
	}
	row.ID, row.CreatedBy, row.Bounded = newID(), createdBy, bounded
	row.CreatedAt = s.now().Truncate(time.Microsecond)
	if err := s.st.Create(ctx, row, s.opt.SetLastActive); err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			return nil, nameTaken(row.Name)
		}
		return nil, apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account created", "service_account_id", row.ID, "domain_id", row.DomainID, "created_by", createdBy)
	return s.Get(ctx, row.ID)
}

// Get returns an account; a 404 when the id is no service account.
func (s *Service) Get(ctx context.Context, id string) (*Account, error) {
	r, err := s.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.NotFound("Could not find service account: " + id + ".")
	}
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return r, nil
}

// List returns the accounts of a domain (all domains when domainID is
// ""), optionally of one name.
func (s *Service) List(ctx context.Context, domainID, name string) ([]*Account, error) {
	rs, err := s.st.List(ctx, store.ServiceAccountFilter{DomainID: domainID, Name: name})
	if err != nil {
		return nil, apierror.Internal(err)
	}
	return rs, nil
}

// Update patches cur (already authorized by the caller).
func (s *Service) Update(ctx context.Context, cur *Account, r *UpdateRequest) (*Account, error) {
	p, err := CheckUpdate(cur, r)
	if err != nil {
		return nil, err
	}
	if p.DefaultProjectID != nil {
		if err := s.checkDefaultProject(ctx, cur.DomainID, *p.DefaultProjectID); err != nil {
			return nil, err
		}
	}
	if err := s.st.Update(ctx, cur.ID, p, s.now(), s.opt.SetLastActive); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, apierror.NotFound("Could not find service account: " + cur.ID + ".")
		case errors.Is(err, store.ErrNameTaken):
			return nil, nameTaken(*p.Name)
		}
		return nil, apierror.Internal(err)
	}
	return s.Get(ctx, cur.ID)
}

// Delete removes an account and everything Python removes with a user.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := s.st.Delete(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("Could not find service account: " + id + ".")
	}
	if err != nil {
		return apierror.Internal(err)
	}
	s.log.InfoContext(ctx, "service account deleted", "service_account_id", id)
	return nil
}

// IsServiceAccount reports whether a user is a service account (the
// login pipeline refuses every login kind but the service account's own).
func (s *Service) IsServiceAccount(ctx context.Context, userID string) (bool, error) {
	return s.st.IsServiceAccount(ctx, userID)
}
