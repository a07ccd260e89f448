package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent/script"
)

const (
	testSession = "sess-1"
	testToken   = "tok-secret"
	waitFor     = 10 * time.Second // generous: -race on a loaded machine
)

// fakeServer plays the server side of the runner protocol: it checks the
// URL and token, sends the handshake (init with lastSeq, then the three
// configuration frames) and hands each connection to the test.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	persisted    atomic.Int64 // the lastSeq the next init carries
	autoAck      atomic.Bool  // ack every frame with a seq as it arrives
	omitLastSeq  atomic.Bool  // behave like an old server (init without lastSeq)
	rejectStatus atomic.Int32 // answer upgrades with this HTTP status
	closeOnOpen  atomic.Int32 // accept, then close with this code before init
	attempts     atomic.Int32

	conns chan *fakeConn

	// ctx ends every connection when the test ends; wg waits for the
	// handlers (httptest's Close does not wait for hijacked connections).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// rframe is one frame the runner sent, decoded and raw.
type rframe struct {
	protocol.RunnerFrame
	raw string
}

// fakeConn is one runner connection as the fake server sees it.
type fakeConn struct {
	t      *testing.T
	s      *fakeServer
	ws     *websocket.Conn
	frames chan rframe
	terms  chan protocol.TerminalFrame // terminal frames, which carry no seq
	pings  atomic.Int32
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, conns: make(chan *fakeConn, 16)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.autoAck.Store(true)
	s.srv = httptest.NewServer(s)
	t.Cleanup(func() {
		s.cancel()
		s.srv.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	if s.ctx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.attempts.Add(1)
	if r.URL.Path != "/api/sessions/"+testSession+"/ws" || r.URL.Query().Get("role") != protocol.RoleRunner {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if st := s.rejectStatus.Load(); st != 0 {
		http.Error(w, "rejected", int(st))
		return
	}
	if r.URL.Query().Get("token") != testToken {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	if code := s.closeOnOpen.Load(); code != 0 {
		ws.Close(websocket.StatusCode(code), "bad token")
		return
	}
	c := &fakeConn{t: s.t, s: s, ws: ws, frames: make(chan rframe, 4096), terms: make(chan protocol.TerminalFrame, 4096)}
	init := protocol.ServerFrame{Type: protocol.SInit, SessionID: testSession, Agent: "script"}
	if !s.omitLastSeq.Load() {
		last := s.persisted.Load()
		init.LastSeq = &last
	}
	ctx := s.ctx
	for _, f := range []protocol.ServerFrame{
		init,
		{Type: protocol.SOpencodeConf, Config: json.RawMessage(`{}`)},
		{Type: protocol.SPluginContent, PluginContent: json.RawMessage(`{}`)},
		{Type: protocol.SRepoConfig},
	} {
		if err := c.write(ctx, f); err != nil {
			ws.CloseNow()
			return
		}
	}
	s.conns <- c
	c.readLoop(ctx)
}

// readLoop records the runner's frames until the connection ends.
func (c *fakeConn) readLoop(ctx context.Context) {
	defer close(c.frames)
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		var f protocol.RunnerFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.s.t.Errorf("runner sent invalid JSON %q: %v", data, err)
			return
		}
		if protocol.IsTerminalFrame(f.Type) {
			var tf protocol.TerminalFrame
			if err := json.Unmarshal(data, &tf); err != nil {
				c.s.t.Errorf("terminal frame %q: %v", data, err)
				return
			}
			select {
			case c.terms <- tf:
			case <-ctx.Done():
				return
			}
			continue
		}
		if f.Type == protocol.RPing {
			if f.Seq != 0 {
				c.s.t.Errorf("ping with a seq: %s", data)
			}
			c.pings.Add(1)
			_ = c.write(ctx, protocol.ServerFrame{Type: protocol.SPong})
			continue
		}
		if f.Seq <= 0 {
			c.s.t.Errorf("frame without seq: %s", data)
		}
		if c.s.autoAck.Load() {
			c.ack(f.Seq)
		}
		select {
		case c.frames <- rframe{RunnerFrame: f, raw: string(data)}:
		case <-ctx.Done():
			return
		}
	}
}

func (c *fakeConn) write(ctx context.Context, f protocol.ServerFrame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// send writes a frame to the runner.
func (c *fakeConn) send(f protocol.ServerFrame) {
	c.t.Helper()
	if err := c.write(c.s.ctx, f); err != nil {
		c.t.Fatalf("send %s: %v", f.Type, err)
	}
}

// ack persists and acknowledges everything up to seq.
func (c *fakeConn) ack(seq int64) {
	for {
		p := c.s.persisted.Load()
		if seq <= p || c.s.persisted.CompareAndSwap(p, seq) {
			break
		}
	}
	_ = c.write(c.s.ctx, protocol.ServerFrame{Type: protocol.SAck, Seq: seq})
}

// next returns the runner's next frame (pings are answered and skipped).
func (c *fakeConn) next() rframe {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a frame")
		}
		return f
	case <-time.After(waitFor):
		c.t.Fatalf("no frame from the runner within %s", waitFor)
	}
	panic("unreachable")
}

// quiet asserts that no frame arrives for d.
func (c *fakeConn) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("unexpected frame %s", f.raw)
		}
	case <-time.After(d):
	}
}

// until reads frames up to and including the first that matches.
func (c *fakeConn) until(match func(rframe) bool) []rframe {
	c.t.Helper()
	var out []rframe
	for {
		f := c.next()
		out = append(out, f)
		if match(f) {
			return out
		}
	}
}

// turnEnd matches the idle that ends the turn of prompt m.
func turnEnd(m string) func(rframe) bool {
	return func(f rframe) bool {
		return f.Type == protocol.RAgentStatus && f.Status == protocol.AgentIdle && f.MessageID == m
	}
}

// expectReady reads the frames that follow init on an idle runner: the
// ready signal, then models.
func (c *fakeConn) expectReady() (idle, models rframe) {
	c.t.Helper()
	idle = c.next()
	if idle.Type != protocol.RAgentStatus || idle.Status != protocol.AgentIdle || idle.MessageID != "" {
		c.t.Fatalf("first frame after init = %s, want the ready agentStatus idle", idle.raw)
	}
	models = c.next()
	if models.Type != protocol.RModels || len(models.Models) != 1 || models.Models[0].Models[0].ID != "script/echo" {
		c.t.Fatalf("second frame after init = %s, want models", models.raw)
	}
	return idle, models
}

// conn waits for the runner's next connection.
func (s *fakeServer) conn() *fakeConn {
	s.t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(waitFor):
		s.t.Fatalf("the runner did not connect within %s", waitFor)
	}
	panic("unreachable")
}

// testConfig is a runner config for s with test-sized durations.
func (s *fakeServer) testConfig(t *testing.T) Config {
	return Config{
		ServerURL:    s.srv.URL,
		SessionID:    testSession,
		Token:        testToken,
		Agent:        script.New(),
		Workspace:    t.TempDir(),
		Logger:       testLogger(t),
		PingInterval: time.Hour,
		ReconnectMin: 2 * time.Millisecond,
		ReconnectMax: 20 * time.Millisecond,
		GiveUpAfter:  waitFor,
	}
}

// startRunner runs Run in the background; the returned channel gets its
// result. The runner is stopped and waited for when the test ends.
func startRunner(t *testing.T, cfg Config) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errc <- Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return after its context was canceled")
		}
	})
	return errc
}

// runResult waits for Run's result.
func runResult(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitFor):
		t.Fatalf("Run did not return within %s", waitFor)
	}
	return nil
}

// testLogger logs to the test's output with -v and RUNNER_TEST_LOG=1,
// and nowhere otherwise.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("RUNNER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// shape describes frames compactly: type, and the status or reason.
func shape(frames []rframe) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		switch f.Type {
		case protocol.RAgentStatus:
			out[i] = f.Type + ":" + f.Status
			if f.Detail != "" {
				out[i] += ":" + f.Detail
			}
		case protocol.RToolUpdate:
			out[i] = "tool:" + f.ToolName + ":" + f.Status
		case protocol.RMessageFinalize:
			out[i] = "finalize:" + f.Reason
		case protocol.RTextDelta:
			out[i] = "delta"
		default:
			out[i] = f.Type
		}
	}
	return out
}

// deltas concatenates the text deltas.
func deltas(frames []rframe) (text string, n int) {
	var b strings.Builder
	for _, f := range frames {
		if f.Type == protocol.RTextDelta {
			b.WriteString(f.Delta)
			n++
		}
	}
	return b.String(), n
}

// checkSeq asserts that seqs go up by exactly one from first.
func checkSeq(t *testing.T, frames []rframe, first int64) {
	t.Helper()
	for i, f := range frames {
		if want := first + int64(i); f.Seq != want {
			t.Fatalf("frame %d (%s) has seq %d, want %d", i, f.raw, f.Seq, want)
		}
	}
}

// repeat builds a shape fragment of n identical entries.
func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func join(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("join: %T", p))
		}
	}
	return out
}

func equalShape(t *testing.T, got []rframe, want []string) {
	t.Helper()
	g := shape(got)
	if strings.Join(g, " ") != strings.Join(want, " ") {
		t.Fatalf("frames:\n got  %v\n want %v", g, want)
	}
}
