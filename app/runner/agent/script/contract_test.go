package script

import (
	"testing"

	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
)

func TestContract(t *testing.T) {
	state := t.TempDir()
	agenttest.Run(t, agenttest.Harness{
		New: func(t *testing.T) agent.Agent {
			a, err := Factory(agent.Options{StateDir: state})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		ToolPrompt:   "/tool write {\"path\":\"hello.txt\"}\nwrote it",
		SlowPrompt:   "/slow 2000\n/chunks 10\nslow reply",
		FailPrompt:   "/fail the model is down",
		MarkerPrompt: "remember the word marigold",
		Marker:       "marigold",
		RecallPrompt: "/recall",
	})
}
