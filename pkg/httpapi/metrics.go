package httpapi

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are keystone-ng's Prometheus series (docs/design.md §10).
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	validations *prometheus.CounterVec
	KeyReloads  *prometheus.CounterVec
	dbWait      prometheus.Histogram
	stmtWait    prometheus.Histogram
	rateLimited *prometheus.CounterVec
	ldap        *prometheus.CounterVec
	oauth2      *prometheus.CounterVec
	audit       *prometheus.CounterVec
}

var _ audit.Counters = (*Metrics)(nil)

// NewMetrics registers the series; db may be nil.
func NewMetrics(db *sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_http_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keystone_ng_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_token_validations_total",
			Help: "Subject token validations by outcome (valid, invalid, expired_or_revoked, forbidden, unauthorized, error).",
		}, []string{"outcome"}),
		KeyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_fernet_key_reloads_total",
			Help: "Token key repository reloads (Fernet, or the JWS public and private key repositories) by result (ok, failed).",
		}, []string{"result"}),
		// One observation per round of validation lookups, 0 when a
		// place was free: _count is the rounds, _sum the total time spent
		// in line, the le="0" bucket the rounds that did not wait.
		dbWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keystone_ng_db_concurrency_wait_seconds",
			Help:    "Time a round of token validation lookups waited for a database turn ([keystone_ng] db_concurrency, times db_batch_size when batching).",
			Buckets: []float64{0, .0001, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
		// On MySQL/MariaDB with batching, one observation per round of
		// lookups that went as a combined statement: its wait for a
		// statement slot, which it may have shared with other rounds.
		stmtWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keystone_ng_db_statement_wait_seconds",
			Help:    "Time a round of token validation lookups waited in line for a statement slot, shared or not ([keystone_ng] db_concurrency and db_batch_size, MySQL/MariaDB).",
			Buckets: []float64{0, .0001, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_rate_limited_total",
			Help: "Unauthenticated login requests refused with 429 by [keystone_ng] login_rate_limit, by route.",
		}, []string{"route"}),
		ldap: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_ldap_searches_total",
			Help: "LDAP searches made for users of LDAP identity backends, by result (ok, error).",
		}, []string{"result"}),
		oauth2: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystone_ng_oauth2_token_requests_total",
			Help: "POST /v4/oauth2/token answers by grant type, client authentication and outcome (issued or the RFC 6749 error code).",
		}, []string{"grant_type", "client_auth", "outcome"}),
	}
	m.audit = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keystone_ng_audit_events_total",
		Help: "Audit notifications by state: queued in the outbox, sent (confirmed by the broker), dropped_outbox_full, dropped_store (docs/audit.md).",
	}, []string{"state"})
	reg.MustRegister(m.audit)
	reg.MustRegister(m.requests, m.duration, m.validations, m.KeyReloads, m.dbWait, m.stmtWait, m.rateLimited, m.ldap, m.oauth2,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "keystone"))
	}
	return m
}

// Middleware records every request.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			method := c.Request().Method
			m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
			m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// CountDBQueries exports n, the queries the token reader has executed
// (store.Reader.Queries), as keystone_ng_db_queries_total: its rate over
// the rate of validations is the round trips one validation costs.
func (m *Metrics) CountDBQueries(n func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keystone_ng_db_queries_total",
		Help: "Queries the token validation reader executed on the database; a combined statement counts once (one round trip).",
	}, func() float64 { return float64(n()) }))
}

// CountDBBatches exports batches and rounds, the statements that carried
// several validation rounds at once and the rounds they carried
// (store.Reader.Batched), as keystone_ng_db_batches_total and
// keystone_ng_db_batched_rounds_total: their ratio is the mean batch.
func (m *Metrics) CountDBBatches(batched func() (batches, rounds uint64)) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keystone_ng_db_batches_total",
		Help: "Statements that carried several waiting validation rounds at once ([keystone_ng] db_batch_size, MySQL/MariaDB).",
	}, func() float64 { b, _ := batched(); return float64(b) }))
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keystone_ng_db_batched_rounds_total",
		Help: "Validation rounds that went in a statement shared with other rounds (keystone_ng_db_batches_total).",
	}, func() float64 { _, r := batched(); return float64(r) }))
}

// CountDBCoalesced exports the batched rounds that asked for exactly the
// rows of another round of their statement (store.Reader.Coalesced) as
// keystone_ng_db_coalesced_rounds_total.
func (m *Metrics) CountDBCoalesced(n func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keystone_ng_db_coalesced_rounds_total",
		Help: "Batched validation rounds that asked for the same rows as another round of their statement and added nothing to it (keystone_ng_db_batched_rounds_total).",
	}, func() float64 { return float64(n()) }))
}

// DBStatementWait records one round's wait for a statement slot
// (store.Waits.Statement).
func (m *Metrics) DBStatementWait(d time.Duration) { m.stmtWait.Observe(d.Seconds()) }

// DBWait records one round's wait for a database turn (store.Waits.Round).
func (m *Metrics) DBWait(d time.Duration) { m.dbWait.Observe(d.Seconds()) }

// RateLimited counts one request refused by the login rate limit.
func (m *Metrics) RateLimited(route string) { m.rateLimited.WithLabelValues(route).Inc() }

// OAuth2Token counts one token endpoint answer. Labels are bounded: an
// unknown grant type is counted as "other".
func (m *Metrics) OAuth2Token(grantType, clientAuth, outcome string) {
	m.oauth2.WithLabelValues(grantType, clientAuth, outcome).Inc()
}

// AuditQueued counts one event stored in the audit outbox.
func (m *Metrics) AuditQueued() { m.audit.WithLabelValues("queued").Inc() }

// AuditSent counts one event the broker confirmed.
func (m *Metrics) AuditSent() { m.audit.WithLabelValues("sent").Inc() }

// AuditDropped counts one event lost (outbox_full, store).
func (m *Metrics) AuditDropped(reason string) { m.audit.WithLabelValues("dropped_" + reason).Inc() }

// AuditBacklog exports n, the events waiting in the outbox, as
// keystone_ng_audit_outbox_events.
func (m *Metrics) AuditBacklog(n func() int64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keystone_ng_audit_outbox_events",
		Help: "Audit notifications waiting in the outbox for the message bus (as last counted).",
	}, func() float64 { return float64(n()) }))
}

// Outcome counts one validation outcome.
func (m *Metrics) Outcome(o string) { m.validations.WithLabelValues(o).Inc() }

// Handler serves /metrics.
func (m *Metrics) Handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
}

// LDAPSearch counts one LDAP search of an identity backend.
func (m *Metrics) LDAPSearch(ok bool) {
	if ok {
		m.ldap.WithLabelValues("ok").Inc()
	} else {
		m.ldap.WithLabelValues("error").Inc()
	}
}
