package api

import (
	"net/http"
	"strconv"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/notify"
)

func bindNotifications(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/me/notifications", s.requireUser(s.listNotifications))
	m.HandleFunc("GET /api/me/notifications/count", s.requireUser(s.countNotifications))
	m.HandleFunc("PUT /api/me/notifications/read-all", s.requireUser(s.readAllNotifications))
	m.HandleFunc("PUT /api/me/notifications/read-non-actionable", s.requireUser(s.readNonActionable))
	m.HandleFunc("PUT /api/me/notifications/{id}/read", s.requireUser(s.readNotification))
}

// queryBool reads an optional boolean query parameter.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apperr.Invalid(name, "%s must be true or false", name)
	}
	return b, nil
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	q := notify.Query{Cursor: r.URL.Query().Get("cursor"), MessageType: r.URL.Query().Get("messageType")}
	var err error
	if q.UnreadOnly, err = queryBool(r, "unreadOnly"); err != nil {
		writeError(w, r, err)
		return
	}
	if q.Limit, err = queryInt(r, "limit", notify.DefaultLimit, 1, notify.MaxLimit); err != nil {
		writeError(w, r, err)
		return
	}
	page, err := s.notify.List(r.Context(), principal(r).User.ID, q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"messages": page.Messages, "hasMore": page.HasMore}
	if page.Cursor != "" {
		body["cursor"] = page.Cursor
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) countNotifications(w http.ResponseWriter, r *http.Request) {
	n, err := s.notify.CountUnread(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
}

func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) {
	if err := s.notify.MarkRead(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) readAllNotifications(w http.ResponseWriter, r *http.Request) {
	n, err := s.notify.MarkAllRead(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "count": n})
}

func (s *Server) readNonActionable(w http.ResponseWriter, r *http.Request) {
	n, err := s.notify.MarkNonActionableRead(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "count": n})
}
