package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// server is a running agentops with a registered user.
type server struct {
	t     *testing.T
	url   string
	token string
	cfg   app.Config
}

// startServer runs Serve with local (or external) sandboxes whose runners
// are this test binary, and registers a first user.
func startServer(t *testing.T, d store.Dialect, sandboxKind string, tweak ...func(*app.Config)) *server {
	t.Helper()
	cfg := newConfig(t, d)
	for _, f := range tweak {
		f(&cfg)
	}
	cfg.Listen = freeAddr(t)
	cfg.PublicURL = ""
	cfg.AllowedOrigins = nil
	cfg.Sandbox = sandboxKind
	if cfg.RunnerCommand == nil {
		cfg.RunnerCommand = []string{os.Args[0], "runner"}
	}
	cfg.StopRunnersOnShutdown = true
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a := mustOpen(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	s := &server{t: t, url: "http://" + cfg.Listen, cfg: cfg}
	eventually.NoError(t, 15*time.Second, "the server to be ready", func() error { return ready(http.DefaultClient, s.url) })
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	s.token = reg.SessionToken
	return s
}

// call sends a JSON request and returns the status and body.
func (s *server) call(method, path, token string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

func (s *server) mustJSON(method, path, token string, body any, status int, out any) {
	s.t.Helper()
	code, raw := s.call(method, path, token, body)
	if code != status {
		s.t.Fatalf("%s %s: %d %s (want %d)", method, path, code, raw, status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

type createdSession struct {
	Session struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Agent  string `json:"agent"`
	} `json:"session"`
	Runner *struct {
		Command string `json:"command"`
	} `json:"runner"`
}

func (s *server) createSession(body map[string]any) createdSession {
	s.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["workspace"]; !ok {
		body["workspace"] = "demo"
	}
	var c createdSession
	s.mustJSON("POST", "/api/sessions", s.token, body, 201, &c)
	return c
}

// wsClient is a browser socket that records every frame.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan map[string]any
	mu     sync.Mutex
	all    []map[string]any
	closed chan struct{}
	status websocket.StatusCode
}

func (s *server) dial(id, token string) *wsClient {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=client"
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + token}})
	if err != nil {
		s.t.Fatalf("dial %s: %v (%v)", u, err, res)
	}
	if c.Subprotocol() != "valet" {
		s.t.Fatalf("server must answer the valet subprotocol, got %q", c.Subprotocol())
	}
	c.SetReadLimit(4 << 20)
	w := &wsClient{t: s.t, c: c, frames: make(chan map[string]any, 100000), closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				w.status = websocket.CloseStatus(err)
				return
			}
			var f map[string]any
			if json.Unmarshal(data, &f) == nil {
				w.mu.Lock()
				w.all = append(w.all, f)
				w.mu.Unlock()
				w.frames <- f
			}
		}
	}()
	s.t.Cleanup(func() { c.CloseNow() })
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

// ready is nil once GET url/ready answers 200.
func ready(c *http.Client, url string) error {
	res, err := c.Get(url + "/ready")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready answered %d", res.StatusCode)
	}
	return nil
}

// waitFor returns the first frame (from now on) for which match is true.
func (w *wsClient) waitFor(what string, match func(f map[string]any) bool) map[string]any {
	w.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case f := <-w.frames:
			if match(f) {
				return f
			}
		case <-w.closed:
			w.t.Fatalf("socket closed (%d) while waiting for %s", w.status, what)
		case <-timeout:
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func typ(t string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == t }
}

func statusData(f map[string]any) map[string]any {
	d, _ := f["data"].(map[string]any)
	return d
}

// waitReady waits until the session's runner is connected and idle.
func (w *wsClient) waitReady() {
	w.t.Helper()
	w.waitFor("runner ready", func(f map[string]any) bool {
		if f["type"] == "init" {
			d := statusData(f)
			return d["runnerReady"] == true && d["runnerBusy"] == false
		}
		return f["type"] == "agentStatus" && f["status"] == "idle"
	})
}

// turnDone waits for the end of a prompt: busy cleared.
func (w *wsClient) turnDone() {
	w.t.Helper()
	w.waitFor("runnerBusy false", func(f map[string]any) bool {
		return f["type"] == "status" && statusData(f)["runnerBusy"] == false
	})
}

type message struct {
	ID      string           `json:"id"`
	Role    string           `json:"role"`
	Content string           `json:"content"`
	Parts   []map[string]any `json:"parts"`
}

func (s *server) messages(id string) []message {
	s.t.Helper()
	var out struct{ Messages []message }
	s.mustJSON("GET", "/api/sessions/"+id+"/messages", s.token, nil, 200, &out)
	return out.Messages
}

func partsOfType(m message, typ string) []map[string]any {
	var out []map[string]any
	for _, p := range m.Parts {
		if p["type"] == typ {
			out = append(out, p)
		}
	}
	return out
}

func TestSessionTurnEndToEnd(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		c := s.createSession(map[string]any{"title": "first"})
		id := c.Session.ID
		if c.Session.Status != "running" {
			t.Fatalf("a new local session is running once its sandbox started: %s", c.Session.Status)
		}
		b := s.dial(id, s.token)
		b.waitReady()

		// Paced (/slow), so that a browser that keeps up sees each delta as
		// its own chunk frame: deltas that wait in a socket's queue merge.
		b.send(map[string]any{"type": "prompt", "content": "hello there\n/slow 50\n/tool bash completed {\"command\":\"ls\"}"})
		user := b.waitFor("user message", typ("message"))
		if d := statusData(user); d["role"] != "user" || d["content"] == "" {
			t.Fatalf("user message: %v", user)
		}
		asst := b.waitFor("assistant message", typ("message"))
		asstID := statusData(asst)["id"].(string)
		var text strings.Builder
		chunks := 0
		var sawTool, sawFinish bool
		for !sawFinish {
			f := b.waitFor("turn frames", func(f map[string]any) bool { return true })
			switch f["type"] {
			case "chunk":
				if f["messageId"] != asstID {
					t.Fatalf("chunk for another message: %v", f)
				}
				if int(f["offset"].(float64)) != text.Len() {
					t.Fatalf("chunk offset %v, want %d", f["offset"], text.Len())
				}
				text.WriteString(f["content"].(string))
				chunks++
			case "message.updated":
				parts, _ := statusData(f)["parts"].([]any)
				for _, p := range parts {
					pm := p.(map[string]any)
					if pm["type"] == "tool-call" && pm["status"] == "completed" {
						sawTool = true
					}
					if pm["type"] == "finish" {
						sawFinish = true
					}
				}
			}
		}
		b.turnDone()
		if chunks < 3 {
			t.Fatalf("want at least 3 chunks, got %d", chunks)
		}
		if text.String() != "You said: hello there" {
			t.Fatalf("streamed text %q", text.String())
		}
		if !sawTool {
			t.Fatal("the tool call must reach browsers as completed")
		}
		msgs := s.messages(id)
		if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "assistant" {
			t.Fatalf("transcript: %+v", msgs)
		}
		if msgs[1].Content != "You said: hello there" || len(partsOfType(msgs[1], "tool-call")) != 1 || len(partsOfType(msgs[1], "finish")) != 1 {
			t.Fatalf("assistant message persisted with its parts: %+v", msgs[1])
		}
		if partsOfType(msgs[1], "finish")[0]["reason"] != "end_turn" {
			t.Fatalf("finish reason: %+v", msgs[1].Parts)
		}

		// The REST view of the live session.
		var got struct {
			Session  map[string]any
			DoStatus map[string]any
		}
		s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
		if got.DoStatus["runnerConnected"] != true || got.DoStatus["runnerBusy"] != false || got.DoStatus["jointState"] != "running_idle" ||
			got.DoStatus["connectedClients"] != 1.0 || got.Session["title"] != "first" {
			t.Fatalf("status: %+v", got)
		}
	})
}

func TestSecondPromptWaitsAndAbort(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()

	b.send(map[string]any{"type": "prompt", "content": "one\n/slow 30\n/chunks 10"})
	b.waitFor("first chunk", typ("chunk"))
	b.send(map[string]any{"type": "prompt", "content": "two"})
	q := b.waitFor("queue.state", typ("queue.state"))
	if statusData(q)["pending"] == nil {
		t.Fatalf("the second prompt must wait in the queue: %v", q)
	}
	b.turnDone() // the first
	b.turnDone() // the second
	msgs := s.messages(id)
	var roles, contents []string
	for _, m := range msgs {
		roles = append(roles, m.Role)
		contents = append(contents, m.Content)
	}
	if strings.Join(roles, ",") != "user,assistant,user,assistant" || contents[3] != "You said: two" || contents[1] != "You said: one" {
		t.Fatalf("transcript order: %v %q", roles, contents)
	}

	// Abort a slow turn.
	b.send(map[string]any{"type": "prompt", "content": "three\n/slow 200\n/chunks 50"})
	b.waitFor("a chunk of three", typ("chunk"))
	b.send(map[string]any{"type": "abort"})
	b.turnDone()
	msgs = s.messages(id)
	last := msgs[len(msgs)-1]
	fin := partsOfType(last, "finish")
	if len(fin) != 1 || fin[0]["reason"] != "canceled" {
		t.Fatalf("aborted turn must finish canceled: %+v", last)
	}
	// The session goes on.
	b.send(map[string]any{"type": "prompt", "content": "four"})
	b.turnDone()
	msgs = s.messages(id)
	if msgs[len(msgs)-1].Content != "You said: four" {
		t.Fatalf("after abort: %+v", msgs[len(msgs)-1])
	}
}

func TestTwoBrowsersSeeTheSameStream(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b1 := s.dial(id, s.token)
	b1.waitReady()
	b2 := s.dial(id, s.token)
	b2.waitFor("init", typ("init"))
	b1.send(map[string]any{"type": "prompt", "content": "shared\n/chunks 20"})
	b1.turnDone()
	b2.turnDone()
	collect := func(w *wsClient) string {
		w.mu.Lock()
		defer w.mu.Unlock()
		var sb strings.Builder
		for _, f := range w.all {
			if f["type"] == "chunk" {
				sb.WriteString(f["content"].(string))
			}
		}
		return sb.String()
	}
	if a, b := collect(b1), collect(b2); a != "You said: shared" || a != b {
		t.Fatalf("both browsers must see the same stream: %q vs %q", a, b)
	}
}

func TestSessionBadInput(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()

	// Invalid JSON and unknown types get an error frame; the socket stays up.
	if err := b.c.Write(context.Background(), websocket.MessageText, []byte("{nope")); err != nil {
		t.Fatal(err)
	}
	b.waitFor("error for invalid JSON", typ("error"))
	b.send(map[string]any{"type": "launch-missiles"})
	b.waitFor("error for an unknown type", typ("error"))
	b.send(map[string]any{"type": "prompt", "content": ""})
	b.waitFor("error for an empty prompt", typ("error"))
	b.send(map[string]any{"type": "ping"})
	b.waitFor("pong", typ("pong"))

	// A wrong runner token is refused before any upgrade.
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=runner&token=rt_wrong"
	_, res, err := websocket.Dial(context.Background(), u, nil)
	if err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("wrong runner token: %v %v", err, res)
	}

	// An oversized frame closes the socket with 1009.
	big := s.dial(id, s.token)
	big.waitFor("init", typ("init"))
	_ = big.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"prompt","content":"`+strings.Repeat("x", 2<<20)+`"}`))
	select {
	case <-big.closed:
		if big.status != websocket.StatusMessageTooBig {
			t.Fatalf("oversized frame: close status %d", big.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an oversized frame must close the socket")
	}

	// Another user's session does not exist for them.
	var other struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "x@example.com", "password": "a long passphrase"}, 400, nil)
	_ = other
	var key struct{ Token string }
	s.mustJSON("POST", "/api/admin/invites", s.token, map[string]any{"email": "mallory@example.com"}, 201, nil)
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "mallory@example.com", "password": "a long passphrase"}, 200, &reg)
	_ = key
	for _, rt := range [][2]string{{"GET", ""}, {"GET", "/messages"}, {"POST", "/prompt"}, {"DELETE", ""}, {"PATCH", ""}, {"POST", "/hibernate"}} {
		code, raw := s.call(rt[0], "/api/sessions/"+id+rt[1], reg.SessionToken, map[string]any{"content": "hi", "title": "x"})
		if code != 404 {
			t.Fatalf("%s %s as another user: %d %s", rt[0], rt[1], code, raw)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err = websocket.Dial(ctx, strings.Replace(s.url, "http://", "ws://", 1)+"/api/sessions/"+id+"/ws?role=client",
		&websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + reg.SessionToken}})
	if err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("another user's socket: %v %v", err, res)
	}

	// Prompts to a terminated session.
	s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
	code, raw := s.call("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "late"})
	if code != 409 {
		t.Fatalf("prompt to a terminated session: %d %s", code, raw)
	}
	code, _ = s.call("POST", "/api/sessions/"+id+"/messages", s.token, map[string]any{"content": "late"})
	if code != 400 {
		t.Fatalf("simple prompt to a terminated session: %d (upstream answers 400)", code)
	}
	// Browser sockets stay open when the session ends, as upstream's do
	// (its client reconnected about once a second to a socket closed with
	// 4004), and a new one gets an init that says the session ended.
	b.waitFor("status terminated", func(f map[string]any) bool {
		return f["type"] == "status" && statusData(f)["status"] == "terminated"
	})
	late := s.dial(id, s.token)
	init := late.waitFor("init", typ("init"))
	if sess, _ := init["session"].(map[string]any); sess["status"] != "terminated" {
		t.Fatalf("init of a terminated session: %v", init)
	}
	for _, w := range []*wsClient{b, late} {
		w.send(map[string]any{"type": "ping"})
		w.waitFor("pong after the end", typ("pong"))
	}
	// A deleted session's socket closes with 4004, and a new one is a 404.
	s.mustJSON("POST", "/api/sessions/bulk-delete", s.token, map[string]any{"sessionIds": []string{id}}, 200, nil)
	select {
	case <-late.closed:
		if late.status != 4004 {
			t.Fatalf("socket of a deleted session: close %d", late.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deleting a session must close its sockets")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err = websocket.Dial(ctx, strings.Replace(s.url, "http://", "ws://", 1)+"/api/sessions/"+id+"/ws?role=client",
		&websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + s.token}})
	if err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("socket to a deleted session: %v %v", err, res)
	}
}

func TestSessionREST(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "external") // nothing spawned: REST only
		var ids []string
		for i := range 5 {
			c := s.createSession(map[string]any{"title": fmt.Sprintf("s%d", i)})
			if c.Runner == nil || !strings.Contains(c.Runner.Command, "AGENTOPS_RUNNER_TOKEN=") || !strings.Contains(c.Runner.Command, c.Session.ID) {
				t.Fatalf("external sessions say how to start their runner: %+v", c.Runner)
			}
			ids = append(ids, c.Session.ID)
		}
		// Pagination, newest first, every session once.
		var seen []string
		cursor := ""
		for page := 0; page < 10; page++ {
			var out struct {
				Sessions []map[string]any
				Cursor   string
				HasMore  bool
			}
			path := "/api/sessions?limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			s.mustJSON("GET", path, s.token, nil, 200, &out)
			for _, ss := range out.Sessions {
				seen = append(seen, ss["id"].(string))
			}
			if !out.HasMore {
				break
			}
			cursor = out.Cursor
		}
		if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
			t.Fatalf("pages: %v (created %v)", seen, ids)
		}
		code, _ := s.call("GET", "/api/sessions?cursor=garbage", s.token, nil)
		if code != 400 {
			t.Fatalf("bad cursor: %d", code)
		}
		code, _ = s.call("GET", "/api/sessions?status=sleeping", s.token, nil)
		if code != 400 {
			t.Fatalf("bad status filter: %d", code)
		}
		code, _ = s.call("GET", "/api/sessions?limit=0", s.token, nil)
		if code != 400 {
			t.Fatalf("bad limit: %d", code)
		}

		s.mustJSON("PATCH", "/api/sessions/"+ids[0], s.token, map[string]any{"title": "renamed"}, 200, nil)
		s.mustJSON("DELETE", "/api/sessions/"+ids[1], s.token, nil, 200, nil)
		s.mustJSON("DELETE", "/api/sessions/"+ids[1], s.token, nil, 200, nil) // idempotent
		var filtered struct{ Sessions []map[string]any }
		s.mustJSON("GET", "/api/sessions?status=terminated", s.token, nil, 200, &filtered)
		if len(filtered.Sessions) != 1 || filtered.Sessions[0]["id"] != ids[1] {
			t.Fatalf("status filter: %+v", filtered)
		}
		var one struct{ Session map[string]any }
		s.mustJSON("GET", "/api/sessions/"+ids[0], s.token, nil, 200, &one)
		if one.Session["title"] != "renamed" {
			t.Fatalf("rename: %+v", one)
		}
		// Title search (the web client's search box), with the status filter.
		s.mustJSON("GET", "/api/sessions?q=RENAMED", s.token, nil, 200, &filtered)
		if len(filtered.Sessions) != 1 || filtered.Sessions[0]["id"] != ids[0] {
			t.Fatalf("q=RENAMED: %+v", filtered)
		}
		s.mustJSON("GET", "/api/sessions?q=s&status=terminated", s.token, nil, 200, &filtered)
		if len(filtered.Sessions) != 1 || filtered.Sessions[0]["id"] != ids[1] {
			t.Fatalf("q=s&status=terminated: %+v", filtered)
		}
		if code, _ := s.call("GET", "/api/sessions?q="+strings.Repeat("x", 201), s.token, nil); code != 400 {
			t.Fatalf("a 201-byte q: %d, want 400", code)
		}

		var bulk struct {
			Deleted int
			Errors  []any
		}
		s.mustJSON("POST", "/api/sessions/bulk-delete", s.token, map[string]any{"sessionIds": []string{ids[2], ids[3], "00000000-0000-0000-0000-000000000000"}}, 200, &bulk)
		if bulk.Deleted != 2 {
			t.Fatalf("bulk delete: %+v", bulk)
		}
		code, _ = s.call("GET", "/api/sessions/"+ids[2], s.token, nil)
		if code != 404 {
			t.Fatalf("bulk-deleted sessions are gone: %d", code)
		}
		code, _ = s.call("POST", "/api/sessions/bulk-delete", s.token, map[string]any{"sessionIds": []string{}})
		if code != 400 {
			t.Fatalf("empty bulk delete: %d", code)
		}

		// Bad create input.
		for _, body := range []map[string]any{{}, {"workspace": ""}, {"workspace": strings.Repeat("w", 101)}, {"workspace": 5}, {"workspace": "x", "agent": "gpt-9000"}} {
			code, raw := s.call("POST", "/api/sessions", s.token, body)
			if code != 400 {
				t.Fatalf("create %v: %d %s", body, code, raw)
			}
		}

		// The per-user limit of active sessions.
		for i := 0; ; i++ {
			code, raw := s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "more"})
			if code == 429 {
				var lim map[string]any
				_ = json.Unmarshal(raw, &lim)
				if lim["activeCount"] != 10.0 || lim["limit"] != 10.0 || lim["error"] == nil {
					t.Fatalf("limit body: %s", raw)
				}
				break
			}
			if code != 201 || i > 20 {
				t.Fatalf("create #%d: %d %s", i, code, raw)
			}
		}
		var models struct{ Models []map[string]any }
		s.mustJSON("GET", "/api/sessions/available-models", s.token, nil, 200, &models)
		if len(models.Models) == 0 || models.Models[0]["provider"] != "script" {
			t.Fatalf("available models: %+v", models)
		}
	})
}

func TestHibernateAndWake(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()
	b.send(map[string]any{"type": "prompt", "content": "before"})
	b.turnDone()
	var st struct{ Status string }
	s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, &st)
	if st.Status != "hibernated" {
		t.Fatalf("hibernate: %+v", st)
	}
	// A prompt to a hibernated session wakes it and runs when the runner is back.
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "after"}, 200, nil)
	eventually.NoError(t, 30*time.Second, "the prompt after wake", func() error {
		msgs := s.messages(id)
		if len(msgs) == 4 && msgs[3].Content == "You said: after" && len(partsOfType(msgs[3], "finish")) == 1 {
			return nil
		}
		return fmt.Errorf("prompt after wake: %+v", msgs)
	})
	var got struct{ Session map[string]any }
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	if got.Session["status"] != "running" {
		t.Fatalf("woken session: %+v", got.Session)
	}
	code, raw := s.call("POST", "/api/sessions/"+id+"/wake", s.token, nil)
	if code != 200 {
		t.Fatalf("wake of a running session is a no-op: %d %s", code, raw)
	}
}
