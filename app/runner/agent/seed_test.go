package agent_test

import (
	"strings"
	"testing"

	"github.com/agentops/agentops/app/runner/agent"
)

func TestFormatSeed(t *testing.T) {
	got := agent.FormatSeed([]struct{ Role, Content string }{{"user", "write a.txt"}, {"assistant", " done \n"}}, 3, "and now b.txt")
	for _, want := range []string{agent.SeedNote, "<transcript>\n(3 earlier messages left out)", "User: write a.txt\n\nAssistant: done\n\n</transcript>", "The user's new message:\n\nand now b.txt"} {
		if !strings.Contains(got, want) {
			t.Errorf("seeded prompt lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, "and now b.txt") {
		t.Errorf("the new message is not last:\n%s", got)
	}
}
