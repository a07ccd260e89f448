package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// eventsEnv is an API server with the event bus; replica adds another
// server on the same database and pub/sub.
type eventsEnv struct {
	*env
	bus *events.Bus
	ps  realtime.PubSub
	cfg events.Config
}

func newEventsEnv(t *testing.T, st *store.Store, cfg events.Config) *eventsEnv {
	t.Helper()
	e := newEnv(t, st, envOpts{})
	ps := realtime.NewMemory()
	t.Cleanup(func() { _ = ps.Close() })
	ee := &eventsEnv{env: e, ps: ps, cfg: cfg}
	ee.url, ee.bus = ee.server(t)
	return ee
}

// server starts an API server on the env's database and pub/sub, with the
// env's clock.
func (ee *eventsEnv) server(t *testing.T) (string, *events.Bus) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(ee.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := ee.cfg
	cfg.Now = ee.clock.Now
	bus := events.New(ee.st, ee.ps, cfg, log)
	svc := auth.New(ee.st, auth.Config{Now: ee.clock.Now}, log)
	h := api.New(api.Deps{Auth: svc, Events: bus}, api.Options{AllowedOrigins: []string{"http://app.example"}, Version: "test", Ready: ee.st.Ping}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		bus.StopStreams()
		srv.Close()
	})
	return srv.URL, bus
}

func (ee *eventsEnv) publish(t *testing.T, token, typ string, data any) events.Event {
	t.Helper()
	u := ee.userOf(token)
	e, err := ee.bus.Publish(context.Background(), u["id"].(string), events.Input{Type: typ, SessionID: "sess-1", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (ee *eventsEnv) ticket(t *testing.T, token string) string {
	t.Helper()
	r := ee.call("POST", "/api/events/ticket", token, nil)
	expect(t, r, 200, "")
	return r.str("ticket")
}

// sseFrame is one dispatched Server-Sent Event.
type sseFrame struct {
	ID, Event string
	Data      map[string]any
}

// sseStream reads a text/event-stream response.
type sseStream struct {
	res        *http.Response
	frames     chan sseFrame
	heartbeats chan struct{}
	done       chan error
	cancel     context.CancelFunc
}

// openSSE starts GET base+path; a non-200 answer is returned as a resp.
func openSSE(t *testing.T, base, path, token string, hdr ...string) (*sseStream, *resp) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		defer cancel()
		defer res.Body.Close()
		var raw []byte
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		raw = buf[:n]
		out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
		_ = json.Unmarshal(raw, &out.Body)
		return nil, &out
	}
	s := &sseStream{res: res, frames: make(chan sseFrame, 10000), heartbeats: make(chan struct{}, 10000), done: make(chan error, 1), cancel: cancel}
	go s.read()
	t.Cleanup(s.close)
	return s, nil
}

func (s *sseStream) read() {
	defer s.res.Body.Close()
	sc := bufio.NewScanner(s.res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var f sseFrame
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				_ = json.Unmarshal([]byte(strings.Join(data, "\n")), &f.Data)
				s.frames <- f
			}
			f, data = sseFrame{}, nil
		case strings.HasPrefix(line, ":"):
			s.heartbeats <- struct{}{}
		case strings.HasPrefix(line, "id: "):
			f.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
	s.done <- sc.Err()
	close(s.frames)
}

func (s *sseStream) close() { s.cancel() }

func (s *sseStream) next(t *testing.T) sseFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatal("stream ended while a frame was expected")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	panic("unreachable")
}

func (s *sseStream) quiet(t *testing.T) {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if ok {
			t.Fatalf("unexpected frame %+v", f)
		}
	case <-time.After(150 * time.Millisecond):
	}
}

// ended waits for the server to end the stream.
func (s *sseStream) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.frames:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream not ended within 10s")
		}
	}
}

func expectFrame(t *testing.T, f sseFrame, typ, id string) {
	t.Helper()
	if f.Data["type"] != typ || (id != "" && (f.ID != id || f.Data["id"] != id)) {
		t.Fatalf("got %+v, want %s %s", f, typ, id)
	}
	isControl := typ == events.FrameReady || typ == events.FrameReset
	if isControl && f.Event != typ || !isControl && f.Event != "" {
		t.Fatalf("SSE event name %q for a %s frame", f.Event, typ)
	}
}

func TestEventTicketIssue(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{})
		expect(t, ee.call("POST", "/api/events/ticket", "", nil), 401, "UNAUTHORIZED")
		tok := ee.register("ada@example.com", pw)
		r := ee.call("POST", "/api/events/ticket", tok, nil)
		expect(t, r, 200, "")
		if tk := r.str("ticket"); !strings.HasPrefix(tk, "et_") || len(tk) != 67 {
			t.Fatalf("ticket %q", tk)
		}
		exp, err := time.Parse(time.RFC3339, r.str("expiresAt"))
		if err != nil || exp.Sub(ee.clock.Now()) < 4*time.Minute || exp.Sub(ee.clock.Now()) > 5*time.Minute {
			t.Fatalf("expiresAt %q, want five minutes from now", r.str("expiresAt"))
		}
		if strings.Contains(string(r.Raw), "tokenHash") {
			t.Fatalf("ticket response leaks internals: %s", r.Raw)
		}
	})
}

func TestSSEDeliversOwnEventsAndResumes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{Heartbeat: 50 * time.Millisecond})
		ada := ee.register("ada@example.com", pw)
		bobTok := registerInvited(t, ee.env, ada, "bob@example.com")

		s, r := openSSE(t, ee.url, "/api/events", ada)
		if r != nil {
			t.Fatalf("GET /api/events: %d %s", r.Status, r.Raw)
		}
		if ct := s.res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("Content-Type %q", ct)
		}
		if s.res.Header.Get("X-Accel-Buffering") != "no" || !strings.Contains(s.res.Header.Get("Cache-Control"), "no-cache") {
			t.Fatalf("stream headers %v", s.res.Header)
		}
		ready := s.next(t)
		expectFrame(t, ready, events.FrameReady, "")
		bobStream, _ := openSSE(t, ee.url, "/api/events", bobTok)
		expectFrame(t, bobStream.next(t), events.FrameReady, "")

		e1 := ee.publish(t, ada, "session.update", map[string]string{"status": "running"})
		f := s.next(t)
		expectFrame(t, f, "session.update", e1.ID)
		if f.Data["sessionId"] != "sess-1" || f.Data["userId"] != ee.userOf(ada)["id"] || f.Data["timestamp"] == "" ||
			f.Data["data"].(map[string]any)["status"] != "running" {
			t.Fatalf("event body %+v", f.Data)
		}
		bobStream.quiet(t) // nobody else's events
		// Heartbeats keep the idle stream alive.
		select {
		case <-s.heartbeats:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat")
		}

		// The client goes away; events happen; it comes back to another
		// replica with Last-Event-ID (as EventSource does) and gets them.
		s.close()
		e2 := ee.publish(t, ada, "question.asked", map[string]string{"questionId": "q1"})
		e3 := ee.publish(t, ada, "session.completed", nil)
		replica, _ := ee.server(t)
		s2, r := openSSE(t, replica, "/api/events", ada, "Last-Event-ID", e1.ID)
		if r != nil {
			t.Fatalf("resume: %d %s", r.Status, r.Raw)
		}
		expectFrame(t, s2.next(t), events.FrameReady, e1.ID)
		expectFrame(t, s2.next(t), "question.asked", e2.ID)
		expectFrame(t, s2.next(t), "session.completed", e3.ID)
		// ?lastEventId= does the same for a new stream.
		s3, _ := openSSE(t, ee.url, "/api/events?lastEventId="+e2.ID, ada)
		expectFrame(t, s3.next(t), events.FrameReady, e2.ID)
		expectFrame(t, s3.next(t), "session.completed", e3.ID)

		// An id the store cannot continue: an explicit reset to the end.
		s4, _ := openSSE(t, ee.url, "/api/events", ada, "Last-Event-ID", "0123456789ab:2")
		expectFrame(t, s4.next(t), events.FrameReset, e3.ID)
		e4 := ee.publish(t, ada, "notification", map[string]string{"category": "x"})
		expectFrame(t, s4.next(t), "notification", e4.ID)

		// Bad input changes nothing and says what is wrong.
		_, r = openSSE(t, ee.url, "/api/events?lastEventId=garbage", ada)
		if r == nil || r.Status != 400 || r.Body["code"] != "VALIDATION_ERROR" {
			t.Fatalf("malformed lastEventId: %+v", r)
		}
	})
}

// registerInvited signs up email through an invite created by admin.
func registerInvited(t *testing.T, e *env, admin, email string) string {
	t.Helper()
	r := e.call("POST", "/api/admin/invites", admin, map[string]any{"email": email})
	if r.Status != 201 && r.Status != 200 {
		t.Fatalf("invite: %d %s", r.Status, r.Raw)
	}
	return e.register(email, pw)
}

func TestEventStreamAuthentication(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{Recheck: 50 * time.Millisecond})
		tok := ee.register("ada@example.com", pw)
		for _, path := range []string{"/api/events", "/api/events/ws"} {
			hdr := []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
			expect(t, ee.call("GET", path, "", nil, hdr...), 401, "UNAUTHORIZED")
			expect(t, ee.call("GET", path, "not-a-token", nil, hdr...), 401, "UNAUTHORIZED")
			expect(t, ee.call("GET", path+"?ticket=et_nope", "", nil, hdr...), 401, "UNAUTHORIZED")
		}

		// A key revoked while its stream is open ends the stream.
		r := ee.call("POST", "/api/api-keys", tok, map[string]any{"name": "stream"})
		expect(t, r, 201, "")
		key, keyID := r.str("token"), r.str("id")
		s, _ := openSSE(t, ee.url, "/api/events", key)
		expectFrame(t, s.next(t), events.FrameReady, "")
		expect(t, ee.call("DELETE", "/api/api-keys/"+keyID, tok, nil), 200, "")
		s.ended(t)
		_, res := openSSE(t, ee.url, "/api/events", key)
		if res == nil || res.Status != 401 {
			t.Fatalf("revoked key: %+v", res)
		}

		// An expired login: refused, and an open stream ends.
		s, _ = openSSE(t, ee.url, "/api/events", tok)
		expectFrame(t, s.next(t), events.FrameReady, "")
		ee.clock.Advance(8 * 24 * time.Hour)
		s.ended(t)
		_, res = openSSE(t, ee.url, "/api/events", tok)
		if res == nil || res.Status != 401 || res.Body["code"] != "UNAUTHORIZED" {
			t.Fatalf("expired login: %+v", res)
		}
	})
}

func TestEventTicketRules(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{})
		tok := ee.register("ada@example.com", pw)
		tk := ee.ticket(t, tok)

		s, r := openSSE(t, ee.url, "/api/events?ticket="+tk, "")
		if r != nil {
			t.Fatalf("first use: %d %s", r.Status, r.Raw)
		}
		ready := s.next(t)
		expectFrame(t, ready, events.FrameReady, "")
		e1 := ee.publish(t, tok, "session.update", nil)
		expectFrame(t, s.next(t), "session.update", e1.ID)

		// Reused to open another stream: refused.
		_, r = openSSE(t, ee.url, "/api/events?ticket="+tk, "")
		if r == nil || r.Status != 401 || !strings.Contains(r.Body["error"].(string), "already used") {
			t.Fatalf("reused ticket: %+v", r)
		}
		// Reused to resume while the stream is still open: refused.
		_, r = openSSE(t, ee.url, "/api/events?ticket="+tk, "", "Last-Event-ID", e1.ID)
		if r == nil || r.Status != 401 {
			t.Fatalf("ticket resumed while held: %+v", r)
		}
		// EventSource's reconnect after the stream dropped: accepted, on
		// any replica, and nothing is missed.
		s.close()
		e2 := ee.publish(t, tok, "session.update", nil)
		replica, _ := ee.server(t)
		var s2 *sseStream
		// The first stream lets go of the ticket as its handler ends.
		eventually.NoError(t, 10*time.Second, "reconnect with Last-Event-ID", func() error {
			s2, r = openSSE(t, replica, "/api/events?ticket="+tk, "", "Last-Event-ID", e1.ID)
			if r != nil {
				return fmt.Errorf("%d %s", r.Status, r.Raw)
			}
			return nil
		})
		expectFrame(t, s2.next(t), events.FrameReady, e1.ID)
		expectFrame(t, s2.next(t), "session.update", e2.ID)
		s2.close()

		// Expired: refused, even to resume.
		ee.clock.Advance(5*time.Minute + time.Second)
		_, r = openSSE(t, ee.url, "/api/events?ticket="+tk, "", "Last-Event-ID", e2.ID)
		if r == nil || r.Status != 401 || !strings.Contains(r.Body["error"].(string), "expired") {
			t.Fatalf("expired ticket: %+v", r)
		}
		// A ticket acts for its login: after logout it is worthless.
		tk2 := ee.ticket(t, tok)
		expect(t, ee.call("POST", "/api/auth/logout", tok, nil), 200, "")
		_, r = openSSE(t, ee.url, "/api/events?ticket="+tk2, "")
		if r == nil || r.Status != 401 {
			t.Fatalf("ticket of a logged-out login: %+v", r)
		}
		// Tickets never reach the logs.
		for _, secret := range []string{tk, tk2} {
			if strings.Contains(ee.logs.String(), secret) {
				t.Fatalf("log leaks ticket %s", secret)
			}
		}
	})
}

// wsDial opens the event WebSocket.
func wsDial(t *testing.T, base, path string, hdr http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+path, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: subprotocols})
	if err == nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, res, err
}

func wsNext(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return m
}

func TestEventWebSocket(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{Recheck: 50 * time.Millisecond})
		tok := ee.register("ada@example.com", pw)
		// Not a WebSocket request: upstream's 426.
		r := ee.call("GET", "/api/events/ws", tok, nil)
		expect(t, r, 426, "UPGRADE_REQUIRED")
		if r.str("error") != "Expected WebSocket upgrade" {
			t.Fatalf("426 body %s", r.Raw)
		}

		// Browsers authenticate with the subprotocol pair.
		c, res, err := wsDial(t, ee.url, "/api/events/ws", nil, "valet", "bearer."+tok)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if res.Header.Get("Sec-WebSocket-Protocol") != "valet" {
			t.Fatalf("subprotocol %q", res.Header.Get("Sec-WebSocket-Protocol"))
		}
		ready := wsNext(t, c)
		if ready["type"] != events.FrameReady {
			t.Fatalf("first frame %v", ready)
		}
		e1 := ee.publish(t, tok, "session.started", map[string]string{"workspace": "w"})
		if m := wsNext(t, c); m["type"] != "session.started" || m["id"] != e1.ID || m["sessionId"] != "sess-1" {
			t.Fatalf("event frame %v", m)
		}
		ctx := context.Background()
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","eventTypes":["x"]}`)); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if m := wsNext(t, c); m["type"] != "pong" {
			t.Fatalf("ping answered with %v", m)
		}
		e2 := ee.publish(t, tok, "session.update", nil)
		if m := wsNext(t, c); m["id"] != e2.ID {
			t.Fatalf("after ping: %v", m)
		}
		_ = c.Close(websocket.StatusNormalClosure, "")

		// Bearer header, a ticket (once), and resuming with ?lastEventId=.
		e3 := ee.publish(t, tok, "question.asked", nil)
		c, _, err = wsDial(t, ee.url, "/api/events/ws?lastEventId="+e1.ID, http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{e1.ID, e2.ID, e3.ID} {
			if m := wsNext(t, c); m["id"] != want {
				t.Fatalf("resumed stream: got %v, want id %s", m, want)
			}
		}
		tk := ee.ticket(t, tok)
		ct, _, err := wsDial(t, ee.url, "/api/events/ws?ticket="+tk, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m := wsNext(t, ct); m["type"] != events.FrameReady {
			t.Fatalf("ticket socket: %v", m)
		}
		if _, res, err := wsDial(t, ee.url, "/api/events/ws?ticket="+tk, nil); err == nil || res == nil || res.StatusCode != 401 {
			t.Fatalf("reused ticket on the socket: %v %v", res, err)
		}

		// Logging out closes the socket with a policy violation.
		expect(t, ee.call("POST", "/api/auth/logout", tok, nil), 200, "")
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			_, _, err := c.Read(rctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
					t.Fatalf("socket of a logged-out user ended with %v, want policy violation", err)
				}
				break
			}
		}
		if _, res, err := wsDial(t, ee.url, "/api/events/ws", http.Header{"Authorization": {"Bearer " + tok}}); err == nil || res == nil || res.StatusCode != 401 {
			t.Fatalf("logged-out token on the socket: %v %v", res, err)
		}
	})
}

// A client that never reads is dropped once a write to it stalls past the
// write timeout; it does not hold back the others or the publisher.
func TestSubscriberThatNeverReads(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ee := newEventsEnv(t, st, events.Config{WriteTimeout: 300 * time.Millisecond, QueueSize: 8})
		tok := ee.register("ada@example.com", pw)

		// Stuck clients: they read the response head, then nothing, with
		// the smallest receive buffer the kernel allows.
		stuck := func(path string, hdr string) net.Conn {
			conn, err := net.Dial("tcp", strings.TrimPrefix(ee.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			_ = conn.(*net.TCPConn).SetReadBuffer(1024)
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n", path, tok, hdr)
			return conn
		}
		stuck("/api/events", "")
		stuck("/api/events/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
		reader, _ := openSSE(t, ee.url, "/api/events", tok)
		expectFrame(t, reader.next(t), events.FrameReady, "")
		eventually.NoError(t, 10*time.Second, "3 streams", func() error {
			if n := ee.bus.Streams(); n != 3 {
				return fmt.Errorf("%d streams, want 3", n)
			}
			return nil
		})

		big := strings.Repeat("x", 32<<10)
		published := 0
		for ee.bus.Streams() > 1 {
			if published > 2000 {
				t.Fatalf("stuck clients still served after %d events of 32 KiB", published)
			}
			start := time.Now()
			e := ee.publish(t, tok, "notification", map[string]string{"body": big})
			if time.Since(start) > 5*time.Second {
				t.Fatalf("publishing took %s with stuck clients", time.Since(start))
			}
			published++
			if f := reader.next(t); f.ID != e.ID {
				t.Fatalf("reading client got %s, want %s", f.ID, e.ID)
			}
		}
		t.Logf("stuck clients dropped after %d events of 32 KiB", published)
		// The reader is still served.
		e := ee.publish(t, tok, "notification", nil)
		if f := reader.next(t); f.ID != e.ID {
			t.Fatalf("after the drop: %s", f.ID)
		}
	})
}
