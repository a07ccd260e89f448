package opencode

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
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake", "OPENAI_MODELS": "m"}
	agenttest.Run(t, agenttest.Harness{
		New: func(t *testing.T) agent.Agent {
			a, err := New(agent.Options{Workspace: ws, StateDir: state, Bin: bin, Getenv: func(k string) string { return env[k] },
				Deadlines: agent.Deadlines{NoProgress: 30 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		ToolPrompt: "WRITE " + filepath.Join(ws, "hello.txt") + " hi",
		AfterTool: func(t *testing.T, rec *agenttest.Recorder) {
			data, err := os.ReadFile(filepath.Join(ws, "hello.txt"))
			if err != nil || string(data) != "hi" {
				t.Fatalf("hello.txt = %q, %v", data, err)
			}
			if c := rec.Calls()[0]; c.ToolName != "write" || !strings.Contains(string(c.Args), "hello.txt") {
				t.Errorf("tool call %+v", c)
			}
			if !strings.Contains(rec.FinalText(), "done") {
				t.Errorf("final text %q", rec.FinalText())
			}
		},
		SlowPrompt:      "SLOW",
		ToolAbortPrompt: "SLEEPTOOL",
		FailPrompt:      "GARBAGE",
		MarkerPrompt:    "remember marigold",
		Marker:          "marigold",
		RecallPrompt:    "RECALL",
		TurnTimeout:     3 * time.Minute,
	})
}

// A model that answers 500, sends invalid JSON or cuts its answer off ends
// the turn with an error within the deadline (OpenCode retries some
// failures itself: the no-progress deadline bounds those), and the next
// prompt works.
func TestFailures(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake", "OPENAI_MODELS": "m"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: bin, Getenv: func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 45 * time.Second, KillGrace: time.Second}}) // the clock includes starting `opencode serve` (15 s at load 25)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	s := &agenttest.Session{Agent: a}
	for _, prompt := range []string{"FAIL500", "GARBAGE", "TRUNCATED"} {
		start := time.Now()
		_, err := s.Turn(t, prompt)
		d := time.Since(start)
		if err == nil {
			t.Errorf("%s: no error", prompt)
			continue
		}
		if d > 110*time.Second {
			t.Errorf("%s: the error came after %s", prompt, d)
		}
		t.Logf("%s: %v after %s (%d model requests)", prompt, err, d.Round(time.Millisecond), len(model.RequestsWith(prompt)))
		if len(model.RequestsWith(prompt)) == 0 {
			t.Errorf("%s never reached the model", prompt)
		}
	}
	if rec, err := s.Turn(t, "RECALL"); err != nil || !strings.Contains(rec.FinalText(), "history:") {
		t.Errorf("after failures: %q, %v", rec.FinalText(), err)
		for _, r := range model.Requests() {
			t.Logf("request %s: %q", r.API, r.Prompts)
		}
	}
}

// A dead endpoint (nothing listens) ends the turn through the no-progress
// deadline: OpenCode retries it.
func TestDeadEndpointNoProgress(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "sk-fake", "OPENAI_MODELS": "m"}
	a, err := New(agent.Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Bin: bin, Getenv: func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 5 * time.Second, KillGrace: time.Second}})
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
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("took %s", d)
	}
	t.Logf("dead endpoint: %v after %s", err, time.Since(start).Round(time.Millisecond))
}
