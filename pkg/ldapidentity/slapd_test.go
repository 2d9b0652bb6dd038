package ldapidentity

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

// slapdSettings reads the env file of deploy/ldap/up.sh named by
// KSNG_LDAP_ENV (a real OpenLDAP holding deploy/ldap/dataset.ldif), or
// skips: these tests and the benchmark need that server.
func slapdSettings(t testing.TB, mut func(*config.LDAPSection)) *Settings {
	t.Helper()
	path := os.Getenv("KSNG_LDAP_ENV")
	if path == "" {
		t.Skip("KSNG_LDAP_ENV is not set: start deploy/ldap/up.sh and point it at its env file")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	l := config.Defaults().LDAP
	l.URL, l.Suffix, l.User, l.Password = env["KSLDAP_URL"], env["KSLDAP_SUFFIX"], env["KSLDAP_ADMIN_DN"], env["KSLDAP_ADMIN_PASSWORD"]
	l.UserEnabledAttribute, l.GroupNameAttribute = "employeeType", "ou"
	if mut != nil {
		mut(&l)
	}
	s, err := Resolve(l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func slapdDir(t testing.TB, mut func(*config.LDAPSection)) *Directory {
	t.Helper()
	d, err := NewDirectory(slapdSettings(t, mut))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func groupIDs(gs []Group) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.LocalID)
	}
	sort.Strings(out)
	return out
}

func TestDirectoryAgainstSlapd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := slapdDir(t, nil)

	u, err := d.GetUser(ctx, "alice")
	if err != nil || u == nil || u.Name != "Alice Liddell" || !u.Enabled || !strings.HasPrefix(u.DN, "cn=alice,ou=Users,") {
		t.Fatalf("alice: %+v, %v", u, err)
	}
	gs, err := d.GroupsForUser(ctx, u)
	if err != nil || strings.Join(groupIDs(gs), ",") != "devs,readers" {
		t.Fatalf("alice's groups: %v, %v", gs, err)
	}
	// Filter metacharacters in an id never widen the search.
	for _, id := range []string{"nobody", "*", "alice)(cn=*", "al*", `alice\`, "enabled_users"} {
		if u, err := d.GetUser(ctx, id); err != nil || u != nil {
			t.Errorf("GetUser(%q) = %+v, %v; want no user", id, u, err)
		}
	}
	// A DN with escaped characters is matched as the directory stores it.
	f, err := d.GetUser(ctx, "frank (ops), jr")
	if err != nil || f == nil || f.Name != "Frank Star*" {
		t.Fatalf("frank: %+v, %v", f, err)
	}
	if gs, err := d.GroupsForUser(ctx, f); err != nil || strings.Join(groupIDs(gs), ",") != "devs" {
		t.Errorf("frank's groups: %v, %v", gs, err)
	}

	// Paged searches give the same groups.
	paged := slapdDir(t, func(l *config.LDAPSection) { l.PageSize = 1 })
	if gs, err := paged.GroupsForUser(ctx, u); err != nil || len(gs) != 2 {
		t.Errorf("paged groups: %v, %v", gs, err)
	}

	// Emulation: membership of cn=enabled_users decides, with the DN built
	// (query_scope one) or searched (sub).
	for _, scope := range []string{"one", "sub"} {
		emu := slapdDir(t, func(l *config.LDAPSection) { l.UserEnabledEmulation, l.QueryScope = true, scope })
		for id, want := range map[string]bool{"alice": true, "bob": false, "frank (ops), jr": true} {
			u, err := emu.GetUser(ctx, id)
			if err != nil || u == nil || u.Enabled != want {
				t.Errorf("emulation (%s), %s: %+v, %v; want enabled %v", scope, id, u, err, want)
			}
		}
	}

	// group_members_are_ids: groups that list the user's id (posixGroup's
	// memberUid), the id escaped in the filter.
	posix := slapdDir(t, func(l *config.LDAPSection) {
		l.GroupTreeDN = "ou=PosixGroups," + l.Suffix
		l.GroupObjectClass, l.GroupMemberAttribute, l.GroupMembersAreIDs, l.GroupNameAttribute = "posixGroup", "memberUid", true, "description"
	})
	for id, want := range map[string]string{"alice": "posixdevs", "frank (ops), jr": "posixdevs", "bob": ""} {
		u, err := posix.GetUser(ctx, id)
		if err != nil || u == nil {
			t.Fatalf("%s: %+v, %v", id, u, err)
		}
		gs, err := posix.GroupsForUser(ctx, u)
		if err != nil || strings.Join(groupIDs(gs), ",") != want {
			t.Errorf("group_members_are_ids, %s: %v, %v; want %q", id, gs, err, want)
		}
	}

	// Invert: TRUE reads as disabled.
	inv := slapdDir(t, func(l *config.LDAPSection) { l.UserEnabledInvert = true })
	if u, err := inv.GetUser(ctx, "alice"); err != nil || u == nil || u.Enabled {
		t.Errorf("inverted alice: %+v, %v", u, err)
	}

	// A wrong bind password and an unreachable server are errors, never
	// "no such user".
	bad := slapdDir(t, func(l *config.LDAPSection) { l.Password = "wrong" })
	if u, err := bad.GetUser(ctx, "alice"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %+v, %v", u, err)
	}
	gone := slapdDir(t, func(l *config.LDAPSection) { l.URL = "ldap://127.0.0.1:1"; l.ConnectionTimeout = 2 })
	if u, err := gone.GetUser(ctx, "alice"); err == nil {
		t.Errorf("unreachable: %+v", u)
	}
	// A tree that does not exist holds no users (Python: NO_SUCH_OBJECT).
	none := slapdDir(t, func(l *config.LDAPSection) { l.UserTreeDN = "ou=Nowhere," + l.Suffix })
	if u, err := none.GetUser(ctx, "alice"); err != nil || u != nil {
		t.Errorf("missing tree: %+v, %v", u, err)
	}
}

// BenchmarkSlapdUserAndGroups is what an LDAP user's validation asks of
// the directory: the user, then their groups, over a pooled connection.
func BenchmarkSlapdUserAndGroups(b *testing.B) {
	d := slapdDir(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		u, err := d.GetUser(ctx, "alice")
		if err != nil || u == nil {
			b.Fatal(u, err)
		}
		if _, err := d.GroupsForUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDirectoryConcurrentAgainstSlapd: many validations at once share the
// pool (more of them than pool_size) and each gets its own user's answer.
func TestDirectoryConcurrentAgainstSlapd(t *testing.T) {
	d := slapdDir(t, func(l *config.LDAPSection) { l.PoolSize = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]string{"alice": "Alice Liddell", "bob": "Bob Builder", "carol": "Carol Danvers"}
	errs := make(chan error, 60)
	for i := range 60 {
		id := []string{"alice", "bob", "carol"}[i%3]
		go func() {
			u, err := d.GetUser(ctx, id)
			if err == nil && (u == nil || u.Name != want[id]) {
				err = fmt.Errorf("%s: got %+v", id, u)
			}
			if err == nil {
				_, err = d.GroupsForUser(ctx, u)
			}
			errs <- err
		}()
	}
	for range 60 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
