package httpapi_test

import (
	"io"
	"net/http"
	"runtime"
	"testing"
)

// BenchmarkValidateHTTPInMemory is the ceiling of token validation on this
// machine: the same HTTP stack, middleware, policy check, role computation
// and rendering as in production (a project token of the bench's shape,
// catalog included), over an in-memory store instead of a database, loaded
// over loopback by 16 concurrent clients as deploy/bench/bench.sh loads the
// real service (wrk -c16). The client runs in the same process, as wrk
// shares the machine in the real bench. docs/performance.md compares the
// figures of the real service to this one.
//
//	go test -run '^$' -bench ValidateHTTPInMemory -benchtime 20000x ./pkg/httpapi
func BenchmarkValidateHTTPInMemory(b *testing.B) {
	f := setup(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// 16 clients whatever GOMAXPROCS is, as wrk -c16.
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/v3/auth/tokens", nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("X-Auth-Token", f.admin)
		req.Header.Set("X-Subject-Token", f.admin)
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
