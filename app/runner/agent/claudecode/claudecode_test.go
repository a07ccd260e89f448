package claudecode

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
)

func TestContract(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	ws, state := t.TempDir(), t.TempDir()
	env := map[string]string{
		"PATH": os.Getenv("PATH"), "ANTHROPIC_BASE_URL": model.URL, "ANTHROPIC_API_KEY": "sk-fake",
		"OPENAI_API_KEY": "sk-must-not-leak", "GITHUB_TOKEN": "ghp-must-not-leak",
	}
	var last *Agent
	agenttest.Run(t, agenttest.Harness{
		New: func(t *testing.T) agent.Agent {
			a, err := New(agent.Options{Workspace: ws, StateDir: state, Bin: bin, AllowRoot: true,
				Getenv: func(k string) string { return env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			last = a
			return a
		},
		ToolPrompt: "WRITE " + filepath.Join(ws, "hello.txt") + " hi",
		AfterTool: func(t *testing.T, rec *agenttest.Recorder) {
			data, err := os.ReadFile(filepath.Join(ws, "hello.txt"))
			if err != nil || string(data) != "hi" {
				t.Fatalf("hello.txt = %q, %v", data, err)
			}
			if c := rec.Calls()[0]; c.ToolName != "Write" || !strings.Contains(string(c.Args), "hello.txt") {
				t.Errorf("tool call %+v", c)
			}
			if rec.FinalText() != "done" {
				t.Errorf("final text %q", rec.FinalText())
			}
			u := rec.UsageTotal()
			if u == nil || u.InputTokens == 0 || u.OutputTokens == 0 {
				t.Errorf("usage %+v", u)
			}
			if rec.AgentSession() == "" {
				t.Error("no agent session id reported")
			}
		},
		SlowPrompt:      "SLOW",
		ToolAbortPrompt: "SLEEPTOOL",
		FailPrompt:      "FAIL500",
		MarkerPrompt:    "remember marigold",
		Marker:          "marigold",
		RecallPrompt:    "RECALL",
	})
	if last != nil && last.Starts() != 1 {
		t.Errorf("the restarted agent started %d processes, want 1", last.Starts())
	}
	for _, r := range model.Requests() {
		if k := r.Header.Get("x-api-key"); k != "sk-fake" {
			t.Errorf("request with x-api-key %q", k)
		}
	}
}

func TestFailures(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	ws := t.TempDir()
	env := map[string]string{"PATH": os.Getenv("PATH"), "ANTHROPIC_BASE_URL": model.URL, "ANTHROPIC_API_KEY": "sk-fake"}
	a, err := New(agent.Options{Workspace: ws, StateDir: t.TempDir(), Bin: bin, AllowRoot: true, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	for _, prompt := range []string{"GARBAGE", "TRUNCATED"} {
		if _, err := s.Turn(t, prompt); err == nil || !strings.Contains(err.Error(), "API Error") {
			t.Errorf("%s: err %v", prompt, err)
		}
	}
	if rec, err := s.Turn(t, "RECALL"); err != nil || !strings.Contains(rec.FinalText(), "GARBAGE") {
		t.Errorf("after failures: %q, %v", rec.FinalText(), err)
	}
}

// A CLI that exits at start ends the turn with its stderr; it gets only
// the provider's variables.
func TestExitAtStartAndEnv(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "claude")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nenv > \"$HOME/../env.txt\"\necho 'cannot start: scripted' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	env := map[string]string{"PATH": os.Getenv("PATH"), "ANTHROPIC_API_KEY": "sk-ant", "OPENAI_API_KEY": "sk-openai",
		"GITHUB_TOKEN": "ghp", "AGENTOPS_INSTANCE_KEY": "secret"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: state, Bin: fake, AllowRoot: true, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	_, err = s.Turn(t, "hello")
	if err == nil || !strings.Contains(err.Error(), "cannot start: scripted") {
		t.Fatalf("err %v", err)
	}
	data, err := os.ReadFile(filepath.Join(state, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{"ANTHROPIC_API_KEY=sk-ant", "HOME=" + filepath.Join(state, "home"), "XDG_CONFIG_HOME=" + filepath.Join(state, "config")} {
		if !strings.Contains(got, want) {
			t.Errorf("env lacks %s", want)
		}
	}
	for _, leak := range []string{"OPENAI_API_KEY", "GITHUB_TOKEN", "AGENTOPS_INSTANCE_KEY"} {
		if strings.Contains(got, leak) {
			t.Errorf("env has %s", leak)
		}
	}
}

func TestRootNeedsOptIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the refusal applies to root runners only")
	}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	s := &agenttest.Session{Agent: a}
	if _, err := s.Turn(t, "hello"); err == nil || !strings.Contains(err.Error(), "--agents-allow-root") || !strings.Contains(err.Error(), "--runner-user") {
		t.Fatalf("err %v", err)
	}
}

// A dead endpoint ends the turn after Claude's few retries, well within
// the deadline.
func TestDeadEndpoint(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	env := map[string]string{"PATH": os.Getenv("PATH"), "ANTHROPIC_BASE_URL": "http://127.0.0.1:1", "ANTHROPIC_API_KEY": "sk-fake"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: bin, AllowRoot: true,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	start := time.Now()
	if _, err := s.Turn(t, "hello"); err == nil || !strings.Contains(err.Error(), "API Error") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s", d)
	}
}

// An endpoint that accepts the connection and never answers: Claude waits
// (its request timeout is minutes), so the no-progress deadline ends the
// turn, and the next prompt starts a new process.
func TestSilentEndpointNoProgress(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	env := map[string]string{"PATH": os.Getenv("PATH"), "ANTHROPIC_BASE_URL": "http://" + ln.Addr().String(), "ANTHROPIC_API_KEY": "sk-fake"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: bin, AllowRoot: true,
		Getenv:    func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 5 * time.Second, KillGrace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	start := time.Now()
	_, err = s.Turn(t, "hello")
	if err == nil || !strings.Contains(err.Error(), "progress") {
		t.Fatalf("err %v, want the no-progress deadline", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
	t.Logf("silent endpoint: %v after %s", err, time.Since(start).Round(time.Millisecond))
}
