package api

import (
	"net/http"
	"strconv"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/dashboard"
)

func bindDashboard(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/dashboard/stats", s.requireUser(s.dashboardStats))
}

// dashboardStats is GET /api/dashboard/stats?period=&unit=hours|days&tz=.
func (s *Server) dashboardStats(w http.ResponseWriter, r *http.Request) {
	q := dashboard.Query{Unit: r.URL.Query().Get("unit"), TZ: r.URL.Query().Get("tz")}
	if v := r.URL.Query().Get("period"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, r, apperr.Invalid("period", "period must be a positive whole number"))
			return
		}
		q.Period = n
	}
	stats, err := s.dashboard.Stats(r.Context(), principal(r).User, q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, stats)
}
