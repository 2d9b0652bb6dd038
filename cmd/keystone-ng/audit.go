package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/keystone-ng/keystone-ng/pkg/store"
)

// auditSettings maps Python's notifier configuration to the audit
// service's (docs/audit.md §1).
func auditSettings(cfg *config.Config, hostname string) audit.Settings {
	s := audit.Settings{
		Format:      cfg.Default.NotificationFormat,
		OptOut:      cfg.Default.NotificationOptOut,
		Exchange:    cfg.Default.ControlExchange,
		Topics:      cfg.Notifications.Topics,
		PublisherID: audit.PublisherID(cfg.Default.DefaultPublisherID, hostname),
		MaxEvents:   cfg.KeystoneNG.AuditOutboxMaxEvents,
		DownAlert:   cfg.KeystoneNG.AuditBusDownAlert,
	}
	for _, d := range cfg.Notifications.Driver {
		switch d {
		case "messagingv2":
			s.Bus = true
			s.Versions = append(s.Versions, "2.0")
		case "messaging":
			// Python's v1 driver: the bare message, no envelope.
			s.Bus = true
			s.Versions = append(s.Versions, "1.0")
		case "log":
			s.Log = true
		}
	}
	return s
}

// auditService builds the audit service from the configuration; nil when
// no driver is configured (Python sends nothing then either).
func (a *app) auditService(m *httpapi.Metrics) (*audit.Service, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	set := auditSettings(a.cfg, host)
	if !set.On() {
		return nil, nil
	}
	svc := &audit.Service{Settings: set, Log: a.log, ObserverID: a.identityServiceID()}
	if m != nil {
		svc.Counters = m
		m.AuditBacklog(svc.Backlog)
	}
	if set.Bus {
		t, err := audit.ParseTransportURL(a.cfg.NotificationTransportURL())
		if err != nil {
			return nil, fmt.Errorf("[oslo_messaging_notifications] transport_url: %w", err)
		}
		r := a.cfg.Rabbit
		svc.Outbox = store.NewAuditOutbox(a.db)
		svc.Publisher = &audit.AMQPPublisher{Transport: t, Timeout: a.cfg.KeystoneNG.AuditPublishTimeout,
			TLS: audit.TLSOptions{Enabled: r.SSL, CAFile: r.SSLCAFile, CertFile: r.SSLCertFile, KeyFile: r.SSLKeyFile,
				Version: r.SSLVersion, VerifyHostname: r.SSLEnforceHostnameVerification}}
	}
	a.log.Info("audit notifications on", "bus", set.Bus, "log", set.Log, "format", set.Format,
		"exchange", set.Exchange, "topics", set.Topics, "publisher_id", set.PublisherID)
	return svc, nil
}

// identityServiceID is the CADF observer's id: the catalog's service of
// type identity, as Python's _send_audit_notification looks it up. The
// answer is kept a minute: it names the observer, it grants nothing.
func (a *app) identityServiceID() func(ctx context.Context) (string, error) {
	var (
		mu   sync.Mutex
		id   string
		at   time.Time
		have bool
	)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if have && time.Since(at) < time.Minute {
			return id, nil
		}
		svcs, err := a.reader.Services(ctx)
		if err != nil {
			return "", err
		}
		id = ""
		for _, s := range svcs {
			if s.Type == audit.ServiceType {
				id = s.ID
				break
			}
		}
		at, have = time.Now(), true
		return id, nil
	}
}
