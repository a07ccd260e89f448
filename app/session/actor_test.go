package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// conn records what the actor sends to a socket.
type conn struct {
	id, user string
	mu       sync.Mutex
	frames   []map[string]any
	closed   int
}

func newConn(user string) *conn { return &conn{id: uuid.NewString(), user: user} }

func (c *conn) ID() string     { return c.id }
func (c *conn) UserID() string { return c.user }
func (c *conn) Send(b []byte) bool {
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
	return true
}
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	c.closed = code
	c.mu.Unlock()
}

// take returns and forgets the frames received so far.
func (c *conn) take() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.frames
	c.frames = nil
	return out
}

func ofType(frames []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, f := range frames {
		if f["type"] == typ {
			out = append(out, f)
		}
	}
	return out
}

// fakeSandbox records lifecycle calls; it acts as a local provider.
type fakeSandbox struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSandbox) rec(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}
func (f *fakeSandbox) count(s string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == s {
			n++
		}
	}
	return n
}
func (f *fakeSandbox) Name() string { return "local" }
func (f *fakeSandbox) Spawn(ctx context.Context, r sandbox.SpawnRequest) (sandbox.Sandbox, error) {
	f.rec("spawn")
	return sandbox.Sandbox{ID: "fake"}, nil
}
func (f *fakeSandbox) Hibernate(ctx context.Context, id string) error { f.rec("hibernate"); return nil }
func (f *fakeSandbox) Restore(ctx context.Context, r sandbox.SpawnRequest) (sandbox.Sandbox, error) {
	f.rec("restore")
	return sandbox.Sandbox{ID: "fake"}, nil
}
func (f *fakeSandbox) Terminate(ctx context.Context, id string) error       { f.rec("terminate"); return nil }
func (f *fakeSandbox) RemoveWorkspace(ctx context.Context, id string) error { return nil }
func (f *fakeSandbox) Close() error                                         { return nil }

type harness struct {
	t     *testing.T
	st    *store.Store
	m     *session.Manager
	clock *clockwork.FakeClock
	sb    *fakeSandbox
	user  *store.User
}

func newHarness(t *testing.T, st *store.Store, mode string) *harness {
	t.Helper()
	h := &harness{t: t, st: st, clock: clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), sb: &fakeSandbox{}}
	h.user = &store.User{ID: uuid.NewString(), Email: "o@example.com", Role: "admin", IdleTimeoutSeconds: 300,
		UIQueueMode: mode, IdentityProvider: "email", CreatedAt: h.clock.Now(), UpdatedAt: h.clock.Now()}
	if err := st.Users().Create(context.Background(), h.user); err != nil {
		t.Fatal(err)
	}
	h.m = h.newManager()
	return h
}

func (h *harness) newManager() *session.Manager {
	m := session.NewManager(h.st, nil, h.sb, session.Config{
		RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
		FlushInterval: time.Hour, // flushes happen at writes in these tests
	}, nil)
	h.t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m
}

func (h *harness) create() string {
	h.t.Helper()
	c, err := h.m.Create(context.Background(), h.user, session.CreateInput{Workspace: "w"})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Session.ID
}

// sync waits until the actors have handled everything sent so far, and
// fires what the clock made due.
func (h *harness) sync() { h.m.FireDue() }

// runner is a fake runner socket.
type runner struct {
	h    *harness
	sock *session.RunnerSocket
	c    *conn
	seq  int64
}

func (h *harness) connectRunner(id string) *runner {
	h.t.Helper()
	c := newConn("")
	sock, err := h.m.AttachRunner(context.Background(), id, c)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &runner{h: h, sock: sock, c: c}
	init := ofType(c.take(), "init")
	if len(init) != 1 {
		h.t.Fatal("no init")
	}
	r.seq = int64(init[0]["lastSeq"].(float64))
	return r
}

func (r *runner) send(typ string, fields map[string]any) {
	f := map[string]any{"type": typ}
	for k, v := range fields {
		f[k] = v
	}
	r.seq++
	f["seq"] = r.seq
	b, _ := json.Marshal(f)
	r.sock.Frame(b)
	r.h.sync()
}

func (r *runner) ready() { r.send("agentStatus", map[string]any{"status": "idle"}) }

// prompts returns the prompts the runner got since the last call.
func (r *runner) prompts() []map[string]any { return ofType(r.c.take(), "prompt") }

// turn answers a prompt: one assistant message with text, then complete.
func (r *runner) turn(messageID, text string) {
	turn := uuid.NewString()
	r.send("message.create", map[string]any{"turnId": turn})
	r.send("message.part.text-delta", map[string]any{"turnId": turn, "delta": text})
	r.send("message.finalize", map[string]any{"turnId": turn, "reason": "end_turn"})
	r.send("complete", map[string]any{"messageId": messageID})
}

func (h *harness) browser(id string) *conn {
	h.t.Helper()
	c := newConn(h.user.ID)
	if _, err := h.m.AttachClient(context.Background(), h.user, id, c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) prompt(id, content, mode string) {
	h.t.Helper()
	if err := h.m.Prompt(context.Background(), h.user, id, session.PromptInput{Content: content, Mode: mode}); err != nil {
		h.t.Fatal(err)
	}
	h.sync()
}

func (h *harness) transcript(id string) []string {
	h.t.Helper()
	msgs, err := h.m.Messages(context.Background(), h.user.ID, id, store.MessageQuery{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Role+":"+m.Content)
	}
	return out
}

func contents(ps []map[string]any) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p["content"].(string))
	}
	return out
}

func TestFollowupSteerAndQueueFrames(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		b := h.browser(id)
		h.prompt(id, "queued before ready", "") // the runner is not ready: it waits
		if len(r.prompts()) != 0 {
			t.Fatal("nothing is dispatched before the runner's first idle")
		}
		r.ready()
		ps := r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "queued before ready" {
			t.Fatalf("the first idle drains the queue: %v", ps)
		}
		a := ps[0]["messageId"].(string)
		b.take()
		h.prompt(id, "B", "")
		h.prompt(id, "C", "") // newest wins the pending slot
		frames := b.take()
		w := ofType(frames, "queue.withdrawn")
		if len(w) != 1 || w[0]["data"].(map[string]any)["content"] != "B" {
			t.Fatalf("B is withdrawn: %v", w)
		}
		if len(r.prompts()) != 0 {
			t.Fatal("busy: nothing more is dispatched")
		}
		r.turn(a, "done A")
		ps = r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "C" {
			t.Fatalf("after complete, the pending prompt goes: %v", ps)
		}
		c := ps[0]["messageId"].(string)

		// Steer: the running turn is aborted and the steer prompt jumps
		// ahead of a pending followup.
		h.prompt(id, "F", "")
		h.prompt(id, "S", "steer")
		if len(ofType(r.c.take(), "abort")) != 1 {
			t.Fatal("steer aborts the running turn")
		}
		r.send("aborted", map[string]any{"messageId": c})
		ps = r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "S" {
			t.Fatalf("steer goes first: %v", ps)
		}
		r.turn(ps[0]["messageId"].(string), "steered")
		ps = r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "F" {
			t.Fatalf("then the followup: %v", ps)
		}
		r.turn(ps[0]["messageId"].(string), "followed")
		got := strings.Join(h.transcript(id), "|")
		want := "user:queued before ready|assistant:done A|user:C|user:S|assistant:steered|user:F|assistant:followed"
		if got != want {
			t.Fatalf("transcript\n got %s\nwant %s", got, want)
		}

		// queue.withdraw, queue.promote, queue.replace, clear-queue.
		h.prompt(id, "long", "")
		long := r.prompts()[0]["messageId"].(string)
		h.prompt(id, "P", "")
		sock, _ := h.m.AttachClient(context.Background(), h.user, id, newConn(h.user.ID))
		sock.Frame([]byte(`{"type":"queue.withdraw"}`))
		h.sync()
		if n, _ := h.m.ClearQueue(context.Background(), h.user.ID, id); n != 0 {
			t.Fatalf("withdraw left %d queued", n)
		}
		h.prompt(id, "Q", "")
		sock.Frame([]byte(`{"type":"queue.replace","content":"R"}`))
		h.sync()
		if len(ofType(r.c.take(), "abort")) != 1 {
			t.Fatal("replace steers: the turn is aborted")
		}
		r.send("aborted", map[string]any{"messageId": long})
		ps = r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "R" {
			t.Fatalf("replace: %v", ps)
		}
		h.prompt(id, "X1", "")
		h.prompt(id, "X2", "steer")
		n, err := h.m.ClearQueue(context.Background(), h.user.ID, id)
		if err != nil || n != 2 {
			t.Fatalf("clear-queue: %d %v", n, err)
		}
		r.send("aborted", map[string]any{"messageId": ps[0]["messageId"]})
		if ps := r.prompts(); len(ps) != 0 {
			t.Fatalf("a cleared queue dispatches nothing: %v", ps)
		}
	})
}

func TestCollectMode(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "collect")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "first", "")
		h.clock.Advance(2 * time.Second)
		h.prompt(id, "second", "")
		h.clock.Advance(2 * time.Second) // 2 s after the second: still collecting
		h.sync()
		if ps := r.prompts(); len(ps) != 0 {
			t.Fatalf("collect waits for the debounce: %v", ps)
		}
		if got := strings.Join(h.transcript(id), "|"); got != "user:first|user:second" {
			t.Fatalf("collected prompts are written at once: %s", got)
		}
		h.clock.Advance(2 * time.Second)
		h.sync()
		ps := r.prompts()
		if len(ps) != 1 || ps[0]["content"] != "first\n\n---\n\nsecond" {
			t.Fatalf("merged prompt: %v", contents(ps))
		}
		r.turn(ps[0]["messageId"].(string), "both")
		if got := strings.Join(h.transcript(id), "|"); got != "user:first|user:second|assistant:both" {
			t.Fatalf("no second copy of the user messages: %s", got)
		}
	})
}

func TestQuestionsAnsweredExpiredAndDurable(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		b := h.browser(id)
		h.prompt(id, "ask me", "")
		msg := r.prompts()[0]["messageId"].(string)
		b.take()
		r.send("question", map[string]any{"messageId": msg, "questionId": "q1", "text": "Which?", "options": []string{"red", "blue"}})
		ip := ofType(b.take(), "interactive_prompt")
		if len(ip) != 1 {
			t.Fatal("browsers get interactive_prompt")
		}
		p := ip[0]["prompt"].(map[string]any)
		if p["id"] != "q1" || int64(p["expiresAt"].(float64)) != h.clock.Now().Add(5*time.Minute).UnixMilli() || len(p["actions"].([]any)) != 2 {
			t.Fatalf("prompt: %v", p)
		}
		sock, _ := h.m.AttachClient(context.Background(), h.user, id, newConn(h.user.ID))
		sock.Frame([]byte(`{"type":"answer","questionId":"q1","answer":"option_1"}`))
		h.sync()
		ans := ofType(r.c.take(), "answer")
		if len(ans) != 1 || ans[0]["answer"] != "blue" || ans[0]["questionId"] != "q1" {
			t.Fatalf("runner answer: %v", ans)
		}
		if res := ofType(b.take(), "interactive_prompt_resolved"); len(res) != 1 || res[0]["resolution"] != "blue" {
			t.Fatalf("resolved: %v", res)
		}

		// A second question outlives a restart of the server and expires on time.
		r.send("question", map[string]any{"messageId": msg, "questionId": "q2", "text": "Still there?"})
		h.m.Shutdown(context.Background())
		h.m = h.newManager()
		if err := h.m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		b2 := h.browser(id)
		if ip := ofType(b2.take(), "interactive_prompt"); len(ip) != 1 || ip[0]["prompt"].(map[string]any)["id"] != "q2" {
			t.Fatalf("a pending question is shown to a new browser after a restart: %v", ip)
		}
		r2 := h.connectRunner(id)
		h.clock.Advance(4 * time.Minute)
		h.sync()
		if len(ofType(r2.c.take(), "answer")) != 0 {
			t.Fatal("not yet expired")
		}
		h.clock.Advance(time.Minute)
		h.sync()
		ans = ofType(r2.c.take(), "answer")
		if len(ans) != 1 || ans[0]["answer"] != session.AnswerExpired {
			t.Fatalf("expired answer: %v", ans)
		}
		if exp := ofType(b2.take(), "interactive_prompt_expired"); len(exp) != 1 || exp[0]["promptId"] != "q2" {
			t.Fatalf("browsers hear of the expiry: %v", exp)
		}
	})
}

func TestRevert(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		for i := 1; i <= 3; i++ {
			h.prompt(id, fmt.Sprint("p", i), "")
			r.turn(r.prompts()[0]["messageId"].(string), fmt.Sprint("a", i))
		}
		msgs, _ := h.m.Messages(context.Background(), h.user.ID, id, store.MessageQuery{})
		target := msgs[2].ID // user:p2
		b := h.browser(id)
		b.take()
		sock, _ := h.m.AttachClient(context.Background(), h.user, id, newConn(h.user.ID))
		sock.Frame([]byte(`{"type":"revert","messageId":"` + target + `"}`))
		h.sync()
		rm := ofType(b.take(), "messages.removed")
		if len(rm) != 1 || len(rm[0]["messageIds"].([]any)) != 4 || rm[0]["messageIds"].([]any)[0] != target {
			t.Fatalf("messages.removed: %v", rm)
		}
		if rv := ofType(r.c.take(), "revert"); len(rv) != 1 || rv[0]["messageId"] != target {
			t.Fatalf("the runner is told: %v", rv)
		}
		if got := strings.Join(h.transcript(id), "|"); got != "user:p1|assistant:a1" {
			t.Fatalf("after revert: %s", got)
		}
		// The session continues after a revert.
		h.prompt(id, "p4", "")
		r.turn(r.prompts()[0]["messageId"].(string), "a4")
		if got := strings.Join(h.transcript(id), "|"); got != "user:p1|assistant:a1|user:p4|assistant:a4" {
			t.Fatalf("after revert and a new turn: %s", got)
		}
		sock.Frame([]byte(`{"type":"revert","messageId":"nope"}`))
		h.sync()
	})
}

func TestIdleHibernateAndWake(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.clock.Advance(299 * time.Second) // owner's idle timeout is 300 s
		h.sync()
		if h.sb.count("hibernate") != 0 {
			t.Fatal("too early")
		}
		h.clock.Advance(2 * time.Second)
		h.sync()
		if h.sb.count("hibernate") != 1 {
			t.Fatal("an idle session hibernates")
		}
		if s, _ := h.m.Get(context.Background(), h.user.ID, id); s.Status != store.StatusHibernated {
			t.Fatalf("status %s", s.Status)
		}
		if r.c.closed == 0 {
			t.Fatal("the runner socket is closed on hibernate")
		}
		h.prompt(id, "wake up", "")
		if h.sb.count("restore") != 1 {
			t.Fatal("a prompt wakes a hibernated session")
		}
		r2 := h.connectRunner(id)
		r2.ready()
		ps := r2.prompts()
		if len(ps) != 1 || ps[0]["content"] != "wake up" {
			t.Fatalf("the queued prompt goes to the new runner: %v", ps)
		}
	})
}

func TestRunnerLossRevertRespawnAndSandboxLost(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "work", "")
		if len(r.prompts()) != 1 {
			t.Fatal("dispatched")
		}
		r.sock.Closed()
		h.sync()
		h.clock.Advance(5 * time.Second)
		h.sync()
		_, rs, _ := h.m.Status(context.Background(), h.user.ID, id)
		if rs.RunnerBusy || rs.QueuedPrompts != 1 {
			t.Fatalf("5 s after the runner went away its prompt is queued again: %+v", rs)
		}
		h.clock.Advance(55 * time.Second)
		h.sync()
		if h.sb.count("restore") != 1 {
			t.Fatal("after 60 s a local runner is started again")
		}
		r2 := h.connectRunner(id)
		r2.ready()
		if ps := r2.prompts(); len(ps) != 1 || ps[0]["content"] != "work" {
			t.Fatalf("the new runner gets the reverted prompt: %v", ps)
		}
		// Lost again, and the new runner never comes: sandbox_lost.
		r2.sock.Closed()
		h.sync()
		h.clock.Advance(60 * time.Second)
		h.sync()
		if h.sb.count("restore") != 2 {
			t.Fatal("a runner that was ready resets the respawn count")
		}
		h.clock.Advance(60 * time.Second)
		h.sync()
		if s, _ := h.m.Get(context.Background(), h.user.ID, id); s.Status != store.StatusTerminated {
			t.Fatalf("a runner that does not come back ends the session: %s", s.Status)
		}
	})
}
