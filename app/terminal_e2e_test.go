package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner"
	"github.com/agentops/agentops/app/runner/agent/script"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// termClient is a browser terminal socket: it collects the output and the
// exit frame.
type termClient struct {
	t *testing.T
	c *websocket.Conn

	mu     sync.Mutex
	out    bytes.Buffer // the last 64 KiB of output
	total  int
	exit   map[string]any
	closed chan struct{}
}

// dialTerminal opens GET /api/sessions/:id/terminal; on a refusal it
// returns the HTTP status.
func (s *server) dialTerminal(id, token string, cols, rows int) (*termClient, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := fmt.Sprintf("%s/api/sessions/%s/terminal?cols=%d&rows=%d", strings.Replace(s.url, "http://", "ws://", 1), id, cols, rows)
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"agentops.terminal", "bearer." + token}})
	if err != nil {
		if res == nil {
			s.t.Fatalf("dial %s: %v", u, err)
		}
		return nil, res.StatusCode
	}
	c.SetReadLimit(1 << 20)
	tc := &termClient{t: s.t, c: c, closed: make(chan struct{})}
	go func() {
		defer close(tc.closed)
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			tc.mu.Lock()
			if typ == websocket.MessageBinary {
				tc.total += len(data)
				tc.out.Write(data)
				if tc.out.Len() > 64<<10 {
					keep := bytes.Clone(tc.out.Bytes()[tc.out.Len()-32<<10:])
					tc.out.Reset()
					tc.out.Write(keep)
				}
			} else {
				_ = json.Unmarshal(data, &tc.exit)
			}
			tc.mu.Unlock()
		}
	}()
	s.t.Cleanup(func() { c.CloseNow() })
	return tc, http.StatusSwitchingProtocols
}

func (tc *termClient) typeLine(line string) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.c.Write(ctx, websocket.MessageBinary, []byte(line+"\n")); err != nil {
		tc.t.Fatalf("type %q: %v", line, err)
	}
}

func (tc *termClient) resize(cols, rows int) {
	tc.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "resize", "cols": cols, "rows": rows})
	if err := tc.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		tc.t.Fatal(err)
	}
}

// waitOutput waits until the recent output matches re and returns the
// first submatch.
func (tc *termClient) waitOutput(re string, within time.Duration) string {
	tc.t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	deadline := time.Now().Add(within)
	for {
		tc.mu.Lock()
		out := tc.out.String()
		tc.mu.Unlock()
		if m = rx.FindStringSubmatch(out); m != nil {
			break
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("no terminal output matching %s within %s; the last of it:\n%q", re, within, out[max(0, len(out)-2000):])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(m) > 1 {
		return m[1]
	}
	return m[0]
}

func (tc *termClient) waitExit() map[string]any {
	tc.t.Helper()
	select {
	case <-tc.closed:
	case <-time.After(20 * time.Second):
		tc.t.Fatal("the terminal socket did not close")
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.exit == nil || tc.exit["type"] != "exit" {
		tc.t.Fatalf("no exit frame before the close: %v", tc.exit)
	}
	return tc.exit
}

// startRunnerIn runs a script-agent runner in this process on workspace.
func startRunnerIn(t *testing.T, s *server, id, token, workspace string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = runner.Run(ctx, runner.Config{ServerURL: s.url, SessionID: id, Token: token, Agent: script.New(),
			Workspace: workspace, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// terminalSession is a running external session with a runner on a fresh
// workspace holding hello.txt.
func terminalSession(t *testing.T, s *server) (id, workspace string, b *wsClient) {
	t.Helper()
	id, token := externalSession(t, s)
	workspace = t.TempDir()
	if err := os.WriteFile(filepath.Join(workspace, "hello.txt"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = s.dial(id, s.token)
	startRunnerIn(t, s, id, token, workspace)
	b.waitReady()
	return id, workspace, b
}

// gone reports whether a process has ended (a zombie counts: nobody may
// reap an orphan in a container).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func TestTerminalRoundTrip(t *testing.T) {
	// What a runner's environment holds that a shell must not see.
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-not-for-the-shell")
	t.Setenv("AGENTOPS_RUNNER_TOKEN", "rt_not_for_the_shell")
	s := startServer(t, store.SQLite, "external")
	id, _, _ := terminalSession(t, s)
	tc, status := s.dialTerminal(id, s.token, 100, 30)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("open: %d", status)
	}
	tc.typeLine("echo round-$((20+22)); stty size; pwd; ls")
	tc.waitOutput(`round-42`, 20*time.Second)
	tc.waitOutput(`[\r\n]30 100\r\n`, 10*time.Second)
	tc.waitOutput(`hello\.txt`, 10*time.Second)
	tc.resize(120, 40)
	// The resize and the next line travel in order on the runner socket.
	tc.typeLine("stty size")
	tc.waitOutput(`[\r\n]40 120\r\n`, 10*time.Second)
	// The shell's environment has no provider keys nor the runner token.
	tc.typeLine(`env | grep -c -E '_API_KEY=|AGENTOPS_RUNNER' ; echo env-checked`)
	tc.waitOutput(`[\r\n]0\r\nenv-checked`, 10*time.Second)
	tc.typeLine("exit 3")
	exit := tc.waitExit()
	if exit["exitCode"] != float64(3) {
		t.Fatalf("exit frame: %v", exit)
	}
}

func TestTerminalOnlyForTheOwner(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id, _, _ := terminalSession(t, s)
	other := s.secondUser("other@example.com")
	if _, status := s.dialTerminal(id, other, 80, 24); status != http.StatusNotFound {
		t.Fatalf("another user: %d, want 404", status)
	}
	if _, status := s.dialTerminal(id, "not-a-token", 80, 24); status != http.StatusUnauthorized {
		t.Fatalf("no user: %d, want 401", status)
	}
	// The owner still gets a shell (external runners are not the server's user).
	tc, status := s.dialTerminal(id, s.token, 80, 24)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("owner: %d", status)
	}
	tc.typeLine("echo owner-$((1+1))")
	tc.waitOutput("owner-2", 20*time.Second)
}

// TestTerminalRefusedWhenLocalRunnersShareTheServersUser: a shell of a
// local runner running as the server's user could read the data dir.
func TestTerminalRefusedWhenLocalRunnersShareTheServersUser(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	c := s.createSession(nil)
	// One user: the shell can read only what that user owns anyway. A
	// plain GET answers 426 (allowed) once the runner is connected.
	eventually.NoError(t, 30*time.Second, "the local runner to connect", func() error {
		if code, body := s.call("GET", "/api/sessions/"+c.Session.ID+"/terminal", s.token, nil); code != http.StatusUpgradeRequired {
			return fmt.Errorf("a plain GET with one user: %d %s", code, body)
		}
		return nil
	})
	tc, status := s.dialTerminal(c.Session.ID, s.token, 80, 24)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("one user: %d", status)
	}
	tc.typeLine("echo local-$((2*21)); pwd")
	tc.waitOutput(`local-42`, 20*time.Second)
	tc.waitOutput(regexp.QuoteMeta(c.Session.ID), 10*time.Second) // workspaces/<id>
	_ = tc.c.Close(websocket.StatusNormalClosure, "")
	s.secondUser("other@example.com")
	_, status = s.dialTerminal(c.Session.ID, s.token, 80, 24)
	if status != http.StatusForbidden {
		t.Fatalf("two users and local runners as the server's user: %d, want 403", status)
	}
	// A browser cannot read why an upgrade failed: a plain GET tells it.
	code, body := s.call("GET", "/api/sessions/"+c.Session.ID+"/terminal", s.token, nil)
	var e struct{ Error, Code string }
	_ = json.Unmarshal(body, &e)
	if code != http.StatusForbidden || !strings.Contains(e.Error, "--runner-user") {
		t.Fatalf("the refusal says why: %d %s", code, body)
	}
}

// TestTerminalFloodKeepsTheSessionFlowing: while a shell prints 100 MB,
// the terminal's queue stays within its window, every byte arrives, and a
// turn's streamed text frames all reach the browser.
func TestTerminalFloodKeepsTheSessionFlowing(t *testing.T) {
	s := startServer(t, store.SQLite, "external", func(c *app.Config) { c.MetricsToken = metricsToken })
	id, _, b := terminalSession(t, s)
	tc, status := s.dialTerminal(id, s.token, 80, 24)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("open: %d", status)
	}
	const flood = 100_000_000
	tc.typeLine(fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; echo; echo flood-$((40+2))", flood))
	start := time.Now()

	// A turn streamed in 300 chunks while the flood runs.
	words := make([]string, 300)
	for i := range words {
		words[i] = "w" + strconv.Itoa(i)
	}
	prompt := "/chunks 300\n/slow 2\n" + strings.Join(words, " ")
	tc.waitOutput(`xxxx`, 20*time.Second) // the flood has started
	b.send(map[string]any{"type": "prompt", "content": prompt})
	var streamed strings.Builder
	var msgID string
	done := false
	deadline := time.After(120 * time.Second)
	for !done {
		select {
		case f := <-b.frames:
			switch {
			case f["type"] == "chunk":
				streamed.WriteString(f["content"].(string))
				msgID, _ = f["messageId"].(string)
			case f["type"] == "status" && statusData(f)["runnerBusy"] == false:
				done = true
			}
		case <-b.closed:
			t.Fatalf("the browser socket closed (%d) during the flood", b.status)
		case <-deadline:
			t.Fatal("the turn did not finish during the flood")
		}
	}
	tc.mu.Lock()
	t.Logf("the turn finished after %d bytes of the flood", tc.total)
	tc.mu.Unlock()
	want := "You said: " + strings.Join(words, " ")
	if streamed.String() != want {
		t.Fatalf("streamed text (message %s) lost or reordered chunks:\n got %q\nwant %q", msgID, streamed.String(), want)
	}
	tc.waitOutput(`flood-42`, 10*time.Minute)
	tc.mu.Lock()
	total := tc.total
	tc.mu.Unlock()
	if total < flood {
		t.Fatalf("the terminal received %d bytes, want at least %d", total, flood)
	}
	elapsed := time.Since(start)
	t.Logf("the flood took %s (%.1f MB/s through runner, server and socket)", elapsed.Round(time.Millisecond), float64(total)/1e6/elapsed.Seconds())
	m := s.scrape()
	peak := m["agentops_terminal_queue_peak_bytes"]
	t.Logf("terminal output: %d bytes; peak queue %v bytes (window %d)", total, peak, protocol.TerminalWindow)
	if peak <= 0 || peak > protocol.TerminalWindow {
		t.Fatalf("the terminal's queue peaked at %v bytes, want within (0, %d]", peak, protocol.TerminalWindow)
	}
}

// TestClosingTheTerminalEndsTheShell: the browser going away hangs up the
// shell and the job in its foreground.
func TestClosingTheTerminalEndsTheShell(t *testing.T) {
	s := startServer(t, store.SQLite, "external", func(c *app.Config) { c.MetricsToken = metricsToken })
	id, _, _ := terminalSession(t, s)
	tc, _ := s.dialTerminal(id, s.token, 80, 24)
	tc.typeLine(`echo shell=$$; sh -c 'echo job=$$; exec sleep 300'`)
	shell, _ := strconv.Atoi(tc.waitOutput(`shell=(\d+)`, 20*time.Second))
	job, _ := strconv.Atoi(tc.waitOutput(`job=(\d+)`, 20*time.Second))
	if gone(shell) || gone(job) {
		t.Fatalf("shell %d and job %d should run", shell, job)
	}
	if m := s.scrape(); m["agentops_terminals_open"] != 1 {
		t.Fatalf("terminals open: %v", m["agentops_terminals_open"])
	}
	_ = tc.c.Close(websocket.StatusNormalClosure, "tab closed")
	eventually.True(t, 15*time.Second, "the shell and its job to end", func() bool { return gone(shell) && gone(job) })
	eventually.True(t, 10*time.Second, "no terminal open", func() bool { return s.scrape()["agentops_terminals_open"] == 0 })
}

// TestHibernateAndTerminateEndTheTerminals: a session that stops takes all
// its shells with it.
func TestHibernateAndTerminateEndTheTerminals(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	for _, action := range []string{"hibernate", "terminate"} {
		t.Run(action, func(t *testing.T) {
			id, _, _ := terminalSession(t, s)
			var shells []int
			var terms []*termClient
			for range 2 {
				tc, status := s.dialTerminal(id, s.token, 80, 24)
				if status != http.StatusSwitchingProtocols {
					t.Fatalf("open: %d", status)
				}
				tc.typeLine(`echo shell=$$`)
				pid, _ := strconv.Atoi(tc.waitOutput(`shell=(\d+)`, 20*time.Second))
				shells = append(shells, pid)
				terms = append(terms, tc)
			}
			if action == "hibernate" {
				s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
			} else {
				s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
			}
			for i, tc := range terms {
				exit := tc.waitExit()
				if exit["reason"] == "" {
					t.Fatalf("exit frame without a reason: %v", exit)
				}
				eventually.True(t, 15*time.Second, "shell to end", func() bool { return gone(shells[i]) })
			}
		})
	}
}
