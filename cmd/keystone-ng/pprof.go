//go:build pprof

package main

// Built only with -tags pprof, for profiling: serves net/http/pprof on
// 127.0.0.1:6060 (KSNG_PPROF_ADDR overrides the address; not KEYSTONE_NG_...,
// which the configuration reads as [keystone_ng] options). Release builds
// do not contain it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("KSNG_PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
