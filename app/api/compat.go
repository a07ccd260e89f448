package api

import (
	"net/http"

	"github.com/agentops/agentops/app/apperr"
)

// Routes that upstream's browser client and smoke tests call for features
// agentops does not have. Each answers truthfully (nothing exists) instead
// of 404, so the client's pages load; docs/api.md lists them.
func bindCompat(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/me/orchestrator", s.requireUser(s.orchestratorInfo))
	m.HandleFunc("GET /api/integrations", s.requireUser(s.listIntegrations))
	m.HandleFunc("GET /api/integrations/available", s.requireUser(s.availableIntegrations))
	m.HandleFunc("GET /api/channels/label", s.requireUser(s.channelLabel))
	if s.sessions != nil {
		m.HandleFunc("GET /api/sessions/{id}/threads", s.requireUser(s.listThreads))
	}
}

// orchestratorInfo: there are no orchestrator sessions; the fallback id is
// upstream's orchestrator:<userId>, and nothing needs a restart.
func (s *Server) orchestratorInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"sessionId": "orchestrator:" + principal(r).User.ID, "exists": false, "needsRestart": false,
		"identity": nil, "session": nil,
	})
}

func (s *Server) listIntegrations(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"integrations": []any{}})
}

func (s *Server) availableIntegrations(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"services": []any{}})
}

// channelLabel names a channel: the web channel is the only one there is.
func (s *Server) channelLabel(w http.ResponseWriter, r *http.Request) {
	typ, id := r.URL.Query().Get("channelType"), r.URL.Query().Get("channelId")
	if typ == "" {
		writeError(w, r, apperr.Invalid("channelType", "channelType is required"))
		return
	}
	if id == "" {
		writeError(w, r, apperr.Invalid("channelId", "channelId is required"))
		return
	}
	var label any
	if typ == "web" {
		label = "Web"
	}
	writeJSON(w, http.StatusOK, map[string]any{"label": label})
}

// listThreads: sessions have no threads; the session must be the caller's.
func (s *Server) listThreads(w http.ResponseWriter, r *http.Request) {
	if _, err := s.sessions.Get(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"threads": []any{}, "hasMore": false}
	if r.URL.Query().Has("page") || r.URL.Query().Has("pageSize") {
		body["totalCount"], body["totalPages"] = 0, 0
	}
	writeJSON(w, http.StatusOK, body)
}
