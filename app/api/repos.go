package api

import (
	"net/http"
	"strconv"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/repos"
)

func bindRepos(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/repos", s.requireUser(s.listRepos))
	m.HandleFunc("GET /api/repos/validate", s.requireUser(s.validateRepo))
	m.HandleFunc("GET /api/repos/{owner}/{repo}/pulls", s.requireUser(s.listPulls))
	m.HandleFunc("POST /api/repos/pull-request", s.requireUser(s.createPullRequest))
}

// pageQuery reads ?page= and ?per_page= (upstream's names; perPage too).
func pageQuery(r *http.Request) (repos.Page, error) {
	var p repos.Page
	q := r.URL.Query()
	for _, f := range []struct {
		names []string
		dst   *int
		max   int
	}{{[]string{"page"}, &p.Page, 1 << 20}, {[]string{"per_page", "perPage"}, &p.PerPage, 100}} {
		for _, name := range f.names {
			v := q.Get(name)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > f.max {
				return p, apperr.Invalid(name, "%s must be a whole number from 1 to %d", name, f.max)
			}
			*f.dst = n
		}
	}
	return p, nil
}

// GET /api/repos?page&per_page&sort → {repos, page, perPage, hasMore}.
func (s *Server) listRepos(w http.ResponseWriter, r *http.Request) {
	p, err := pageQuery(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, more, err := s.repos.ListRepos(r.Context(), principal(r).User.ID, p, r.URL.Query().Get("sort"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"repos": list, "page": max(p.Page, 1), "perPage": perPage(p), "hasMore": more})
}

func perPage(p repos.Page) int {
	if p.PerPage < 1 {
		return 30
	}
	return p.PerPage
}

// GET /api/repos/validate?url= → {valid:true, repo} or (as upstream, 200)
// {valid:false, error}.
func (s *Server) validateRepo(w http.ResponseWriter, r *http.Request) {
	info, why, err := s.repos.Validate(r.Context(), principal(r).User.ID, r.URL.Query().Get("url"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if info == nil {
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "error": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "repo": info})
}

// GET /api/repos/{owner}/{repo}/pulls?state&page&per_page → {pulls, page, perPage, hasMore}.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	p, err := pageQuery(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, more, err := s.repos.ListPulls(r.Context(), principal(r).User.ID, r.PathValue("owner"), r.PathValue("repo"),
		r.URL.Query().Get("state"), p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pulls": list, "page": max(p.Page, 1), "perPage": perPage(p), "hasMore": more})
}

// POST /api/repos/pull-request?repo=<url> {branch, title, body?, base?,
// sessionId?, draft?} → {pr:{number, url, title, state}}.
func (s *Server) createPullRequest(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Branch    string `json:"branch"`
		Title     string `json:"title"`
		Body      string `json:"body"`
		Base      string `json:"base"`
		SessionID string `json:"sessionId"`
		Draft     bool   `json:"draft"`
		Repo      string `json:"repo"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	repo := r.URL.Query().Get("repo")
	if repo == "" {
		repo = in.Repo
	}
	pr, err := s.repos.CreatePR(r.Context(), principal(r).User.ID, repo, repos.PRInput{Branch: in.Branch, Title: in.Title,
		Body: in.Body, Base: in.Base, SessionID: in.SessionID, Draft: in.Draft})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pr": pr})
}
