package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"

	"github.com/agentops/agentops/app"
)

// server is the agentops server running in this process, and a REST client
// for it. With -replicas N, peers are all N replicas (this one first).
type server struct {
	url    string // http://127.0.0.1:port
	client *http.Client
	peers  []*server
}

// withServer starts agentops in this process on a free loopback port with
// a fresh database (o.replicas of them on one Postgres, sharing sessions),
// runs fn with the first, and stops them.
func withServer(ctx context.Context, o options, fn func(ctx context.Context, s *server) error) (err error) {
	dir, err := os.MkdirTemp("", "sessionbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := filepath.Join(dir, "agentops.db")
	switch o.db {
	case "sqlite":
		if o.replicas > 1 {
			return errors.New("-replicas needs -db postgres")
		}
	case "postgres":
		admin := o.databaseURL
		if admin == "" {
			admin = os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
		}
		if admin == "" {
			return errors.New("-db postgres needs -postgres-url or AGENTOPS_TEST_POSTGRES_URL (run under go run ./internal/testutil/testenv --)")
		}
		u, drop, err := pgtest.CreateDatabase(ctx, admin, "sessionbench")
		if err != nil {
			return err
		}
		defer drop()
		dbURL = u
	default:
		return fmt.Errorf("-db must be sqlite or postgres, not %q", o.db)
	}
	var peers []*server
	for i := range max(1, o.replicas) {
		s, stop, err := startServer(ctx, o, dir, dbURL, i)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stop(); serr != nil && err == nil {
				err = serr
			}
		}()
		peers = append(peers, s)
	}
	for _, s := range peers {
		s.peers = peers
	}
	return fn(ctx, peers[0])
}

// startServer starts replica i; stop stops it.
func startServer(ctx context.Context, o options, dir, dbURL string, i int) (*server, func() error, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	cfg := app.Config{
		Listen: addr, DataDir: filepath.Join(dir, fmt.Sprint("data", i)), DatabaseURL: dbURL, Sandbox: "external",
		StopRunnersOnShutdown: true, Version: "sessionbench", LogLevel: o.logLevel,
		InstanceKeyFile: filepath.Join(dir, "instance.key"),
	}
	if o.replicas > 1 {
		cfg.AdvertiseURL = "http://" + addr
	}
	if err := cfg.Resolve(); err != nil {
		return nil, nil, err
	}
	a, err := app.Open(ctx, cfg, logger(o.logLevel))
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	stop := func() error {
		defer a.Close()
		cancel()
		select {
		case serr := <-done:
			if serr != nil {
				return fmt.Errorf("serve: %w", serr)
			}
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the server did not stop within 30 s")
		}
	}
	s := &server{url: "http://" + addr, client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil},
	}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := s.client.Get(s.url + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, nil, fmt.Errorf("server not ready: %v", err)
		}
		select {
		case serr := <-done:
			a.Close()
			return nil, nil, fmt.Errorf("serve: %w", serr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s, stop, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// call sends a JSON request and decodes the JSON answer into out; any
// status but want is an error.
func (s *server) call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

const password = "a long passphrase for the bench"

// users registers n users: the first becomes the admin, the others are
// invited by email. It returns their login tokens.
func (s *server) users(ctx context.Context, n int) ([]string, error) {
	tokens := make([]string, 0, n)
	for i := range n {
		email := fmt.Sprintf("bench%d@example.com", i)
		if i > 0 {
			if err := s.call(ctx, "POST", "/api/admin/invites", tokens[0], map[string]any{"email": email}, nil, 201); err != nil {
				return nil, err
			}
		}
		var reg struct{ SessionToken string }
		if err := s.call(ctx, "POST", "/auth/email/register", "", map[string]any{"email": email, "password": password, "name": fmt.Sprintf("Bench %d", i)}, &reg, 200); err != nil {
			return nil, err
		}
		tokens = append(tokens, reg.SessionToken)
	}
	return tokens, nil
}

// benchSession is a session created over REST with its owner's login token
// and its runner token.
type benchSession struct {
	id          string
	owner       string // login token
	runnerToken string
}

// createSession makes a session with the external sandbox and reads the
// runner token from the command it returns.
func (s *server) createSession(ctx context.Context, owner string) (benchSession, error) {
	var out struct {
		Session struct{ ID string }
		Runner  *struct{ Command string }
	}
	if err := s.call(ctx, "POST", "/api/sessions", owner, map[string]any{"workspace": "bench"}, &out, 201); err != nil {
		return benchSession{}, err
	}
	if out.Runner == nil {
		return benchSession{}, errors.New("create session: no runner command (is the sandbox external?)")
	}
	tok, err := runnerToken(out.Runner.Command)
	if err != nil {
		return benchSession{}, err
	}
	return benchSession{id: out.Session.ID, owner: owner, runnerToken: tok}, nil
}

func runnerToken(command string) (string, error) {
	const key = "AGENTOPS_RUNNER_TOKEN="
	i := strings.Index(command, key)
	if i < 0 {
		return "", fmt.Errorf("no %s in the runner command", key)
	}
	tok, _, _ := strings.Cut(command[i+len(key):], " ")
	return strings.Trim(tok, "'"), nil
}

// createSessions makes n sessions, ten per user (the per-user limit of
// active sessions), with at most workers requests at once.
func (s *server) createSessions(ctx context.Context, tokens []string, n, workers int) ([]benchSession, error) {
	out := make([]benchSession, n)
	var mu sync.Mutex
	var first error
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				bs, err := s.createSession(ctx, tokens[i/10])
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				out[i] = bs
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out, first
}

func (s *server) wsURL(id string) string {
	return "ws" + strings.TrimPrefix(s.url, "http") + "/api/sessions/" + id + "/ws"
}
