package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// termConn is a fake browser terminal socket.
type termConn struct {
	mu     sync.Mutex
	out    bytes.Buffer
	ended  bool
	reason string
}

func (c *termConn) ID() string { return "term-browser" }
func (c *termConn) Output(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(b)
	return true
}
func (c *termConn) End(code *int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended, c.reason = true, reason
}
func (c *termConn) state() (int, bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len(), c.ended, c.reason
}

// termFrames returns the terminal frames the runner got since the last call.
func (r *runner) termFrames() []protocol.TerminalFrame {
	var out []protocol.TerminalFrame
	for _, f := range r.c.take() {
		if t, _ := f["type"].(string); protocol.IsTerminalFrame(t) {
			b, _ := json.Marshal(f)
			var tf protocol.TerminalFrame
			_ = json.Unmarshal(b, &tf)
			out = append(out, tf)
		}
	}
	return out
}

func (r *runner) termFrame(f protocol.TerminalFrame) {
	b, _ := json.Marshal(f)
	r.sock.Frame(b)
}

// TestTerminalRelay: output goes to the browser without the actor, within
// the window (a runner that exceeds it loses the terminal); written bytes
// return as acks; input waits for the runner's credit; a replaced runner
// ends its terminals.
func TestTerminalRelay(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		ctx := context.Background()

		// Another user's session is not found.
		if _, err := h.m.OpenTerminal(ctx, "someone-else", id, 80, 24, &termConn{}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("another user: %v", err)
		}
		b := &termConn{}
		sock, err := h.m.OpenTerminal(ctx, h.user.ID, id, 100, 30, b)
		if err != nil {
			t.Fatal(err)
		}
		open := r.termFrames()
		if len(open) != 1 || open[0].Type != protocol.TerminalOpen || open[0].Cols != 100 || open[0].Rows != 30 || open[0].TerminalID != sock.ID() {
			t.Fatalf("open frames: %+v", open)
		}

		// A full window of output reaches the browser.
		chunk := bytes.Repeat([]byte("x"), protocol.TerminalChunk)
		for range protocol.TerminalWindow / protocol.TerminalChunk {
			r.termFrame(protocol.TerminalFrame{Type: protocol.TerminalOutput, TerminalID: sock.ID(), Data: chunk})
		}
		if n, ended, _ := b.state(); n != protocol.TerminalWindow || ended {
			t.Fatalf("browser got %d bytes (ended %v), want the window", n, ended)
		}
		if got := h.m.TerminalStats(); got.Open != 1 || got.PeakQueuedBytes != protocol.TerminalWindow {
			t.Fatalf("stats: %+v", got)
		}
		// Written bytes go back as credit: a quarter window at a time, or
		// all once the browser caught up.
		sock.Written(protocol.TerminalWindow / 2)
		acks := r.termFrames()
		if len(acks) != 1 || acks[0].Type != protocol.TerminalAck || acks[0].Bytes != protocol.TerminalWindow/2 {
			t.Fatalf("acks: %+v", acks)
		}

		// Input beyond the input window waits for the runner's acks.
		big := bytes.Repeat([]byte("i"), protocol.TerminalInputWindow)
		if !sock.Input(ctx, big) {
			t.Fatal("a window of input")
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if sock.Input(short, []byte("more")) {
			t.Fatal("input beyond the window went through without credit")
		}
		cancel()
		in := r.termFrames()
		sent := 0
		for _, f := range in {
			if f.Type != protocol.TerminalInput || len(f.Data) > protocol.TerminalChunk {
				t.Fatalf("input frame %s of %d bytes", f.Type, len(f.Data))
			}
			sent += len(f.Data)
		}
		if sent != protocol.TerminalInputWindow {
			t.Fatalf("input sent: %d bytes", sent)
		}
		r.termFrame(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: sock.ID(), Bytes: sent})
		if !sock.Input(ctx, []byte("more")) {
			t.Fatal("input after the runner's ack")
		}

		// Output past the window (queued and unacked) ends the terminal.
		for range protocol.TerminalWindow/protocol.TerminalChunk/2 + 1 {
			r.termFrame(protocol.TerminalFrame{Type: protocol.TerminalOutput, TerminalID: sock.ID(), Data: chunk})
		}
		if _, ended, reason := b.state(); !ended || !strings.Contains(reason, "window") {
			t.Fatalf("a runner over the window: ended %v (%q)", ended, reason)
		}
		if fs := r.termFrames(); len(fs) == 0 || fs[len(fs)-1].Type != protocol.TerminalClose {
			t.Fatalf("the runner is told to close: %+v", fs)
		}

		// A second terminal ends when a new runner replaces the first.
		b2 := &termConn{}
		if _, err := h.m.OpenTerminal(ctx, h.user.ID, id, 80, 24, b2); err != nil {
			t.Fatal(err)
		}
		h.connectRunner(id)
		eventually.True(t, 5*time.Second, "the terminal to end with its runner", func() bool {
			_, ended, _ := b2.state()
			return ended
		})
		if got := h.m.TerminalStats(); got.Open != 0 {
			t.Fatalf("stats: %+v", got)
		}
	})
}

// TestTerminalNeedsARunner: a session without a connected runner has no
// terminal (409).
func TestTerminalNeedsARunner(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		err := h.m.CheckTerminal(context.Background(), h.user.ID, id)
		if err == nil || !strings.Contains(err.Error(), "not connected") {
			t.Fatalf("no runner: %v", err)
		}
	})
}
