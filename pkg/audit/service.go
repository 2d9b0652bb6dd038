package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Counters count events (*httpapi.Metrics): queued in the outbox, sent
// (confirmed by the broker), dropped (with a reason: outbox_full, store).
type Counters interface {
	AuditQueued()
	AuditSent()
	AuditDropped(reason string)
}

// Settings are what Python's notifier is configured with, plus
// keystone-ng's outbox bounds.
type Settings struct {
	// Bus: a driver publishes to the message bus (messaging, messagingv2).
	Bus bool
	// Versions are the message formats sent, one message each, as
	// Python's drivers send them: "2.0" (messagingv2, the oslo envelope),
	// "1.0" (messaging, the bare message). Empty: "2.0".
	Versions []string
	// Log: the log driver is on (the message is logged, as oslo's
	// LogDriver does, at INFO under oslo.messaging.notification.<type>).
	Log bool
	// Format is [DEFAULT] notification_format (cadf, basic).
	Format      string
	OptOut      []string
	Exchange    string
	Topics      []string
	PublisherID string
	// MaxEvents bounds the outbox; DownAlert is how long the bus may be
	// away before a warning and a /readyz detail.
	MaxEvents int
	DownAlert time.Duration
}

// On reports whether any driver is on (Python sends nothing without one:
// the noop driver and an empty driver list are the same).
func (s Settings) On() bool { return s.Bus || s.Log }

// Service emits events and drains the outbox. The zero value and a nil
// *Service emit nothing.
type Service struct {
	Settings  Settings
	Outbox    Outbox
	Publisher Publisher
	Counters  Counters
	// ObserverID returns the identity service's id (the CADF observer),
	// read from the catalog as Python reads it; errors leave it out.
	ObserverID func(ctx context.Context) (string, error)
	Log        *slog.Logger
	Now        func() time.Time

	wake      chan struct{}
	once      sync.Once
	backlog   atomic.Int64
	downSince atomic.Int64 // unix nanoseconds; 0 = the bus is reachable
	alerted   atomic.Bool
	lastErr   atomic.Value // string
	holder    string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.holder = hex.EncodeToString(b[:])
	})
}

// Enabled reports whether events are emitted at all.
func (s *Service) Enabled() bool { return s != nil && s.Settings.On() }

// Login is one /v4 login's outcome.
type Login struct {
	Outcome string // OutcomeSuccess or OutcomeFailure
	// Initiator: the request's (FromContext) with the user and credential
	// of the login.
	Initiator Initiator
	Reason    *Reason
}

// Authenticated emits identity.authenticate for a login or refusal.
func (s *Service) Authenticated(ctx context.Context, l Login) {
	if !s.Enabled() {
		return
	}
	s.emit(ctx, Authenticate(l.Outcome, l.Initiator, s.observer(ctx), l.Reason, s.now()))
}

// Changed emits identity.<resourceType>.<operation> for a /v4 change
// made by the request's caller (FromContext).
func (s *Service) Changed(ctx context.Context, operation, resourceType, resourceID string) {
	if !s.Enabled() {
		return
	}
	in := FromContext(ctx)
	s.emit(ctx, ResourceEvent(s.Settings.Format, operation, resourceType, resourceID, in, s.observer(ctx), s.now()))
}

func (s *Service) observer(ctx context.Context) Observer {
	if s.ObserverID == nil {
		return Observer{}
	}
	id, err := s.ObserverID(ctx)
	if err != nil {
		s.log().WarnContext(ctx, "audit: could not read the identity service's id for the CADF observer", "error", err)
		return Observer{}
	}
	return Observer{ServiceID: id}
}

// emit applies the opt-out, logs (driver log) and queues (bus drivers).
// It never fails the caller: a lost event is counted and logged.
func (s *Service) emit(ctx context.Context, n Notification) {
	if OptedOut(n, s.Settings.OptOut) {
		return
	}
	m := NewMessage(n, s.Settings.PublisherID, s.now())
	body := m.JSON()
	if s.Settings.Log {
		// oslo_messaging/notify/_impl_log.py: the message as JSON, at
		// the priority's level, under oslo.messaging.notification.<type>.
		s.log().InfoContext(ctx, string(body), "logger", "oslo.messaging.notification."+n.EventType)
	}
	if !s.Settings.Bus || s.Outbox == nil {
		return
	}
	s.init()
	if s.Settings.MaxEvents > 0 && s.backlog.Load() >= int64(s.Settings.MaxEvents) {
		s.dropped(ctx, "outbox_full", n, nil)
		return
	}
	// The request may end (or be cancelled) right after the login; the
	// event must still be stored.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.Outbox.Append(sctx, n.EventType, body, s.now()); err != nil {
		s.dropped(ctx, "store", n, err)
		return
	}
	s.backlog.Add(1)
	if s.Counters != nil {
		s.Counters.AuditQueued()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) dropped(ctx context.Context, reason string, n Notification, err error) {
	if s.Counters != nil {
		s.Counters.AuditDropped(reason)
	}
	attrs := []any{"event_type", n.EventType, "reason", reason, "outbox_max_events", s.Settings.MaxEvents}
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	s.log().ErrorContext(ctx, "audit: event dropped", attrs...)
}

// Health is "" while the bus is reachable (or away for less than
// DownAlert), else what /readyz reports.
func (s *Service) Health() string {
	if s == nil {
		return ""
	}
	since := s.downSince.Load()
	if since == 0 {
		return ""
	}
	d := s.now().Sub(time.Unix(0, since))
	if d < s.Settings.DownAlert {
		return ""
	}
	return fmt.Sprintf("audit: message bus unreachable for %s, %d events waiting in the outbox", d.Round(time.Second), s.backlog.Load())
}

// Backlog is the number of events waiting (as last counted).
func (s *Service) Backlog() int64 {
	if s == nil {
		return 0
	}
	return s.backlog.Load()
}

// Run drains the outbox until ctx ends: one drainer across instances
// (the outbox lease), records in order, each removed once every topic's
// broker confirmed it, retried with a back-off while the bus is away.
func (s *Service) Run(ctx context.Context) {
	if !s.Enabled() || !s.Settings.Bus || s.Outbox == nil || s.Publisher == nil {
		return
	}
	s.init()
	defer s.Publisher.Close()
	// Give the lease up on the way out, so that another instance drains
	// at once rather than when it runs out.
	defer s.releaseLease()
	if n, err := s.Outbox.Count(ctx); err == nil {
		s.backlog.Store(int64(n))
	}
	const leaseFor = 30 * time.Second
	backoff := 100 * time.Millisecond
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCount := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
		if time.Since(lastCount) > 5*time.Second {
			if n, err := s.Outbox.Count(ctx); err == nil {
				s.backlog.Store(int64(n))
			}
			lastCount = time.Now()
		}
		s.maybeAlert(ctx, nil)
		if s.backlog.Load() <= 0 {
			// Nothing to drain (as last counted): no lease write.
			continue
		}
		now := s.now()
		ok, err := s.Outbox.Lease(ctx, s.holder, now.Add(leaseFor), now)
		if err != nil {
			s.log().WarnContext(ctx, "audit: outbox lease", "error", err)
			continue
		}
		if !ok {
			continue
		}
		for ctx.Err() == nil {
			n, err := s.drainOnce(ctx)
			if err != nil {
				s.busDown(ctx, err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
				break
			}
			backoff = 100 * time.Millisecond
			s.busUp(ctx)
			if n == 0 {
				break
			}
		}
	}
}

// drainOnce publishes the oldest records; it returns how many were
// delivered and removed, and the bus's error if one stopped it.
func (s *Service) drainOnce(ctx context.Context) (int, error) {
	recs, err := s.Outbox.Pending(ctx, 100)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	var done []int64
	var perr error
	for _, r := range recs {
		for _, body := range s.bodies(r.Message) {
			if err := s.Publisher.Publish(ctx, s.Settings.Exchange, body.key, body.data); err != nil {
				perr = err
				break
			}
		}
		if perr != nil {
			break
		}
		done = append(done, r.ID)
	}
	if len(done) > 0 {
		if err := s.Outbox.Remove(context.WithoutCancel(ctx), done); err != nil {
			// Delivered but not removed: delivered again later (at
			// least once; the message id is the same).
			return 0, fmt.Errorf("outbox: %w", err)
		}
		s.backlog.Add(-int64(len(done)))
		if s.Counters != nil {
			for range done {
				s.Counters.AuditSent()
			}
		}
	}
	return len(done), perr
}

// releaseLease ends this instance's lease (a lease ending in the past).
func (s *Service) releaseLease() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = s.Outbox.Lease(ctx, s.holder, time.Unix(0, 0), s.now())
}

// busDown records an outage. The lease is given up, so that an instance
// that does reach the bus takes over the draining.
type amqpBody struct {
	key  string
	data []byte
}

// bodies are the AMQP messages of one event: per driver version, per
// topic (oslo.messaging's Notifier loops over drivers, each over topics).
func (s *Service) bodies(msg []byte) []amqpBody {
	versions := s.Settings.Versions
	if len(versions) == 0 {
		versions = []string{"2.0"}
	}
	var out []amqpBody
	for _, v := range versions {
		for _, topic := range s.Settings.Topics {
			b := Envelope(msg, topic)
			if v == "1.0" {
				b = BareMessage(msg, topic)
			}
			out = append(out, amqpBody{RoutingKey(topic), b})
		}
	}
	return out
}

func (s *Service) busDown(ctx context.Context, err error) {
	s.releaseLease()
	s.downSince.CompareAndSwap(0, s.now().UnixNano())
	s.lastErr.Store(err.Error())
	s.maybeAlert(ctx, err)
}

// maybeAlert logs, once per outage, that the bus has been away for
// DownAlert.
func (s *Service) maybeAlert(ctx context.Context, err error) {
	since := s.downSince.Load()
	if since == 0 {
		return
	}
	d := s.now().Sub(time.Unix(0, since))
	if d >= s.Settings.DownAlert && s.alerted.CompareAndSwap(false, true) {
		last, _ := s.lastErr.Load().(string)
		s.log().WarnContext(ctx, "audit: message bus unreachable; events wait in the outbox",
			"for", d.Round(time.Second), "backlog", s.backlog.Load(), "error", last)
	}
}

func (s *Service) busUp(ctx context.Context) {
	if since := s.downSince.Swap(0); since != 0 {
		s.alerted.Store(false)
		s.log().InfoContext(ctx, "audit: message bus reachable again",
			"was_down", s.now().Sub(time.Unix(0, since)).Round(time.Second), "backlog", s.backlog.Load())
	}
}
