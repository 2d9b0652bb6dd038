package token

import (
	"log/slog"
	"slices"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// Validation runs in three steps (docs/validation.md):
//
//   - plan (plan.go): from the payload, the hint cache's answer and the
//     settings alone, what the first round reads and what the later
//     rounds will need. Pure.
//   - read (read.go): runs the rounds through the Store, the only step
//     with goroutines, mutexes and hint cache updates, and gathers the
//     rows read as evidence (below).
//   - judge (judge.go): Python's checks in Python's order over the
//     evidence. Pure: no context, no store, no logging, no clock.
//
// A hint may choose what the read step reads, never what the judge
// grants: the judge only ever sees rows read in this request.

// evidence is everything one validation read from the database (and the
// catalog cache), for the judge.
type evidence struct {
	payload  *payload.Payload
	issuedAt time.Time

	// user is the token's user (nil: no such user), with its domain row.
	user *keystone.User
	// missingUserID is the id Python names when the user is missing from
	// an identity backend ("" = the payload's): the backend's local id.
	missingUserID string
	// memberships are the user's group memberships as read; groups the
	// ids of those valid at the time of the validation.
	memberships []keystone.Membership
	groups      []string
	// graph is the implied role graph.
	graph impliedGraph
	// lineage is the scoped project, then its ancestors up to its domain
	// (empty: no project scope, or no such project).
	lineage []*keystone.Project
	// domains holds every domain row read: the user's, those in the
	// lineage and the trust users'. scopeDomains are the rows a domain
	// token's first round read for its domain.
	domains      map[string]*keystone.Project
	scopeDomains map[string]*keystone.Project
	// assignments are the role assignments read for the scope;
	// systemAssignments the system grants read.
	assignments       []keystone.Assignment
	systemAssignments []keystone.Assignment

	// trust is the token's trust (nil: none, or no such trust);
	// trustUsers its trustor and trustee by id (absent or nil: no such
	// user).
	trust      *keystone.Trust
	trustUsers map[string]*keystone.User
	// trustorGroups, trustorRows and trustorLineage are what
	// get_roles_for_trustor_and_project needs of the trust's trustor.
	trustorGroups  []string
	trustorRows    []keystone.Assignment
	trustorLineage []*keystone.Project
	// chain is the pedigree of a usable redelegated trust (nil otherwise).
	chain *trustChain

	appCred     *keystone.AppCred
	accessToken *keystone.AccessToken
	events      []keystone.RevocationEvent
	// idpExists answers whether a federated token's identity provider
	// still exists (true for other tokens).
	idpExists bool

	// roles are the full role records read, by id; roleIDsRead every id
	// asked for (a role asked for and absent does not exist).
	// hintedRoleIDs are those the first round asked for through the role
	// hint.
	roles         map[string]*keystone.Role
	roleIDsRead   []string
	hintedRoleIDs []string

	catalog          []keystone.Service
	projectEndpoints *keystone.ProjectEndpoints
	serviceProviders []keystone.ServiceProvider
}

// rolesFor returns the full records of ids when every one of them was read
// (absent from the map: the role does not exist), or false when some id
// was never asked for and the records must be read first.
func (e *evidence) rolesFor(ids []string) (map[string]*keystone.Role, bool) {
	out := make(map[string]*keystone.Role, len(ids))
	for _, id := range ids {
		if !slices.Contains(e.roleIDsRead, id) {
			return nil, false
		}
		if role := e.roles[id]; role != nil {
			out[id] = role
		}
	}
	return out, true
}

// addRoles records a read of the full records of ids: what was read is the
// truth for those ids, over anything the first round's role hint read.
func (e *evidence) addRoles(ids []string, found map[string]*keystone.Role) {
	if e.roles == nil {
		e.roles = make(map[string]*keystone.Role, len(found))
	}
	for _, id := range ids {
		delete(e.roles, id)
		if !slices.Contains(e.roleIDsRead, id) {
			e.roleIDsRead = append(e.roleIDsRead, id)
		}
	}
	for id, role := range found {
		e.roles[id] = role
	}
}

// note is a log line a check asks its caller to write (the judge itself
// does not log): why a token was refused where the answer alone does not
// say (Python hides the message of a 403, and logs the reason).
type note struct {
	level slog.Level
	msg   string
	attrs []any
}

// verdict is the judge's answer.
type verdict struct {
	// token is the validated token (nil when err is set or roles are
	// needed).
	token *Token
	err   error
	// needRoles: the judge stopped at the role step for want of these
	// full role records; read them (evidence.addRoles) and judge again.
	needRoles []string
	// rolesUsed are the roles whose full records the role step used
	// (federated, trust and application credential tokens), for the role
	// hint; nil when none or when the role step failed.
	rolesUsed []string
	// note, if set, is to be logged.
	note *note
}

// judgeInput is what the judge needs beside the evidence: the request and
// the settings, and the time of the validation.
type judgeInput struct {
	token              string
	now                time.Time
	window             time.Duration
	accessRulesVersion string
	settings           Settings
}
