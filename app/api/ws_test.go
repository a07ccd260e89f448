package api

import (
	"encoding/json"
	"strings"
	"testing"
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

func TestWSConnMergesChunksOnlyBehindABacklog(t *testing.T) {
	w := queueOnly(1024, 1<<20)
	// A socket that keeps up sees every delta as its own frame.
	for i := range 3 {
		if !w.SendChunk("m1", i*2, "ab") {
			t.Fatal("queue refused a chunk")
		}
	}
	if got := popAll(t, w); len(got) != 3 || got[2].Offset != 4 || got[2].Content != "ab" {
		t.Fatalf("frames without a backlog: %+v", got)
	}
	// Behind a backlog, contiguous deltas of one message merge into the last
	// queued chunk; a delta of another message, or one that does not
	// continue it, starts a new frame.
	off := 0
	var want strings.Builder
	for range mergeBacklog + 100 {
		w.SendChunk("m2", off, "é")
		want.WriteString("é")
		off++ // one UTF-16 unit
	}
	w.SendChunk("m2", off, "😀") // two UTF-16 units
	want.WriteString("😀")
	off += 2
	w.SendChunk("m2", off, "z")
	want.WriteString("z")
	w.SendChunk("m3", 0, "other")
	got := popAll(t, w)
	if len(got) != mergeBacklog+1 {
		t.Fatalf("%d frames, want %d", len(got), mergeBacklog+1)
	}
	var text strings.Builder
	next := 0
	for _, c := range got[:mergeBacklog] {
		if c.Type != "chunk" || c.MessageID != "m2" || c.Offset != next {
			t.Fatalf("frame %+v, want a chunk of m2 at %d", c, next)
		}
		text.WriteString(c.Content)
		for _, r := range c.Content {
			next++
			if r > 0xffff {
				next++
			}
		}
	}
	if text.String() != want.String() {
		t.Fatalf("merged text %q, want %q", text.String(), want.String())
	}
	if last := got[mergeBacklog]; last.MessageID != "m3" || last.Content != "other" {
		t.Fatalf("last frame %+v", last)
	}
}

func TestWSConnQueueIsBoundedInFramesAndBytes(t *testing.T) {
	w := queueOnly(4, 1<<20)
	for i := range 4 {
		if !w.Send([]byte(`{"type":"x"}`)) {
			t.Fatalf("frame %d refused", i)
		}
	}
	if w.Send([]byte(`{"type":"x"}`)) || w.SendChunk("m", 0, "a") {
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
	for i := 0; i < mergeBacklog; i++ {
		w.Send([]byte{})
	}
	if !w.SendChunk("m", 0, "12345") || !w.SendChunk("m", 5, "12345") {
		t.Fatal("chunks under the byte bound refused")
	}
	if w.SendChunk("m", 10, "1") {
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
	if w.Send([]byte("{}")) || w.SendChunk("m", 0, "a") {
		t.Fatal("a closed socket took a frame")
	}
}
