package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// connectVersioned attaches a fake runner that reports an agentops version
// in its handshake.
func (h *harness) connectVersioned(id, version string) *runner {
	h.t.Helper()
	c := newConn("")
	sock, err := h.m.AttachVersionedRunner(context.Background(), id, c, version)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &runner{h: h, sock: sock, c: c}
	init := ofType(c.take(), "init")
	if len(init) != 1 {
		h.t.Fatal("no init")
	}
	r.seq = int64(init[0]["lastSeq"].(float64))
	return r
}

func (c *conn) closeCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// TestOutdatedRunnerRestartsAfterItsTurn: after an upgrade, a runner of
// the old version that reconnects in the middle of a turn finishes it;
// once it is idle the server closes it with CloseRestart and starts a new
// one (local sandbox) instead of giving it the next prompt, which the new
// runner gets. A runner of the server's version, or one that reports none
// (upstream's), is left alone.
func TestOutdatedRunnerRestartsAfterItsTurn(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		h.m.Shutdown(context.Background())
		h.m = session.NewManager(h.st, nil, h.sb, session.Config{
			RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
			FlushInterval: time.Hour, Version: "v2",
		}, nil)
		t.Cleanup(func() { h.m.Shutdown(context.Background()) })
		id := h.create()

		cur := h.connectVersioned(id, "v2")
		cur.ready()
		h.prompt(id, "long", "")
		p := cur.prompts()
		if len(p) != 1 {
			t.Fatalf("prompts to the current runner: %v", p)
		}
		long := p[0]["messageId"].(string)

		// The old runner comes back mid-turn (it owes its ready signal
		// until the turn is done); a prompt waits behind the turn.
		old := h.connectVersioned(id, "v1")
		h.prompt(id, "next", "")
		old.turn(long, "done")
		if code := old.c.closeCode(); code != 0 || h.sb.count("restore") != 0 {
			t.Fatalf("runner closed (%d) or restarted (%d) before it was idle", code, h.sb.count("restore"))
		}
		old.ready() // the turn is done: the owed ready signal
		if code := old.c.closeCode(); code != protocol.CloseRestart {
			t.Fatalf("old runner closed with %d, want %d", code, protocol.CloseRestart)
		}
		if n := h.sb.count("restore"); n != 1 {
			t.Fatalf("%d restores, want 1", n)
		}
		if p := old.prompts(); len(p) != 0 {
			t.Fatalf("the old runner got prompts after its turn: %v", p)
		}

		// The runner started from the current binary takes the prompt.
		fresh := h.connectVersioned(id, "v2")
		fresh.ready()
		p = fresh.prompts()
		if len(p) != 1 || p[0]["content"] != "next" {
			t.Fatalf("prompts to the new runner: %v", p)
		}
		_, rs, err := h.m.Status(context.Background(), h.user.ID, id)
		if err != nil || rs.RunnerVersion != "v2" || !rs.RunnerConnected {
			t.Fatalf("status: %+v %v", rs, err)
		}
		fresh.turn(p[0]["messageId"].(string), "ok")
		if code := fresh.c.closeCode(); code != 0 || h.sb.count("restore") != 1 {
			t.Fatalf("current runner closed (%d) or restarted (%d)", code, h.sb.count("restore"))
		}

		// Upstream's runner reports no version: never asked to restart.
		up := h.connectRunner(id)
		up.ready()
		if code := up.c.closeCode(); code != 0 || h.sb.count("restore") != 1 {
			t.Fatalf("unversioned runner closed (%d) or restarted (%d)", code, h.sb.count("restore"))
		}
	})
}

// TestRestartAskedOnce: a replacement that still reports another version
// (the local sandbox runs another binary than the server) is kept, not
// restarted in a loop.
func TestRestartAskedOnce(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		h.m.Shutdown(context.Background())
		h.m = session.NewManager(h.st, nil, h.sb, session.Config{
			RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
			FlushInterval: time.Hour, Version: "v2",
		}, nil)
		t.Cleanup(func() { h.m.Shutdown(context.Background()) })
		id := h.create()
		first := h.connectVersioned(id, "v1")
		first.ready()
		if first.c.closeCode() != protocol.CloseRestart {
			t.Fatal("an idle outdated runner is asked to restart")
		}
		second := h.connectVersioned(id, "v1")
		second.ready()
		h.prompt(id, "p", "")
		if code := second.c.closeCode(); code != 0 || h.sb.count("restore") != 1 {
			t.Fatalf("second runner closed (%d), restores %d", code, h.sb.count("restore"))
		}
		if p := second.prompts(); len(p) != 1 {
			t.Fatalf("the kept runner gets the prompt: %v", p)
		}
	})
}
