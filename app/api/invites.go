package api

import (
	"net/http"

	"github.com/agentops/agentops/store"
)

func bindInvites(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /invites/{code}", s.lookupInvite)
	m.HandleFunc("POST /api/invites/{code}/accept", s.requireUser(s.acceptInvite))
}

type inviteJSON struct {
	ID         string  `json:"id"`
	Code       string  `json:"code"`
	Email      *string `json:"email"`
	Role       string  `json:"role"`
	InvitedBy  *string `json:"invitedBy"`
	AcceptedAt *string `json:"acceptedAt"`
	AcceptedBy *string `json:"acceptedBy"`
	ExpiresAt  string  `json:"expiresAt"`
	CreatedAt  string  `json:"createdAt"`
}

func toInviteJSON(inv *store.Invite) inviteJSON {
	return inviteJSON{ID: inv.ID, Code: inv.Code, Email: strPtr(inv.Email), Role: inv.Role, InvitedBy: strPtr(inv.InvitedBy),
		AcceptedAt: isoTimePtr(inv.AcceptedAt), AcceptedBy: strPtr(inv.AcceptedBy),
		ExpiresAt: isoTime(inv.ExpiresAt), CreatedAt: isoTime(inv.CreatedAt)}
}

// lookupInvite is public: the invite landing page shows role and status.
func (s *Server) lookupInvite(w http.ResponseWriter, r *http.Request) {
	st, err := s.auth.LookupInvite(r.Context(), r.PathValue("code"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) {
	role, err := s.auth.AcceptInvite(r.Context(), principal(r), r.PathValue("code"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "role": role})
}
