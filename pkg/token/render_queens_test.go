package token

import (
	"slices"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/keystone-ng/keystone-ng/pkg/keystone"
)

func TestQueensMethods(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{"password"}, []string{"password"}},
		{[]string{"application_credential"}, []string{"application_credential"}},
		// Python 3's true division: 6/4 is 1.5, never 1.
		{[]string{"token", "password"}, []string{}},
		{[]string{"external", "password"}, []string{}},
	}
	for _, c := range cases {
		if got := queensMethods(c.in); !slices.Equal(got, c.want) || got == nil {
			t.Errorf("queensMethods(%q) = %#v, want %q", c.in, got, c.want)
		}
	}
}

func TestRestorePadding(t *testing.T) {
	cases := map[string]string{
		"":          "",
		"abcd":      "abcd",
		"abcde":     "abcde===",
		"abcdef":    "abcdef==",
		"abcdefg":   "abcdefg=",
		"abcdefgh=": "abcdefgh====",
	}
	for in, want := range cases {
		if got := restorePadding(in); got != want {
			t.Errorf("restorePadding(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQueensFederatedLeftToPython: under Queens' rendering a federated
// token is a 5xx (the front door then asks Python), whatever the evidence;
// under the token model the same evidence validates.
func TestQueensFederatedLeftToPython(t *testing.T) {
	federated := func() *evidence {
		ev := projectEvidence()
		ev.payload.Version, ev.payload.Federated = 5, true
		ev.payload.FederatedGroupIDs = []string{"g1"}
		ev.payload.IdentityProviderID, ev.payload.ProtocolID = "idp", "openid"
		ev.assignments = append(ev.assignments, keystone.Assignment{Type: "GroupProject", ActorID: "g1", TargetID: jProject, RoleID: "m", RoleName: "member"})
		return withRoles(ev, "m", "r")
	}
	in := jInput()
	if vd := judge(federated(), in); vd.err != nil {
		t.Fatalf("token model: %v", vd.err)
	}
	in.settings.TokenData = TokenDataHelper
	vd := judge(federated(), in)
	if ae := apierror.As(vd.err); vd.err == nil || ae.Code != 501 {
		t.Fatalf("Queens rendering: %v, want a 501", vd.err)
	}
}
