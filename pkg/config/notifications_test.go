package config

import (
	"strings"
	"testing"
)

// Python's notifier settings as oslo.config reads them (docs/audit.md §1).
func TestLoadNotifications(t *testing.T) {
	tests := []struct {
		name  string
		conf  string
		check func(t *testing.T, c *Config)
	}{
		{"defaults: Python's, notifications off", "", func(t *testing.T, c *Config) {
			eq(t, c.Notifications.Driver, []string(nil))
			eq(t, c.Notifications.Topics, []string{"notifications"})
			eq(t, c.Notifications.Retry, -1)
			eq(t, c.Default.ControlExchange, "keystone")
			eq(t, c.Default.NotificationFormat, "cadf")
			eq(t, c.Default.NotificationOptOut, []string{"identity.authenticate.success", "identity.authenticate.pending", "identity.authenticate.failed"})
			eq(t, c.NotificationsToBus(), false)
			eq(t, c.Rabbit, RabbitSection{})
		}},
		{"messagingv2 on the DEFAULT transport", "[DEFAULT]\ntransport_url = rabbit://u:pw@mq:5672/v\nnotification_format = basic\nnotification_opt_out = identity.user.created\nnotification_opt_out = identity.authenticate.success\n[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications, audit\n", func(t *testing.T, c *Config) {
			eq(t, c.Notifications.Driver, []string{"messagingv2"})
			eq(t, c.Notifications.Topics, []string{"notifications", "audit"})
			eq(t, c.NotificationTransportURL(), "rabbit://u:pw@mq:5672/v")
			eq(t, c.NotificationsToBus(), true)
			eq(t, c.Default.NotificationFormat, "basic")
			eq(t, c.Default.NotificationOptOut, []string{"identity.user.created", "identity.authenticate.success"})
		}},
		{"the notifications transport wins; several drivers", "[DEFAULT]\ntransport_url = rabbit://rpc/\n[oslo_messaging_notifications]\ndriver = log\ndriver = messaging\ntransport_url = rabbit://notify:pw@mq/audit\n", func(t *testing.T, c *Config) {
			eq(t, c.Notifications.Driver, []string{"log", "messaging"})
			eq(t, c.NotificationTransportURL(), "rabbit://notify:pw@mq/audit")
		}},
		{"deprecated names", "[DEFAULT]\nnotification_driver = messagingv2\nnotification_transport_url = rabbit://x@mq/\nnotification_topics = t1\n[oslo_messaging_rabbit]\nrabbit_use_ssl = true\nkombu_ssl_ca_certs = /etc/ca.pem\n", func(t *testing.T, c *Config) {
			eq(t, c.Notifications.Driver, []string{"messagingv2"})
			eq(t, c.Notifications.TransportURL, "rabbit://x@mq/")
			eq(t, c.Notifications.Topics, []string{"t1"})
			eq(t, c.Rabbit.SSL, true)
			eq(t, c.Rabbit.SSLCAFile, "/etc/ca.pem")
		}},
		{"TLS options", "[oslo_messaging_rabbit]\nssl = yes\nssl_ca_file = /ca\nssl_cert_file = /c\nssl_key_file = /k\nssl_version = TLSv1_2\nssl_enforce_hostname_verification = true\n", func(t *testing.T, c *Config) {
			eq(t, c.Rabbit, RabbitSection{SSL: true, SSLCAFile: "/ca", SSLCertFile: "/c", SSLKeyFile: "/k", SSLVersion: "TLSv1_2", SSLEnforceHostnameVerification: true})
		}},
		{"audit settings", "[keystone_ng]\naudit_outbox_max_events = 10\naudit_bus_down_alert = 30s\naudit_publish_timeout = 1\n", func(t *testing.T, c *Config) {
			eq(t, c.KeystoneNG.AuditOutboxMaxEvents, 10)
			eq(t, c.KeystoneNG.AuditBusDownAlert.String(), "30s")
			eq(t, c.KeystoneNG.AuditPublishTimeout.String(), "1s")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadString(t, tc.conf)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestValidateNotifications(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"log driver needs no bus", func(c *Config) { c.Notifications.Driver = []string{"log"} }, nil},
		{"no topic, no exchange", func(c *Config) {
			c.Notifications.Driver = []string{"messagingv2"}
			c.Default.TransportURL = "rabbit://mq/"
			c.Notifications.Topics = nil
			c.Default.ControlExchange = ""
		}, []string{"topics: must name at least one topic", "control_exchange: must be set"}},
		// A bus keystone-ng cannot publish to is no configuration problem
		// (Python publishes there): /v4 stays off instead.
		{"a bus keystone-ng cannot publish to", func(c *Config) {
			c.Notifications.Driver = []string{"messaging"}
			c.Notifications.TransportURL = "kafka://u:hunter2@k:9092/"
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mod(c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			wantProblems(t, err, tc.want...)
		})
	}
}

// AuditBusUnsupported: why /v4 stays off, never showing the transport
// password.
func TestAuditBusUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no driver", func(c *Config) {}, ""},
		{"log driver", func(c *Config) { c.Notifications.Driver = []string{"log"} }, ""},
		{"rabbit", func(c *Config) {
			c.Notifications.Driver = []string{"messagingv2"}
			c.Default.TransportURL = "rabbit://u:hunter2@mq:5672/"
		}, ""},
		{"messagingv2 without a transport", func(c *Config) { c.Notifications.Driver = []string{"messagingv2"} },
			"[DEFAULT] transport_url: not set"},
		{"kafka", func(c *Config) {
			c.Notifications.Driver = []string{"messaging"}
			c.Notifications.TransportURL = "kafka://u:hunter2@k:9092/"
		}, "[oslo_messaging_notifications] transport_url: kafka://u:***@k:9092/: keystone-ng publishes audit events only to RabbitMQ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mod(c)
			got := c.AuditBusUnsupported()
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) || strings.Contains(got, "hunter2") {
				t.Fatalf("AuditBusUnsupported() = %q, want %q", got, tc.want)
			}
		})
	}
}

// The transport URL is shown by `keystone-ng check` without its password.
func TestRedactedTransportURL(t *testing.T) {
	c, err := loadString(t, "[DEFAULT]\ntransport_url = rabbit://u:hunter2@mq:5672/v\n")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	eq(t, r["DEFAULT"]["transport_url"], "rabbit://u:***@mq:5672/v")
}
