package agentops_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/cmd/agentops"
)

func TestRunnerFlagsAndToken(t *testing.T) {
	isolateEnv(t)
	// Runner flags are arguments, not settings: the environment does not
	// stand in for them.
	t.Setenv("AGENTOPS_SERVER_URL", "http://127.0.0.1:1")
	t.Setenv("AGENTOPS_SESSION_ID", "s1")
	_, _, err := execute(t, "", "runner")
	wantErrContains(t, err, `required flag(s) "server-url", "session-id" not set`)

	_, _, err = execute(t, "", "runner", "--server-url", "http://127.0.0.1:1", "--session-id", "s1")
	wantErrContains(t, err, agentops.RunnerTokenEnv+" is not set")

	t.Setenv(agentops.RunnerTokenEnv, "tok")
	_, _, err = execute(t, "", "runner", "--server-url", "http://127.0.0.1:1", "--session-id", "s1", "--agent", "nope")
	wantErrContains(t, err, "known agents: claude-code, codex, opencode, script")

	_, _, err = execute(t, "", "runner", "--server-url", "http://127.0.0.1:1", "--session-id", "s1",
		"--workspace", "/definitely/not/here")
	wantErrContains(t, err, "--workspace")

	_, _, err = execute(t, "", "runner", "--server-url", "ftp://x", "--session-id", "s1")
	wantErrContains(t, err, "scheme must be http or https")
}

// The command connects, answers a prompt with the script agent and exits
// cleanly when the server says stop.
func TestRunnerCommandServesASession(t *testing.T) {
	isolateEnv(t)
	ws := t.TempDir()
	t.Chdir(ws) // restored after the test: the command changes directory
	t.Setenv(agentops.RunnerTokenEnv, "tok")

	reply := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/sessions/s1/ws" || r.URL.Query().Get("token") != "tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		send := func(f protocol.ServerFrame) {
			b, _ := json.Marshal(f)
			_ = c.Write(ctx, websocket.MessageText, b)
		}
		zero := int64(0)
		send(protocol.ServerFrame{Type: protocol.SInit, LastSeq: &zero})
		text := ""
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var f protocol.RunnerFrame
			_ = json.Unmarshal(data, &f)
			if f.Seq > 0 {
				send(protocol.ServerFrame{Type: protocol.SAck, Seq: f.Seq})
			}
			switch {
			case f.Type == protocol.RModels:
				send(protocol.ServerFrame{Type: protocol.SPrompt, MessageID: "m1", Content: "hi from the CLI"})
			case f.Type == protocol.RTextDelta:
				text += f.Delta
			case f.Type == protocol.RAgentStatus && f.Status == protocol.AgentIdle && f.MessageID == "m1":
				reply <- text
				send(protocol.ServerFrame{Type: protocol.SStop})
			}
		}
	}))
	defer srv.Close()

	_, stderr, err := execute(t, "", "runner", "--server-url", srv.URL, "--session-id", "s1", "--workspace", ws)
	if err != nil {
		t.Fatalf("runner: %v\n%s", err, stderr)
	}
	select {
	case got := <-reply:
		if got != "You said: hi from the CLI" {
			t.Errorf("reply %q", got)
		}
	default:
		t.Fatal("no turn completed")
	}
	if _, ok := os.LookupEnv(agentops.RunnerTokenEnv); ok {
		t.Error("the token is still in the environment, where agent processes would inherit it")
	}
}
