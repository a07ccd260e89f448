package agentops_test

import (
	"strings"
	"testing"

	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
)

func TestAgentsListAndInstall(t *testing.T) {
	agenttest.CLI(t, claudecode.Info)
	out, _, err := execute(t, "", "agents", "list", "--agents-dir", agenttest.CacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "claude-code ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 5 || f[1] != "yes" || f[2] != claudecode.Info.Version || !strings.HasSuffix(f[4], "/claude") {
		t.Fatalf("list:\n%s", out)
	}

	_, _, err = execute(t, "", "agents", "install", "nope")
	wantErrContains(t, err, `unknown agent "nope"`)
	_, _, err = execute(t, "", "agents", "install", "script")
	wantErrContains(t, err, "built in")
	t.Setenv("PATH", t.TempDir()) // no npm
	_, _, err = execute(t, "", "agents", "install", "codex", "--agents-dir", t.TempDir())
	wantErrContains(t, err, "npm is not installed")
}
