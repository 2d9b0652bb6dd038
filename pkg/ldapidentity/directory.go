package ldapidentity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// User is an LDAP user as Python's driver returns it, before the id
// mapping: its local id (the id attribute's value), name, enabled flag
// and DN.
type User struct {
	LocalID string
	Name    string
	Enabled bool
	DN      string
}

// Group is an LDAP group: its local id and name.
type Group struct {
	LocalID string
	Name    string
}

// Directory reads one LDAP backend's users and groups. It is safe for
// concurrent use: each operation takes a bound connection from a small
// pool ([ldap] use_pool, pool_size, pool_connection_lifetime) or, without
// pooling, dials and binds its own as Python does.
//
// The connection is made directly with go-ldap, not through
// pkg/outbound's guarded client: the directory's address is the
// operator's configuration, never a value a request supplies
// (docs/security.md, "LDAP directories").
type Directory struct {
	s    *Settings
	tls  *tls.Config
	pool chan *pooledConn
	now  func() time.Time
	// searched is told the outcome of every search (a metric).
	searched func(ok bool)
}

type pooledConn struct {
	c    *ldap.Conn
	born time.Time
}

// NewDirectory prepares a Directory (no connection is made until the
// first read). The CA file or directory must exist, as Python requires.
func NewDirectory(s *Settings) (*Directory, error) {
	d := &Directory{s: s, now: time.Now, searched: func(bool) {}}
	tc, err := tlsConfig(s)
	if err != nil {
		return nil, err
	}
	d.tls = tc
	if s.UsePool {
		d.pool = make(chan *pooledConn, max(s.PoolSize, 1))
	}
	return d, nil
}

// OnSearch sets a function told the outcome of every LDAP search (a
// metric); set it before the first read.
func (d *Directory) OnSearch(f func(ok bool)) { d.searched = f }

// tlsConfig is the trust of ldaps:// and StartTLS: tls_cacertfile (a file
// that must exist), else tls_cacertdir (every PEM file in it), else the
// system's roots; tls_req_cert never or allow accept any certificate
// (as libldap does: allow goes on when the certificate is bad).
func tlsConfig(s *Settings) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case s.TLSCACertFile != "":
		pem, err := os.ReadFile(s.TLSCACertFile)
		if err != nil {
			return nil, fmt.Errorf("[ldap] tls_cacertfile %s not found or is not a file: %w", s.TLSCACertFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("[ldap] tls_cacertfile %s holds no PEM certificate", s.TLSCACertFile)
		}
		tc.RootCAs = pool
	case s.TLSCACertDir != "":
		ents, err := os.ReadDir(s.TLSCACertDir)
		if err != nil {
			return nil, fmt.Errorf("[ldap] tls_cacertdir %s not found or is not a directory: %w", s.TLSCACertDir, err)
		}
		pool := x509.NewCertPool()
		for _, e := range ents {
			if b, err := os.ReadFile(filepath.Join(s.TLSCACertDir, e.Name())); err == nil {
				pool.AppendCertsFromPEM(b)
			}
		}
		tc.RootCAs = pool
	}
	if s.TLSReqCert == "never" || s.TLSReqCert == "allow" {
		tc.InsecureSkipVerify = true //nolint:gosec // the operator's [ldap] tls_req_cert asks for it, as in Python
	}
	return tc, nil
}

// dial connects to the first URL that answers (in random order with
// randomize_urls), starts TLS when use_tls says so, and binds.
func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	urls := append([]string(nil), d.s.URLs...)
	if d.s.RandomizeURLs {
		rand.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	}
	dialer := &net.Dialer{}
	if d.s.ConnectTimeoutSeconds > 0 {
		dialer.Timeout = time.Duration(d.s.ConnectTimeoutSeconds) * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && (dialer.Timeout == 0 || time.Until(dl) < dialer.Timeout) {
		dialer.Timeout = time.Until(dl)
	}
	var errs []error
	for _, u := range urls {
		tc := d.tls.Clone()
		if pu, err := url.Parse(u); err == nil {
			tc.ServerName = pu.Hostname()
		}
		c, err := ldap.DialURL(u, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tc))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.s.UseTLS {
			if err := c.StartTLS(tc); err != nil {
				_ = c.Close()
				errs = append(errs, fmt.Errorf("StartTLS: %w", err))
				continue
			}
		}
		// Python binds with the configured DN and password when both are
		// set, else anonymously.
		if d.s.BindDN != "" && d.s.BindPW != "" {
			err = c.Bind(d.s.BindDN, d.s.BindPW)
		} else {
			err = c.UnauthenticatedBind("")
		}
		if err != nil {
			_ = c.Close()
			// The error names the DN, never the password.
			return nil, fmt.Errorf("LDAP bind as %q: %w", d.s.BindDN, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("LDAP server unreachable: %w", errors.Join(errs...))
}

// get takes a pooled connection or dials a new one.
func (d *Directory) get(ctx context.Context) (*pooledConn, error) {
	for d.pool != nil {
		select {
		case pc := <-d.pool:
			if d.s.PoolLifetimeSeconds > 0 && d.now().Sub(pc.born) > time.Duration(d.s.PoolLifetimeSeconds)*time.Second || pc.c.IsClosing() {
				_ = pc.c.Close()
				continue
			}
			return pc, nil
		default:
		}
		break
	}
	c, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &pooledConn{c: c, born: d.now()}, nil
}

// put returns a healthy connection to the pool (or closes it).
func (d *Directory) put(pc *pooledConn, healthy bool) {
	if healthy && d.pool != nil {
		select {
		case d.pool <- pc:
			return
		default:
		}
	}
	_ = pc.c.Close()
}

// Close closes the pooled connections.
func (d *Directory) Close() {
	if d.pool == nil {
		return
	}
	for {
		select {
		case pc := <-d.pool:
			_ = pc.c.Close()
		default:
			return
		}
	}
}

// search runs one search. A base that does not exist is no entries
// (Python catches NO_SUCH_OBJECT). A pooled connection that fails with a
// network error is replaced and the search tried once more, as ldappool
// retries.
func (d *Directory) search(ctx context.Context, base string, scope int, filter string, attrs []string) ([]Entry, error) {
	for attempt := 0; ; attempt++ {
		pc, err := d.get(ctx)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			pc.c.SetTimeout(time.Until(dl))
		}
		req := ldap.NewSearchRequest(base, scope, d.s.Deref, 0, 0, false, filter, attrs, nil)
		var res *ldap.SearchResult
		if d.s.PageSize > 0 {
			res, err = pc.c.SearchWithPaging(req, uint32(d.s.PageSize))
		} else {
			res, err = pc.c.Search(req)
		}
		d.searched(err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject))
		if err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				d.put(pc, true)
				return nil, nil
			}
			network := ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || pc.c.IsClosing()
			d.put(pc, false)
			if network && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return nil, fmt.Errorf("LDAP search under %q: %w", base, err)
		}
		d.put(pc, true)
		out := make([]Entry, 0, len(res.Entries))
		for _, e := range res.Entries {
			en := Entry{DN: e.DN, Attrs: make(map[string][]string, len(e.Attributes))}
			for _, a := range e.Attributes {
				en.Attrs[a.Name] = a.Values
			}
			out = append(out, en)
		}
		return out, nil
	}
}

// dnOnly asks for no attributes (python-ldap's DN_ONLY, "1.1").
var dnOnly = []string{"1.1"}

// GetUser reads a user by local id as UserApi.get does: the first entry
// the user filter finds under the user tree, if it has a name; nil when
// there is none (Python's UserNotFound).
func (d *Directory) GetUser(ctx context.Context, localID string) (*User, error) {
	s := d.s
	attrs := uniq(s.UserIDAttr, s.UserNameAttr, s.Enabled.Attr)
	es, err := d.search(ctx, s.UserTreeDN, s.Scope, s.UserFilter(localID), attrs)
	if err != nil {
		return nil, err
	}
	// BaseLdap._ldap_get looks at the first result only, and drops it
	// without a name.
	if len(es) == 0 || !es[0].hasName(s.UserNameAttr) {
		return nil, nil
	}
	e := &es[0]
	id, err := d.idOf(ctx, e, s.UserIDAttr)
	if err != nil {
		return nil, err
	}
	_, names, _ := e.get(s.UserNameAttr)
	u := &User{LocalID: id, Name: names[0], DN: e.DN}
	server, vals, present := e.get(s.Enabled.Attr)
	member := false
	if s.Enabled.Emulation && !s.Enabled.Ignored {
		if member, err = d.emulatedEnabled(ctx, localID); err != nil {
			return nil, err
		}
	}
	if u.Enabled, err = s.Enabled.Enabled(present, server, vals, member); err != nil {
		return nil, err
	}
	return u, nil
}

// emulatedEnabled is EnabledEmuMixIn._is_id_enabled: whether the
// enabled-emulation group lists the user (by DN, or by id with
// user_enabled_emulation_use_group_config and group_members_are_ids).
func (d *Directory) emulatedEnabled(ctx context.Context, localID string) (bool, error) {
	s := d.s
	member := localID
	if !s.EmulationMembersAreIDs {
		dn, err := d.userDN(ctx, localID)
		if err != nil {
			return false, err
		}
		member = dn
	}
	es, err := d.search(ctx, s.EmulationDN, ldap.ScopeBaseObject, s.EmulationFilter(member), dnOnly)
	if err != nil {
		return false, err
	}
	return len(es) > 0, nil
}

// userDN is BaseLdap._id_to_dn: with query_scope one the DN is built
// from the id; otherwise the directory is searched, falling back to the
// built DN.
func (d *Directory) userDN(ctx context.Context, localID string) (string, error) {
	s := d.s
	if s.Scope == ldap.ScopeSingleLevel {
		return s.UserDN(localID), nil
	}
	f := "(&(" + s.UserIDAttr + "=" + EscapeFilter(localID) + ")(objectclass=" + s.UserObjectClass + "))"
	es, err := d.search(ctx, s.UserTreeDN, s.Scope, f, dnOnly)
	if err != nil {
		return "", err
	}
	if len(es) > 0 {
		return es[0].DN, nil
	}
	return s.UserDN(localID), nil
}

// GroupsForUser lists the groups that have the user as a member, as
// Identity.list_groups_for_user does: the user's DN (or, with
// group_members_are_ids, its id) in the group member attribute, groups
// without a name dropped.
func (d *Directory) GroupsForUser(ctx context.Context, u *User) ([]Group, error) {
	s := d.s
	member := u.DN
	if s.GroupMembersAreIDs {
		member = u.LocalID
	}
	es, err := d.search(ctx, s.GroupTreeDN, s.Scope, s.GroupsFilter(member), uniq(s.GroupIDAttr, s.GroupNameAttr))
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(es))
	for i := range es {
		e := &es[i]
		if !e.hasName(s.GroupNameAttr) {
			continue
		}
		id, err := d.idOf(ctx, e, s.GroupIDAttr)
		if err != nil {
			return nil, err
		}
		_, names, _ := e.get(s.GroupNameAttr)
		out = append(out, Group{LocalID: id, Name: names[0]})
	}
	return out, nil
}

// idOf is entryID, reading the entry itself when its id attribute has
// several values and the DN does not name it (BaseLdap._dn_to_id: the
// first value).
func (d *Directory) idOf(ctx context.Context, e *Entry, idAttr string) (string, error) {
	id, err := entryID(e, idAttr)
	if !errors.Is(err, errMultiID) {
		return id, err
	}
	es, err := d.search(ctx, e.DN, ldap.ScopeBaseObject, "(objectClass=*)", []string{idAttr})
	if err != nil {
		return "", err
	}
	if len(es) == 0 {
		return "", fmt.Errorf("DN attribute %s not found in LDAP", e.DN)
	}
	if _, v, ok := es[0].get(idAttr); ok && len(v) > 0 {
		return v[0], nil
	}
	return "", fmt.Errorf("ID attribute %s not found in LDAP object %s", idAttr, e.DN)
}

// uniq lists the non-empty names once each, in order.
func uniq(names ...string) []string {
	out := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
