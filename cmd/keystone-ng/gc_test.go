package main

import (
	"math"
	"testing"
)

func TestGCDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, gogc, limit string
		want              gcSettings
	}{
		{"neither set: both defaults", "", "", gcSettings{Percent: defaultGCPercent, MemoryLimit: defaultMemoryLimit}},
		{"GOGC set: the operator's", "100", "", gcSettings{Percent: -1, MemoryLimit: defaultMemoryLimit}},
		{"GOGC=off set: the operator's", "off", "", gcSettings{Percent: -1, MemoryLimit: defaultMemoryLimit}},
		{"GOMEMLIMIT set: the operator's", "", "1GiB", gcSettings{Percent: defaultGCPercent, MemoryLimit: math.MaxInt64}},
		{"both set: nothing changed", "50", "512MiB", gcSettings{Percent: -1, MemoryLimit: math.MaxInt64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcDefaults(tc.gogc, tc.limit); got != tc.want {
				t.Fatalf("gcDefaults(%q, %q) = %+v, want %+v", tc.gogc, tc.limit, got, tc.want)
			}
		})
	}
}

// apply reports the values in force, which are the ones it set.
func TestGCApply(t *testing.T) {
	p, l := gcDefaults("", "").apply()
	defer gcSettings{Percent: 100, MemoryLimit: math.MaxInt64 - 1}.apply()
	if p != defaultGCPercent || l != defaultMemoryLimit {
		t.Fatalf("in force: GOGC %d, limit %d; want %d, %d", p, l, defaultGCPercent, defaultMemoryLimit)
	}
}
