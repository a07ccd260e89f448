package realtime

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Frame is one message of an event stream. Data is a JSON document that
// names its own type and id, so a WebSocket client needs nothing else; an
// SSE stream also puts ID and Event in their own fields, for EventSource.
type Frame struct {
	ID    string // SSE "id:", which EventSource sends back as Last-Event-ID
	Event string // SSE "event:"; empty for the default "message"
	Data  []byte
}

// Sink writes a stream to one client: a Server-Sent Events response or a
// WebSocket. Send may hold frames back until Flush, so that a stream that
// has several frames to send at once writes them together; Heartbeat
// flushes. Writes give up after the sink's write timeout, so a client that
// does not read is dropped instead of holding its stream (and its queue)
// forever; an error means the client is gone.
type Sink interface {
	Send(ctx context.Context, f Frame) error
	Flush(ctx context.Context) error
	Heartbeat(ctx context.Context) error
}

// DefaultWriteTimeout bounds one write to a stream's client.
const DefaultWriteTimeout = 10 * time.Second

// SSEOptions tune an SSE stream.
type SSEOptions struct {
	// WriteTimeout bounds each write (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// Retry, if set, tells EventSource how long to wait before it
	// reconnects.
	Retry time.Duration
}

// SSE is a Server-Sent Events response
// (https://html.spec.whatwg.org/multipage/server-sent-events.html). The
// status and headers go out with the first write, so that a stream that
// fails before it starts can still be answered with an error.
type SSE struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	retry   time.Duration
	started bool
	buf     bytes.Buffer
}

var _ Sink = (*SSE)(nil)

// NewSSE prepares an event stream response on w.
func NewSSE(w http.ResponseWriter, opts SSEOptions) *SSE {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	return &SSE{w: w, rc: http.NewResponseController(w), timeout: opts.WriteTimeout, retry: opts.Retry}
}

// Started reports whether the response has begun.
func (s *SSE) Started() bool { return s.started }

// start writes the status and the headers that keep caches and proxies
// from holding the stream back.
func (s *SSE) start() {
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	// nginx buffers proxied responses unless told not to:
	// https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	if s.retry > 0 {
		s.buf.WriteString("retry: " + strconv.FormatInt(s.retry.Milliseconds(), 10) + "\n\n")
	}
}

func (s *SSE) deadline() error {
	err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if errors.Is(err, http.ErrNotSupported) {
		return nil // a test recorder, say: nothing to bound
	}
	return err
}

// flush writes what is buffered within the write timeout.
func (s *SSE) flush() error {
	if !s.started {
		pending := bytes.Clone(s.buf.Bytes())
		s.buf.Reset()
		s.start()
		s.buf.Write(pending)
	}
	if err := s.deadline(); err != nil {
		return err
	}
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err != nil {
		return err
	}
	return s.rc.Flush()
}

// oneLine keeps a field value from ending its line early.
func oneLine(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(v)
}

// sseFlushAt is how much Send buffers before it writes anyway.
const sseFlushAt = 32 << 10

// Send buffers one event.
func (s *SSE) Send(_ context.Context, f Frame) error {
	if f.ID != "" {
		s.buf.WriteString("id: " + oneLine(f.ID) + "\n")
	}
	if f.Event != "" {
		s.buf.WriteString("event: " + oneLine(f.Event) + "\n")
	}
	// Every line of the data is its own data field; the client joins them
	// with newlines again. (Compact JSON has none.)
	data := f.Data
	if bytes.ContainsAny(data, "\r\n") {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\n"), []byte("\ndata: "))
	}
	s.buf.WriteString("data: ")
	s.buf.Write(data)
	s.buf.WriteString("\n\n")
	if s.buf.Len() >= sseFlushAt {
		return s.flush()
	}
	return nil
}

// Flush writes the buffered events.
func (s *SSE) Flush(context.Context) error {
	if s.started && s.buf.Len() == 0 {
		return nil
	}
	return s.flush()
}

// Heartbeat writes a comment, which clients ignore and proxies see as
// traffic.
func (s *SSE) Heartbeat(context.Context) error {
	s.buf.WriteString(": heartbeat\n\n")
	return s.flush()
}

// WS is a WebSocket stream: each frame's Data is one text message.
type WS struct {
	c       *websocket.Conn
	timeout time.Duration
}

var _ Sink = (*WS)(nil)

// NewWS wraps an accepted WebSocket. Someone must be reading from it (for
// the pongs that Heartbeat waits for, and to notice that it closed).
func NewWS(c *websocket.Conn, writeTimeout time.Duration) *WS {
	if writeTimeout <= 0 {
		writeTimeout = DefaultWriteTimeout
	}
	return &WS{c: c, timeout: writeTimeout}
}

// Send writes f.Data as a text message.
func (s *WS) Send(ctx context.Context, f Frame) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.c.Write(ctx, websocket.MessageText, f.Data)
}

// Flush does nothing: Send writes each message.
func (s *WS) Flush(context.Context) error { return nil }

// Heartbeat pings the peer and waits for its pong.
func (s *WS) Heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.c.Ping(ctx)
}
