package session

import (
	"strings"
	"testing"
)

// An OpenCode-like agent with an unlimited anthropic key and a custom
// server limited to two models: a bare model goes to the first provider
// (anthropic: any), provider/model picks the provider.
func TestAgentStatusCheckModel(t *testing.T) {
	s := AgentStatus{ID: "opencode", Providers: []ProviderModels{
		{Provider: "anthropic"},
		{Provider: "custom-local", Models: []string{"m1", "org/m2"}},
	}}
	for _, c := range []struct {
		model string
		ok    bool
	}{
		{"", true},
		{"claude-sonnet-4-5", true},
		{"anthropic/claude-sonnet-4-5", true},
		{"custom-local/m1", true},
		{"custom-local/org/m2", true},
		{"custom-local/m3", false},
		{"unknown/x", true}, // not a provider prefix: the first provider's model name
	} {
		err := s.CheckModel(c.model)
		if (err == nil) != c.ok {
			t.Errorf("CheckModel(%q) = %v, want ok=%v", c.model, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "m1, org/m2") {
			t.Errorf("CheckModel(%q) = %v: does not name the allowed models", c.model, err)
		}
	}
	limited := AgentStatus{ID: "claude-code", Providers: []ProviderModels{{Provider: "anthropic", Models: []string{"claude-haiku-4-5"}}}}
	if err := limited.CheckModel("claude-opus-4-1"); err == nil {
		t.Error("a model outside the anthropic credential's list was allowed")
	}
	if err := limited.CheckModel("anthropic/claude-haiku-4-5"); err != nil {
		t.Error(err)
	}
	if err := (AgentStatus{ID: "script"}).CheckModel("whatever"); err != nil {
		t.Error(err)
	}
}
