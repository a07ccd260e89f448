package api

import (
	"net/http"

	"github.com/agentops/agentops/app/memory"
)

func bindMemory(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/me/memory", s.requireUser(s.readMemory))
	m.HandleFunc("PUT /api/me/memory", s.requireUser(s.writeMemory))
	m.HandleFunc("PATCH /api/me/memory", s.requireUser(s.patchMemory))
	m.HandleFunc("DELETE /api/me/memory", s.requireUser(s.deleteMemory))
	m.HandleFunc("GET /api/me/memory/search", s.requireUser(s.searchMemory))
}

// readMemory: a file ({file}, null with content "" when missing, as
// upstream), or a directory listing ({files}) for an empty path or one
// ending in '/'.
func (s *Server) readMemory(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	f, list, err := s.memory.Read(r.Context(), principal(r).User.ID, path)
	if err != nil {
		writeError(w, r, err)
		return
	}
	switch {
	case list != nil:
		writeJSON(w, http.StatusOK, map[string]any{"files": memory.Listings(list)})
	case f == nil:
		writeJSON(w, http.StatusOK, map[string]any{"file": nil, "content": ""})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"file": memory.View(f)})
	}
}

type writeMemoryRequest struct {
	Path    *string `json:"path"`
	Content *string `json:"content"`
}

func (s *Server) writeMemory(w http.ResponseWriter, r *http.Request) {
	var req writeMemoryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("path", req.Path != nil); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("content", req.Content != nil); err != nil {
		writeError(w, r, err)
		return
	}
	f, err := s.memory.Write(r.Context(), principal(r).User.ID, *req.Path, *req.Content)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"file": memory.View(f)})
}

type patchMemoryRequest struct {
	Path       *string     `json:"path"`
	Operations []memory.Op `json:"operations"`
}

func (s *Server) patchMemory(w http.ResponseWriter, r *http.Request) {
	var req patchMemoryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("path", req.Path != nil); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.memory.Patch(r.Context(), principal(r).User.ID, *req.Path, req.Operations)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": res})
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request) {
	n, err := s.memory.Delete(r.Context(), principal(r).User.ID, r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": n > 0, "deleted": n})
}

func (s *Server) searchMemory(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", memory.DefaultSearchLimit, 1, memory.MaxSearchLimit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	res, err := s.memory.Search(r.Context(), principal(r).User.ID, q.Get("query"), q.Get("path"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}
