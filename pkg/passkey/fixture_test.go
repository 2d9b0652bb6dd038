package passkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/identity"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/login"
	"github.com/keystone-ng/keystone-ng/pkg/passkey"
	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
	"github.com/keystone-ng/keystone-ng/pkg/sqldialect"
	"github.com/keystone-ng/keystone-ng/pkg/store"
	"github.com/keystone-ng/keystone-ng/pkg/store/storetest"
	"github.com/uptrace/bun"
)

const (
	rpID   = "cloud.example.com"
	origin = "https://cloud.example.com"
)

// eachBackend runs f on a fresh MariaDB, PostgreSQL and SQLite database.
func eachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	for _, name := range []string{"mysql", "postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			b := storetest.Open(t, name, storetest.PythonTables(name)...)
			f(t, newEnv(t, b))
		})
	}
}

// fakeIssuer stands in for the Fernet issuer (which needs Python's whole
// schema and a key repository); it records the grants.
type fakeIssuer struct {
	mu     sync.Mutex
	grants []issue.Grant
	// refuse, when set, is returned instead of a token (a grant the real
	// issuer would refuse).
	refuse error
}

func (f *fakeIssuer) Issue(_ context.Context, g issue.Grant) (*issue.Issued, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.grants = append(f.grants, g)
	return &issue.Issued{ID: fmt.Sprintf("token-%d-%s", len(f.grants), g.UserID)}, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	b      *storetest.Backend
	db     *bun.DB
	svc    *passkey.Service
	issuer *fakeIssuer
	log    *syncBuf
	now    time.Time
	ctx    context.Context
	next   int
}

func newEnv(t *testing.T, b *storetest.Backend) *env {
	t.Helper()
	e := &env{b: b, db: b.DB, issuer: &fakeIssuer{}, log: &syncBuf{}, now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), ctx: context.Background()}
	e.svc = e.newService(t)
	e.exec(t, `INSERT INTO project (id, name, domain_id, parent_id, enabled, is_domain) VALUES ('default', 'Default', '<<keystone.domain.root>>', NULL, ?, ?)`, true, true)
	e.exec(t, `INSERT INTO project (id, name, domain_id, parent_id, enabled, is_domain) VALUES ('dom2', 'Other', '<<keystone.domain.root>>', NULL, ?, ?)`, true, true)
	return e
}

// newService builds a passkey service on e's database (each call is like
// another keystone-ng instance).
func (e *env) newService(t *testing.T) *passkey.Service {
	t.Helper()
	r := store.NewReader(e.db)
	checker := &identity.Checker{Dir: r, Failures: store.NewLockout(e.db), Lockout: identity.Lockout{Attempts: 3}, Now: func() time.Time { return e.now },
		AuthMethods: []string{"external", "password", "token", "totp", "mapped"}}
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPName: "Test Cloud", Origins: []string{origin}, UserVerification: "required",
		Attestation: "none", CeremonyTimeout: 5 * time.Minute, TokenMethods: []string{"external"}},
		passkey.NewSQLStore(e.db), r, checker, r, slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	svc.Now = func() time.Time { return e.now }
	return svc
}

// finishLogin runs a passkey login through the login pipeline, as the
// handler does.
func (e *env) finishLogin(ceremonyID string, cred json.RawMessage, scope *issue.ScopeRequest) (*issue.Issued, error) {
	p := &login.Pipeline{Users: e.svc.Checker, Issuer: e.issuer, Log: e.svc.Log}
	return p.Login(e.ctx, e.svc.Assertion(ceremonyID, cred, scope))
}

func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.db.ExecContext(e.ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) userTable() string {
	if e.b.Name == "mysql" {
		return "`user`"
	}
	return `"user"`
}

// addUser creates a local user and returns its id.
func (e *env) addUser(t *testing.T, name, domainID string) string {
	t.Helper()
	e.next++
	id := fmt.Sprintf("%032x", e.next)
	e.exec(t, `INSERT INTO `+e.userTable()+` (id, domain_id, enabled, created_at) VALUES (?, ?, ?, ?)`, id, domainID, true, sqldialect.DateTime(e.now))
	e.exec(t, `INSERT INTO local_user (id, user_id, domain_id, name, failed_auth_count) VALUES (?, ?, ?, ?, 0)`, e.next, id, domainID, name)
	return id
}

func (e *env) failedCount(t *testing.T, userID string) int {
	t.Helper()
	var n *int
	if err := e.db.QueryRowContext(e.ctx, `SELECT failed_auth_count FROM local_user WHERE user_id = ?`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == nil {
		return 0
	}
	return *n
}

// snapshot is every passkey row, for "nothing changed" assertions.
func (e *env) snapshot(t *testing.T) string {
	t.Helper()
	rows, err := e.db.QueryContext(e.ctx, `SELECT id, user_id, credential_hash, name, sign_count, backup_state, created_at, last_used_at FROM ng_passkeys ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var (
			id, user, hash, name string
			count, created       int64
			bs                   bool
			last                 *int64
		)
		if err := rows.Scan(&id, &user, &hash, &name, &count, &bs, &created, &last); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s %s %s %q %d %v %d %v\n", id, user, hash, name, count, bs, created, last != nil)
		if last != nil {
			fmt.Fprintf(&sb, "  last=%d\n", *last)
		}
	}
	return sb.String()
}

type tokenUser = keystone.User

func (e *env) user(t *testing.T, id string) *tokenUser {
	t.Helper()
	u, err := e.svc.User(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// register runs a whole registration for userID with a new authenticator.
func (e *env) register(t *testing.T, userID, name string) (*passkeytest.Authenticator, *passkey.Passkey) {
	t.Helper()
	a := passkeytest.New(origin)
	u := e.user(t, userID)
	begun, err := e.svc.BeginRegistration(e.ctx, u, name)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Create(mustJSON(t, begun.Options))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.FinishRegistration(e.ctx, u, begun.CeremonyID, "", cred)
	if err != nil {
		t.Fatalf("finish registration: %v", err)
	}
	return a, p
}

// beginLogin starts a login (ref nil: usernameless) and answers it.
func (e *env) beginLogin(t *testing.T, ref *passkey.UserRef) *passkey.Begun {
	t.Helper()
	begun, err := e.svc.BeginLogin(e.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	return begun
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
