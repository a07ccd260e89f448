package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
)

// terminalSocket serves GET /api/sessions/:id/terminal?cols=&rows=: a
// shell in the session's workspace (see docs/api.md, "Terminal"). Binary
// messages carry the terminal's bytes both ways; the browser sends text
// {"type":"resize","cols","rows"}, the server ends with text
// {"type":"exit","exitCode","reason"} and closes.
func (s *Server) terminalSocket(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	id := r.PathValue("id")
	// Refuse before upgrading, so the answer is a plain 404 or 403 — and
	// before the upgrade check, so that a browser, which cannot read why
	// an upgrade failed, can ask with a plain GET (426 means allowed).
	if err := s.sessions.CheckTerminal(r.Context(), p.User.ID, id); err != nil {
		writeError(w, r, err)
		return
	}
	if !s.socketPreflight(w, r, true) {
		return
	}
	cols, _ := strconv.Atoi(r.URL.Query().Get("cols"))
	rows, _ := strconv.Atoi(r.URL.Query().Get("rows"))
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{protocol.TerminalSubprotocol, protocol.Subprotocol},
		OriginPatterns: s.originPatterns(),
	})
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.TerminalInputWindow)
	conn := newTermConn(c)
	sock, err := s.sessions.OpenTerminal(r.Context(), p.User.ID, id, cols, rows, conn)
	if err != nil {
		conn.End(nil, closeReason(err))
		conn.run(nil)
		return
	}
	s.opts.Metrics.SocketOpened("terminal")
	defer s.opts.Metrics.SocketClosed("terminal")
	go conn.run(sock.Written)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-conn.done: // the terminal ended and the writer closed the socket
		case <-ctx.Done():
		}
		cancel()
	}()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			break
		}
		if typ == websocket.MessageBinary {
			if !sock.Input(ctx, data) {
				break
			}
			continue
		}
		var f struct {
			Type string `json:"type"`
			Cols int    `json:"cols"`
			Rows int    `json:"rows"`
		}
		if json.Unmarshal(data, &f) == nil && f.Type == "resize" {
			sock.Resize(f.Cols, f.Rows)
		}
	}
	sock.Closed()
	<-conn.done
}

// termConn is a browser terminal socket's writing side: output waits in a
// queue bounded by the terminal's window (the relay never gives it more),
// one goroutine writes it and reports what was written, so its credit
// returns to the runner.
type termConn struct {
	id string
	c  *websocket.Conn

	mu     sync.Mutex
	queue  [][]byte
	queued int
	exit   []byte // the exit frame, once ended
	wake   chan struct{}
	done   chan struct{}
}

func newTermConn(c *websocket.Conn) *termConn {
	return &termConn{id: uuid.NewString(), c: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (t *termConn) ID() string { return t.id }

func (t *termConn) Output(b []byte) bool {
	t.mu.Lock()
	if t.exit != nil || t.queued+len(b) > protocol.TerminalWindow {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, b)
	t.queued += len(b)
	t.mu.Unlock()
	t.poke()
	return true
}

func (t *termConn) End(exitCode *int, reason string) {
	b, _ := json.Marshal(map[string]any{"type": "exit", "exitCode": exitCode, "reason": reason})
	t.mu.Lock()
	if t.exit == nil {
		t.exit = b
	}
	t.mu.Unlock()
	t.poke()
}

func (t *termConn) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run writes until the terminal ends, then flushes, says why and closes.
func (t *termConn) run(written func(int)) {
	defer close(t.done)
	for {
		t.mu.Lock()
		var b []byte
		if len(t.queue) > 0 {
			b = t.queue[0]
			t.queue[0] = nil
			t.queue = t.queue[1:]
		}
		exit := t.exit
		t.mu.Unlock()
		if b != nil {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := t.c.Write(ctx, websocket.MessageBinary, b)
			cancel()
			if err != nil {
				_ = t.c.CloseNow()
				return
			}
			t.mu.Lock()
			t.queued -= len(b)
			t.mu.Unlock()
			if written != nil {
				written(len(b))
			}
			continue
		}
		if exit != nil {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			_ = t.c.Write(ctx, websocket.MessageText, exit)
			cancel()
			_ = t.c.Close(websocket.StatusNormalClosure, "terminal ended")
			return
		}
		<-t.wake
	}
}

var _ session.TermConn = (*termConn)(nil)
