package api

import (
	"context"
	"net/http"
	"time"
)

func bindHealth(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /health", s.health)
	m.HandleFunc("GET /ready", s.ready)
}

// health says the process is up; it touches nothing else.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": isoTime(time.Now()), "version": s.opts.Version})
}

// ready says the database answers, within two seconds.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": "Database is not reachable", "code": "UNAVAILABLE"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "timestamp": isoTime(time.Now())})
}
