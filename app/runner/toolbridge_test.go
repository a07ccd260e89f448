package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/tools"
)

// The runner answers its agent's tool calls: a call missing an argument
// is a tool error without any RPC; a memory call becomes a mem-* RPC
// whose refusal is a tool error the model reads; ask_user becomes a
// question frame whose answer is the result (and does not reach the
// agent's own Answer); an expired question is "no answer".
func TestToolCalls(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	dir, err := os.MkdirTemp("", "runner-tools-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cfg.ToolSocket = filepath.Join(dir, "t.sock")
	cfg.ToolWaits = &tools.Waits{}
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	cl := &tools.Client{Path: cfg.ToolSocket}
	t.Cleanup(func() { _ = cl.Close() })
	ctx := context.Background()

	for _, bad := range []struct{ tool, args, want string }{
		{tools.MemoryWrite, `{"content":"x"}`, `needs "path"`},
		{tools.MemoryWrite, `{"path":"a.md"}`, `needs "content"`},
		{tools.MemorySearch, `{"query":" "}`, `needs "query"`},
		{tools.AskUser, `{}`, `needs "question"`},
		{tools.MemoryRead, `"not an object"`, "invalid arguments"},
		{"memory_format", `{}`, "unknown tool"},
	} {
		res, err := cl.Call(ctx, bad.tool, json.RawMessage(bad.args))
		if err != nil || !res.IsError || !strings.Contains(res.Text, bad.want) {
			t.Errorf("%s %s: %+v %v", bad.tool, bad.args, res, err)
		}
	}

	type callResult struct {
		res tools.Result
		err error
	}
	call := func(tool, args string) <-chan callResult {
		ch := make(chan callResult, 1)
		go func() {
			res, err := cl.Call(ctx, tool, json.RawMessage(args))
			ch <- callResult{res, err}
		}()
		return ch
	}
	got := call(tools.MemoryWrite, `{"path":"a.md","content":"hello"}`)
	f := c.until(func(f rframe) bool { return f.Type == protocol.RMemWrite })[0]
	if f.Path != "a.md" || f.Content != "hello" || f.RequestID == "" {
		t.Fatalf("mem-write frame %s", f.raw)
	}
	c.send(protocol.ServerFrame{Type: "mem-write-result", RequestID: f.RequestID, Error: "memory file too large"})
	if r := <-got; r.err != nil || !r.res.IsError || !strings.Contains(r.res.Text, "memory file too large") {
		t.Fatalf("refused write: %+v", r)
	}

	got = call(tools.AskUser, `{"question":"Which?","options":["a","b"]}`)
	q := c.until(func(f rframe) bool { return f.Type == protocol.RQuestion })[0]
	if q.Text != "Which?" || len(q.Options) != 2 || q.QuestionID == "" {
		t.Fatalf("question frame %s", q.raw)
	}
	c.send(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: q.QuestionID, Answer: "b"})
	if r := <-got; r.err != nil || r.res.IsError || r.res.Text != "b" {
		t.Fatalf("answered: %+v", r)
	}
	got = call(tools.AskUser, `{"question":"Anyone?"}`)
	q = c.until(func(f rframe) bool { return f.Type == protocol.RQuestion })[0]
	c.send(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: q.QuestionID, Answer: "__expired__"})
	if r := <-got; r.err != nil || r.res.Text != tools.NoAnswer {
		t.Fatalf("expired: %+v", r)
	}
}
