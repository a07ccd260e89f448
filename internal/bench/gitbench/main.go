// Command gitbench measures how long a session on a repository takes from
// POST /api/sessions to the runner's first git-state report (the clone
// done, the branch made, the changed files listed), beside a plain
// `git clone` of the same repository from the same server.
//
// It makes a repository of -files files (about 1 KiB each), serves it over
// git's smart HTTP (`git http-backend` behind a loopback server that asks
// for a token, as GitHub does), starts `agentops serve` with local
// sandboxes, stores the token as the user's github credential, and times
// -runs sessions and -runs plain clones, alternating.
//
//	make build && go run -tags sqlite_fts5 ./internal/bench/gitbench -files 10000 -runs 5
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const token = "ghp_benchTOKEN0123456789"

func main() {
	bin := flag.String("bin", "bin/agentops", "the agentops binary")
	files := flag.Int("files", 10000, "files in the repository")
	runs := flag.Int("runs", 5, "sessions and plain clones to time")
	flag.Parse()
	if err := run(*bin, *files, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "gitbench:", err)
		os.Exit(1)
	}
}

func git(dir string, args ...string) error {
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(bin string, nfiles, runs int) error {
	tmp, err := os.MkdirTemp("", "gitbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// The repository.
	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if err := git(work, "init", "--quiet", "--initial-branch=main"); err != nil {
		return err
	}
	line := strings.Repeat("x", 60) + "\n"
	for i := range nfiles {
		p := filepath.Join(work, fmt.Sprintf("d%03d/f%05d.txt", i/100, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n%s", i, strings.Repeat(line, 16))), 0o644); err != nil {
			return err
		}
	}
	if err := git(work, "add", "."); err != nil {
		return err
	}
	if err := git(work, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "--quiet", "-m", "base"); err != nil {
		return err
	}
	root := filepath.Join(tmp, "served")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := git(root, "clone", "--quiet", "--bare", work, "r.git"); err != nil {
		return err
	}

	// The git server.
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return err
	}
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, Stderr: io.Discard}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(gl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="bench"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	repoURL := "http://" + gl.Addr().String() + "/r.git"

	// The server.
	addr := freeAddr()
	srv := exec.Command(bin, "serve", "--listen", addr, "--data-dir", filepath.Join(tmp, "data"), "--log-level", "error")
	srv.Env = append(os.Environ(), "AGENTOPS_INSTANCE_KEY=")
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	base := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		if res, err := http.Get(base + "/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var reg struct{ SessionToken string }
	if err := call(base, "POST", "/auth/email/register", "", map[string]any{"email": "b@example.com", "password": "a long passphrase"}, &reg); err != nil {
		return err
	}
	tok := reg.SessionToken
	if err := call(base, "PUT", "/api/auth/me/credentials/github", tok, map[string]any{"key": token}, nil); err != nil {
		return err
	}

	var plain, session, empty []time.Duration
	clonePlain := func(i int) error {
		// A plain clone, as a person would make it (checkout included).
		dst := filepath.Join(tmp, fmt.Sprintf("plain%d", i))
		c := exec.Command("git", "-c", "http.extraHeader=Authorization: Basic "+basic(), "clone", "--quiet", repoURL, dst)
		t0 := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("plain clone: %v: %s", err, out)
		}
		plain = append(plain, time.Since(t0))
		return os.RemoveAll(dst)
	}
	for i := range runs {
		// Alternate which goes first, so neither always meets a cold cache.
		if i%2 == 0 {
			if err := clonePlain(i); err != nil {
				return err
			}
		}
		d, err := timeSession(base, tok, map[string]any{"workspace": "bench", "repoUrl": repoURL})
		if err != nil {
			return err
		}
		session = append(session, d)
		if i%2 == 1 {
			if err := clonePlain(i); err != nil {
				return err
			}
		}
		d, err = timeSession(base, tok, map[string]any{"workspace": "bench"})
		if err != nil {
			return err
		}
		empty = append(empty, d)
	}
	fmt.Printf("repository: %d files; %d runs each (median, min, max)\n", nfiles, runs)
	report("plain git clone", plain)
	report("session create → git state (clone)", session)
	report("session create → git state (new repository)", empty)
	return nil
}

func basic() string {
	return base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
}

// timeSession creates a session and waits for its runner's first git
// state report, then terminates it.
func timeSession(base, tok string, body map[string]any) (time.Duration, error) {
	t0 := time.Now()
	var created struct{ Session struct{ ID string } }
	if err := call(base, "POST", "/api/sessions", tok, body, &created); err != nil {
		return 0, err
	}
	id := created.Session.ID
	for time.Since(t0) < 5*time.Minute {
		var g struct {
			GitState *struct {
				ReportedAt *string `json:"reportedAt"`
			} `json:"gitState"`
		}
		if err := call(base, "GET", "/api/sessions/"+id+"/git-state", tok, nil, &g); err != nil {
			return 0, err
		}
		if g.GitState != nil && g.GitState.ReportedAt != nil {
			d := time.Since(t0)
			return d, call(base, "DELETE", "/api/sessions/"+id, tok, nil, nil)
		}
		var s struct {
			Session struct{ Status, ErrorMessage string }
		}
		if err := call(base, "GET", "/api/sessions/"+id, tok, nil, &s); err == nil && s.Session.Status == "error" {
			return 0, fmt.Errorf("session failed: %s", s.Session.ErrorMessage)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("session %s: no git state after 5 minutes", id)
}

func report(name string, ds []time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	fmt.Printf("  %-45s %8s  %8s  %8s\n", name, s[len(s)/2].Round(time.Millisecond), s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func call(base, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
