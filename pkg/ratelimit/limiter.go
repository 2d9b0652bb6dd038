package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxClients is how many clients a Limiter tracks at most.
const DefaultMaxClients = 100_000

// Limiter is a token bucket per client key, in memory (each keystone-ng
// instance counts on its own). A bucket holds up to burst tokens and
// refills at perMinute/60 tokens a second; a request takes one token or is
// refused with the time until the next one.
//
// Memory is bounded: a bucket that has refilled to burst is the same as no
// bucket, so idle buckets are dropped by a sweep, and at most maxClients
// buckets are kept. When the table is full of active clients (an attack
// from more addresses than that), clients it does not already track share
// one overflow bucket with the same rate and burst: the tracked clients keep
// their own limits, memory stays bounded, and the many-address attacker is
// limited as one client (at the cost of new clients during such an attack).
type Limiter struct {
	perSec     float64
	burst      float64
	full       time.Duration // time an empty bucket takes to refill
	maxClients int

	mu        sync.Mutex
	buckets   map[netip.Prefix]*bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of perMinute requests a minute with bursts of
// burst; nil when perMinute is 0 (no limit). maxClients <= 0 means
// DefaultMaxClients.
func New(perMinute, burst, maxClients int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	perSec := float64(perMinute) / 60
	return &Limiter{
		perSec:     perSec,
		burst:      float64(burst),
		full:       time.Duration(float64(burst) / perSec * float64(time.Second)),
		maxClients: maxClients,
		buckets:    make(map[netip.Prefix]*bucket),
	}
}

// Allow takes a token from key's bucket at now. When there is none it
// returns false and how long until there is one.
func (l *Limiter) Allow(key netip.Prefix, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		l.maybeSweep(now)
		if len(l.buckets) < l.maxClients {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[key] = b
		} else {
			b = &l.overflow
			if b.last.IsZero() {
				b.tokens, b.last = l.burst, now
			}
		}
	}
	return l.take(b, now)
}

// take refills b for the time since its last use and takes one token.
func (l *Limiter) take(b *bucket, now time.Time) (bool, time.Duration) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el.Seconds()*l.perSec)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.perSec * float64(time.Second))
	return false, wait
}

// maybeSweep drops the buckets that have refilled (idle for l.full): at
// most once every l.full normally, and at most once a second when the table
// is full (a sweep is a walk over every bucket).
func (l *Limiter) maybeSweep(now time.Time) {
	every := l.full
	if len(l.buckets) >= l.maxClients {
		every = min(every, time.Second)
	}
	if now.Sub(l.lastSweep) < every {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.full {
			delete(l.buckets, k)
		}
	}
}

// Tracked is the number of clients with a bucket (for tests and metrics).
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RetryAfter renders a wait as Retry-After's delay-seconds (RFC 9110
// §10.2.3): whole seconds, rounded up, at least 1.
func RetryAfter(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
