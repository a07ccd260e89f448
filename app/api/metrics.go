package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/metrics"
)

func bindMetrics(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /metrics", s.metricsEndpoint)
}

// metricsEndpoint serves the Prometheus metrics to a scraper that sends
// the --metrics-token as a bearer token. Without a token configured the
// endpoint does not exist (the JSON 404), so that nothing is exposed by
// default.
func (s *Server) metricsEndpoint(w http.ResponseWriter, r *http.Request) {
	if s.opts.MetricsToken == "" || s.opts.Metrics == nil {
		writeError(w, r, apperr.NotFound("Route "+r.Method+" "+r.URL.Path))
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	// Compare digests: equal lengths, so the time taken says nothing about
	// the token's length either.
	want, have := sha256.Sum256([]byte(s.opts.MetricsToken)), sha256.Sum256([]byte(got))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		writeError(w, r, apperr.Unauthorized("A valid metrics token is required (Authorization: Bearer <--metrics-token>)"))
		return
	}
	s.opts.Metrics.Handler().ServeHTTP(w, r)
}

// withMetrics counts requests by the route pattern that served them. It
// sits right around dispatch, so that it sees the request the mux fills
// Pattern in; requests no route claims count as "unmatched" (unbounded
// paths must not become labels).
func withMetrics(m *metrics.Metrics, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		m.HTTPInFlight(1)
		defer func() {
			m.HTTPInFlight(-1)
			status := sw.status
			if v := recover(); v != nil {
				m.HTTPDone(routeOf(r), r.Method, http.StatusInternalServerError, time.Since(start), false)
				panic(v) // withRecover answers it
			}
			if status == 0 {
				status = http.StatusOK
			}
			stream := status == http.StatusSwitchingProtocols || strings.Contains(sw.Header().Get("Content-Type"), "text/event-stream")
			m.HTTPDone(routeOf(r), r.Method, status, time.Since(start), stream)
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeOf is the path of the pattern that matched r ("/api/sessions/{id}"),
// or "unmatched".
func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	if _, p, ok := strings.Cut(r.Pattern, " "); ok {
		return p
	}
	return r.Pattern
}
