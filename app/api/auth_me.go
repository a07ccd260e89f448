package api

import (
	"net/http"

	"github.com/agentops/agentops/app/auth"
)

func bindAuthMe(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/auth/me", s.requireUser(s.getMe))
	m.HandleFunc("PATCH /api/auth/me", s.requireUser(s.patchMe))
	m.HandleFunc("POST /api/auth/me/password", s.requireUser(s.changePassword))
	m.HandleFunc("POST /api/auth/logout", s.requireUser(s.logout))
}

// getMe is upstream's {user, providers, orgModelPreferences?}.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"user":      toUserJSON(principal(r).User),
		"providers": map[string]bool{"github": false, "google": false},
	})
}

func (s *Server) patchMe(w http.ResponseWriter, r *http.Request) {
	var patch auth.ProfilePatch
	if err := decodeJSON(w, r, &patch); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.auth.UpdateProfile(r.Context(), principal(r).User.ID, patch)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
}

type passwordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// changePassword sets a new password; the caller's other logins end.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("newPassword", req.NewPassword != ""); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.auth.ChangePassword(r.Context(), principal(r), req.CurrentPassword, req.NewPassword); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.Logout(r.Context(), principal(r), BearerToken(r)); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
