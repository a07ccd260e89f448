package opencode

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
)

// approver is a Recorder whose runner approves or denies.
type approver struct {
	*agenttest.Recorder
	approve bool
	asked   []string
}

func (a *approver) Approve(ctx context.Context, toolName string, args json.RawMessage, diff string) (bool, string, error) {
	a.asked = append(a.asked, toolName+" "+diff)
	return a.approve, "no thanks", nil
}

// In permissionMode ask, OpenCode's permission request for a write
// becomes an approval: denied, the file stays absent; approved, it is
// written.
func TestPermissionAsk(t *testing.T) {
	bin := agenttest.CLI(t, Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	ws := t.TempDir()
	env := map[string]string{"PATH": os.Getenv("PATH"), "OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-fake", "OPENAI_MODELS": "m"}
	a, err := New(agent.Options{Workspace: ws, StateDir: t.TempDir(), Bin: bin, Getenv: func(k string) string { return env[k] },
		Deadlines: agent.Deadlines{NoProgress: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	target := filepath.Join(ws, "hello.txt")
	for _, approve := range []bool{false, true} {
		ap := &approver{Recorder: agenttest.NewRecorder(), approve: approve}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := a.Run(ctx, agent.Prompt{MessageID: "m", Content: "WRITE " + target + " hi", Workspace: ws, PermissionMode: agent.PermissionAsk}, ap)
		cancel()
		if err != nil {
			t.Fatalf("approve=%v: %v", approve, err)
		}
		if len(ap.asked) != 1 || !strings.Contains(ap.asked[0], "+hi") {
			t.Fatalf("approve=%v: asked %q", approve, ap.asked)
		}
		_, statErr := os.Stat(target)
		if approve == os.IsNotExist(statErr) {
			t.Fatalf("approve=%v: file %v", approve, statErr)
		}
	}
}
