package agentops_test

import (
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
)

// TestDoctorCommand: exit 0 with only warnings, 1 with a problem, each
// problem printed with its fix; a configuration error is reported beside
// the checks that could still run; the env variables apply as for serve.
func TestDoctorCommand(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.mustRun("", "migrate", "up")
	out := e.mustRun("", "doctor")
	for _, want := range []string{"ok    database", "ok    migrations", "warn  instance key", "fix: run `agentops serve` once", "no problems"} {
		if !strings.Contains(out, want) {
			t.Fatalf("doctor on a migrated database should print %q:\n%s", want, out)
		}
	}

	t.Setenv("AGENTOPS_DEFAULT_AGENT", "nope")
	out, _, err := e.run("", "doctor")
	if err == nil || !strings.Contains(out, "FAIL  agents") || !strings.Contains(out, "fix: set --default-agent / AGENTOPS_DEFAULT_AGENT to one of:") || !strings.Contains(out, "claude-code") {
		t.Fatalf("an unknown default agent: err %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 problem(s) to fix") {
		t.Fatalf("the summary:\n%s", out)
	}

	out, _, err = e.run("", "doctor", "--pubsub", "bogus")
	if err == nil || !strings.Contains(out, "FAIL  config          --pubsub must be memory, postgres or redis") || !strings.Contains(out, "ok    database") {
		t.Fatalf("a configuration error: err %v\n%s", err, out)
	}
}
