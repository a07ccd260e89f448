package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// A failed turn's error frame names the stored system message (upstream's
// client adds a message under that id), never the prompt's message, and the
// stored text has upstream's "Error: " prefix.
func TestErrorFrameNamesTheStoredMessage(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		b := h.browser(id)
		h.prompt(id, "fail please", "")
		prompt := r.prompts()[0]["messageId"].(string)
		b.take()
		r.send("error", map[string]any{"messageId": prompt, "error": "model overloaded"})
		frames := b.take()
		errs := ofType(frames, "error")
		if len(errs) != 1 {
			t.Fatalf("one error frame: %v", frames)
		}
		if errs[0]["messageId"] == prompt {
			t.Fatal("the error frame must not carry the prompt's messageId (that message exists: a duplicate key)")
		}
		msgs, err := h.m.Messages(context.Background(), h.user.ID, id, store.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		last := msgs[len(msgs)-1]
		if last.Role != "system" || last.Content != "Error: model overloaded" {
			t.Fatalf("stored error message: %s %q", last.Role, last.Content)
		}
		if errs[0]["messageId"] != last.ID || errs[0]["error"] != "model overloaded" {
			t.Fatalf("the error frame names the stored message %s: %v", last.ID, errs[0])
		}
		if m := ofType(frames, "message"); len(m) != 1 || m[0]["data"].(map[string]any)["id"] != last.ID {
			t.Fatalf("the message frame carries the same id: %v", m)
		}
	})
}

// doStatus.runningStartedAt is the start of the current running period in
// epoch milliseconds (as upstream sends it), and the session's
// activeSeconds sums the periods that ended: upstream's client shows their
// sum as the session's duration.
func TestActiveSecondsAndRunningStartedAt(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		ctx := context.Background()
		start := h.clock.Now()
		id := h.create()
		h.clock.Advance(90 * time.Second)
		sess, rs, err := h.m.Status(ctx, h.user.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if rs.RunningStartedAt == nil || *rs.RunningStartedAt != start.UnixMilli() || sess.ActiveSeconds != 0 {
			t.Fatalf("running since creation: runningStartedAt %v (want %d), activeSeconds %d", rs.RunningStartedAt, start.UnixMilli(), sess.ActiveSeconds)
		}
		if _, err := h.m.Hibernate(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		sess, rs, _ = h.m.Status(ctx, h.user.ID, id)
		if rs.RunningStartedAt != nil || sess.ActiveSeconds != 90 {
			t.Fatalf("hibernated: runningStartedAt %v, activeSeconds %d (want null, 90)", rs.RunningStartedAt, sess.ActiveSeconds)
		}
		h.clock.Advance(time.Hour) // hibernated time does not count
		if _, err := h.m.Wake(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		woke := h.clock.Now()
		_, rs, _ = h.m.Status(ctx, h.user.ID, id)
		if rs.RunningStartedAt == nil || *rs.RunningStartedAt != woke.UnixMilli() {
			t.Fatalf("awake: runningStartedAt %v, want %d", rs.RunningStartedAt, woke.UnixMilli())
		}
		h.clock.Advance(30 * time.Second)
		if err := h.m.Terminate(ctx, h.user.ID, id, "user_stopped"); err != nil {
			t.Fatal(err)
		}
		stored, err := st.Sessions().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ActiveSeconds != 120 || !stored.RunningStartedAt.IsZero() {
			t.Fatalf("terminated: stored activeSeconds %d (want 120), running_started_at %v", stored.ActiveSeconds, stored.RunningStartedAt)
		}
		if _, rs, _ = h.m.Status(ctx, h.user.ID, id); rs.RunningStartedAt != nil {
			t.Fatalf("a terminated session has no running period: %v", *rs.RunningStartedAt)
		}
	})
}

// A runner cannot start an assistant message while no prompt is running
// (nothing would finish it: it stayed streaming for good), and a frame with
// an explicit seq of 0 or below is refused (it slipped past duplicate
// detection). Frames without seq stay accepted.
func TestRunnerFramesRefusedOutsideATurnOrWithoutAPositiveSeq(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		r.c.take()
		r.send("message.create", map[string]any{"turnId": "stray"})
		if errs := ofType(r.c.take(), "error"); len(errs) != 1 {
			t.Fatalf("message.create while idle: want an error frame, got %v", errs)
		}
		if got := h.transcript(id); len(got) != 0 {
			t.Fatalf("no message while no prompt runs: %v", got)
		}

		h.prompt(id, "go", "")
		msgID := r.prompts()[0]["messageId"].(string)
		for _, seq := range []int{0, -5} {
			raw, _ := json.Marshal(map[string]any{"type": "message.create", "turnId": fmt.Sprint("t", seq), "seq": seq})
			r.sock.Frame(raw)
			h.sync()
			if errs := ofType(r.c.take(), "error"); len(errs) != 1 {
				t.Fatalf("seq %d: want an error frame, got %v", seq, errs)
			}
		}
		if got := h.transcript(id); len(got) != 1 {
			t.Fatalf("frames with seq <= 0 change nothing: %v", got)
		}
		// Upstream's runner sends no seq at all: accepted.
		r.sock.Frame([]byte(`{"type":"message.create","turnId":"noseq"}`))
		r.sock.Frame([]byte(`{"type":"message.part.text-delta","turnId":"noseq","delta":"hi"}`))
		r.sock.Frame([]byte(`{"type":"message.finalize","turnId":"noseq","reason":"end_turn"}`))
		r.sock.Frame([]byte(`{"type":"complete","messageId":"` + msgID + `"}`))
		h.sync()
		if got := strings.Join(h.transcript(id), "|"); got != "user:go|assistant:hi" {
			t.Fatalf("frames without seq: %s", got)
		}
	})
}

// A browser's socket stays open when its session ends, and a socket opened
// to an ended session gets an init that says so and stays open (upstream's
// client reconnected about once a second, forever, to a socket closed with
// 4004). Deleting the session, or shutting down, closes them.
func TestBrowserSocketsOfEndedSessionsStayOpen(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		ctx := context.Background()
		id := h.create()
		watching := newConn(h.user.ID)
		wsock, err := h.m.AttachClient(ctx, h.user, id, watching)
		if err != nil {
			t.Fatal(err)
		}
		watching.take()
		if err := h.m.Terminate(ctx, h.user.ID, id, "user_stopped"); err != nil {
			t.Fatal(err)
		}
		st0 := ofType(watching.take(), "status")
		if len(st0) != 1 || st0[0]["data"].(map[string]any)["status"] != "terminated" {
			t.Fatalf("the watching browser hears of the end: %v", st0)
		}
		if watching.closed != 0 {
			t.Fatalf("the watching browser's socket stays open, closed with %d", watching.closed)
		}
		wsock.Frame([]byte(`{"type":"ping"}`))
		if len(ofType(watching.take(), "pong")) != 1 {
			t.Fatal("ping gets pong after the end")
		}

		late := newConn(h.user.ID)
		lsock, err := h.m.AttachClient(ctx, h.user, id, late)
		if err != nil {
			t.Fatalf("a socket to an ended session is taken: %v", err)
		}
		frames := late.take()
		if len(frames) == 0 || frames[0]["type"] != "init" {
			t.Fatalf("the first frame is init: %v", frames)
		}
		sess := frames[0]["session"].(map[string]any)
		data := frames[0]["data"].(map[string]any)
		if sess["status"] != "terminated" || sess["id"] != id || data["runnerConnected"] != false || data["runnerBusy"] != false ||
			data["sandboxRunning"] != false || data["connectedClients"] != 2.0 {
			t.Fatalf("init of an ended session: %v", frames[0])
		}
		if len(ofType(frames, "models")) != 1 {
			t.Fatalf("models follow init: %v", frames)
		}
		lsock.Frame([]byte(`{"type":"prompt","content":"too late"}`))
		if errs := ofType(late.take(), "error"); len(errs) != 1 || errs[0]["message"] != "Session is not active" {
			t.Fatalf("a prompt to an ended session: %v", errs)
		}
		if late.closed != 0 {
			t.Fatalf("stays open, closed with %d", late.closed)
		}
		lsock.Closed()

		// Deleting the session closes what is left with 4004 (the socket
		// route then answers 404).
		res, err := h.m.BulkDelete(ctx, h.user.ID, []string{id})
		if err != nil || res.Deleted != 1 {
			t.Fatalf("bulk delete: %+v %v", res, err)
		}
		if watching.closed != protocol.CloseSessionEnded {
			t.Fatalf("a deleted session's socket closes with 4004, got %d", watching.closed)
		}

		// Shutting down closes the sockets of ended sessions with 1001.
		id2 := h.create()
		if err := h.m.Terminate(ctx, h.user.ID, id2, "user_stopped"); err != nil {
			t.Fatal(err)
		}
		b2 := h.browser(id2)
		h.m.Shutdown(ctx)
		if b2.closed != protocol.CloseGoingAway {
			t.Fatalf("shutdown closes ended sessions' sockets with 1001, got %d", b2.closed)
		}
	})
}

// lastAssistant returns the parts of the newest assistant message.
func lastAssistant(t *testing.T, h *harness, id string) (content string, parts []map[string]any) {
	t.Helper()
	msgs, err := h.m.Messages(context.Background(), h.user.ID, id, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			if err := json.Unmarshal(msgs[i].Parts, &parts); err != nil {
				t.Fatal(err)
			}
			return msgs[i].Content, parts
		}
	}
	t.Fatal("no assistant message")
	return "", nil
}

// checkCut fails unless parts end a turn the runner left unfinished: no
// streaming part, an error part with a note, finish reason error.
func checkCut(t *testing.T, parts []map[string]any) {
	t.Helper()
	n := len(parts)
	if n < 3 || parts[n-1]["type"] != "finish" || parts[n-1]["reason"] != "error" || parts[n-2]["type"] != "error" ||
		!strings.Contains(parts[n-2]["message"].(string), "runner stopped") {
		t.Fatalf("a cut turn ends with an error part and finish reason error: %v", parts)
	}
	for _, p := range parts {
		if p["streaming"] == true {
			t.Fatalf("a cut turn does not stream: %v", parts)
		}
	}
}

// When the local sandbox reports that the runner process died in the
// middle of a turn, a new runner starts at once (not after the runner-lost
// deadline), the half-streamed message is ended (finish reason error, with
// a note) instead of streaming for good, and the prompt runs again.
func TestRunnerExitMidTurnRespawnsAtOnceAndEndsTheCutMessage(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		b := h.browser(id)
		h.prompt(id, "go", "")
		if len(r.prompts()) != 1 {
			t.Fatal("dispatched")
		}
		r.send("message.create", map[string]any{"turnId": "T"})
		r.send("message.part.text-delta", map[string]any{"turnId": "T", "delta": "half a rep"})
		b.take()

		h.m.RunnerExited(id, "local:1", errors.New("an older runner")) // not the session's sandbox
		h.sync()
		if h.sb.count("restore") != 0 {
			t.Fatal("a report about another sandbox changes nothing")
		}

		h.m.RunnerExited(id, "fake", errors.New("signal: killed"))
		h.sync()
		if h.sb.count("restore") != 1 {
			t.Fatal("a runner whose process exited is replaced at once")
		}
		content, parts := lastAssistant(t, h, id)
		if content != "half a rep" {
			t.Fatalf("the cut message keeps its text: %q", content)
		}
		checkCut(t, parts)
		upd := ofType(b.take(), "message.updated")
		if len(upd) == 0 {
			t.Fatal("browsers see the cut message end")
		}
		checkCut(t, func() (out []map[string]any) {
			for _, p := range upd[len(upd)-1]["data"].(map[string]any)["parts"].([]any) {
				out = append(out, p.(map[string]any))
			}
			return out
		}())

		r2 := h.connectRunner(id)
		r2.ready()
		ps := r2.prompts()
		if len(ps) != 1 || ps[0]["content"] != "go" {
			t.Fatalf("the new runner gets the prompt again: %v", ps)
		}
		r2.turn(ps[0]["messageId"].(string), "a whole reply")
		if got := strings.Join(h.transcript(id), "|"); got != "user:go|assistant:half a rep|assistant:a whole reply" {
			t.Fatalf("transcript: %s", got)
		}
	})
}

// A runner whose socket went away (no exit report: an external sandbox, a
// network cut) has its half-streamed message ended when its prompt goes
// back to the queue.
func TestRevertedPromptEndsTheCutMessage(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "go", "")
		r.send("message.create", map[string]any{"turnId": "T"})
		r.send("message.part.text-delta", map[string]any{"turnId": "T", "delta": "cut"})
		r.sock.Closed()
		h.sync()
		h.clock.Advance(5 * time.Second)
		h.sync()
		_, parts := lastAssistant(t, h, id)
		checkCut(t, parts)
	})
}

// partConn is a browser socket that negotiated agentops.v2.
type partConn struct{ *conn }

func (partConn) PartUpdates() bool { return true }

// bytesConn counts the bytes of the message frames a socket gets.
type bytesConn struct {
	*conn
	parts bool
	n     int
}

func (b *bytesConn) PartUpdates() bool { return b.parts }
func (b *bytesConn) Send(p []byte) bool {
	b.n += len(p)
	return true
}

// Browsers that negotiated agentops.v2 get message.part.updated {messageId,
// index, part} for each change of a message being written and
// message.updated only when it is finished; the others (upstream's client)
// get message.updated for every change, as before.
func TestPartUpdatesForV2Browsers(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		ctx := context.Background()
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		v1, v2 := newConn(h.user.ID), partConn{newConn(h.user.ID)}
		var socks []*session.ClientSocket
		for _, c := range []session.Client{v1, v2} {
			sock, err := h.m.AttachClient(ctx, h.user, id, c)
			if err != nil {
				t.Fatal(err)
			}
			socks = append(socks, sock)
		}
		h.prompt(id, "go", "")
		msgID := r.prompts()[0]["messageId"].(string)
		v1.take()
		v2.take()
		r.send("message.create", map[string]any{"turnId": "T"})
		r.send("message.part.text-delta", map[string]any{"turnId": "T", "delta": "look"})
		r.send("message.part.tool-update", map[string]any{"turnId": "T", "callId": "c1", "toolName": "bash", "status": "running", "args": map[string]any{"command": "ls"}})
		r.send("message.part.tool-update", map[string]any{"turnId": "T", "callId": "c1", "toolName": "bash", "status": "completed", "result": "a b"})
		r.send("message.part.tool-update", map[string]any{"turnId": "T", "callId": "c2", "toolName": "read", "status": "running"})
		f1, f2 := v1.take(), v2.take()
		whole := ofType(f1, "message.updated")
		if len(whole) != 3 || len(ofType(f1, "message.part.updated")) != 0 {
			t.Fatalf("upstream's client gets the whole message for each tool update: %v", f1)
		}
		if len(ofType(f2, "message.updated")) != 0 {
			t.Fatalf("a v2 browser gets no whole message before it is finished: %v", f2)
		}
		// A new text part comes first, empty and streaming (its text comes
		// as chunks); applying the part frames gives the parts of the
		// whole message.
		if ps := ofType(f2, "message.part.updated"); len(ps) == 0 || ps[0]["index"] != 0.0 ||
			ps[0]["part"].(map[string]any)["type"] != "text" || ps[0]["part"].(map[string]any)["streaming"] != true {
			t.Fatalf("the new text part is announced before its chunk: %v", ps)
		}
		if len(ofType(f1, "message.part.updated")) != 0 {
			t.Fatal("upstream's client gets no part frames")
		}
		var parts []any
		for _, f := range ofType(f2, "message.part.updated") {
			if f["messageId"] == nil || f["part"] == nil {
				t.Fatalf("part frame: %v", f)
			}
			i := int(f["index"].(float64))
			switch {
			case i < len(parts):
				parts[i] = f["part"]
			case i == len(parts):
				parts = append(parts, f["part"])
			default:
				t.Fatalf("part index %d skips ahead of %d parts", i, len(parts))
			}
		}
		want, _ := json.Marshal(whole[len(whole)-1]["data"].(map[string]any)["parts"])
		got, _ := json.Marshal(parts)
		if string(got) != string(want) {
			t.Fatalf("parts from part frames\n got %s\nwant %s", got, want)
		}
		r.send("message.finalize", map[string]any{"turnId": "T", "reason": "end_turn"})
		r.send("complete", map[string]any{"messageId": msgID})
		if len(ofType(v2.take(), "message.updated")) != 1 || len(ofType(v1.take(), "message.updated")) != 1 {
			t.Fatal("both get the finished message whole")
		}

		for _, sock := range socks { // they decode every frame: slow
			sock.Closed()
		}

		// 100 tool calls with 512-byte results: the whole message each time
		// grows with the turn; the parts do not.
		b1, b2 := &bytesConn{conn: newConn(h.user.ID)}, &bytesConn{conn: newConn(h.user.ID), parts: true}
		for _, c := range []*bytesConn{b1, b2} {
			if _, err := h.m.AttachClient(ctx, h.user, id, c); err != nil {
				t.Fatal(err)
			}
		}
		h.prompt(id, "many tools", "")
		msgID = r.prompts()[0]["messageId"].(string)
		b1.n, b2.n = 0, 0
		r.send("message.create", map[string]any{"turnId": "M"})
		for i := range 100 {
			call := fmt.Sprint("call", i)
			r.send("message.part.tool-update", map[string]any{"turnId": "M", "callId": call, "toolName": "bash", "status": "running"})
			r.send("message.part.tool-update", map[string]any{"turnId": "M", "callId": call, "toolName": "bash", "status": "completed", "result": strings.Repeat("x", 512)})
		}
		r.send("message.finalize", map[string]any{"turnId": "M", "reason": "end_turn"})
		r.send("complete", map[string]any{"messageId": msgID})
		t.Logf("100 tool calls: %d bytes to upstream's client, %d to a v2 browser", b1.n, b2.n)
		if b2.n*10 > b1.n {
			t.Fatalf("part updates must cost a fraction of whole messages: %d vs %d bytes", b2.n, b1.n)
		}
	})
}
