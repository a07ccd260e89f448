package session_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agentops/agentops/app/memory"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// sendRaw sends a frame with an explicit seq (a replay).
func (r *runner) sendRaw(f map[string]any) {
	b, _ := json.Marshal(f)
	r.sock.Frame(b)
	r.h.sync()
}

// TestMemoryRPCsAppliedOnce: mem-* frames are answered with their
// -result after the change is committed with the frame's seq, so a
// frame the runner replays after a reconnect is acknowledged without
// being applied again.
func TestMemoryRPCsAppliedOnce(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		mem := memory.New(st, memory.Config{})
		h.m = session.NewManager(st, nil, h.sb, session.Config{
			RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
			FlushInterval: time.Hour, RPCs: mem.RPCs(),
		}, nil)
		t.Cleanup(func() { h.m.Shutdown(context.Background()) })
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		r.c.take()

		r.send("mem-write", map[string]any{"requestId": "w1", "path": "notes/log.md", "content": "start"})
		r.send("mem-patch", map[string]any{"requestId": "p1", "path": "notes/log.md",
			"operations": []map[string]any{{"op": "append", "content": "\nonce"}}})
		patchSeq := r.seq
		got := r.c.take()
		res := ofType(got, "mem-patch-result")
		if len(res) != 1 || res[0]["requestId"] != "p1" || res[0]["result"].(map[string]any)["content"] != "start\nonce" {
			t.Fatalf("patch result: %v", got)
		}
		if acks := ofType(got, "ack"); len(acks) == 0 || int64(acks[len(acks)-1]["seq"].(float64)) != patchSeq {
			t.Fatalf("the RPC's seq is acknowledged with its result: %v", got)
		}

		// A new connection: init says the patch was persisted; a replay of
		// it changes nothing and gets no second result.
		r2 := h.connectRunner(id)
		if r2.seq != patchSeq {
			t.Fatalf("lastSeq %d, want %d", r2.seq, patchSeq)
		}
		r2.sendRaw(map[string]any{"type": "mem-patch", "seq": patchSeq, "requestId": "p1", "path": "notes/log.md",
			"operations": []map[string]any{{"op": "append", "content": "\nonce"}}})
		if got := ofType(r2.c.take(), "mem-patch-result"); len(got) != 0 {
			t.Fatalf("a replay was answered again: %v", got)
		}
		f, _, err := mem.Read(context.Background(), h.user.ID, "notes/log.md")
		if err != nil || f.Content != "start\nonce" || f.Version != 2 {
			t.Fatalf("after the replay: %+v %v", f, err)
		}

		// Bad input: an error result, the session goes on.
		r2.send("mem-write", map[string]any{"requestId": "bad", "path": "../", "content": "x"})
		r2.send("mem-search", map[string]any{"requestId": "s1", "query": "start"})
		got = r2.c.take()
		if e := ofType(got, "mem-write-result"); len(e) != 1 || e[0]["error"] == nil || e[0]["file"] != nil {
			t.Fatalf("bad path: %v", got)
		}
		if s := ofType(got, "mem-search-result"); len(s) != 1 || len(s[0]["results"].([]any)) != 1 {
			t.Fatalf("search: %v", got)
		}
		// Other RPCs are still answered as unsupported.
		r2.send("workflow-list", map[string]any{"requestId": "wf"})
		if u := ofType(r2.c.take(), "workflow-list-result"); len(u) != 1 || u[0]["error"] == nil {
			t.Fatalf("unsupported RPC: %v", u)
		}
	})
}
