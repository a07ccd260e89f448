package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/app/runner/agent/opencode"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
)

// throughServer measures turns through the whole server: a REST prompt,
// the session actor, a real `agentops runner` child (this repository
// built into a temporary dir) and the CLI, with the time to the first
// chunk and to the finished message on a browser socket; and, sampled
// every 50 ms during the turns, the runner's RSS beside the CLI's (the
// sum over the runner's descendants).
func throughServer(runs int, model *fakemodel.Server) error {
	tmp, err := os.MkdirTemp("", "agentbench-server-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "agentops")
	build := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build agentops (run from the repository root): %w", err)
	}
	for _, info := range []agent.Info{claudecode.Info, codex.Info, opencode.Info} {
		install(info)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := app.Config{DataDir: filepath.Join(tmp, "data"), Listen: addr, Sandbox: "local", RunnerCommand: []string{bin, "runner"},
		AgentsDir: agenttest.CacheDir(&testing.T{}), AgentsAllowRoot: true, StopRunnersOnShutdown: true, Version: "bench"}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(base + "/ready"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if i > 200 {
			return fmt.Errorf("the server did not get ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := &client{base: base}
	var reg struct{ SessionToken string }
	if err := c.do("POST", "/auth/email/register", map[string]any{"email": "bench@example.com", "password": "a long passphrase"}, &reg); err != nil {
		return err
	}
	c.token = reg.SessionToken
	if err := c.do("PUT", "/api/auth/me/credentials/anthropic", map[string]any{"key": "sk-fake", "baseUrl": model.URL}, nil); err != nil {
		return err
	}
	if err := c.do("PUT", "/api/auth/me/credentials/custom-local", map[string]any{"key": "sk-fake", "baseUrl": model.URL + "/v1", "models": []string{"m"}}, nil); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("| agent | turn | first text p50 | end of turn p50 | end of turn max | runner RSS max | CLI RSS max |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, id := range []string{claudecode.Info.ID, codex.Info.ID, opencode.Info.ID} {
		body := map[string]any{"workspace": "bench", "agent": id}
		if id == opencode.Info.ID {
			body["initialModel"] = "custom-local/m"
		}
		var created struct{ Session struct{ ID string } }
		if err := c.do("POST", "/api/sessions", body, &created); err != nil {
			return err
		}
		sid := created.Session.ID
		ws, err := c.dial(sid)
		if err != nil {
			return err
		}
		var cold, warm []sample
		for i := range runs + 1 {
			s, err := c.turn(ws, sid, bin, fmt.Sprintf("hello %d", i))
			if err != nil {
				ws.close()
				return fmt.Errorf("%s turn %d: %w", id, i, err)
			}
			if i == 0 {
				cold = append(cold, s)
			} else {
				warm = append(warm, s)
			}
		}
		ws.close()
		for _, g := range []struct {
			name string
			s    []sample
		}{{"first (CLI start)", cold}, {"later", warm}} {
			var first, end []time.Duration
			var runner, cli int64
			for _, s := range g.s {
				first, end = append(first, s.first), append(end, s.end)
				runner, cli = max(runner, s.runnerRSS), max(cli, s.cliRSS)
			}
			maxEnd := end[0]
			for _, e := range end {
				maxEnd = max(maxEnd, e)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %d MB | %d MB |\n", id, g.name, p50(first), p50(end), maxEnd.Round(time.Millisecond), runner>>20, cli>>20)
		}
	}
	fmt.Printf("load average at the end: %s\n", loadavg())
	return nil
}

type sample struct {
	first, end        time.Duration
	runnerRSS, cliRSS int64
}

type client struct {
	base, token string
}

func (c *client) do(method, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
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

// socket is a browser socket whose frames arrive on a channel.
type socket struct {
	c      *websocket.Conn
	frames chan frameAt
}

type frameAt struct {
	at   time.Time
	typ  string
	data []byte
}

func (c *client) dial(sid string) (*socket, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(c.base, "http://", "ws://", 1) + "/api/sessions/" + sid + "/ws?role=client"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + c.token}})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	s := &socket{c: conn, frames: make(chan frameAt, 100000)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var f struct{ Type string }
			_ = json.Unmarshal(data, &f)
			s.frames <- frameAt{at: time.Now(), typ: f.Type, data: data}
		}
	}()
	return s, nil
}

func (s *socket) close() { _ = s.c.Close(websocket.StatusNormalClosure, "") }

// turn prompts over REST and waits on the socket for the first chunk and
// the message that carries a finish part, sampling RSS meanwhile.
func (c *client) turn(ws *socket, sid, bin, prompt string) (sample, error) {
	// Drop what is left of earlier turns.
	for drained := false; !drained; {
		select {
		case <-ws.frames:
		default:
			drained = true
		}
	}
	stop := sampleRunner(bin, sid)
	start := time.Now()
	if err := c.do("POST", "/api/sessions/"+sid+"/prompt", map[string]any{"content": prompt}, nil); err != nil {
		stop()
		return sample{}, err
	}
	var s sample
	timeout := time.After(3 * time.Minute)
	for s.end == 0 {
		select {
		case f, ok := <-ws.frames:
			if !ok {
				stop()
				return sample{}, fmt.Errorf("the socket closed")
			}
			if f.typ == "chunk" && s.first == 0 {
				s.first = f.at.Sub(start)
			}
			if (f.typ == "message.updated" || f.typ == "message") && bytes.Contains(f.data, []byte(`"finish"`)) && bytes.Contains(f.data, []byte(`"assistant"`)) {
				s.end = f.at.Sub(start)
			}
		case <-timeout:
			stop()
			return sample{}, fmt.Errorf("no finished reply within 3 minutes")
		}
	}
	s.runnerRSS, s.cliRSS = stop()
	return s, nil
}

// sampleRunner samples, until stop, the RSS of the session's runner (the
// process running bin with the session id in its arguments) and the sum
// over the other processes of its process group (the CLI and its
// children); stop returns the peaks.
func sampleRunner(bin, sid string) (stop func() (runner, cli int64)) {
	done := make(chan struct{})
	var pr, pc int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			r, c := runnerAndGroupRSS(bin, sid)
			pr, pc = max(pr, r), max(pc, c)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (int64, int64) { close(done); wg.Wait(); return pr, pc }
}

func runnerAndGroupRSS(bin, sid string) (runner, cli int64) {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	root := -1
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(string(cmd), bin+"\x00runner") && strings.Contains(string(cmd), sid) {
			root = pid
			runner = statusRSS(e.Name())
		}
	}
	if root < 0 {
		return 0, 0
	}
	// Every descendant: the CLI runs in a process group of its own.
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		pid := queue[0]
		queue = append(queue[1:], children[pid]...)
		r := statusRSS(strconv.Itoa(pid))
		cli += r
		if os.Getenv("AGENTBENCH_TREE") != "" {
			comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
			fmt.Fprintf(os.Stderr, "  %d %s %d MB\n", pid, strings.TrimSpace(string(comm)), r>>20)
		}
	}
	return runner, cli
}
