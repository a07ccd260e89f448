package codex

import (
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
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake",
		"ANTHROPIC_API_KEY": "sk-must-not-leak"}
	var last *Agent
	agenttest.Run(t, agenttest.Harness{
		New: func(t *testing.T) agent.Agent {
			a, err := New(agent.Options{Workspace: ws, StateDir: state, Bin: bin, Getenv: func(k string) string { return env[k] }})
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
			if c := rec.Calls()[0]; c.ToolName != "shell" || !strings.Contains(string(c.Args), "hello.txt") {
				t.Errorf("tool call %+v", c)
			}
			if rec.FinalText() != "done" {
				t.Errorf("final text %q", rec.FinalText())
			}
			if u := rec.UsageTotal(); u == nil || u.InputTokens == 0 || u.OutputTokens == 0 {
				t.Errorf("usage %+v", u)
			}
			if rec.AgentSession() == "" {
				t.Error("no thread id reported")
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
		if k := r.Header.Get("Authorization"); k != "Bearer sk-fake" {
			t.Errorf("request with Authorization %q", k)
		}
	}
}

func TestFailures(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	ws := t.TempDir()
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake"}
	a, err := New(agent.Options{Workspace: ws, StateDir: t.TempDir(), Bin: bin, Getenv: func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	for _, prompt := range []string{"GARBAGE", "TRUNCATED"} {
		start := time.Now()
		if _, err := s.Turn(t, prompt); err == nil {
			t.Errorf("%s: no error", prompt)
		} else {
			t.Logf("%s: %v after %s", prompt, err, time.Since(start).Round(time.Millisecond))
		}
	}
	if rec, err := s.Turn(t, "RECALL"); err != nil || !strings.Contains(rec.FinalText(), "history:") {
		t.Errorf("after failures: %q, %v", rec.FinalText(), err)
	}
}

// Codex retries a dead endpoint forever: the no-progress deadline ends
// the turn.
func TestDeadEndpointNoProgress(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "sk-fake"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: bin, Getenv: func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 3 * time.Second, KillGrace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	start := time.Now()
	_, err = s.Turn(t, "hello")
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
	t.Logf("dead endpoint: %v after %s", err, time.Since(start).Round(time.Millisecond))
}
