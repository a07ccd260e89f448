package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
)

// wsConn adapts a WebSocket to session.Conn and session.ChunkConn: Send
// and SendChunk queue without blocking (a full queue reports false, and the
// actor closes the socket), one goroutine writes, Close flushes what is
// queued and then closes with the code and reason given.
//
// Streamed text is merged while it waits behind a backlog: once mergeBacklog
// frames are queued, a chunk that continues the last queued one is appended
// to it. A browser that reads a little slower than the agent writes gets
// fewer, larger chunk frames (with the offset of the first) instead of
// falling behind until it is dropped; one that keeps up sees every delta as
// its own frame, as soon as it is produced. The queue is bounded in frames
// and in bytes.
type wsConn struct {
	id     string
	userID string
	c      *websocket.Conn
	parts  bool // the browser negotiated agentops.v2: part-level updates

	mu       sync.Mutex
	queue    []outFrame // waiting to be written, oldest first
	queued   int        // bytes in queue
	max      int        // most frames queue may hold
	maxBytes int        // most bytes queue may hold
	wake     chan struct{}

	once   sync.Once
	closed chan struct{}
	code   websocket.StatusCode
	reason string
	done   chan struct{} // the writer has finished
}

// outFrame is a frame waiting to be written: bytes, or a chunk of streamed
// text that may still grow.
type outFrame struct {
	b     []byte
	chunk *pendingChunk
}

type pendingChunk struct {
	messageID string
	offset    int // of the first text merged in
	end       int // offset after the last
	text      strings.Builder
}

const (
	// maxMergedChunk bounds the text merged into one chunk frame.
	maxMergedChunk = 32 << 10
	// mergeBacklog is how many frames must wait before chunks are merged.
	mergeBacklog = 16
)

// writeTimeout bounds one frame write; a peer that does not read for that
// long is dropped.
const writeTimeout = 10 * time.Second

// newWSConn starts the writer of a socket whose queue holds at most frames
// frames and maxBytes bytes.
func newWSConn(c *websocket.Conn, userID string, frames, maxBytes int) *wsConn {
	w := &wsConn{id: uuid.NewString(), userID: userID, c: c, max: frames, maxBytes: maxBytes, wake: make(chan struct{}, 1),
		closed: make(chan struct{}), done: make(chan struct{})}
	go w.writer()
	return w
}

func (w *wsConn) ID() string        { return w.id }
func (w *wsConn) UserID() string    { return w.userID }
func (w *wsConn) PartUpdates() bool { return w.parts }

func (w *wsConn) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// push queues f of n bytes, reporting false when the queue is full or
// closed.
func (w *wsConn) push(f outFrame, n int) bool {
	if w.isClosed() {
		return false
	}
	w.mu.Lock()
	if len(w.queue) >= w.max || w.queued+n > w.maxBytes {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, f)
	w.queued += n
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (w *wsConn) Send(b []byte) bool { return w.push(outFrame{b: b}, len(b)) }

func (w *wsConn) SendChunk(messageID string, offset int, text string) bool {
	if w.isClosed() {
		return false
	}
	w.mu.Lock()
	if n := len(w.queue); n >= mergeBacklog {
		if last := w.queue[n-1].chunk; last != nil && last.messageID == messageID && last.end == offset &&
			last.text.Len()+len(text) <= maxMergedChunk {
			if w.queued+len(text) > w.maxBytes {
				w.mu.Unlock()
				return false
			}
			w.queued += len(text)
			last.text.WriteString(text)
			last.end += protocol.UTF16Len(text)
			w.mu.Unlock()
			return true // the writer already has a wake-up for it
		}
	}
	w.mu.Unlock()
	pc := &pendingChunk{messageID: messageID, offset: offset, end: offset + protocol.UTF16Len(text)}
	pc.text.WriteString(text)
	return w.push(outFrame{chunk: pc}, len(text))
}

func (w *wsConn) Close(code int, reason string) {
	w.once.Do(func() {
		w.code, w.reason = websocket.StatusCode(code), reason
		close(w.closed)
	})
}

// pop takes the oldest queued frame, rendered; ok is false when none waits.
func (w *wsConn) pop() (b []byte, ok bool) {
	w.mu.Lock()
	if len(w.queue) == 0 {
		w.mu.Unlock()
		return nil, false
	}
	f := w.queue[0]
	w.queue[0] = outFrame{}
	w.queue = w.queue[1:]
	if len(w.queue) == 0 {
		w.queue = w.queue[:0:0] // let the drained backing array go
	}
	if f.chunk != nil {
		// Render under the lock: SendChunk may still be appending to it
		// only while it is queued, and it is no longer queued once popped.
		b = chunkJSON(f.chunk)
		w.queued -= f.chunk.text.Len()
	} else {
		b = f.b
		w.queued -= len(b)
	}
	w.mu.Unlock()
	return b, true
}

func chunkJSON(c *pendingChunk) []byte {
	b, err := json.Marshal(struct {
		Type      string `json:"type"`
		MessageID string `json:"messageId"`
		Content   string `json:"content"`
		Offset    int    `json:"offset"`
	}{protocol.CChunk, c.messageID, c.text.String(), c.offset})
	if err != nil {
		panic(err) // strings and an int always marshal
	}
	return b
}

func (w *wsConn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return w.c.Write(ctx, websocket.MessageText, b)
}

func (w *wsConn) writer() {
	defer close(w.done)
	for {
		if b, ok := w.pop(); ok {
			if err := w.write(b); err != nil {
				w.Close(int(websocket.StatusGoingAway), "write failed")
				_ = w.c.CloseNow()
				return
			}
			continue
		}
		select {
		case <-w.wake:
		case <-w.closed:
			// Flush what was queued before Close, then close.
			for {
				b, ok := w.pop()
				if !ok {
					_ = w.c.Close(w.code, w.reason)
					return
				}
				if w.write(b) != nil {
					_ = w.c.CloseNow()
					return
				}
			}
		}
	}
}
