// Command restartbench measures how long a restarted server takes to have
// every session live again: it starts `agentops serve` with local sandboxes,
// creates N sessions (N runner processes), waits until every runner is
// ready, kills the server with SIGKILL, starts it again and times (1) until
// /ready answers and (2) until every session's runner has reconnected and
// is ready.
//
//	make build && go run -tags sqlite_fts5 ./internal/testutil/testenv -- \
//	  go run -tags sqlite_fts5 ./internal/bench/restartbench -sessions 200 -db sqlite
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	bin := flag.String("bin", "bin/agentops", "the agentops binary")
	n := flag.Int("sessions", 200, "sessions (each with its own runner process)")
	db := flag.String("db", "sqlite", "sqlite or postgres (postgres needs AGENTOPS_TEST_POSTGRES_URL)")
	flag.Parse()
	if err := run(*bin, *n, *db); err != nil {
		fmt.Fprintln(os.Stderr, "restartbench:", err)
		os.Exit(1)
	}
}

type server struct {
	bin, addr, dir, db string
	cmd                *exec.Cmd
}

func (s *server) start() (time.Duration, error) {
	t0 := time.Now()
	s.cmd = exec.Command(s.bin, "serve", "--listen", s.addr, "--data-dir", s.dir, "--database-url", s.db, "--log-level", "error")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	for time.Since(t0) < time.Minute {
		if res, err := http.Get("http://" + s.addr + "/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return time.Since(t0), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("server not ready after a minute")
}

func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

func (s *server) call(method, path, token string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, nil
}

func freeAddr() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

func dbURL(kind, dir string) (string, error) {
	if kind == "sqlite" {
		return filepath.Join(dir, "agentops.db"), nil
	}
	admin := os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
	if admin == "" {
		return "", fmt.Errorf("postgres needs AGENTOPS_TEST_POSTGRES_URL (run through internal/testutil/testenv)")
	}
	// The database is left for testenv's throwaway server to take along.
	u, _, err := pgtest.CreateDatabase(context.Background(), admin, "restartbench")
	return u, err
}

type owned struct{ id, token string }

func run(bin string, n int, kind string) error {
	dir, err := os.MkdirTemp("", "restartbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := dbURL(kind, dir)
	if err != nil {
		return err
	}
	s := &server{bin: bin, addr: freeAddr(), dir: dir, db: db}
	if _, err := s.start(); err != nil {
		return err
	}
	var sessions []owned
	defer func() {
		for _, o := range sessions {
			_, _ = s.call("DELETE", "/api/sessions/"+o.id, o.token, nil, nil)
		}
		s.kill()
	}()

	var admin struct{ SessionToken string }
	if _, err := s.call("POST", "/auth/email/register", "", map[string]any{"email": "u0@example.com", "password": "a long passphrase"}, &admin); err != nil {
		return err
	}
	tokens := []string{admin.SessionToken}
	for u := 1; u*10 < n; u++ {
		email := fmt.Sprintf("u%d@example.com", u)
		if _, err := s.call("POST", "/api/admin/invites", admin.SessionToken, map[string]any{"email": email}, nil); err != nil {
			return err
		}
		var reg struct{ SessionToken string }
		if _, err := s.call("POST", "/auth/email/register", "", map[string]any{"email": email, "password": "a long passphrase"}, &reg); err != nil {
			return err
		}
		tokens = append(tokens, reg.SessionToken)
	}
	for i := range n {
		tok := tokens[i/10]
		var c struct{ Session struct{ ID string } }
		if _, err := s.call("POST", "/api/sessions", tok, map[string]any{"workspace": "bench"}, &c); err != nil {
			return err
		}
		sessions = append(sessions, owned{c.Session.ID, tok})
	}
	if _, err := waitAllReady(s, sessions, 5*time.Minute); err != nil {
		return fmt.Errorf("before restart: %w", err)
	}
	s.kill()
	t0 := time.Now()
	ready, err := s.start()
	if err != nil {
		return err
	}
	all, err := waitAllReady(s, sessions, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("after restart: %w", err)
	}
	_ = t0
	fmt.Printf("| %s | %d | %d ms | %d ms |\n", kind, n, ready.Milliseconds(), (ready + all).Milliseconds())
	return nil
}

// waitAllReady polls until every session reports a ready runner; it
// returns how long that took.
func waitAllReady(s *server, sessions []owned, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	pending := map[string]owned{}
	for _, o := range sessions {
		pending[o.id] = o
	}
	for len(pending) > 0 {
		if time.Since(t0) > limit {
			return 0, fmt.Errorf("%d sessions not ready after %s", len(pending), limit)
		}
		for id, o := range pending {
			var st struct {
				DoStatus struct {
					RunnerReady bool `json:"runnerReady"`
				} `json:"doStatus"`
			}
			if _, err := s.call("GET", "/api/sessions/"+id, o.token, nil, &st); err == nil && st.DoStatus.RunnerReady {
				delete(pending, id)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0), nil
}
