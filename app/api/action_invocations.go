package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
)

// Approvals (action invocations): the edits and commands agents asked to
// make in sessions whose permissionMode is ask (docs/agents.md).
func bindActionInvocations(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/action-invocations", s.requireUser(s.listActionInvocations(false)))
	m.HandleFunc("GET /api/action-invocations/pending", s.requireUser(s.listActionInvocations(true)))
	m.HandleFunc("GET /api/action-invocations/{id}", s.requireUser(s.getActionInvocation))
	m.HandleFunc("POST /api/action-invocations/{id}/approve", s.requireUser(s.resolveActionInvocation(true)))
	m.HandleFunc("POST /api/action-invocations/{id}/deny", s.requireUser(s.resolveActionInvocation(false)))
}

const (
	defaultInvocationLimit = 50
	maxInvocationLimit     = 200
)

func (s *Server) listActionInvocations(pendingOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, err := queryInt(r, "limit", defaultInvocationLimit, 1, maxInvocationLimit)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var after store.InvocationCursor
		if c := r.URL.Query().Get("cursor"); c != "" {
			if after, err = decodeInvocationCursor(c); err != nil {
				writeError(w, r, err)
				return
			}
		}
		list, err := s.sessions.Approvals(r.Context(), principal(r).User.ID, pendingOnly, after, limit+1)
		if err != nil {
			writeError(w, r, err)
			return
		}
		more := len(list) > limit
		if more {
			list = list[:limit]
		}
		out := make([]map[string]any, 0, len(list))
		for i := range list {
			out = append(out, session.ApprovalJSON(&list[i]))
		}
		body := map[string]any{"invocations": out, "hasMore": more}
		if more {
			last := list[len(list)-1]
			body["cursor"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.CreatedAt.UnixNano(), 10) + ":" + last.ID))
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func decodeInvocationCursor(s string) (store.InvocationCursor, error) {
	bad := apperr.Invalid("cursor", "cursor is not one this server issued")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.InvocationCursor{}, bad
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return store.InvocationCursor{}, bad
	}
	return store.InvocationCursor{CreatedAt: time.Unix(0, n).UTC(), ID: id}, nil
}

func (s *Server) getActionInvocation(w http.ResponseWriter, r *http.Request) {
	inv, err := s.sessions.Approval(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invocation": session.ApprovalJSON(inv)})
}

type denyRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) resolveActionInvocation(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req denyRequest
		if !approve && r.ContentLength != 0 {
			if err := decodeJSON(w, r, &req); err != nil {
				writeError(w, r, err)
				return
			}
			if len(req.Reason) > 2000 {
				writeError(w, r, apperr.Invalid("reason", "reason must be at most 2000 characters"))
				return
			}
		}
		inv, err := s.sessions.ResolveApproval(r.Context(), principal(r).User.ID, r.PathValue("id"), approve, req.Reason)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"invocation": session.ApprovalJSON(inv)})
	}
}
