package api

import (
	"net/http"

	"github.com/agentops/agentops/app/workspace"
)

func bindFilesWorkspace(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/files/find", s.requireUser(s.findFiles))
	m.HandleFunc("GET /api/files/search", s.requireUser(s.searchFiles))
	m.HandleFunc("GET /api/files/read", s.requireUser(s.readFile))
	m.HandleFunc("GET /api/files/list", s.requireUser(s.listFiles))
}

func (s *Server) findFiles(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 100, 1, workspace.MaxResults)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	paths, err := s.workspace.Find(r.Context(), principal(r).User.ID, q.Get("sessionId"), q.Get("query"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"paths": paths})
}

type searchMatchJSON struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Content string `json:"content"`
}

func (s *Server) searchFiles(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 100, 1, workspace.MaxResults)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	res, err := s.workspace.Search(r.Context(), principal(r).User.ID, q.Get("sessionId"), q.Get("query"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]searchMatchJSON, 0, len(res.Matches))
	for _, m := range res.Matches {
		out = append(out, searchMatchJSON{Path: m.Path, Line: m.Line, Content: m.Content})
	}
	body := map[string]any{"results": out}
	if res.Truncated {
		body["truncated"] = true
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) readFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := s.workspace.Read(r.Context(), principal(r).User.ID, q.Get("sessionId"), q.Get("path"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"content": f.Content, "path": f.Path}
	if f.Encoding != "" {
		body["encoding"] = f.Encoding
	}
	writeJSON(w, http.StatusOK, body)
}

type fileEntryJSON struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l, err := s.workspace.List(r.Context(), principal(r).User.ID, q.Get("sessionId"), q.Get("path"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]fileEntryJSON, 0, len(l.Entries))
	for _, e := range l.Entries {
		t := "file"
		if e.Dir {
			t = "directory"
		}
		out = append(out, fileEntryJSON{Name: e.Name, Path: e.Path, Type: t})
	}
	body := map[string]any{"files": out}
	if l.Truncated {
		body["truncated"] = true
	}
	writeJSON(w, http.StatusOK, body)
}
