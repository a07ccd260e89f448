package api

import (
	"context"
	"net/http"
	"time"

	"github.com/agentops/agentops/store"
)

func bindHealth(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /health", s.health)
	m.HandleFunc("GET /ready", s.ready)
}

// health says the process is up; it touches nothing else.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": isoTime(time.Now()), "version": s.opts.Version})
}

// ready says the database answers, within two seconds, and that the
// storage has room (no write found it full in the last minute, and the
// Ready check finds room).
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	notFull := func() bool {
		if !s.storage.isFull() {
			return true
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "storage_full", "error": errStorageFull.Message, "code": "STORAGE_FULL"})
		return false
	}
	if s.opts.Draining != nil && s.opts.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining", "error": "This server is shutting down", "code": "UNAVAILABLE"})
		return
	}
	if !notFull() {
		return
	}
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); store.IsStorageFull(err) {
			s.storage.full(err)
			notFull()
			return
		} else if err != nil {
			s.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": "Database is not reachable", "code": "UNAVAILABLE"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "timestamp": isoTime(time.Now())})
}
