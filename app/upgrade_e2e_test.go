package app_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/runner"
	"github.com/agentops/agentops/app/runner/agent/script"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestUpgradeRestartsLocalRunnersAfterTheirTurn is an upgrade as systemd
// does it: the "v1" server stops (SIGTERM) in the middle of a streaming
// turn and its runner keeps running; the "v2" server starts on the same
// data. The old runner reconnects, finishes its turn, and is then told to
// restart: the session comes back with a runner of version v2, the old
// process is gone, and the next prompt is answered.
func TestUpgradeRestartsLocalRunnersAfterTheirTurn(t *testing.T) {
	dataDir := t.TempDir()
	p := startProc(t, dataDir, storetest.URL(t, store.SQLite), envCLIVersion+"=v1")
	s := &server{t: t, url: "http://" + p.addr}
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	s.token = reg.SessionToken
	id := s.createSession(nil).Session.ID
	st := s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	if st["runnerVersion"] != "v1" {
		t.Fatalf("runner version before the upgrade: %v", st["runnerVersion"])
	}
	oldPID := sandboxPID(t, st)

	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "long\n/chunks 40\n/slow 75"}, 200, nil)
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerBusy"] == true })
	p.stop()
	if !alive(oldPID) {
		t.Fatal("the runner did not outlive the server")
	}
	p.env = []string{envCLIVersion + "=v2"}
	p.start()

	st = s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerVersion"] == "v2" })
	if pid := sandboxPID(t, st); pid == oldPID {
		t.Fatalf("the sandbox still names the old runner %d", pid)
	}
	msgs := s.messages(id)
	if len(msgs) != 2 || msgs[1].Content != "You said: long" || len(partsOfType(msgs[1], "finish")) != 1 {
		t.Fatalf("the turn the old runner was in: %+v", msgs)
	}
	eventually.True(t, 10*time.Second, "the old runner to exit", func() bool { return !alive(oldPID) })

	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "after"}, 200, nil)
	s.waitTranscript(id, func(m []message) bool { return len(m) == 4 && m[3].Content == "You said: after" })
}

// alive: the process exists and is not a zombie (an orphaned runner is
// reaped by whatever adopted it, which may take its time).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func sandboxPID(t *testing.T, st map[string]any) int {
	t.Helper()
	sb, _ := st["sandboxId"].(string)
	pid, err := strconv.Atoi(strings.TrimPrefix(sb, "local:"))
	if err != nil {
		t.Fatalf("sandboxId %q: %v", sb, err)
	}
	return pid
}

// TestExternalRunnerOfAnotherVersionExits: an external runner that
// reports another version than the server's is told to restart once idle
// and exits with ErrRestart; the same command started again (as its
// supervisor would, now from the current binary) serves the session.
func TestExternalRunnerOfAnotherVersionExits(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id, token := externalSession(t, s)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "queued"}, 200, nil)

	done := make(chan error, 1)
	go func() {
		done <- runner.Run(t.Context(), runner.Config{ServerURL: s.url, SessionID: id, Token: token, Agent: script.New(),
			Workspace: t.TempDir(), Version: "v0-old", ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, runner.ErrRestart) {
			t.Fatalf("the old runner ended with %v, want ErrRestart", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the old runner was not told to restart")
	}
	for _, m := range s.messages(id) {
		if m.Role == "assistant" {
			t.Fatalf("the old runner answered: %+v", m)
		}
	}

	go func() {
		done <- runner.Run(t.Context(), runner.Config{ServerURL: s.url, SessionID: id, Token: token, Agent: script.New(),
			Workspace: t.TempDir(), Version: "test"})
	}()
	s.waitTranscript(id, func(m []message) bool { return len(m) == 2 && m[1].Content == "You said: queued" })
	st := s.waitStatus(id, func(st map[string]any) bool { return st["runnerVersion"] == "test" })
	if st["runnerConnected"] != true {
		t.Fatal(fmt.Sprint("status: ", st))
	}
}
