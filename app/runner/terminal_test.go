package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
)

func (c *fakeConn) sendTerm(f protocol.TerminalFrame) {
	c.t.Helper()
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(c.s.ctx, waitFor)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send %s: %v", f.Type, err)
	}
}

func (c *fakeConn) nextTerm() protocol.TerminalFrame {
	c.t.Helper()
	select {
	case f, ok := <-c.terms:
		if !ok {
			c.t.Fatal("the connection ended")
		}
		return f
	case <-time.After(waitFor):
		c.t.Fatalf("no terminal frame within %s", waitFor)
	}
	panic("unreachable")
}

// TestTerminalCreditBoundsOutput: without acks, a shell that prints 2 MB
// gets at most one window of output onto the connection; acks let the
// rest through, in order, with nothing lost; the shell's exit is reported
// with its status.
func TestTerminalCreditBoundsOutput(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.Workspace, "marker.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	const id = "t1"
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalOpen, TerminalID: id, Cols: 80, Rows: 24})
	line := []byte("ls; head -c 2000000 /dev/zero | tr '\\0' y; echo; echo end-$((1+1))\n")
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalInput, TerminalID: id, Data: line})

	var out bytes.Buffer
	inputAcked, unacked := 0, 0
	take := func(f protocol.TerminalFrame) {
		switch f.Type {
		case protocol.TerminalOutput:
			out.Write(f.Data)
			unacked += len(f.Data)
			if len(f.Data) > protocol.TerminalChunk {
				t.Fatalf("an output frame of %d bytes", len(f.Data))
			}
		case protocol.TerminalAck:
			inputAcked += f.Bytes
		case protocol.TerminalClose:
			t.Fatalf("the shell ended early: %+v (output %q)", f, out.String())
		}
	}
	// No acks: output stops at the window.
	for unacked < protocol.TerminalWindow {
		take(c.nextTerm())
	}
	select {
	case f := <-c.terms:
		if f.Type == protocol.TerminalOutput {
			t.Fatalf("output beyond the window: %d bytes unacked, then %d more", unacked, len(f.Data))
		}
		take(f)
	case <-time.After(300 * time.Millisecond):
	}
	if unacked != protocol.TerminalWindow {
		t.Fatalf("unacked output %d, want exactly the window %d", unacked, protocol.TerminalWindow)
	}
	// Acks let the rest through.
	for !bytes.Contains(out.Bytes(), []byte("end-2")) {
		if unacked > 0 {
			c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: id, Bytes: unacked})
			unacked = 0
		}
		take(c.nextTerm())
	}
	if n := bytes.Count(out.Bytes(), []byte("y")); n < 2000000 {
		t.Fatalf("%d bytes of the shell's output arrived, want 2000000", n)
	}
	if !bytes.Contains(out.Bytes(), []byte("marker.txt")) {
		t.Fatal("the shell does not run in the workspace")
	}
	if inputAcked != len(line) {
		t.Fatalf("input acked: %d bytes, want %d", inputAcked, len(line))
	}
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: id, Bytes: unacked})
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalInput, TerminalID: id, Data: []byte("exit 5\n")})
	for {
		f := c.nextTerm()
		if f.Type == protocol.TerminalOutput {
			c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: id, Bytes: len(f.Data)})
			continue
		}
		if f.Type == protocol.TerminalClose {
			if f.ExitCode == nil || *f.ExitCode != 5 {
				t.Fatalf("close frame %+v, want exit code 5", f)
			}
			return
		}
	}
}

// TestTerminalCloseAndUnknownShell: the server's close ends the shell
// (reported with no exit status: it was hung up), and frames for a
// terminal that does not exist change nothing.
func TestTerminalCloseAndUnknownShell(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalInput, TerminalID: "nope", Data: []byte("x")})
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalOpen, TerminalID: "t2"})
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalInput, TerminalID: "t2", Data: []byte("echo ready-$((3*3))\n")})
	var out bytes.Buffer
	for !bytes.Contains(out.Bytes(), []byte("ready-9")) {
		if f := c.nextTerm(); f.Type == protocol.TerminalOutput {
			out.Write(f.Data)
		}
	}
	c.sendTerm(protocol.TerminalFrame{Type: protocol.TerminalClose, TerminalID: "t2"})
	for {
		f := c.nextTerm()
		if f.Type != protocol.TerminalClose {
			continue
		}
		if f.TerminalID != "t2" {
			t.Fatalf("close for %q", f.TerminalID)
		}
		// A hung-up shell dies of SIGHUP: no exit status of its own.
		if f.ExitCode != nil {
			t.Fatalf("a hung-up shell reported exit code %d", *f.ExitCode)
		}
		return
	}
}
