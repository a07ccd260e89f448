package metrics_test

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentops/agentops/app/metrics"
)

// BenchmarkHTTPDone is what the middleware adds to every request.
func BenchmarkHTTPDone(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.HTTPInFlight(1)
			m.HTTPDone("/api/sessions/{id}", "GET", 200, 3*time.Millisecond, false)
			m.HTTPInFlight(-1)
		}
	})
}

// BenchmarkScrape is one /metrics scrape after traffic on 50 routes.
func BenchmarkScrape(b *testing.B) {
	m := metrics.New("bench")
	for i := range 50 {
		for _, st := range []int{200, 400, 404} {
			m.HTTPDone("/api/route"+string(rune('a'+i%26))+string(rune('a'+i/26)), "GET", st, time.Millisecond, false)
		}
	}
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		_, _ = io.Copy(io.Discard, rec.Body)
	}
}
