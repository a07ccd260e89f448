package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/auth"
)

// BearerToken returns the caller's token: `Authorization: Bearer <t>`, or,
// for browsers' WebSockets (which cannot set headers), the subprotocol
// entry `bearer.<t>`.
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), "bearer."); ok {
				return tok
			}
		}
	}
	return ""
}

// principal returns the caller that requireUser put in the context.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey).(*auth.Principal)
	return p
}

// requireUser lets through only authenticated callers.
func (s *Server) requireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r.Context(), BearerToken(r))
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	}
}

// requireAdmin lets through only admins.
func (s *Server) requireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).IsAdmin() {
			writeError(w, r, apperr.Forbidden("Admin access required"))
			return
		}
		h(w, r)
	})
}
