//go:build pprof

package main

// Built only with -tags pprof, for profiling: serves net/http/pprof on
// 127.0.0.1:6060 (KEYSTONE_NG_PPROF overrides the address). Release builds
// do not contain it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("KEYSTONE_NG_PPROF")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
