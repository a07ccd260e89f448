package tools_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentops/agentops/app/runner/tools"
)

// startMCP runs ServeMCP over pipes and returns a client session.
func startMCP(t testing.TB, socket string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cr, sw := io.Pipe() // server → client
	sr, cw := io.Pipe() // client → server
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tools.ServeMCP(ctx, sr, sw, socket, "test")
	}()
	cl := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil)
	cs, err := cl.Connect(ctx, &mcp.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.Close()
		cancel()
		_ = sr.Close()
		_ = cr.Close()
		<-done
	})
	return cs
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tools-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// The server lists exactly the six tools, forwards a call with its
// arguments to the runner's socket and returns the runner's answer;
// concurrent calls each get their own answer.
func TestToolsForwardToTheRunner(t *testing.T) {
	sock := socketPath(t)
	got := make(chan string, 10)
	b, err := tools.Listen(sock, tools.HandlerFunc(func(ctx context.Context, tool string, args json.RawMessage) tools.Result {
		got <- tool + " " + string(args)
		if tool == tools.MemoryDelete {
			return tools.Errorf("refused")
		}
		return tools.Result{Text: "ran " + tool}
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); b.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st, err)
	}

	cs := startMCP(t, sock)
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "ask_user,memory_delete,memory_patch,memory_read,memory_search,memory_write" {
		t.Fatalf("tools %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "memory_write", Arguments: map[string]any{"path": "a.md", "content": "x"}})
	if err != nil || res.IsError || text(res) != "ran memory_write" {
		t.Fatalf("call: %+v %v", res, err)
	}
	if g := <-got; g != `memory_write {"content":"x","path":"a.md"}` {
		t.Fatalf("runner got %s", g)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "memory_delete", Arguments: map[string]any{"path": "a.md"}})
	if err != nil || !res.IsError || text(res) != "refused" {
		t.Fatalf("refused call: %+v %v", res, err)
	}
	<-got
	// An unknown tool is an error, not a call to the runner.
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "rm_rf"}); err == nil && !res.IsError {
		t.Fatalf("unknown tool: %+v", res)
	}
}

// The runner's socket is down: the call is a tool error at once, not a
// hang; once the runner listens again, calls work.
func TestRunnerSocketDown(t *testing.T) {
	sock := socketPath(t)
	cs := startMCP(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "memory_read", Arguments: map[string]any{"path": "a.md"}})
	if err != nil || !res.IsError || !strings.Contains(text(res), "not reachable") {
		t.Fatalf("call with the socket down: %+v %v", res, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}

	b, err := tools.Listen(sock, tools.HandlerFunc(func(ctx context.Context, tool string, args json.RawMessage) tools.Result {
		if tool == tools.AskUser {
			<-ctx.Done() // a question nobody answers while the runner goes away
		}
		return tools.Result{Text: "ok"}
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); b.Serve(sctx) }()
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "memory_read", Arguments: map[string]any{"path": "a.md"}})
	if err != nil || res.IsError || text(res) != "ok" {
		t.Fatalf("call after the runner came back: %+v %v", res, err)
	}
	// The runner stops during a call: a tool error, not a hang.
	go func() { time.Sleep(200 * time.Millisecond); stop() }()
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask_user", Arguments: map[string]any{"question": "?"}})
	<-served
	if err != nil || !res.IsError || !strings.Contains(text(res), "not reachable") {
		t.Fatalf("call cut by the runner's exit: %+v %v", res, err)
	}
}

// Malformed JSON-RPC from an agent gets a JSON-RPC error and the server
// goes on serving.
func TestMalformedRequests(t *testing.T) {
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tools.ServeMCP(ctx, sr, sw, socketPath(t), "test") }()
	t.Cleanup(func() { cancel(); _ = cw.Close(); _ = cr.Close(); <-done })
	lines := bufio.NewScanner(cr)
	send := func(s string) map[string]any {
		t.Helper()
		if _, err := io.WriteString(cw, s+"\n"); err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() {
			t.Fatalf("no reply to %s", s)
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("reply %s: %v", lines.Bytes(), err)
		}
		return m
	}
	init := send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if init["result"] == nil {
		t.Fatalf("initialize: %v", init)
	}
	if _, err := io.WriteString(cw, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if m := send(`{"jsonrpc":"2.0","id":2,"method":"no/such/method"}`); m["error"] == nil {
		t.Fatalf("unknown method: %v", m)
	}
	if m := send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"memory_write","arguments":"not an object"}}`); m["error"] == nil && m["result"].(map[string]any)["isError"] != true {
		t.Fatalf("bad arguments: %v", m)
	}
	if m := send(`{this is not json`); m["error"] == nil {
		t.Fatalf("unparseable line: %v", m)
	}
	if m := send(`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`); m["result"] == nil {
		t.Fatalf("the server stopped after bad requests: %v", m)
	}
}

// BenchmarkToolCall measures one tool call through the MCP server and the
// runner's socket (the handler answers at once): the overhead agentops
// adds to a memory call before the server's RPC.
func BenchmarkToolCall(b *testing.B) {
	dir, err := os.MkdirTemp("", "tools-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	sock := filepath.Join(dir, "s.sock")
	br, err := tools.Listen(sock, tools.HandlerFunc(func(ctx context.Context, tool string, args json.RawMessage) tools.Result {
		return tools.Result{Text: "ok"}
	}), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); br.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	cs := startMCP(b, sock)
	args := map[string]any{"path": "notes/a.md"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "memory_read", Arguments: args}); err != nil {
			b.Fatal(err)
		}
	}
}
