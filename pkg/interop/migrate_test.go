package interop

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInteropOwnMigrations runs `keystone-ng db migrate` twice and
// `keystone-ng db status` against the database Python Keystone uses: the
// first run creates keystone-ng's own tables, the second applies nothing,
// and Python's schema revision is the same before and after (keystone-ng
// never alters Python's tables), on each backend.
func TestInteropOwnMigrations(t *testing.T) {
	env := loadEnv(t)
	bin := sidecarBinary(t)
	db := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"db"}, append(args, "--config-file", env.Conf)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("keystone-ng db %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	heads := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			// The release line names the alembic heads (store.Schema.Release).
			if strings.HasPrefix(l, "Keystone release (from the schema): ") && strings.Contains(l, "alembic ") {
				return l
			}
		}
		t.Fatalf("no Python schema line in:\n%s", out)
		return ""
	}
	before := db("status")
	first := db("migrate")
	second := db("migrate")
	after := db("status")
	if !strings.Contains(second, "applied 0 keystone-ng migration(s)") {
		t.Fatalf("second migrate applied something:\n%s", second)
	}
	if strings.Contains(after, "pending") {
		t.Fatalf("migrations still pending after migrate:\n%s", after)
	}
	if heads(before) != heads(after) || heads(first) != heads(before) {
		t.Fatalf("Python's schema revision changed:\nbefore: %s\nafter: %s", heads(before), heads(after))
	}
	t.Logf("%s", after)
}
