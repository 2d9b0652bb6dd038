package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOptedOut(t *testing.T) {
	pythonDefault := []string{"identity.authenticate.success", "identity.authenticate.pending", "identity.authenticate.failed"}
	tests := []struct {
		name   string
		n      Notification
		optOut []string
		want   bool
	}{
		{"Python's default drops successful logins", Notification{EventType: EventAuthenticate, Outcome: OutcomeSuccess}, pythonDefault, true},
		{"... but not failed ones (the outcome is failure, not failed)", Notification{EventType: EventAuthenticate, Outcome: OutcomeFailure}, pythonDefault, false},
		{"resource events pass the default", Notification{EventType: "identity.passkey.created"}, pythonDefault, false},
		{"a listed resource event", Notification{EventType: "identity.passkey.created"}, []string{"identity.passkey.created"}, true},
		{"the bare authenticate type matches nothing", Notification{EventType: EventAuthenticate, Outcome: OutcomeFailure}, []string{"identity.authenticate"}, false},
		{"an empty list entry (notification_opt_out =) matches nothing", Notification{EventType: EventAuthenticate, Outcome: OutcomeSuccess}, []string{""}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := OptedOut(tc.n, tc.optOut); got != tc.want {
				t.Errorf("OptedOut = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseTransportURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Transport
		wantErr string
	}{
		{"rabbit://guest:guest@127.0.0.1:5672/", Transport{Brokers: []Broker{{"127.0.0.1:5672", "guest", "guest"}}, VirtualHost: "/"}, ""},
		{"rabbit://u:p%40ss@mq1,u2:p2@mq2:5673/audit?ssl=1", Transport{Brokers: []Broker{{"mq1:5672", "u", "p@ss"}, {"mq2:5673", "u2", "p2"}}, VirtualHost: "audit", SSL: true}, ""},
		{"rabbit://mq/%2F", Transport{Brokers: []Broker{{"mq:5672", "", ""}}, VirtualHost: "/"}, ""},
		{"rabbit://[::1]:5672/v", Transport{Brokers: []Broker{{"[::1]:5672", "", ""}}, VirtualHost: "v"}, ""},
		{"kafka://u:hunter2@k/", Transport{}, "only rabbit://"},
		{"rabbit://u:hunter2@/", Transport{}, "has no host"},
		{"nonsense", Transport{}, "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTransportURL(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPythonTimes(t *testing.T) {
	tests := []struct {
		t          time.Time
		ts, cadfTS string
	}{
		{time.Date(2026, 12, 7, 9, 51, 5, 581489000, time.UTC), "2026-12-07 09:51:05.581489", "2026-12-07T09:51:05.581489+0000"},
		// str(datetime) leaves out a zero fraction; pycadf's %f does not
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02 03:04:05", "2026-01-02T03:04:05.000000+0000"},
		{time.Date(2026, 1, 2, 4, 4, 5, 999, time.FixedZone("x", 3600)), "2026-01-02 03:04:05", "2026-01-02T03:04:05.000000+0000"},
	}
	for _, tc := range tests {
		if got := PythonTimestamp(tc.t); got != tc.ts {
			t.Errorf("PythonTimestamp(%v) = %q, want %q", tc.t, got, tc.ts)
		}
		if got := CADFTime(tc.t); got != tc.cadfTS {
			t.Errorf("CADFTime(%v) = %q, want %q", tc.t, got, tc.cadfTS)
		}
	}
}

func TestResourceUUID(t *testing.T) {
	tests := map[string]string{
		"525ffbe4b85f45279b4d2d19b00eda24": "525ffbe4b85f45279b4d2d19b00eda24",
		// uuid.uuid5(RESOURCE_ID_NAMESPACE, "ldapuser").hex, by Python
		"ldapuser": "", // only the form is checked below
	}
	for in, want := range tests {
		got := ResourceUUID(in)
		if want != "" && got != want {
			t.Errorf("ResourceUUID(%q) = %q, want %q", in, got, want)
		}
		if len(strings.ReplaceAll(got, "-", "")) != 32 {
			t.Errorf("ResourceUUID(%q) = %q is not a UUID", in, got)
		}
	}
}

// The v2 envelope: the message as a JSON string under oslo.message, with
// a _unique_id that is the same for a redelivery and differs by topic.
func TestEnvelope(t *testing.T) {
	m := NewMessage(Notification{EventType: "identity.passkey.created", Payload: nil}, "identity.h", time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC))
	a, b, c := Envelope(m.JSON(), "notifications"), Envelope(m.JSON(), "notifications"), Envelope(m.JSON(), "audit")
	if !bytes.Equal(a, b) {
		t.Error("a redelivery is not the same bytes")
	}
	var env struct {
		Version string `json:"oslo.version"`
		Message string `json:"oslo.message"`
	}
	if err := json.Unmarshal(a, &env); err != nil || env.Version != "2.0" {
		t.Fatalf("envelope %s: %v", a, err)
	}
	var msg map[string]any
	if err := json.Unmarshal([]byte(env.Message), &msg); err != nil {
		t.Fatal(err)
	}
	if msg["priority"] != "INFO" || msg["publisher_id"] != "identity.h" || msg["timestamp"] != "2026-01-01 00:00:00.000001" || msg["_unique_id"] == "" {
		t.Errorf("message %v", msg)
	}
	var envC struct {
		Message string `json:"oslo.message"`
	}
	_ = json.Unmarshal(c, &envC)
	if strings.Contains(envC.Message, msg["_unique_id"].(string)) {
		t.Error("two topics got the same _unique_id")
	}
	if RoutingKey("notifications") != "notifications.info" {
		t.Error(RoutingKey("notifications"))
	}
	if PublisherID("", "node1") != "identity.node1" || PublisherID("ks", "node1") != "identity.ks" {
		t.Error("PublisherID")
	}
}

// memOutbox is an in-memory Outbox.
type memOutbox struct {
	mu     sync.Mutex
	next   int64
	recs   []Record
	failOn int // Append fails when set
}

func (o *memOutbox) Append(_ context.Context, et string, msg []byte, _ time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failOn > 0 {
		return errors.New("database away")
	}
	o.next++
	o.recs = append(o.recs, Record{ID: o.next, EventType: et, Message: msg})
	return nil
}

func (o *memOutbox) Pending(_ context.Context, limit int) ([]Record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Record(nil), o.recs[:min(limit, len(o.recs))]...), nil
}

func (o *memOutbox) Remove(_ context.Context, ids []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	gone := map[int64]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	var keep []Record
	for _, r := range o.recs {
		if !gone[r.ID] {
			keep = append(keep, r)
		}
	}
	o.recs = keep
	return nil
}

func (o *memOutbox) Count(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs), nil
}

func (o *memOutbox) Lease(context.Context, string, time.Time, time.Time) (bool, error) {
	return true, nil
}

// flakyBus fails while down.
type flakyBus struct {
	mu   sync.Mutex
	down bool
	got  []string // message ids, in delivery order
	keys []string
}

func (b *flakyBus) Publish(_ context.Context, exchange, key string, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("connection refused")
	}
	var env struct {
		Message string `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	var msg struct {
		ID      string         `json:"message_id"`
		Payload map[string]any `json:"payload"`
	}
	if err := json.Unmarshal([]byte(env.Message), &msg); err != nil {
		return err
	}
	b.got = append(b.got, fmt.Sprint(msg.Payload["resource_info"]))
	b.keys = append(b.keys, exchange+"/"+key)
	return nil
}

func (b *flakyBus) Close() error { return nil }

func (b *flakyBus) set(down bool) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

func (b *flakyBus) delivered() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

type counts struct {
	mu                   sync.Mutex
	queued, sent         int
	dropped              map[string]int
	lastQueuedBeforeSent bool
}

func (c *counts) AuditQueued() { c.mu.Lock(); c.queued++; c.mu.Unlock() }
func (c *counts) AuditSent()   { c.mu.Lock(); c.sent++; c.mu.Unlock() }
func (c *counts) AuditDropped(r string) {
	c.mu.Lock()
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped[r]++
	c.mu.Unlock()
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// While the bus is away events wait, emitting never blocks, the outage is
// reported after DownAlert; once it is back every event arrives once, in
// order, on every topic.
func TestServiceOutbox(t *testing.T) {
	ob := &memOutbox{}
	bus := &flakyBus{down: true}
	c := &counts{}
	var logs syncBuffer
	s := &Service{
		Settings: Settings{Bus: true, Format: "basic", Exchange: "keystone", Topics: []string{"notifications", "audit"},
			PublisherID: "identity.h", MaxEvents: 1000, DownAlert: 50 * time.Millisecond},
		Outbox: ob, Publisher: bus, Counters: c,
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	ctx = WithRequest(ctx, Initiator{RequestID: "req-1"})
	var want []string
	for i := range 50 {
		start := time.Now()
		id := fmt.Sprintf("r%02d", i)
		s.Changed(ctx, Created, ResourcePasskey, id)
		want = append(want, id, id) // two topics
		if d := time.Since(start); d > time.Second {
			t.Fatalf("emit waited %s on a bus that is down", d)
		}
	}
	waitFor(t, "the outage to be reported", func() bool {
		return s.Health() != "" && strings.Contains(logs.String(), "message bus unreachable")
	})
	if h := s.Health(); !strings.Contains(h, "unreachable") || !strings.Contains(h, "50 events") {
		t.Errorf("Health = %q", h)
	}
	if len(bus.delivered()) != 0 {
		t.Fatal("delivered while down")
	}
	bus.set(false)
	waitFor(t, "the backlog to drain", func() bool { return len(bus.delivered()) == len(want) })
	if got := bus.delivered(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if bus.keys[0] != "keystone/notifications.info" || bus.keys[1] != "keystone/audit.info" {
		t.Errorf("routing %v", bus.keys[:2])
	}
	// Health clears as the outage ends; its log line follows it.
	waitFor(t, "the outage to end", func() bool { return s.Health() == "" && strings.Contains(logs.String(), "reachable again") })
	c.mu.Lock()
	if c.queued != 50 || c.sent != 50 || len(c.dropped) != 0 {
		t.Errorf("counters queued %d sent %d dropped %v", c.queued, c.sent, c.dropped)
	}
	c.mu.Unlock()
	if !strings.Contains(logs.String(), "reachable again") {
		t.Errorf("log lacks the outage lines:\n%s", logs.String())
	}
}

// A full outbox drops new events, counted and logged, never silently;
// so does a store that fails.
func TestServiceDrops(t *testing.T) {
	ob := &memOutbox{}
	c := &counts{}
	var logs bytes.Buffer
	s := &Service{Settings: Settings{Bus: true, Format: "cadf", Topics: []string{"n"}, MaxEvents: 3, DownAlert: time.Minute},
		Outbox: ob, Counters: c, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := range 5 {
		s.Changed(context.Background(), Deleted, ResourceMapping, fmt.Sprint(i))
	}
	ob.failOn = 1
	s.Settings.MaxEvents = 10
	s.Changed(context.Background(), Deleted, ResourceMapping, "x")
	if n, _ := ob.Count(context.Background()); n != 3 {
		t.Errorf("outbox holds %d, want 3", n)
	}
	if c.queued != 3 || c.dropped["outbox_full"] != 2 || c.dropped["store"] != 1 {
		t.Errorf("queued %d dropped %v", c.queued, c.dropped)
	}
	if strings.Count(logs.String(), "audit: event dropped") != 3 {
		t.Errorf("log:\n%s", logs.String())
	}
}

// driver = log logs the message as oslo's LogDriver does; noop (no
// driver) sends nothing; opted-out events are neither logged nor queued.
func TestServiceDrivers(t *testing.T) {
	var logs bytes.Buffer
	ob := &memOutbox{}
	s := &Service{Settings: Settings{Log: true, Format: "cadf", PublisherID: "identity.h",
		OptOut: []string{"identity.authenticate.success"}}, Outbox: ob, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	s.Authenticated(context.Background(), Login{Outcome: OutcomeFailure, Initiator: Initiator{UserID: "u1", Address: "192.0.2.1", Agent: "a"}})
	s.Authenticated(context.Background(), Login{Outcome: OutcomeSuccess, Initiator: Initiator{UserID: "u1"}})
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &line); err != nil {
		t.Fatalf("want exactly one log line, got %q: %v", logs.String(), err)
	}
	if line["logger"] != "oslo.messaging.notification.identity.authenticate" || !strings.Contains(line["msg"].(string), `"outcome": "failure"`) {
		t.Errorf("log line %v", line)
	}
	if n, _ := ob.Count(context.Background()); n != 0 {
		t.Error("the log driver queued an event for the bus")
	}
	var none *Service
	none.Changed(context.Background(), Created, ResourcePasskey, "p") // nil: nothing, no panic
	off := &Service{Outbox: ob}
	off.Changed(context.Background(), Created, ResourcePasskey, "p")
	if n, _ := ob.Count(context.Background()); n != 0 || off.Enabled() {
		t.Error("no driver still emitted")
	}
}

// The initiator of a change is the request's caller, as Python's
// build_audit_initiator reads it; a login's credential carries the
// issued token's audit id.
func TestInitiator(t *testing.T) {
	ctx := WithRequest(context.Background(), Initiator{Address: "192.0.2.7", Agent: "curl/8", RequestID: "req-9"})
	SetCaller(ctx, "u1", "alice", "p1", "")
	n := ResourceEvent("cadf", Created, ResourceIdentityProvider, "idp1", FromContext(ctx), Observer{ServiceID: "svc"}, time.Now())
	b := string(mustJSON(t, n))
	for _, want := range []string{`"action": "created.OS-FEDERATION:identity_provider"`, `"user_id": "u1"`, `"project_id": "p1"`,
		`"username": "alice"`, `"address": "192.0.2.7"`, `"agent": "curl/8"`, `"request_id": "req-9"`, `"typeURI": "unknown"`, `"id": "svc"`} {
		if !strings.Contains(b, want) {
			t.Errorf("event lacks %s: %s", want, b)
		}
	}
	l := Authenticate(OutcomeSuccess, Initiator{UserID: "u2", Credential: FederatedCredential("AUDITID", "idp1", "u2", nil)}, Observer{}, nil, time.Now())
	b = string(mustJSON(t, l))
	for _, want := range []string{`"credential": {"token": "AUDITID", "type": "http://docs.oasis-open.org/security/saml/v2.0", "identity_provider": "idp1", "user": "u2", "groups": []}`} {
		if !strings.Contains(b, want) {
			t.Errorf("login event lacks %s: %s", want, b)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the drainer's log and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func mustJSON(t *testing.T, n Notification) []byte {
	t.Helper()
	return NewMessage(n, "identity.h", time.Now()).JSON()
}

// Python's messaging (v1) driver sends the bare message, messagingv2 the
// envelope; with both, one message each, per topic.
func TestBodies(t *testing.T) {
	s := &Service{Settings: Settings{Versions: []string{"2.0", "1.0"}, Topics: []string{"notifications", "audit"}}}
	msg := NewMessage(Notification{EventType: "identity.passkey.deleted"}, "identity.h", time.Now()).JSON()
	bs := s.bodies(msg)
	if len(bs) != 4 {
		t.Fatalf("%d bodies, want 4", len(bs))
	}
	if !strings.HasPrefix(string(bs[0].data), `{"oslo.version": "2.0"`) || bs[0].key != "notifications.info" || bs[1].key != "audit.info" {
		t.Errorf("v2 bodies %s %s", bs[0].key, bs[0].data)
	}
	var bare map[string]any
	if err := json.Unmarshal(bs[2].data, &bare); err != nil || bare["event_type"] != "identity.passkey.deleted" || bare["_unique_id"] == nil {
		t.Errorf("v1 body %s: %v", bs[2].data, err)
	}
}
