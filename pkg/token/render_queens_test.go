package token

import (
	"slices"
	"testing"
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
