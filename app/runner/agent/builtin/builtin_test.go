package builtin

import (
	"strings"
	"testing"

	"github.com/agentops/agentops/app/runner/agent"
)

func TestRegistry(t *testing.T) {
	r := Registry()
	a, err := r.New("script", agent.Options{})
	if err != nil || a.Name() != "script" {
		t.Fatalf("New(script) = %v, %v", a, err)
	}
	_, err = r.New("claude", agent.Options{})
	if err == nil || !strings.Contains(err.Error(), `"claude"`) || !strings.Contains(err.Error(), "known agents: ") {
		t.Fatalf("New(claude) = %v", err)
	}
	for _, name := range r.Names() {
		info, ok := r.Info(name)
		if !ok || info.ID != name || info.Name == "" {
			t.Errorf("Info(%s) = %+v, %v", name, info, ok)
		}
	}
}
