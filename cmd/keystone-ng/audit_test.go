package main

import (
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/config"
)

// Python's drivers map to the audit service as oslo.messaging loads them:
// messaging and messagingv2 publish, log logs, noop and none send nothing.
func TestAuditSettings(t *testing.T) {
	tests := []struct {
		drivers   []string
		bus, log  bool
		publisher string
		defaultID string
	}{
		{nil, false, false, "identity.node1", ""},
		{[]string{"noop"}, false, false, "identity.node1", ""},
		{[]string{"messagingv2"}, true, false, "identity.node1", ""},
		{[]string{"messaging", "log"}, true, true, "identity.keystone", "keystone"},
		{[]string{"log"}, false, true, "identity.node1", ""},
	}
	for _, tc := range tests {
		cfg := config.Defaults()
		cfg.Notifications.Driver = tc.drivers
		cfg.Default.DefaultPublisherID = tc.defaultID
		s := auditSettings(cfg, "node1")
		if tc.bus && len(s.Versions) == 0 {
			t.Errorf("%v: no message version", tc.drivers)
		}
		if s.Bus != tc.bus || s.Log != tc.log || s.PublisherID != tc.publisher || s.Exchange != "keystone" ||
			len(s.Topics) != 1 || s.Topics[0] != "notifications" || s.Format != "cadf" {
			t.Errorf("%v: %+v", tc.drivers, s)
		}
	}
}
