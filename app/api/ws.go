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
	"github.com/agentops/agentops/app/session"
)

// wsConn adapts a WebSocket to session.Conn and session.ChunkConn: Send
// and SendChunk queue without blocking (a full queue reports false, and the
// actor closes the socket), one goroutine writes, Close flushes what is
// queued and then closes with the code and reason given.
//
// Frames are queued as the session encoded them, once for all its sockets.
// Streamed text is merged while it waits: a chunk that continues the last
// queued one (same message, offset where that one ends) is appended to it,
// and only then is a frame rendered for this socket alone. A browser that
// keeps up sees every delta as its own frame as soon as it is produced (its
// queue is empty when the next one comes); one that reads a little slower,
// or whose writer waits for the CPU, gets fewer, larger chunk frames (with
// the offset of the first) and so fewer writes, instead of falling behind
// until it is dropped. The queue is bounded in frames and in bytes.
type wsConn struct {
	id     string
	userID string
	c      *websocket.Conn
	parts  bool // the browser negotiated agentops.v2: part-level updates

	mu       sync.Mutex
	queue    []outFrame // queue[head:] waits to be written, oldest first
	head     int
	queued   int // bytes waiting
	max      int // most frames queue may hold
	maxBytes int // most bytes queue may hold
	wake     chan struct{}

	// watchdog closes the socket when one write takes longer than
	// writeTimeout (a timer reset per write costs less than a context
	// with a deadline per write).
	watchdog *time.Timer

	once   sync.Once
	closed chan struct{}
	code   websocket.StatusCode
	reason string
	done   chan struct{} // the writer has finished
}

// outFrame is a frame waiting to be written: the bytes of a frame shared
// with other sockets (with the chunk they encode, when they are one, so
// that the next chunk can merge into it), or a chunk merged for this
// socket, rendered when it is written.
type outFrame struct {
	b      []byte
	chunk  *session.Chunk
	merged *mergedChunk
	n      int // bytes counted against maxBytes
}

type mergedChunk struct {
	messageID string
	offset    int // of the first text merged in
	end       int // offset after the last
	text      strings.Builder
}

// keptQueue is the largest queue array a drained socket keeps for its
// next frames.
const keptQueue = 64

// maxMergedChunk bounds the text merged into one chunk frame.
const maxMergedChunk = 32 << 10

// writeTimeout bounds one frame write; a peer that does not read for that
// long is dropped.
const writeTimeout = 10 * time.Second

// newWSConn starts the writer of a socket whose queue holds at most frames
// frames and maxBytes bytes.
func newWSConn(c *websocket.Conn, userID string, frames, maxBytes int) *wsConn {
	w := &wsConn{id: uuid.NewString(), userID: userID, c: c, max: frames, maxBytes: maxBytes, wake: make(chan struct{}, 1),
		closed: make(chan struct{}), done: make(chan struct{})}
	w.watchdog = time.AfterFunc(writeTimeout, func() { _ = c.CloseNow() })
	w.watchdog.Stop()
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

// push queues f, reporting false when the queue is full or closed.
func (w *wsConn) push(f outFrame) bool {
	if w.isClosed() {
		return false
	}
	w.mu.Lock()
	if len(w.queue)-w.head >= w.max || w.queued+f.n > w.maxBytes {
		w.mu.Unlock()
		return false
	}
	if len(w.queue) == cap(w.queue) && w.head > 0 {
		// Full, with written frames at the front: move the waiting ones
		// there rather than grow an array that never drains.
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	w.queue = append(w.queue, f)
	w.queued += f.n
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (w *wsConn) Send(b []byte) bool { return w.push(outFrame{b: b, n: len(b)}) }

func (w *wsConn) SendChunk(ch *session.Chunk) bool {
	if w.isClosed() {
		return false
	}
	w.mu.Lock()
	if n := len(w.queue); n > w.head && w.merge(&w.queue[n-1], ch) {
		w.mu.Unlock()
		return true // the writer already has a wake-up for it
	}
	w.mu.Unlock()
	return w.push(outFrame{b: ch.Frame, chunk: ch, n: len(ch.Frame)})
}

// merge appends ch to the queued frame f when it continues it, reporting
// whether it did. It holds w.mu.
func (w *wsConn) merge(f *outFrame, ch *session.Chunk) bool {
	m := f.merged
	switch {
	case m == nil && f.chunk != nil:
		c := f.chunk
		if c.MessageID != ch.MessageID || c.End != ch.Offset || len(c.Text)+len(ch.Text) > maxMergedChunk ||
			w.queued-f.n+len(c.Text)+len(ch.Text) > w.maxBytes {
			return false
		}
		m = &mergedChunk{messageID: c.MessageID, offset: c.Offset, end: c.End}
		m.text.WriteString(c.Text)
		w.queued += len(c.Text) - f.n // a merged chunk counts its text
		*f = outFrame{merged: m, n: len(c.Text)}
	case m != nil:
		if m.messageID != ch.MessageID || m.end != ch.Offset || m.text.Len()+len(ch.Text) > maxMergedChunk ||
			w.queued+len(ch.Text) > w.maxBytes {
			return false
		}
	default:
		return false
	}
	m.text.WriteString(ch.Text)
	m.end = ch.End
	f.n += len(ch.Text)
	w.queued += len(ch.Text)
	return true
}

// Close ends the socket with code and reason once what is queued has been
// written, except for a slow consumer: a browser cut for not keeping up
// reloads the transcript over REST anyway, so what waits for it is dropped
// and the close frame follows the frame being written.
func (w *wsConn) Close(code int, reason string) {
	w.once.Do(func() {
		w.code, w.reason = websocket.StatusCode(code), reason
		if code == protocol.CloseSlowConsumer {
			w.mu.Lock()
			clear(w.queue)
			w.queue, w.head, w.queued = nil, 0, 0
			w.mu.Unlock()
		}
		close(w.closed)
	})
}

// pop takes the oldest queued frame, rendered; ok is false when none waits.
func (w *wsConn) pop() (b []byte, ok bool) {
	w.mu.Lock()
	if w.head == len(w.queue) {
		w.mu.Unlock()
		return nil, false
	}
	f := w.queue[w.head]
	w.queue[w.head] = outFrame{}
	w.head++
	if w.head == len(w.queue) {
		// Drained: the next frame goes at the start of the same array
		// (no allocation per frame for a socket that keeps up), unless a
		// backlog grew it large.
		w.queue, w.head = w.queue[:0], 0
		if cap(w.queue) > keptQueue {
			w.queue = nil
		}
	}
	w.queued -= f.n
	w.mu.Unlock()
	if f.merged != nil {
		// No longer queued, so SendChunk no longer appends to it.
		return chunkJSON(f.merged), true
	}
	return f.b, true
}

func chunkJSON(c *mergedChunk) []byte {
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
	w.watchdog.Reset(writeTimeout)
	err := w.c.Write(context.Background(), websocket.MessageText, b)
	w.watchdog.Stop()
	return err
}

func (w *wsConn) writer() {
	defer close(w.done)
	defer w.watchdog.Stop()
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
