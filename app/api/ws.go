package api

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// wsConn adapts a WebSocket to session.Conn: Send queues without blocking
// (a full queue reports false, and the actor closes the socket), one
// goroutine writes, Close flushes what is queued and then closes with the
// code and reason given.
type wsConn struct {
	id     string
	userID string
	c      *websocket.Conn
	out    chan []byte

	once   sync.Once
	closed chan struct{}
	code   websocket.StatusCode
	reason string
	done   chan struct{} // the writer has finished
}

// writeTimeout bounds one frame write; a peer that does not read for that
// long is dropped.
const writeTimeout = 10 * time.Second

func newWSConn(c *websocket.Conn, userID string, queue int) *wsConn {
	w := &wsConn{id: uuid.NewString(), userID: userID, c: c, out: make(chan []byte, queue),
		closed: make(chan struct{}), done: make(chan struct{})}
	go w.writer()
	return w
}

func (w *wsConn) ID() string     { return w.id }
func (w *wsConn) UserID() string { return w.userID }

func (w *wsConn) Send(b []byte) bool {
	select {
	case <-w.closed:
		return false
	default:
	}
	select {
	case w.out <- b:
		return true
	default:
		return false
	}
}

func (w *wsConn) Close(code int, reason string) {
	w.once.Do(func() {
		w.code, w.reason = websocket.StatusCode(code), reason
		close(w.closed)
	})
}

func (w *wsConn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return w.c.Write(ctx, websocket.MessageText, b)
}

func (w *wsConn) writer() {
	defer close(w.done)
	for {
		select {
		case b := <-w.out:
			if err := w.write(b); err != nil {
				w.Close(int(websocket.StatusGoingAway), "write failed")
				_ = w.c.CloseNow()
				return
			}
		case <-w.closed:
			for {
				select {
				case b := <-w.out:
					if w.write(b) != nil {
						_ = w.c.CloseNow()
						return
					}
				default:
					_ = w.c.Close(w.code, w.reason)
					return
				}
			}
		}
	}
}
