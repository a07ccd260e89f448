package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
)

// queueOnly is a wsConn without a socket or writer: the test pops frames
// itself, as the writer would.
func queueOnly(frames, maxBytes int) *wsConn {
	return &wsConn{max: frames, maxBytes: maxBytes, wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
}

type chunkOut struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	Content   string `json:"content"`
	Offset    int    `json:"offset"`
}

func popAll(t *testing.T, w *wsConn) []chunkOut {
	t.Helper()
	var out []chunkOut
	for {
		b, ok := w.pop()
		if !ok {
			return out
		}
		var c chunkOut
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		out = append(out, c)
	}
}

func TestWSConnMergesChunksThatWaitInItsQueue(t *testing.T) {
	w := queueOnly(1024, 1<<20)
	// A socket that keeps up sees every delta as its own frame, the bytes
	// the session encoded once for all its sockets.
	for i := range 3 {
		ch := session.NewChunk("m1", i*2, "ab")
		if !w.SendChunk(ch) {
			t.Fatal("queue refused a chunk")
		}
		b, ok := w.pop()
		if !ok || &b[0] != &ch.Frame[0] {
			t.Fatalf("frame %d: not the shared encoding", i)
		}
	}
	// While a chunk waits, contiguous deltas of its message merge into it;
	// a delta of another message, one that does not continue it, or one
	// behind another kind of frame starts a new frame.
	off := 0
	var want strings.Builder
	for range 100 {
		w.SendChunk(session.NewChunk("m2", off, "é"))
		want.WriteString("é")
		off++ // one UTF-16 unit
	}
	w.SendChunk(session.NewChunk("m2", off, "😀")) // two UTF-16 units
	want.WriteString("😀")
	off += 2
	w.SendChunk(session.NewChunk("m2", off, "z"))
	want.WriteString("z")
	w.SendChunk(session.NewChunk("m3", 0, "other"))
	w.SendChunk(session.NewChunk("m3", 9, "gap"))
	w.Send([]byte(`{"type":"x"}`))
	w.SendChunk(session.NewChunk("m3", 12, "after"))
	got := popAll(t, w)
	if len(got) != 5 {
		t.Fatalf("%d frames, want 5: %+v", len(got), got)
	}
	if c := got[0]; c.Type != "chunk" || c.MessageID != "m2" || c.Offset != 0 || c.Content != want.String() {
		t.Fatalf("merged frame %+v, want m2 at 0 with %q", c, want.String())
	}
	for i, w := range []chunkOut{{"chunk", "m3", "other", 0}, {"chunk", "m3", "gap", 9}, {Type: "x"}, {"chunk", "m3", "after", 12}} {
		if got[i+1] != w {
			t.Fatalf("frame %d: %+v, want %+v", i+1, got[i+1], w)
		}
	}
	if w.queued != 0 {
		t.Fatalf("queued bytes after draining: %d", w.queued)
	}
}

func TestWSConnQueueIsBoundedInFramesAndBytes(t *testing.T) {
	w := queueOnly(4, 1<<20)
	for i := range 4 {
		if !w.Send([]byte(`{"type":"x"}`)) {
			t.Fatalf("frame %d refused", i)
		}
	}
	if w.Send([]byte(`{"type":"x"}`)) || w.SendChunk(session.NewChunk("m", 0, "a")) {
		t.Fatal("a full queue took another frame")
	}

	w = queueOnly(1024, 100)
	if !w.Send(make([]byte, 90)) {
		t.Fatal("frame under the byte bound refused")
	}
	if w.Send(make([]byte, 20)) {
		t.Fatal("frame over the byte bound taken")
	}
	// Merged text counts against the bound too.
	w = queueOnly(1024, 100)
	if !w.SendChunk(session.NewChunk("m", 0, "12345")) || !w.SendChunk(session.NewChunk("m", 5, strings.Repeat("x", 90))) {
		t.Fatal("chunks under the byte bound refused")
	}
	if w.SendChunk(session.NewChunk("m", 95, "123456")) {
		t.Fatal("merged chunk over the byte bound taken")
	}
	for {
		if _, ok := w.pop(); !ok {
			break
		}
	}
	if w.queued != 0 {
		t.Fatalf("queued bytes after draining: %d", w.queued)
	}
	w.Close(1000, "bye")
	if w.Send([]byte("{}")) || w.SendChunk(session.NewChunk("m", 0, "a")) {
		t.Fatal("a closed socket took a frame")
	}
}

func TestWSConnDropsItsQueueWhenCutAsSlow(t *testing.T) {
	w := queueOnly(1024, 1<<20)
	w.Send([]byte(`{"type":"x"}`))
	w.Close(1000, "bye")
	if _, ok := w.pop(); !ok {
		t.Fatal("a normal close must flush what was queued")
	}
	w = queueOnly(1024, 1<<20)
	w.Send([]byte(`{"type":"x"}`))
	w.SendChunk(session.NewChunk("m", 0, "abc"))
	w.Close(protocol.CloseSlowConsumer, "slow")
	if b, ok := w.pop(); ok || w.queued != 0 {
		t.Fatalf("a slow consumer's queue is dropped: popped %s, %d bytes queued", b, w.queued)
	}
}

// A socket that is always a frame or two behind reuses its queue's array
// instead of growing it.
func TestWSConnQueueStaysSmallWhenNeverDrained(t *testing.T) {
	w := queueOnly(1024, 1<<20)
	w.Send([]byte(`{"type":"x"}`))
	for range 10000 {
		w.Send([]byte(`{"type":"y"}`))
		if _, ok := w.pop(); !ok {
			t.Fatal("nothing to pop")
		}
	}
	if c := cap(w.queue); c > 8 {
		t.Fatalf("queue array grew to %d frames with never more than 2 waiting", c)
	}
	if len(w.queue)-w.head != 1 {
		t.Fatalf("%d frames waiting, want 1", len(w.queue)-w.head)
	}
}
