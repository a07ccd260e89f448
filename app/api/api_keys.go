package api

import (
	"net/http"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

func bindAPIKeys(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/api-keys", s.requireUser(s.listAPIKeys))
	m.HandleFunc("POST /api/api-keys", s.requireUser(s.createAPIKey))
	m.HandleFunc("DELETE /api/api-keys/{id}", s.requireUser(s.revokeAPIKey))
}

type apiKeyJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	Token      string  `json:"token,omitempty"`
	CreatedAt  string  `json:"createdAt"`
	LastUsedAt *string `json:"lastUsedAt"`
	ExpiresAt  *string `json:"expiresAt"`
}

func toAPIKeyJSON(t *store.APIToken) apiKeyJSON {
	return apiKeyJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: isoTime(t.CreatedAt),
		LastUsedAt: isoTimePtr(t.LastUsedAt), ExpiresAt: isoTimePtr(t.ExpiresAt)}
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.auth.ListAPIKeys(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]apiKeyJSON, 0, len(keys))
	for i := range keys {
		out = append(out, toAPIKeyJSON(&keys[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

type createAPIKeyRequest struct {
	Name          *string `json:"name"`
	ExpiresInDays *int    `json:"expiresInDays"`
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req createAPIKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("name", req.Name != nil); err != nil {
		writeError(w, r, err)
		return
	}
	var ttl time.Duration
	if req.ExpiresInDays != nil {
		if d := *req.ExpiresInDays; d < 1 || d > 3650 {
			writeError(w, r, apperr.Invalid("expiresInDays", "expiresInDays must be between 1 and 3650"))
			return
		}
		ttl = time.Duration(*req.ExpiresInDays) * 24 * time.Hour
	}
	key, t, err := s.auth.CreateAPIKey(r.Context(), principal(r).User.ID, *req.Name, ttl)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := toAPIKeyJSON(t)
	out.Token = key
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.RevokeAPIKey(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
