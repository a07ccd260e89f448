// Package fakegithub serves the part of GitHub's REST API that agentops
// uses (repositories, pull requests) for tests, over the bare
// repositories of a gitserver: a pull request's commits are the real ones
// of its branches there. It asks for a token as GitHub does and can play
// a rate limit.
package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running fake GitHub API.
type Server struct {
	// APIURL is the API base (as --github-api-url takes it).
	APIURL string
	// Host is the host:port that repository URLs are on.
	web string

	token, readOnly string
	root            string // GIT_PROJECT_ROOT of the gitserver

	mu          sync.Mutex
	prs         []*pull
	rateLimited bool
	requests    []string // "METHOD path"
}

type pull struct {
	Owner, Repo string
	Number      int
	Title, Body string
	Head, Base  string
	Draft       bool
	State       string // open | closed
	Merged      bool
	CreatedAt   time.Time
	MergedAt    time.Time
}

// Start serves the API for the bare repositories under root (a
// gitserver.Server's Root, served at webURL); token may do everything,
// readOnly may read but not open pull requests.
func Start(t testing.TB, root, webURL, token, readOnly string) *Server {
	t.Helper()
	s := &Server{token: token, readOnly: readOnly, root: root, web: strings.TrimSuffix(webURL, "/")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/user/repos", s.listRepos)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}", s.getRepo)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/pulls", s.listPulls)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/pulls", s.createPull)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/pulls/{number}", s.getPull)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		limited := s.rateLimited
		s.mu.Unlock()
		if limited {
			w.Header().Set("X-RateLimit-Limit", "5000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(120*time.Second).Unix(), 10))
			writeJSON(w, http.StatusForbidden, map[string]any{"message": "API rate limit exceeded for user."})
			return
		}
		tok := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "token ")
		if tok == "" || (tok != s.token && tok != s.readOnly) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
			return
		}
		if tok == s.readOnly && r.Method != http.MethodGet {
			writeJSON(w, http.StatusForbidden, map[string]any{"message": "Resource not accessible by personal access token"})
			return
		}
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "4999")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.APIURL = srv.URL + "/api/v3/"
	return s
}

// SetRateLimited makes every request answer GitHub's rate-limit 403.
func (s *Server) SetRateLimited(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited = on
}

// Merge marks a pull request merged.
func (s *Server) Merge(owner, repo string, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.prs {
		if p.Owner == owner && p.Repo == repo && p.Number == number {
			p.State, p.Merged, p.MergedAt = "closed", true, time.Now().UTC()
		}
	}
}

// Requests counts the requests whose "METHOD path" starts with prefix.
func (s *Server) Requests(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) bare(owner, repo string) (string, bool) {
	dir := filepath.Join(s.root, owner, repo+".git")
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

func (s *Server) repoJSON(owner, repo string) map[string]any {
	return map[string]any{"id": len(owner) * 1000, "name": repo, "full_name": owner + "/" + repo,
		"owner": map[string]any{"login": owner}, "private": true, "default_branch": "main",
		"html_url": s.web + "/" + owner + "/" + repo, "clone_url": s.web + "/" + owner + "/" + repo + ".git",
		"description": "", "updated_at": "2026-12-01T10:00:00Z"}
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	if _, ok := s.bare(owner, repo); !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, s.repoJSON(owner, repo))
}

// page cuts list by ?page and ?per_page and sets the Link header.
func page[T any](w http.ResponseWriter, r *http.Request, list []T) []T {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if p < 1 {
		p = 1
	}
	if per < 1 {
		per = 30
	}
	from := min((p-1)*per, len(list))
	to := min(from+per, len(list))
	if to < len(list) {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(p+1))
		u.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.RequestURI()))
	}
	return list[from:to]
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request) {
	dirs, _ := filepath.Glob(filepath.Join(s.root, "*", "*.git"))
	sort.Strings(dirs)
	var out []map[string]any
	for _, d := range dirs {
		out = append(out, s.repoJSON(filepath.Base(filepath.Dir(d)), strings.TrimSuffix(filepath.Base(d), ".git")))
	}
	writeJSON(w, http.StatusOK, page(w, r, out))
}

func (s *Server) pullJSON(p *pull) map[string]any {
	m := map[string]any{"number": p.Number, "title": p.Title, "body": p.Body, "state": p.State, "draft": p.Draft,
		"merged": p.Merged, "html_url": fmt.Sprintf("%s/%s/%s/pull/%d", s.web, p.Owner, p.Repo, p.Number),
		"head": map[string]any{"ref": p.Head}, "base": map[string]any{"ref": p.Base},
		"user": map[string]any{"login": "agent"}, "created_at": p.CreatedAt.Format(time.RFC3339),
		"updated_at": p.CreatedAt.Format(time.RFC3339)}
	if p.Merged {
		m["merged_at"] = p.MergedAt.Format(time.RFC3339)
	}
	return m
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	dir, ok := s.bare(owner, repo)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	var in struct {
		Title, Head, Base, Body string
		Draft                   bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" || in.Head == "" || in.Base == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	out, err := exec.Command("git", "-C", dir, "rev-list", "--count", "refs/heads/"+in.Base+"..refs/heads/"+in.Head).Output()
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]any{"resource": "PullRequest", "field": "head", "code": "invalid"}}})
		return
	}
	if strings.TrimSpace(string(out)) == "0" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]any{"resource": "PullRequest", "code": "custom",
				"message": "No commits between " + in.Base + " and " + in.Head}}})
		return
	}
	s.mu.Lock()
	p := &pull{Owner: owner, Repo: repo, Number: len(s.prs) + 1, Title: in.Title, Body: in.Body, Head: in.Head,
		Base: in.Base, Draft: in.Draft, State: "open", CreatedAt: time.Now().UTC().Truncate(time.Second)}
	s.prs = append(s.prs, p)
	body := s.pullJSON(p)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, body)
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	if _, ok := s.bare(owner, repo); !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	s.mu.Lock()
	var out []map[string]any
	for _, p := range s.prs {
		if p.Owner == owner && p.Repo == repo && (state == "all" || p.State == state) {
			out = append(out, s.pullJSON(p))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, page(w, r, out))
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.prs {
		if p.Owner == owner && p.Repo == repo && p.Number == n {
			writeJSON(w, http.StatusOK, s.pullJSON(p))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
}
