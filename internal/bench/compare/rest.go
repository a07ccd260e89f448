package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentops/agentops/internal/bench/benchkit"
	"github.com/agentops/agentops/internal/testutil/pgtest"
)

// restClient is one load client: its token and the request it repeats.
type restClient struct {
	token  string
	readID string // pocketbase: a record of its own to read
}

// restSide is one server under REST load.
type restSide struct {
	name  string
	p     *proc
	hc    *http.Client
	users []restClient
	// write builds client k's i-th write; read builds its read.
	write func(k, i int, c restClient) *http.Request
	read  func(k int, c restClient) *http.Request
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxIdleConns: conns, MaxConnsPerHost: conns, Proxy: nil,
	}}
}

var content = strings.Repeat("a note worth keeping. ", 12) // 264 bytes

// startAgentops starts agentops with a fresh SQLite data dir and registers
// n users (the first an admin, the others invited).
func startAgentops(ctx context.Context, o options, dir string, n int) (*restSide, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	args := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--data-dir", filepath.Join(dir, "data"), "--sandbox", "external", "--log-level", "error",
		"--memory-max-files", "10000000"}
	drop := func() {}
	if o.postgresAdmin != "" {
		var dbURL string
		if dbURL, drop, err = pgtest.CreateDatabase(ctx, o.postgresAdmin, "bench_compare"); err != nil {
			return nil, err
		}
		args = append(args, "--database-url", dbURL)
	}
	p, err := start(ctx, "agentops", o.agentops, args, dir, url, "/ready")
	if err != nil {
		drop()
		return nil, err
	}
	p.after = drop
	c := benchkit.NewClient(url, 4)
	toks, err := c.Users(ctx, n)
	if err != nil {
		p.stop()
		return nil, err
	}
	s := &restSide{name: "agentops", p: p, hc: newHTTPClient(max(n, 1))}
	for _, t := range toks {
		s.users = append(s.users, restClient{token: t})
	}
	s.write = func(k, i int, c restClient) *http.Request {
		b, _ := json.Marshal(map[string]string{"path": fmt.Sprintf("bench/c%d/%d.md", k, i), "content": content})
		req, _ := http.NewRequest("PUT", url+"/api/me/memory", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	s.read = func(k int, c restClient) *http.Request {
		req, _ := http.NewRequest("GET", url+"/api/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		return req
	}
	return s, nil
}

// startPocketBase starts PocketBase (--dev=false) with a fresh data dir, a
// "notes" collection that signed-in users may create and view, and n users
// signed in, each with one note to read.
func startPocketBase(ctx context.Context, o options, dir string, n int) (*restSide, error) {
	pbDir := filepath.Join(dir, "pb")
	const admin, pw = "admin@example.com", benchkit.Password
	if out, err := runCmd(ctx, o.pocketbase, "superuser", "upsert", admin, pw, "--dir", pbDir); err != nil {
		return nil, fmt.Errorf("pocketbase superuser: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := start(ctx, "pocketbase", o.pocketbase, []string{"serve", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--dir", pbDir, "--dev=false"}, dir, url, "/api/health")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*restSide, error) { p.stop(); return nil, err }
	c := benchkit.NewClient(url, 4)
	var auth struct{ Token string }
	if err := c.Call(ctx, "POST", "/api/collections/_superusers/auth-with-password", "", map[string]string{"identity": admin, "password": pw}, &auth, 200); err != nil {
		return fail(err)
	}
	rule := "@request.auth.id != ''"
	coll := map[string]any{"name": "notes", "type": "base", "createRule": rule, "viewRule": rule, "listRule": rule,
		"fields": []map[string]any{{"name": "path", "type": "text"}, {"name": "content", "type": "text", "max": 100000}}}
	if err := pbCall(ctx, c, "POST", "/api/collections", auth.Token, coll, nil); err != nil {
		return fail(err)
	}
	s := &restSide{name: "pocketbase", p: p, hc: newHTTPClient(max(n, 1))}
	for i := range n {
		email := fmt.Sprintf("bench%d@example.com", i)
		if err := pbCall(ctx, c, "POST", "/api/collections/users/records", "", map[string]string{"email": email, "password": pw, "passwordConfirm": pw}, nil); err != nil {
			return fail(err)
		}
		var ua struct{ Token string }
		if err := pbCall(ctx, c, "POST", "/api/collections/users/auth-with-password", "", map[string]string{"identity": email, "password": pw}, &ua); err != nil {
			return fail(err)
		}
		var rec struct{ ID string }
		if err := pbCall(ctx, c, "POST", "/api/collections/notes/records", ua.Token, map[string]string{"path": "seed.md", "content": content}, &rec); err != nil {
			return fail(err)
		}
		s.users = append(s.users, restClient{token: ua.Token, readID: rec.ID})
	}
	s.write = func(k, i int, c restClient) *http.Request {
		b, _ := json.Marshal(map[string]string{"path": fmt.Sprintf("bench/c%d/%d.md", k, i), "content": content})
		req, _ := http.NewRequest("POST", url+"/api/collections/notes/records", bytes.NewReader(b))
		req.Header.Set("Authorization", c.token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	s.read = func(k int, c restClient) *http.Request {
		req, _ := http.NewRequest("GET", url+"/api/collections/notes/records/"+c.readID, nil)
		req.Header.Set("Authorization", c.token)
		return req
	}
	return s, nil
}

// pbCall is benchkit's Call with PocketBase's bare token header and any 2xx.
func pbCall(ctx context.Context, c *benchkit.Client, method, path, token string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// loadResult is one timed REST run.
type loadResult struct {
	perSec   float64
	p50, p99 time.Duration
	failed   int64
	firstErr string
	cpuPer   time.Duration // the server's CPU time per 2xx answer
}

// runLoad has each client repeat its request (write or read) for d and
// reports the rate of 2xx answers and their latency.
func runLoad(ctx context.Context, s *restSide, clients int, d time.Duration, write bool) loadResult {
	var h benchkit.Histogram
	var ok, failed atomic.Int64
	var errOnce sync.Once
	var firstErr string
	cpu0, _ := s.p.cpuTime()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for k := range clients {
		c := s.users[k%len(s.users)]
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				var req *http.Request
				if write {
					req = s.write(k, i, c)
				} else {
					req = s.read(k, c)
				}
				t0 := time.Now()
				res, err := s.hc.Do(req.WithContext(ctx))
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				h.Add(int64(time.Since(t0)))
				if err != nil || res.StatusCode/100 != 2 {
					failed.Add(1)
					errOnce.Do(func() {
						if err != nil {
							firstErr = err.Error()
						} else {
							firstErr = strconv.Itoa(res.StatusCode)
						}
					})
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	cpu1, _ := s.p.cpuTime()
	res := loadResult{perSec: float64(ok.Load()) / d.Seconds(), p50: h.Quantile(0.5), p99: h.Quantile(0.99), failed: failed.Load(), firstErr: firstErr}
	if n := ok.Load(); n > 0 {
		res.cpuPer = (cpu1 - cpu0) / time.Duration(n)
	}
	return res
}

func runCmd(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := execCommand(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mkTemp() (string, error) { return os.MkdirTemp("", "bench-compare-") }
