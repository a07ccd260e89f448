package api

import (
	"net/http"
	"strconv"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/dashboard"
)

func bindDashboard(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/dashboard/stats", s.requireUser(s.dashboardStats))
	m.HandleFunc("GET /api/dashboard/adoption", s.requireUser(s.dashboardAdoption))
}

// dashboardAdoption is GET /api/dashboard/adoption?period=<days>.
func (s *Server) dashboardAdoption(w http.ResponseWriter, r *http.Request) {
	var period int
	if v := r.URL.Query().Get("period"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 365 {
			writeError(w, r, apperr.Invalid("period", "period must be a whole number of days from 1 to 365"))
			return
		}
		period = n
	}
	a, err := s.dashboard.Adoption(r.Context(), period)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
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
