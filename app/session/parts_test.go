package session

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

func TestStatusMachine(t *testing.T) {
	allowed := [][2]string{
		{"initializing", "running"}, {"initializing", "error"}, {"running", "hibernating"}, {"hibernating", "hibernated"},
		{"hibernated", "restoring"}, {"restoring", "running"}, {"running", "terminated"}, {"terminated", "archived"},
		{"error", "archived"}, {"hibernated", "terminated"},
	}
	for _, tr := range allowed {
		if !CanTransition(tr[0], tr[1]) {
			t.Errorf("%s → %s must be allowed", tr[0], tr[1])
		}
	}
	refused := [][2]string{
		{"terminated", "running"}, {"archived", "running"}, {"hibernated", "running"}, {"running", "restoring"},
		{"initializing", "hibernated"}, {"error", "running"}, {"running", "initializing"},
	}
	for _, tr := range refused {
		if CanTransition(tr[0], tr[1]) {
			t.Errorf("%s → %s must be refused", tr[0], tr[1])
		}
	}
	for _, s := range Statuses() {
		if _, ok := transitions[s]; !ok {
			t.Errorf("status %s has no row in the machine", s)
		}
	}
}

func TestDerivedStates(t *testing.T) {
	cases := []struct {
		status          string
		connected, busy bool
		queued          int
		joint           string
	}{
		{"running", true, false, 0, "running_idle"},
		{"running", true, true, 0, "running_busy"},
		{"running", true, false, 2, "queued"},
		{"running", false, false, 0, "starting"},
		{"hibernated", false, false, 0, "sleeping"},
		{"restoring", false, false, 1, "waking"},
		{"terminated", true, true, 0, "stopped"},
		{"error", false, false, 0, "error"},
	}
	for _, c := range cases {
		if _, _, j := derivedStates(c.status, c.connected, c.busy, c.queued); j != c.joint {
			t.Errorf("%+v: joint %s", c, j)
		}
	}
}

func TestTimers(t *testing.T) {
	tm := newTimers()
	base := time.Unix(1000, 0)
	if _, ok := tm.next(); ok {
		t.Fatal("empty set has no deadline")
	}
	tm.set("b", base.Add(2*time.Second))
	tm.set("a", base.Add(time.Second))
	tm.setIfEarlier("b", base.Add(5*time.Second)) // later: ignored
	tm.setIfEarlier("c", base.Add(3*time.Second))
	if n, _ := tm.next(); !n.Equal(base.Add(time.Second)) {
		t.Fatalf("next = %v", n)
	}
	if due := tm.due(base.Add(2 * time.Second)); strings.Join(due, ",") != "a,b" {
		t.Fatalf("due = %v", due)
	}
	if !tm.armed("c") || tm.armed("a") {
		t.Fatal("due deadlines are removed, others stay")
	}
	tm.clear("c")
	if _, ok := tm.next(); ok {
		t.Fatal("cleared")
	}
}

type fakeClient struct {
	id, user string
	full     bool
	got      [][]byte
	closed   int
}

func (f *fakeClient) ID() string     { return f.id }
func (f *fakeClient) UserID() string { return f.user }
func (f *fakeClient) Send(b []byte) bool {
	if f.full {
		return false
	}
	f.got = append(f.got, b)
	return true
}
func (f *fakeClient) Close(code int, reason string) { f.closed = code }

func TestHubPresenceAndSlowClients(t *testing.T) {
	h := newHub()
	a1 := &fakeClient{id: "1", user: "alice"}
	a2 := &fakeClient{id: "2", user: "alice"}
	b := &fakeClient{id: "3", user: "bob", full: true}
	if !h.add(a1) || h.add(a2) || !h.add(b) {
		t.Fatal("first socket of a user is reported once")
	}
	if strings.Join(h.users(), ",") != "alice,bob" || h.count() != 3 {
		t.Fatalf("users %v count %d", h.users(), h.count())
	}
	slow := h.broadcast([]byte("x"))
	if len(slow) != 1 || slow[0].ID() != "3" || len(a1.got) != 1 || len(a2.got) != 1 {
		t.Fatalf("a full socket is reported slow, the others get the frame: %v", slow)
	}
	if known, last := h.remove(a1); !known || last {
		t.Fatal("alice still has a socket")
	}
	if known, last := h.remove(a2); !known || !last {
		t.Fatal("alice's last socket")
	}
	if known, _ := h.remove(a2); known {
		t.Fatal("removing twice is ignored")
	}
}

type fakeConn struct{ id string }

func (f fakeConn) ID() string        { return f.id }
func (f fakeConn) Send([]byte) bool  { return true }
func (f fakeConn) Close(int, string) {}

func TestRunnerLinkIgnoresReplacedSockets(t *testing.T) {
	var l runnerLink
	old, cur := fakeConn{"old"}, fakeConn{"new"}
	l.attach(old, time.Now(), "")
	l.ready = true
	if replaced := l.attach(cur, time.Now(), ""); replaced == nil || replaced.ID() != "old" {
		t.Fatal("attach returns the replaced runner")
	}
	if l.ready {
		t.Fatal("a new runner is not ready until its first idle")
	}
	if l.detach(old) {
		t.Fatal("the close of a replaced socket must be ignored")
	}
	if !l.connected() || !l.detach(cur) || l.connected() {
		t.Fatal("the current runner detaches")
	}
}

func parts(t *testing.T, m *store.Message) []protocol.Part {
	t.Helper()
	var ps []protocol.Part
	if err := json.Unmarshal(m.Parts, &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestTranscriptTurnAssembly(t *testing.T) {
	now := time.Now()
	tr := newTranscript("s1", 4)
	u := tr.newMessage("", "user", "hi", nil, Author{ID: "u"}, now)
	if u.Seq != 5 {
		t.Fatalf("messages continue the session's sequence: %d", u.Seq)
	}
	turn, created := tr.startTurn("T", now)
	if !created || turn.msg.Seq != 6 || turn.msg.Role != "assistant" {
		t.Fatalf("turn message: %+v", turn.msg)
	}
	if _, again := tr.startTurn("T", now); again {
		t.Fatal("a replayed message.create must not create a second message")
	}
	offsets := []int{}
	for _, d := range []string{"Hel", "lo ", "wörld 😀", "!"} {
		_, off, ok := tr.appendText("T", d, now)
		if !ok {
			t.Fatal("delta for a known turn")
		}
		offsets = append(offsets, off)
	}
	// Offsets count UTF-16 code units, as a browser's string.length does.
	if want := []int{0, 3, 6, 14}; len(offsets) != 4 || offsets[2] != want[2] || offsets[3] != want[3] {
		t.Fatalf("offsets %v, want %v", offsets, want)
	}
	dirty := tr.takeDirty()
	if len(dirty) != 1 || dirty[0].Content != "Hello wörld 😀!" {
		t.Fatalf("dirty body: %+v", dirty)
	}
	if tr.hasDirty() {
		t.Fatal("takeDirty empties the set")
	}
	tr.toolUpdate(&protocol.RunnerFrame{TurnID: "T", CallID: "c1", ToolName: "bash", Status: "running", Args: json.RawMessage(`{"x":1}`)}, now)
	tr.toolUpdate(&protocol.RunnerFrame{TurnID: "T", CallID: "c1", ToolName: "bash", Status: "completed", Result: json.RawMessage(`"ok"`)}, now)
	tr.appendText("T", "after", now)
	final := "ignored: two text parts"
	fin, ok := tr.finalize(&protocol.RunnerFrame{TurnID: "T", Reason: "end_turn", FinalText: &final}, now)
	if !ok {
		t.Fatal("finalize")
	}
	ps := parts(t, fin.msg)
	if len(ps) != 4 || ps[0].Type != "text" || ps[1].Type != "tool-call" || ps[1].Status != "completed" ||
		string(ps[1].Args) != `{"x":1}` || ps[2].Text != "after" || ps[3].Type != "finish" || ps[3].Reason != "end_turn" {
		t.Fatalf("parts: %+v", ps)
	}
	for _, p := range ps {
		if p.Streaming {
			t.Fatal("finalize clears streaming flags")
		}
	}
	if fin.msg.Content != "Hello wörld 😀!after" {
		t.Fatalf("content: %q", fin.msg.Content)
	}
	if _, _, ok := tr.appendText("T", "late", now); ok {
		t.Fatal("a finalized turn takes no more text")
	}

	// A lone text part is replaced by finalText; an error adds an error part.
	tr.startTurn("U", now)
	tr.appendText("U", "partial", now)
	whole := "the whole text"
	fin, _ = tr.finalize(&protocol.RunnerFrame{TurnID: "U", Reason: "error", Error: "boom", FinalText: &whole}, now)
	ps = parts(t, fin.msg)
	if fin.msg.Content != "the whole text" || ps[len(ps)-2].Type != "error" || ps[len(ps)-2].Message != "boom" || ps[len(ps)-1].Reason != "error" {
		t.Fatalf("error turn: %q %+v", fin.msg.Content, ps)
	}
}

func TestTranscriptResume(t *testing.T) {
	now := time.Now()
	tr := newTranscript("s1", 0)
	turn, _ := tr.startTurn("T", now)
	tr.appendText("T", "abc", now)
	msg := tr.takeDirty()[0]
	// A new actor after a restart resumes the unfinished turn from its row.
	tr2 := newTranscript("s1", msg.Seq)
	tr2.resume(msg)
	_, off, ok := tr2.appendText("T", "def", now)
	if !ok || off != 3 {
		t.Fatalf("resume: ok=%v offset=%d", ok, off)
	}
	got := tr2.takeDirty()[0]
	if got.Content != "abcdef" || got.ID != turn.msg.ID {
		t.Fatalf("resumed body: %+v", got)
	}
	if ps := parts(t, got); len(ps) != 1 || ps[0].Text != "abcdef" {
		t.Fatalf("a resumed stream continues its text part: %+v", ps)
	}
}
