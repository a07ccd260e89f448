package tools

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// Handler answers tool calls on the runner's side. Call may block (an
// ask_user waits for the answer) until ctx ends.
type Handler interface {
	Call(ctx context.Context, tool string, args json.RawMessage) Result
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, tool string, args json.RawMessage) Result

func (f HandlerFunc) Call(ctx context.Context, tool string, args json.RawMessage) Result {
	return f(ctx, tool, args)
}

// maxLine bounds one request line (memory files are at most 1 MiB).
const maxLine = 4 << 20

// Bridge is the runner's end of the socket.
type Bridge struct {
	ln   net.Listener
	path string
	h    Handler
	log  *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen creates the unix socket at path (mode 0600; a stale socket file
// is replaced) for h.
func Listen(path string, h Handler, log *slog.Logger) (*Bridge, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("tools: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("tools: %w", err)
	}
	return &Bridge{ln: ln, path: path, h: h, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Path is the socket's path.
func (b *Bridge) Path() string { return b.path }

// Serve accepts connections until ctx ends or Close; it returns when every
// call it started has returned.
func (b *Bridge) Serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = b.ln.Close() })
	defer stop()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			break
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Go(func() { b.serveConn(ctx, c) })
	}
	cancel()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	_ = os.Remove(b.path)
}

// Close stops accepting; Serve then returns.
func (b *Bridge) Close() error { return b.ln.Close() }

func (b *Bridge) serveConn(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	var calls sync.WaitGroup
	defer func() {
		cancel()
		calls.Wait()
		_ = c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	var wmu sync.Mutex
	enc := json.NewEncoder(c)
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.Tool == "" {
			b.log.Warn("tools: ignoring an unreadable request", "err", err)
			continue
		}
		calls.Go(func() {
			res := b.h.Call(ctx, req.Tool, req.Args)
			if ctx.Err() != nil {
				return // shutting down: the client sees the connection close
			}
			wmu.Lock()
			defer wmu.Unlock()
			_ = enc.Encode(Response{ID: req.ID, Text: res.Text, IsError: res.IsError})
		})
	}
}

// Client is the MCP server's end of the socket: one connection, dialed on
// first use and again after it broke.
type Client struct {
	Path string

	next atomic.Int64
	mu   sync.Mutex
	conn *clientConn
}

type clientConn struct {
	c       net.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	waiting map[int64]chan Response
	err     error // set once the read loop ended
}

// ErrUnreachable wraps every failure to reach the runner.
var ErrUnreachable = errors.New("the agentops runner is not reachable")

func (cl *Client) connection() (*clientConn, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.conn != nil {
		cl.conn.mu.Lock()
		broken := cl.conn.err != nil
		cl.conn.mu.Unlock()
		if !broken {
			return cl.conn, nil
		}
	}
	c, err := net.Dial("unix", cl.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	cc := &clientConn{c: c, waiting: map[int64]chan Response{}}
	go cc.readLoop() // ends when the connection does (Close)
	cl.conn = cc
	return cc, nil
}

func (cc *clientConn) readLoop() {
	sc := bufio.NewScanner(cc.c)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var res Response
		if json.Unmarshal(sc.Bytes(), &res) != nil {
			continue
		}
		cc.mu.Lock()
		ch := cc.waiting[res.ID]
		delete(cc.waiting, res.ID)
		cc.mu.Unlock()
		if ch != nil {
			ch <- res
		}
	}
	cc.mu.Lock()
	cc.err = fmt.Errorf("%w: the connection closed", ErrUnreachable)
	for id, ch := range cc.waiting {
		close(ch)
		delete(cc.waiting, id)
	}
	cc.mu.Unlock()
	_ = cc.c.Close()
}

// Call sends one call and waits for its result, ctx's end, or the
// connection's loss (an error wrapping ErrUnreachable).
func (cl *Client) Call(ctx context.Context, tool string, args json.RawMessage) (Result, error) {
	cc, err := cl.connection()
	if err != nil {
		return Result{}, err
	}
	id := cl.next.Add(1)
	ch := make(chan Response, 1)
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return Result{}, cc.err
	}
	cc.waiting[id] = ch
	cc.mu.Unlock()
	line, _ := json.Marshal(Request{ID: id, Tool: tool, Args: args})
	cc.wmu.Lock()
	_, err = cc.c.Write(append(line, '\n'))
	cc.wmu.Unlock()
	if err != nil {
		_ = cc.c.Close()
		return Result{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	select {
	case <-ctx.Done():
		cc.mu.Lock()
		delete(cc.waiting, id)
		cc.mu.Unlock()
		return Result{}, ctx.Err()
	case res, ok := <-ch:
		if !ok {
			return Result{}, fmt.Errorf("%w: the connection closed during the call", ErrUnreachable)
		}
		return Result{Text: res.Text, IsError: res.IsError}, nil
	}
}

// Close closes the connection.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.conn != nil {
		return cl.conn.c.Close()
	}
	return nil
}
