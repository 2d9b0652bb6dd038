package main

import (
	"strings"
	"testing"
)

func TestServiceAccountProblems(t *testing.T) {
	for _, tc := range []struct {
		name                                          string
		account, idp, key, secret, jwt, projectDomain string
		device, system                                bool
		want                                          string // "" when fine
	}{
		{name: "key", account: "sa1", key: "k.pem"},
		{name: "secret", account: "sa1", secret: "s.txt"},
		{name: "neither", account: "sa1", want: "one of --key-file"},
		{name: "both", account: "sa1", key: "k", secret: "s", want: "one of --key-file"},
		{name: "with an idp", account: "sa1", key: "k", idp: "gh", want: "excludes --idp"},
		{name: "with device", account: "sa1", key: "k", device: true, want: "excludes --idp"},
		{name: "system scope", account: "sa1", key: "k", system: true, want: "no --system"},
		{name: "project by name", account: "sa1", key: "k", projectDomain: "Default", want: "no --project-domain"},
		{name: "key file without an account", key: "k", idp: "gh", want: "need --service-account"},
		{name: "ordinary login", idp: "gh"},
	} {
		got := strings.Join(serviceAccountProblems(tc.account, tc.idp, tc.key, tc.secret, tc.jwt, tc.device, tc.projectDomain, tc.system), "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
