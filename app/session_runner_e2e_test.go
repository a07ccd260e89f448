package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner"
	"github.com/agentops/agentops/app/runner/agent/script"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

var tokenRE = regexp.MustCompile(`AGENTOPS_RUNNER_TOKEN='?([A-Za-z0-9_]+)'?`)

// externalSession creates a session whose runner the test starts itself.
func externalSession(t *testing.T, s *server) (id, token string) {
	t.Helper()
	c := s.createSession(nil)
	if c.Runner == nil {
		t.Fatal("an external session returns its runner command")
	}
	t.Logf("runner command: %s", c.Runner.Command)
	m := tokenRE.FindStringSubmatch(c.Runner.Command)
	if m == nil {
		t.Fatalf("no token in %q", c.Runner.Command)
	}
	return c.Session.ID, m[1]
}

// startRunner runs a script-agent runner in this process.
func startRunner(t *testing.T, s *server, id, token string) (stop func(), done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() {
		ch <- runner.Run(ctx, runner.Config{ServerURL: s.url, SessionID: id, Token: token, Agent: script.New(),
			Workspace: t.TempDir(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	}()
	t.Cleanup(cancel)
	return cancel, ch
}

func TestRunnerReplacement(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id, token := externalSession(t, s)
	b := s.dial(id, s.token)
	_, first := startRunner(t, s, id, token)
	b.waitReady()
	_, second := startRunner(t, s, id, token)
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("a replaced runner exits cleanly: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first runner must be replaced by the second")
	}
	// The session works through the new runner, and the old socket's close
	// did not mark the runner disconnected.
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	b.send(map[string]any{"type": "prompt", "content": "after replacement"})
	msgs := s.waitTranscript(id, func(m []message) bool { return len(m) == 2 && len(partsOfType(m[1], "finish")) == 1 })
	if msgs[1].Content != "You said: after replacement" {
		t.Fatalf("transcript: %+v", msgs)
	}
	var got struct{ DoStatus map[string]any }
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	if got.DoStatus["runnerConnected"] != true {
		t.Fatalf("runner still connected: %+v", got.DoStatus)
	}
	select {
	case err := <-second:
		t.Fatalf("the second runner must keep running: %v", err)
	default:
	}
}

// rawRunner is a runner socket driven by hand.
type rawRunner struct {
	t *testing.T
	c *websocket.Conn
}

func dialRunner(t *testing.T, s *server, id, token string) *rawRunner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=runner&token=" + token
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &rawRunner{t: t, c: c}
}

func (r *rawRunner) send(raw string) {
	r.t.Helper()
	if err := r.c.Write(context.Background(), websocket.MessageText, []byte(raw)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawRunner) next() map[string]any {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := r.c.Read(ctx)
		if err != nil {
			r.t.Fatalf("runner read: %v", err)
		}
		var f map[string]any
		if err := json.Unmarshal(data, &f); err != nil {
			r.t.Fatalf("server sent non-JSON %q", data)
		}
		if f["type"] == "ack" {
			continue
		}
		return f
	}
}

func TestRunnerProtocolBadInput(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id, token := externalSession(t, s)
	r := dialRunner(t, s, id, token)
	// The handshake, in order: repo-config first, so that the runner sets
	// its workspace up before it reports ready; the permission mode right
	// after init.
	for _, want := range []string{"repo-config", "init", "permission-mode", "opencode-config", "plugin-content"} {
		f := r.next()
		if f["type"] != want {
			t.Fatalf("handshake: got %v, want %s", f["type"], want)
		}
		if want == "init" && (f["lastSeq"] != 0.0 || f["sessionId"] != id) {
			t.Fatalf("init: %v", f)
		}
		if want == "permission-mode" && f["permissionMode"] != "auto" {
			t.Fatalf("permission-mode: %v, want auto (the default)", f)
		}
		if want == "repo-config" {
			if v, ok := f["token"]; !ok || v != nil || f["sessionBranch"] != "agentops/"+id[:8] {
				t.Fatalf("repo-config carries token:null and the session branch: %v", f)
			}
		}
	}
	r.send("{not json")
	if f := r.next(); f["type"] != "error" || f["message"] != "Invalid JSON" {
		t.Fatalf("invalid JSON: %v", f)
	}
	r.send(`{"type":"teleport"}`)
	if f := r.next(); f["type"] != "error" {
		t.Fatalf("unknown type: %v", f)
	}
	r.send(`{"type":"workflow-list","requestId":"r1"}`)
	if f := r.next(); f["type"] != "workflow-list-result" || f["requestId"] != "r1" || f["error"] == nil {
		t.Fatalf("unsupported RPC: %v", f)
	}
	r.send(`{"type":"message.part.text-delta","turnId":"nope","delta":"x"}`)
	if f := r.next(); f["type"] != "error" {
		t.Fatalf("delta for an unknown turn: %v", f)
	}
	r.send(`{"type":"ping"}`)
	if f := r.next(); f["type"] != "pong" {
		t.Fatalf("the socket stays up after bad frames: %v", f)
	}
	// Frames are acknowledged after they are written, and a replay of an
	// acknowledged frame changes nothing.
	r.send(`{"type":"agentStatus","status":"idle","seq":1}`)
	// An assistant message belongs to a running prompt.
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "go"}, 200, nil)
	r.send(`{"type":"message.create","turnId":"T1","seq":2}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := r.c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		_ = json.Unmarshal(data, &f)
		if f["type"] == "ack" && f["seq"] == 2.0 {
			break
		}
	}
	r.send(`{"type":"message.create","turnId":"T1","seq":2}`)
	r.send(`{"type":"message.part.text-delta","turnId":"T1","delta":"once","seq":3}`)
	r.send(`{"type":"message.part.text-delta","turnId":"T1","delta":"once","seq":3}`)
	r.send(`{"type":"message.finalize","turnId":"T1","reason":"end_turn","seq":4}`)
	eventually.NoError(t, 10*time.Second, "the replayed turn", func() error {
		msgs := s.messages(id)
		if len(msgs) == 2 && len(partsOfType(msgs[1], "finish")) == 1 {
			if msgs[1].Content != "once" {
				t.Fatalf("replayed frames must not apply twice: %q", msgs[1].Content)
			}
			return nil
		}
		if len(msgs) > 2 {
			t.Fatalf("transcript: %+v", msgs)
		}
		return fmt.Errorf("transcript: %+v", msgs)
	})
	// An oversized frame closes the socket with 1009.
	_ = r.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping","x":"`+strings.Repeat("y", 2<<20)+`"}`))
	var err error
	for err == nil {
		_, _, err = r.c.Read(ctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized runner frame: %v", err)
	}
}

func TestBrowserThatNeverReadsDoesNotSlowOthers(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	fast := s.dial(id, s.token)
	fast.waitReady()
	s.dialUnread(id) // a socket that is opened and never read from

	prompt := strings.Repeat("abcdefghij", 3000)
	fast.send(map[string]any{"type": "prompt", "content": prompt + "\n/chunks 30000"})
	fast.turnDone()
	msgs := s.messages(id)
	if len(msgs) != 2 || msgs[1].Content != "You said: "+prompt {
		t.Fatalf("the reading browser's session completed the turn: %d messages", len(msgs))
	}
	// Every delta reached the reading browser, in order and without gaps
	// (deltas that waited behind a backlog may arrive merged into fewer
	// chunk frames).
	fast.mu.Lock()
	var text strings.Builder
	frames := 0
	for _, f := range fast.all {
		if f["type"] == "chunk" && f["messageId"] == msgs[1].ID {
			if off, _ := f["offset"].(float64); int(off) != text.Len() {
				t.Errorf("chunk at offset %v, want %d", f["offset"], text.Len())
			}
			text.WriteString(f["content"].(string))
			frames++
		}
	}
	fast.mu.Unlock()
	if text.String() != msgs[1].Content {
		t.Fatalf("the reading browser got %d bytes of text in %d chunks, want all %d", text.Len(), frames, len(msgs[1].Content))
	}
	t.Logf("30000 deltas reached the reading browser in %d chunk frames", frames)
}

// dialUnread opens a browser socket that nobody reads from until the test
// does, closed when the test ends.
func (s *server) dialUnread(id string) *websocket.Conn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=client"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + s.token}})
	if err != nil {
		s.t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	s.t.Cleanup(func() { c.CloseNow() })
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitStatus polls the session's runtime status until ok.
func (s *server) waitStatus(id string, ok func(map[string]any) bool) map[string]any {
	s.t.Helper()
	var status map[string]any
	eventually.NoError(s.t, 20*time.Second, "the session's status", func() error {
		var got struct{ DoStatus map[string]any }
		s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
		if status = got.DoStatus; ok(status) {
			return nil
		}
		return fmt.Errorf("status never matched: %+v", status)
	})
	return status
}

// waitTranscript polls the transcript until ok.
func (s *server) waitTranscript(id string, ok func([]message) bool) []message {
	s.t.Helper()
	var msgs []message
	eventually.NoError(s.t, 20*time.Second, "the transcript", func() error {
		if msgs = s.messages(id); ok(msgs) {
			return nil
		}
		return fmt.Errorf("transcript never matched: %+v", msgs)
	})
	return msgs
}

// TestNULInRunnerFramesIsStored: an agent's output may hold a NUL
// character, which neither database stores; the frame is applied with
// U+FFFD in its place and acknowledged, instead of failing (and being
// replayed) forever.
func TestNULInRunnerFramesIsStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "external")
		id, token := externalSession(t, s)
		r := dialRunner(t, s, id, token)
		for range 4 { // the handshake
			r.next()
		}
		r.send(`{"type":"agentStatus","status":"idle","seq":1}`)
		s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "go"}, 200, nil)
		r.send(`{"type":"message.create","turnId":"T1","seq":2}`)
		r.send(`{"type":"message.part.text-delta","turnId":"T1","delta":"bin\u0000ary","seq":3}`)
		r.send(`{"type":"message.part.tool-update","turnId":"T1","callId":"c1","toolName":"bash","status":"completed","result":"out\u0000put","seq":4}`)
		r.send(`{"type":"message.finalize","turnId":"T1","reason":"end_turn","seq":5}`)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			_, data, err := r.c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var f map[string]any
			_ = json.Unmarshal(data, &f)
			if f["type"] == "ack" && f["seq"] == 5.0 {
				break
			}
		}
		msgs := s.messages(id)
		if len(msgs) != 2 || msgs[1].Content != "bin\uFFFDary" {
			t.Fatalf("transcript: %+v", msgs)
		}
		if raw, _ := json.Marshal(msgs[1].Parts); !strings.Contains(string(raw), "out\uFFFDput") {
			t.Fatalf("tool output: %s", raw)
		}
	})
}

// A browser that stops reading while the agent streams is cut with 4008
// (reload from REST) once its queue is full; the browser that reads gets
// every delta, and the runner's frames are all acknowledged: neither waits
// for the stuck socket.
func TestBrowserThatStopsReadingIsCutWith4008(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id, token := externalSession(t, s)
	r := dialRunner(t, s, id, token)
	reading := s.dial(id, s.token)
	reading.waitFor("init", typ("init"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stuck := s.dialUnread(id)
	s.waitStatus(id, func(st map[string]any) bool { return st["connectedClients"] == 2.0 })

	r.send(`{"type":"agentStatus","status":"idle","seq":1}`)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "go"}, 200, nil)
	r.send(`{"type":"message.create","turnId":"T1","seq":2}`)
	// 64 KB deltas are each a frame of their own (larger than a merged
	// chunk may grow): 24 MB is more than the socket's queue (8 MB) and
	// the kernel's buffers on both ends hold.
	const deltas = 384
	delta := strings.Repeat("x", 64<<10)
	sent := make(chan error, 1)
	go func() {
		for i := range deltas {
			f := fmt.Sprintf(`{"type":"message.part.text-delta","turnId":"T1","delta":%q,"seq":%d}`, delta, i+3)
			if err := r.c.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// The stuck socket is dropped from the session while the runner still
	// streams; read now, it gets what the kernel held for it, then 4008.
	s.waitStatus(id, func(st map[string]any) bool { return st["connectedClients"] == 1.0 })
	var err error
	for {
		if _, _, err = stuck.Read(ctx); err != nil {
			break
		}
	}
	if code := websocket.CloseStatus(err); code != protocol.CloseSlowConsumer {
		t.Fatalf("the browser that stopped reading ended with %d (%v), want %d", code, err, protocol.CloseSlowConsumer)
	}
	if err := <-sent; err != nil {
		t.Fatalf("runner: %v", err)
	}
	last := float64(deltas + 2)
	for {
		_, data, err := r.c.Read(ctx)
		if err != nil {
			t.Fatalf("runner: waiting for the ack of every delta: %v", err)
		}
		var f map[string]any
		_ = json.Unmarshal(data, &f)
		if f["type"] == "ack" && f["seq"] == last {
			break
		}
	}
	got := 0
	for got < deltas*len(delta) {
		f := reading.waitFor("every delta on the reading browser", typ("chunk"))
		if off := int(f["offset"].(float64)); off != got {
			t.Fatalf("chunk at offset %d, want %d", off, got)
		}
		got += len(f["content"].(string))
	}
}
