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
