// Package gitserver serves bare repositories over git's smart HTTP
// protocol for tests: `git http-backend` (the real one) as a CGI program
// behind an httptest server that asks for a token, as GitHub does for
// private repositories (basic auth, any user name, the token as the
// password).
//
// While it answers a request (that is, while a clone runs) the server
// looks through every process's command line for the token, so a test can
// prove that no process was given it in argv.
package gitserver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Server is a running git HTTP server.
type Server struct {
	// URL is the base URL: a repository named r.git is at URL + "/r.git".
	URL string
	// Root holds the bare repositories.
	Root string

	token string

	mu       sync.Mutex
	requests int
	denied   int
	leaks    []string // command lines that held the token
}

// Start serves the bare repositories under a new temporary root. An empty
// token serves without authentication.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	s := &Server{Root: t.TempDir(), token: token}
	h := &cgi.Handler{
		Path:   filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:    []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard, // "Not a git repository" for the missing ones tests ask for
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.scanArgv()
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		if token != "" {
			_, pw, ok := r.BasicAuth()
			if !ok || pw != token {
				s.mu.Lock()
				s.denied++
				s.mu.Unlock()
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// scanArgv records every process whose command line holds the token.
func (s *Server) scanArgv() {
	if s.token == "" {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(s.token)) {
			s.mu.Lock()
			s.leaks = append(s.leaks, strings.ReplaceAll(string(b), "\x00", " "))
			s.mu.Unlock()
		}
	}
}

// Requests counts the requests served and those refused for a bad token.
func (s *Server) Requests() (served, denied int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.denied
}

// ArgvLeaks returns the command lines seen holding the token.
func (s *Server) ArgvLeaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.leaks...)
}

// NewRepo makes a bare repository name.git under Root from the files
// (path → content) committed on branch "main", and returns its URL.
func (s *Server) NewRepo(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	Git(t, work, "init", "--quiet", "--initial-branch=main")
	for p, c := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, work, "add", "--all")
	Git(t, work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "initial")
	Git(t, s.Root, "clone", "--quiet", "--bare", work, name+".git")
	// Pushes are allowed (http-backend takes them only from a
	// REMOTE_USER otherwise); the token check above still guards them.
	Git(t, filepath.Join(s.Root, name+".git"), "config", "http.receivepack", "true")
	return s.URL + "/" + name + ".git"
}

// RejectPushes makes the repository name.git refuse every push with msg
// (a pre-receive hook that prints it), as a protected branch would.
func (s *Server) RejectPushes(t testing.TB, name, msg string) {
	t.Helper()
	hook := filepath.Join(s.Root, name+".git", "hooks", "pre-receive")
	script := "#!/bin/sh\ncat >/dev/null\necho '" + strings.ReplaceAll(msg, "'", "") + "' >&2\nexit 1\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Git runs git in dir and returns its trimmed output; it fails the test
// on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}
