package app_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

func TestQueueModesThroughSockets(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.SessionTimings.CollectDebounce = 300 * time.Millisecond })
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()

	// Steer: a slow turn is aborted and the steer prompt runs next.
	b.send(map[string]any{"type": "prompt", "content": "slow\n/chunks 50\n/slow 50"})
	b.waitUser("slow\n/chunks 50\n/slow 50")
	b.waitFor("a chunk", typ("chunk"))
	b.send(map[string]any{"type": "prompt", "content": "pending"})
	b.send(map[string]any{"type": "prompt", "content": "steer now", "queueMode": "steer"})
	msgs := s.waitTranscript(id, func(m []message) bool {
		return len(m) == 6 && len(partsOfType(m[5], "finish")) == 1
	})
	got := []string{}
	for _, m := range msgs {
		got = append(got, m.Role+":"+m.Content)
	}
	if got[0] != "user:slow\n/chunks 50\n/slow 50" || partsOfType(msgs[1], "finish")[0]["reason"] != "canceled" ||
		got[2] != "user:steer now" || got[3] != "assistant:You said: steer now" || got[4] != "user:pending" || got[5] != "assistant:You said: pending" {
		t.Fatalf("steer order: %q", got)
	}

	// Collect: prompts within the debounce become one turn.
	b.send(map[string]any{"type": "prompt", "content": "one", "queueMode": "collect"})
	b.send(map[string]any{"type": "prompt", "content": "two", "queueMode": "collect"})
	msgs = s.waitTranscript(id, func(m []message) bool { return len(m) == 9 && len(partsOfType(m[8], "finish")) == 1 })
	if msgs[6].Content != "one" || msgs[7].Content != "two" || msgs[8].Content != "You said: one\n\n---\n\ntwo" {
		t.Fatalf("collect: %q %q %q", msgs[6].Content, msgs[7].Content, msgs[8].Content)
	}

	// clear-queue drops what waits.
	b.send(map[string]any{"type": "prompt", "content": "busy\n/chunks 20\n/slow 50"})
	b.waitUser("busy\n/chunks 20\n/slow 50")
	b.waitFor("a chunk", typ("chunk"))
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "dropped"}, 200, nil)
	var cleared struct{ Cleared int }
	s.mustJSON("POST", "/api/sessions/"+id+"/clear-queue", s.token, nil, 200, &cleared)
	if cleared.Cleared != 1 {
		t.Fatalf("clear-queue: %+v", cleared)
	}
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerBusy"] == false })
	for _, m := range s.messages(id) {
		if m.Content == "dropped" {
			t.Fatal("a cleared prompt must never run")
		}
	}
	// interrupt with no content only aborts.
	b.send(map[string]any{"type": "prompt", "content": "busy again\n/chunks 50\n/slow 50"})
	b.waitUser("busy again\n/chunks 50\n/slow 50")
	b.waitFor("a chunk", typ("chunk"))
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"interrupt": true}, 200, nil)
	msgs = s.waitTranscript(id, func(m []message) bool {
		last := m[len(m)-1]
		return last.Role == "assistant" && len(partsOfType(last, "finish")) == 1
	})
	if partsOfType(msgs[len(msgs)-1], "finish")[0]["reason"] != "canceled" {
		t.Fatalf("interrupt: %+v", msgs[len(msgs)-1])
	}
}

func TestQuestionsThroughSockets(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.SessionTimings.QuestionTTL = 2 * time.Second })
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()
	b.send(map[string]any{"type": "prompt", "content": "/ask Pick a color | red | blue"})
	ip := b.waitFor("interactive_prompt", typ("interactive_prompt"))
	p := ip["prompt"].(map[string]any)
	exp := int64(p["expiresAt"].(float64))
	if now := time.Now().UnixMilli(); exp < now || exp > now+3000 {
		t.Fatalf("expiresAt is epoch milliseconds: %d (now %d)", exp, time.Now().UnixMilli())
	}
	b.send(map[string]any{"type": "answer", "questionId": p["id"], "answer": "option_1"})
	b.waitFor("resolved", typ("interactive_prompt_resolved"))
	msgs := s.waitTranscript(id, func(m []message) bool { return len(m) == 2 && len(partsOfType(m[1], "finish")) == 1 })
	if msgs[1].Content != "You answered: blue" {
		t.Fatalf("answered: %q", msgs[1].Content)
	}
	// Nobody answers: after the TTL the agent hears __expired__.
	b.send(map[string]any{"type": "prompt", "content": "/ask Anyone?"})
	b.waitFor("interactive_prompt", typ("interactive_prompt"))
	b.waitFor("expired", typ("interactive_prompt_expired"))
	msgs = s.waitTranscript(id, func(m []message) bool { return len(m) == 4 && len(partsOfType(m[3], "finish")) == 1 })
	if msgs[3].Content != "The question expired." {
		t.Fatalf("expired: %q", msgs[3].Content)
	}
	// Answering an unknown question is an error frame.
	b.send(map[string]any{"type": "answer", "questionId": "nope", "answer": "x"})
	b.waitFor("error", typ("error"))
}

func TestRevertThroughSockets(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()
	for _, p := range []string{"first", "second"} {
		b.send(map[string]any{"type": "prompt", "content": p})
		b.turnDone()
	}
	msgs := s.messages(id)
	b.send(map[string]any{"type": "revert", "messageId": msgs[2].ID})
	rm := b.waitFor("messages.removed", typ("messages.removed"))
	if ids := rm["messageIds"].([]any); len(ids) != 2 || ids[0] != msgs[2].ID || ids[1] != msgs[3].ID {
		t.Fatalf("removed: %v", rm)
	}
	if after := s.messages(id); len(after) != 2 || after[1].Content != "You said: first" {
		t.Fatalf("after revert: %+v", after)
	}
}

func TestIdleHibernateWakeAndRunnerRespawn(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) {
		c.SessionTimings.IdleTimeout = 1500 * time.Millisecond
		c.SessionTimings.RunnerLost = 1 * time.Second
		c.SessionTimings.RevertGrace = 200 * time.Millisecond
	})
	id := s.createSession(nil).Session.ID
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	// Idle: hibernated by itself; a prompt wakes it and runs.
	s.waitStatus(id, func(st map[string]any) bool { return st["status"] == "hibernated" })
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "good morning"}, 200, nil)
	s.waitTranscript(id, func(m []message) bool {
		return len(m) == 2 && m[1].Content == "You said: good morning" && len(partsOfType(m[1], "finish")) == 1
	})

	// The runner dies: after RunnerLost a new one is started, and the
	// session carries on.
	pid := runnerPID(t, s.cfg.DataDir, id)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerConnected"] == false })
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	if pid2 := runnerPID(t, s.cfg.DataDir, id); pid2 == pid {
		t.Fatal("a new runner process must have been started")
	}
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "still here"}, 200, nil)
	s.waitTranscript(id, func(m []message) bool { return len(m) == 4 && m[3].Content == "You said: still here" })
}

// runnerPID finds the runner process of a session.
func runnerPID(t *testing.T, dataDir, id string) int {
	t.Helper()
	var found int
	eventually.True(t, 10*time.Second, "the runner process", func() bool {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			var pid int
			if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			cl := strings.ReplaceAll(string(b), "\x00", " ")
			if strings.Contains(cl, " runner ") && strings.Contains(cl, id) && strings.Contains(cl, dataDir) {
				if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
					found = pid
					return true
				}
			}
		}
		return false
	})
	return found
}

// waitUser waits for the user message with content to be dispatched.
func (w *wsClient) waitUser(content string) {
	w.t.Helper()
	w.waitFor("user message "+content, func(f map[string]any) bool {
		d := statusData(f)
		return f["type"] == "message" && d["role"] == "user" && d["content"] == content
	})
}
