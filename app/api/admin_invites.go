package api

import (
	"net/http"
)

func bindAdminInvites(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/admin/invites", s.requireAdmin(s.adminListInvites))
	m.HandleFunc("POST /api/admin/invites", s.requireAdmin(s.adminCreateInvite))
	m.HandleFunc("DELETE /api/admin/invites/{id}", s.requireAdmin(s.adminDeleteInvite))
}

// adminListInvites is upstream's bare array of invites, newest first.
func (s *Server) adminListInvites(w http.ResponseWriter, r *http.Request) {
	invites, err := s.auth.ListInvites(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]inviteJSON, 0, len(invites))
	for i := range invites {
		out = append(out, toInviteJSON(&invites[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

type createInviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

func (s *Server) adminCreateInvite(w http.ResponseWriter, r *http.Request) {
	var req createInviteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	inv, err := s.auth.CreateInvite(r.Context(), principal(r).User.ID, req.Email, req.Role)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toInviteJSON(inv))
}

func (s *Server) adminDeleteInvite(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.DeleteInvite(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
