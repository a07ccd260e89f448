package runner

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

func mustEmit(t *testing.T, o *outbox, n int) {
	t.Helper()
	for range n {
		if _, err := o.emit(t.Context(), protocol.RunnerFrame{Type: protocol.RTextDelta, Delta: "x"}); err != nil {
			t.Fatal(err)
		}
	}
}

// drain takes every frame the writer has not taken yet.
func drain(t *testing.T, o *outbox) []int64 {
	t.Helper()
	var seqs []int64
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		f, err := o.nextFrame(ctx)
		cancel()
		if err != nil {
			return seqs
		}
		if !strings.Contains(string(f.data), `"seq":`) {
			t.Fatalf("encoded frame without seq: %s", f.data)
		}
		seqs = append(seqs, f.seq)
	}
}

func equalSeqs(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("seqs %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("seqs %v, want %v", got, want)
		}
	}
}

func TestOutboxAckTrims(t *testing.T) {
	o := newOutbox(100)
	mustEmit(t, o, 5)
	equalSeqs(t, drain(t, o), 1, 2, 3, 4, 5)
	o.ack(3)
	if n := o.pending(); n != 2 {
		t.Fatalf("pending after ack 3 = %d, want 2", n)
	}
	o.ack(2) // old acks change nothing
	if n := o.pending(); n != 2 {
		t.Fatalf("pending after a stale ack = %d, want 2", n)
	}
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 6) // the writer's position survives the trim
	o.ack(6)
	if n := o.pending(); n != 0 {
		t.Fatalf("pending after ack 6 = %d, want 0", n)
	}
	o.ack(9) // the server is ahead (a restarted runner): stay above it
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 10)
}

func TestOutboxResumeReplaysUnpersisted(t *testing.T) {
	o := newOutbox(100)
	mustEmit(t, o, 5)
	equalSeqs(t, drain(t, o), 1, 2, 3, 4, 5)
	// Reconnect: the server persisted up to 2.
	o.resume(2)
	equalSeqs(t, drain(t, o), 3, 4, 5)
	// Reconnect again before any ack: the same frames, again.
	o.resume(2)
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 3, 4, 5, 6)
	// A server that persisted more than this runner ever numbered.
	o.resume(40)
	if o.pending() != 0 || o.lastSeq() != 40 {
		t.Fatalf("after resume(40): pending %d, lastSeq %d", o.pending(), o.lastSeq())
	}
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 41)
}

func TestOutboxBackpressure(t *testing.T) {
	o := newOutbox(2)
	mustEmit(t, o, 2)
	done := make(chan int64)
	go func() {
		seq, err := o.emit(context.Background(), protocol.RunnerFrame{Type: protocol.RTextDelta, Delta: "y"})
		if err != nil {
			t.Error(err)
		}
		done <- seq
	}()
	select {
	case <-done:
		t.Fatal("emit did not wait for room in a full buffer")
	case <-time.After(50 * time.Millisecond):
	}
	o.ack(1)
	select {
	case seq := <-done:
		if seq != 3 {
			t.Fatalf("seq %d, want 3", seq)
		}
	case <-time.After(waitFor):
		t.Fatal("emit still blocked after an ack")
	}

	// A blocked emit gives up when its context ends, and uses no number.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := o.emit(ctx, protocol.RunnerFrame{Type: protocol.RPing}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("emit on a full buffer = %v", err)
	}
	o.ack(3)
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 4)
}

func TestOutboxRejectsOversizedFrames(t *testing.T) {
	o := newOutbox(10)
	big := strings.Repeat("a", protocol.MaxFrameBytes)
	if _, err := o.emit(t.Context(), protocol.RunnerFrame{Type: protocol.RTextDelta, Delta: big}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("emit = %v, want ErrFrameTooLarge", err)
	}
	mustEmit(t, o, 1)
	equalSeqs(t, drain(t, o), 1)
}

func TestTurnSplitsLargeDeltas(t *testing.T) {
	o := newOutbox(1000)
	tr := &turn{ctx: t.Context(), out: o, prompt: agent.Prompt{MessageID: "m"}, status: protocol.AgentThinking}
	text := strings.Repeat("héllo wörld ", 30000) // ~400 KB, multi-byte runes
	if err := tr.Text(text); err != nil {
		t.Fatal(err)
	}
	_, _, final, _ := tr.end()
	if final == nil || *final != text {
		t.Fatal("final text differs from the streamed text")
	}
	if err := tr.Text("late"); !errors.Is(err, ErrTurnEnded) {
		t.Fatalf("Text after end = %v, want ErrTurnEnded", err)
	}
	var got strings.Builder
	n := 0
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		f, err := o.nextFrame(ctx)
		cancel()
		if err != nil {
			break
		}
		var rf protocol.RunnerFrame
		if err := json.Unmarshal(f.data, &rf); err != nil {
			t.Fatal(err)
		}
		if rf.Type != protocol.RTextDelta {
			continue
		}
		if len(rf.Delta) > maxDelta || !utf8.ValidString(rf.Delta) {
			t.Fatalf("delta of %d bytes (valid UTF-8: %v)", len(rf.Delta), utf8.ValidString(rf.Delta))
		}
		got.WriteString(rf.Delta)
		n++
	}
	if got.String() != text || n < len(text)/maxDelta {
		t.Fatalf("%d deltas rebuild %d of %d bytes", n, got.Len(), len(text))
	}
}
