package api

import (
	"net/http"
)

func bindAdminUsers(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/admin/users", s.requireAdmin(s.adminListUsers))
	m.HandleFunc("PATCH /api/admin/users/{id}", s.requireAdmin(s.adminSetRole))
	m.HandleFunc("DELETE /api/admin/users/{id}", s.requireAdmin(s.adminDeleteUser))
}

// adminListUsers is upstream's bare array of users, oldest first.
func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.auth.ListUsers(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(users))
	for i := range users {
		out = append(out, toUserJSON(&users[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

type setRoleRequest struct {
	Role string `json:"role"`
}

func (s *Server) adminSetRole(w http.ResponseWriter, r *http.Request) {
	var req setRoleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.auth.SetRole(r.Context(), r.PathValue("id"), req.Role)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": toUserJSON(u)})
}

// adminDeleteUser deletes a user with everything they own; their live
// sessions are ended first, so no runner keeps working (or holding their
// credentials) for a user who is gone.
func (s *Server) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	actor, id := principal(r).User.ID, r.PathValue("id")
	if err := s.auth.CheckDeleteUser(r.Context(), actor, id); err != nil {
		writeError(w, r, err)
		return
	}
	if s.sessions != nil {
		if err := s.sessions.EndUserSessions(r.Context(), id); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if err := s.auth.DeleteUser(r.Context(), actor, id); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
