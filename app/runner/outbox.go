package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/agentops/agentops/app/protocol"
)

// ErrFrameTooLarge is returned for a frame that would exceed
// protocol.MaxFrameBytes: the server would close the socket on it, and a
// replay would do the same forever, so it is never buffered.
var ErrFrameTooLarge = errors.New("runner: frame exceeds the maximum frame size")

// outbox numbers the runner's frames and keeps each until the server acks
// it, so a reconnect can replay what the server did not persist. It holds
// at most max frames: emit blocks while it is full, which slows the agent
// down instead of dropping anything.
type outbox struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	max     int
	seq     int64 // the last sequence number assigned
	frames  []outFrame
	next    int // frames[:next] were handed to the current connection's writer
}

// outFrame is one encoded frame and its sequence number.
type outFrame struct {
	seq  int64
	data []byte
}

func newOutbox(max int) *outbox {
	if max < 1 {
		max = 1
	}
	return &outbox{changed: make(chan struct{}), max: max}
}

// signal wakes everyone waiting for a change. Call with mu held.
func (o *outbox) signal() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// emit gives f the next sequence number and buffers it, waiting while the
// buffer is full. It fails only when ctx ends or the frame is too large.
func (o *outbox) emit(ctx context.Context, f protocol.RunnerFrame) (int64, error) {
	o.mu.Lock()
	for len(o.frames) >= o.max {
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		o.mu.Lock()
	}
	defer o.mu.Unlock()
	f.Seq = o.seq + 1
	data, err := json.Marshal(f)
	if err != nil {
		return 0, fmt.Errorf("runner: encode %s frame: %w", f.Type, err)
	}
	if len(data) > protocol.MaxFrameBytes {
		return 0, fmt.Errorf("%w (%s, %d bytes)", ErrFrameTooLarge, f.Type, len(data))
	}
	o.seq = f.Seq
	o.frames = append(o.frames, outFrame{seq: f.Seq, data: data})
	o.signal()
	return f.Seq, nil
}

// ack drops every frame with a sequence number up to seq.
func (o *outbox) ack(seq int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropThrough(seq)
	// The server has persisted seq: numbering must stay above it even if
	// this process never assigned it (a restarted runner).
	o.seq = max(o.seq, seq)
}

// dropThrough removes the frames with seq <= s. Call with mu held.
func (o *outbox) dropThrough(s int64) {
	n := 0
	for n < len(o.frames) && o.frames[n].seq <= s {
		n++
	}
	if n == 0 {
		return
	}
	clear(o.frames[:n]) // release the encoded frames
	o.frames = o.frames[n:]
	o.next = max(o.next-n, 0)
	o.signal()
}

// resume prepares a replay on a new connection whose init said the server
// persisted everything up to lastSeq.
func (o *outbox) resume(lastSeq int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropThrough(lastSeq)
	o.seq = max(o.seq, lastSeq)
	o.next = 0
	o.signal()
}

// nextFrame returns the next frame the current connection has not written
// yet, waiting for one until ctx ends.
func (o *outbox) nextFrame(ctx context.Context) (outFrame, error) {
	o.mu.Lock()
	for o.next >= len(o.frames) {
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return outFrame{}, ctx.Err()
		}
		o.mu.Lock()
	}
	defer o.mu.Unlock()
	f := o.frames[o.next]
	o.next++
	return f, nil
}

// pending is the number of unacked frames.
func (o *outbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames)
}

// lastSeq is the last sequence number assigned.
func (o *outbox) lastSeq() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq
}
