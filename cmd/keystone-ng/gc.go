package main

import (
	"math"
	"runtime/debug"
)

// Garbage collector defaults for serve.
//
// keystone-ng's live heap is small (a few MiB: keys, policy, the catalog
// cache, connection buffers), so with Go's default GOGC=100 the collector
// runs after every few MiB allocated, that is every few hundred
// validations under load: in a CPU profile at 3,400 validations/s on
// MariaDB, GC marking and allocation were a quarter of keystone-ng's CPU
// (docs/performance.md). GOGC=400 lets the heap grow to five times the
// live heap between collections; in interleaved runs it cut keystone-ng's
// CPU per validation by 15-30%. A soft memory limit keeps the total
// bounded whatever the live heap does: near it the collector runs more
// often again. Either default yields to the operator's GOGC or GOMEMLIMIT.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20
)

// gcSettings is what serve applies: -1 (or math.MaxInt64 for the limit)
// leaves Go's own value.
type gcSettings struct {
	Percent     int
	MemoryLimit int64
}

// gcDefaults decides from the environment's GOGC and GOMEMLIMIT (empty:
// unset) what to set: only what the operator did not.
func gcDefaults(gogc, gomemlimit string) gcSettings {
	s := gcSettings{Percent: -1, MemoryLimit: math.MaxInt64}
	if gogc == "" {
		s.Percent = defaultGCPercent
	}
	if gomemlimit == "" {
		s.MemoryLimit = defaultMemoryLimit
	}
	return s
}

// apply sets s and returns the values in force after it (for the start-up
// log line).
func (s gcSettings) apply() (percent int, limit int64) {
	if s.Percent >= 0 {
		debug.SetGCPercent(s.Percent)
	}
	if s.MemoryLimit != math.MaxInt64 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}
