package api

import (
	"net/http"
)

// POST /api/sessions/{id}/commit {message} → {commit:{sha, message}}.
func (s *Server) sessionCommit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Message *string `json:"message"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	var msg string
	if in.Message != nil {
		msg = *in.Message
	}
	c, err := s.sessions.Commit(r.Context(), principal(r).User.ID, r.PathValue("id"), msg)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"commit": map[string]string{"sha": c.SHA, "message": c.Message}})
}

// POST /api/sessions/{id}/push → {branch, remote}.
func (s *Server) sessionPush(w http.ResponseWriter, r *http.Request) {
	p, err := s.sessions.Push(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"branch": p.Branch, "remote": p.Remote})
}
