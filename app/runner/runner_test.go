package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent/script"
	"github.com/agentops/agentops/internal/testutil/eventually"
)

func prompt(id, content string) protocol.ServerFrame {
	return protocol.ServerFrame{Type: protocol.SPrompt, MessageID: id, Content: content, AuthorID: "u1"}
}

func TestPlainPromptFrameSequence(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	idle, models := c.expectReady()
	c.send(prompt("m1", "hello world"))
	frames := c.until(turnEnd("m1"))

	equalShape(t, frames, join(
		"agentStatus:thinking", "message.create", "agentStatus:streaming",
		repeat("delta", 3), "finalize:end_turn", "complete", "agentStatus:idle"))
	all := append([]rframe{idle, models}, frames...)
	checkSeq(t, all, 1)

	turnID := frames[1].TurnID
	if turnID == "" {
		t.Fatal("message.create without turnId")
	}
	for _, f := range frames {
		switch f.Type {
		case protocol.RAgentStatus, protocol.RComplete:
			if f.MessageID != "m1" {
				t.Errorf("%s has messageId %q, want m1", f.raw, f.MessageID)
			}
		case protocol.RTextDelta, protocol.RMessageFinalize:
			if f.TurnID != turnID {
				t.Errorf("%s has turnId %q, want %q", f.raw, f.TurnID, turnID)
			}
		}
	}
	text, _ := deltas(frames)
	if want := "You said: hello world"; text != want {
		t.Errorf("deltas = %q, want %q", text, want)
	}
	fin := frames[len(frames)-3]
	if fin.FinalText == nil || *fin.FinalText != text {
		t.Errorf("finalText = %v, want %q", fin.FinalText, text)
	}
	for _, f := range frames[3:6] {
		if f.Delta == "" {
			t.Errorf("empty delta %s", f.raw)
		}
	}
}

func TestScriptDirectives(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()

	tests := []struct {
		name    string
		content string
		shape   []string
		text    string
		check   func(t *testing.T, frames []rframe)
	}{{
		name:    "tool completed",
		content: "/tool bash {\"command\":\"ls\"}\nlist the files",
		shape: join("agentStatus:thinking", "message.create", "agentStatus:tool_calling:bash",
			"tool:bash:pending", "tool:bash:running", "tool:bash:completed",
			"agentStatus:streaming", repeat("delta", 3), "finalize:end_turn", "complete", "agentStatus:idle"),
		text: "You said: list the files",
		check: func(t *testing.T, frames []rframe) {
			done := frames[5]
			if string(done.Result) != `{"ok":true}` || string(done.Args) != `{"command":"ls"}` || done.CallID == "" {
				t.Errorf("completed tool update = %s", done.raw)
			}
			if frames[3].CallID != done.CallID {
				t.Errorf("call ids differ: %q, %q", frames[3].CallID, done.CallID)
			}
		},
	}, {
		name:    "tool error then another tool",
		content: "/tool read error\n/tool write completed {\"path\":\"a.txt\"}\nx",
		shape: join("agentStatus:thinking", "message.create",
			"agentStatus:tool_calling:read", "tool:read:pending", "tool:read:running", "tool:read:error",
			"agentStatus:tool_calling:write", "tool:write:pending", "tool:write:running", "tool:write:completed",
			"agentStatus:streaming", repeat("delta", 3), "finalize:end_turn", "complete", "agentStatus:idle"),
		text: "You said: x",
		check: func(t *testing.T, frames []rframe) {
			if frames[5].Error != "script tool failed" {
				t.Errorf("error tool update = %s", frames[5].raw)
			}
			if frames[3].CallID == frames[7].CallID {
				t.Errorf("two calls share the id %q", frames[3].CallID)
			}
		},
	}, {
		name:    "fail",
		content: "do it\n/fail the build broke",
		shape: join("agentStatus:thinking", "message.create", "finalize:error", "error", "complete",
			"agentStatus:idle"),
		check: func(t *testing.T, frames []rframe) {
			if frames[2].Error != "the build broke" || frames[3].Error != "the build broke" || frames[3].MessageID != "m" {
				t.Errorf("failure frames = %s, %s", frames[2].raw, frames[3].raw)
			}
		},
	}, {
		name:    "chunks 10",
		content: "/chunks 10\nten pieces please",
		shape: join("agentStatus:thinking", "message.create", "agentStatus:streaming", repeat("delta", 10),
			"finalize:end_turn", "complete", "agentStatus:idle"),
		text: "You said: ten pieces please",
	}, {
		name:    "slow and sleep",
		content: "/slow 5\n/sleep 5\n/chunks 4\n/tool grep\nslowly",
		shape: join("agentStatus:thinking", "message.create", "agentStatus:tool_calling:grep",
			"tool:grep:pending", "tool:grep:running", "tool:grep:completed",
			"agentStatus:streaming", repeat("delta", 4), "finalize:end_turn", "complete", "agentStatus:idle"),
		text: "You said: slowly",
	}, {
		name:    "unknown directive",
		content: "  /frobnicate 3\nhello\n/chunks nope",
		shape: join("agentStatus:thinking", "message.create", "agentStatus:streaming", repeat("delta", 3),
			"finalize:end_turn", "complete", "agentStatus:idle"),
		text: "You said: hello",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.send(prompt("m", tc.content))
			frames := c.until(turnEnd("m"))
			equalShape(t, frames, tc.shape)
			for i := 1; i < len(frames); i++ {
				if frames[i].Seq != frames[i-1].Seq+1 {
					t.Fatalf("seq gap: %d then %d", frames[i-1].Seq, frames[i].Seq)
				}
			}
			if tc.text != "" {
				text, _ := deltas(frames)
				if text != tc.text {
					t.Errorf("deltas = %q, want %q", text, tc.text)
				}
				fin := frames[len(frames)-3]
				if fin.FinalText == nil || *fin.FinalText != text {
					t.Errorf("finalText = %v, want %q", fin.FinalText, text)
				}
			}
			if tc.check != nil {
				tc.check(t, frames)
			}
		})
	}
}

func TestAskDirective(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()

	for _, tc := range []struct {
		name, content string
		answer        any
		want          string
	}{
		{"answered", "choose a colour\n/ask Pick one | red | blue", "red", "You answered: red\nYou said: choose a colour"},
		{"not a string", "/ask Proceed?", true, "You answered: true"},
		{"expired", "/ask Proceed? | yes | no", "__expired__", "The question expired."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.send(prompt("m", tc.content))
			frames := c.until(func(f rframe) bool { return f.Type == protocol.RQuestion })
			equalShape(t, frames, []string{"agentStatus:thinking", "message.create", "question"})
			q := frames[2]
			if q.MessageID != "m" || q.QuestionID == "" || !strings.HasPrefix(q.Text, "P") {
				t.Fatalf("question = %s", q.raw)
			}
			if tc.name == "answered" && strings.Join(q.Options, ",") != "red,blue" {
				t.Errorf("options = %v", q.Options)
			}
			c.quiet(50 * time.Millisecond) // it waits for the answer
			c.send(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: "someone-else", Answer: "x"})
			c.send(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: q.QuestionID, Answer: tc.answer})
			rest := c.until(turnEnd("m"))
			if text, _ := deltas(rest); text != tc.want {
				t.Errorf("reply = %q, want %q", text, tc.want)
			}
		})
	}
}

func TestAbortMidTurn(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	c.send(prompt("m1", "/slow 300\n/chunks 5\nthis will be cut short"))
	before := c.until(func(f rframe) bool { return f.Type == protocol.RTextDelta })
	c.send(protocol.ServerFrame{Type: protocol.SAbort})
	after := c.until(turnEnd("m1"))
	equalShape(t, after, []string{"finalize:canceled", "aborted", "agentStatus:idle"})
	text, _ := deltas(before)
	if fin := after[0]; fin.FinalText == nil || *fin.FinalText != text || fin.TurnID != before[1].TurnID {
		t.Errorf("finalize = %s, want finalText %q", fin.raw, text)
	}
	if after[1].MessageID != "m1" {
		t.Errorf("aborted = %s", after[1].raw)
	}
	checkSeq(t, append(before, after...), before[0].Seq)

	// The runner is usable again, and an abort while idle is still acked.
	c.send(protocol.ServerFrame{Type: protocol.SAbort})
	idleAbort := []rframe{c.next(), c.next()}
	equalShape(t, idleAbort, []string{"aborted", "agentStatus:idle"})
	c.send(prompt("m2", "again"))
	frames := c.until(turnEnd("m2"))
	if text, _ := deltas(frames); text != "You said: again" {
		t.Errorf("next turn = %q", text)
	}
}

func TestAbortBeforeOutput(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	c.send(prompt("m1", "/sleep 5000\nnever"))
	if f := c.next(); f.Status != protocol.AgentThinking {
		t.Fatalf("got %s", f.raw)
	}
	c.send(protocol.ServerFrame{Type: protocol.SAbort})
	// No message was created, so there is nothing to finalize.
	equalShape(t, c.until(turnEnd("m1")), []string{"aborted", "agentStatus:idle"})
}

func TestPromptsWhileBusyRunInOrder(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	c.send(prompt("m1", "/slow 20\nfirst"))
	c.send(prompt("m2", "second"))
	c.send(prompt("m1", "/fail a re-dispatch of m1 must not run"))
	c.send(prompt("m3", "third"))
	for i, m := range []string{"m1", "m2", "m3"} {
		frames := c.until(turnEnd(m))
		if frames[0].Status != protocol.AgentThinking || frames[0].MessageID != m {
			t.Fatalf("turn %d starts with %s", i, frames[0].raw)
		}
		if text, _ := deltas(frames); text != "You said: "+[]string{"first", "second", "third"}[i] {
			t.Errorf("turn %s = %q", m, text)
		}
	}
	c.quiet(50 * time.Millisecond)
}

func TestStopEndsRun(t *testing.T) {
	for _, busy := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "mid-turn"}[busy], func(t *testing.T) {
			s := newFakeServer(t)
			errc := startRunner(t, s.testConfig(t))
			c := s.conn()
			c.expectReady()
			if busy {
				c.send(prompt("m1", "/slow 1000\nlong"))
				c.until(func(f rframe) bool { return f.Type == protocol.RTextDelta })
			}
			c.send(protocol.ServerFrame{Type: protocol.SStop})
			if err := runResult(t, errc); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		})
	}
}

func TestServerCloseCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   websocket.StatusCode
		reason string
	}{
		{"replaced 4001", protocol.CloseReplaced, "replaced"},
		{"replaced by reason (upstream 1000)", protocol.CloseNormal, protocol.CloseReasonReplace},
		{"session ended 4004", protocol.CloseSessionEnded, "terminated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			errc := startRunner(t, s.testConfig(t))
			c := s.conn()
			c.expectReady()
			c.ws.Close(tc.code, tc.reason)
			if err := runResult(t, errc); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			if n := s.attempts.Load(); n != 1 {
				t.Errorf("%d connection attempts, want 1 (no reconnect)", n)
			}
		})
	}
}

// The server persisted part of a turn without acking it and the
// connection dropped: the runner replays exactly what follows lastSeq.
func TestReconnectReplaysUnpersistedFrames(t *testing.T) {
	s := newFakeServer(t)
	s.autoAck.Store(false)
	startRunner(t, s.testConfig(t))

	c1 := s.conn()
	idle, models := c1.expectReady()
	c1.send(prompt("m1", "/slow 30\n/chunks 8\nplease survive a reconnect"))
	seen := c1.until(func(f rframe) bool { return f.Type == protocol.RTextDelta })
	seen = append(seen, c1.next()) // the second delta
	seen = append([]rframe{idle, models}, seen...)
	persisted := seen[len(seen)-2].Seq // the first delta
	s.persisted.Store(persisted)
	c1.ws.CloseNow() // drop without a close frame

	c2 := s.conn()
	s.autoAck.Store(true)
	replay := c2.until(turnEnd("m1"))
	// The connection came up mid-turn: its ready signal follows the turn.
	ready := c2.next()
	if ready.Type != protocol.RAgentStatus || ready.Status != protocol.AgentIdle || ready.MessageID != "" {
		t.Fatalf("after the turn: %s, want the owed ready signal", ready.raw)
	}
	replay = append(replay, ready)

	// What the server keeps: c1's frames up to lastSeq, then c2's.
	// Deduplicating by seq must find no gap and nothing twice.
	bySeq := map[int64]rframe{}
	for _, f := range seen {
		if f.Seq <= persisted {
			bySeq[f.Seq] = f
		}
	}
	if replay[0].Seq != persisted+1 {
		t.Fatalf("first frame after reconnect has seq %d, want %d", replay[0].Seq, persisted+1)
	}
	checkSeq(t, replay, persisted+1)
	for _, f := range replay {
		if _, dup := bySeq[f.Seq]; dup {
			t.Fatalf("seq %d delivered twice", f.Seq)
		}
		bySeq[f.Seq] = f
	}
	// Frames c1 saw past lastSeq come back byte for byte.
	for _, f := range seen {
		if f.Seq > persisted && bySeq[f.Seq].raw != f.raw {
			t.Errorf("replayed seq %d = %s, first sent as %s", f.Seq, bySeq[f.Seq].raw, f.raw)
		}
	}
	var all []rframe
	for seq := int64(1); seq <= int64(len(bySeq)); seq++ {
		f, ok := bySeq[seq]
		if !ok {
			t.Fatalf("seq %d missing", seq)
		}
		all = append(all, f)
	}
	// A running turn gets no ready idle on reconnect, but models again.
	var turn []rframe
	nModels := 0
	for _, f := range all[2 : len(all)-1] {
		if f.Type == protocol.RModels {
			nModels++
			continue
		}
		turn = append(turn, f)
	}
	if nModels != 1 {
		t.Errorf("%d models frames after the reconnect, want 1", nModels)
	}
	equalShape(t, turn, join("agentStatus:thinking", "message.create", "agentStatus:streaming",
		repeat("delta", 8), "finalize:end_turn", "complete", "agentStatus:idle"))
	text, _ := deltas(turn)
	if want := "You said: please survive a reconnect"; text != want || *turn[len(turn)-3].FinalText != want {
		t.Errorf("reassembled reply = %q, want %q", text, want)
	}
}

// A restarted runner starts numbering above what the server persisted.
func TestInitLastSeqRaisesCounter(t *testing.T) {
	s := newFakeServer(t)
	s.persisted.Store(500)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	idle, models := c.expectReady()
	if idle.Seq != 501 || models.Seq != 502 {
		t.Fatalf("seqs %d, %d; want 501, 502", idle.Seq, models.Seq)
	}
}

func TestMaxUnackedBackpressure(t *testing.T) {
	s := newFakeServer(t)
	s.autoAck.Store(false)
	cfg := s.testConfig(t)
	cfg.MaxUnacked = 4
	startRunner(t, cfg)
	c := s.conn()
	idle, models := c.expectReady() // 1, 2
	c.send(prompt("m1", "/chunks 6\nhold your horses"))
	got := []rframe{idle, models, c.next(), c.next()} // thinking 3, create 4
	c.quiet(150 * time.Millisecond)                   // the buffer is full: the agent waits

	c.ack(2) // room for two more
	got = append(got, c.next(), c.next())
	c.quiet(100 * time.Millisecond)

	s.autoAck.Store(true)
	c.ack(6)
	got = append(got, c.until(turnEnd("m1"))...)
	checkSeq(t, got, 1)
	equalShape(t, got[2:], join("agentStatus:thinking", "message.create", "agentStatus:streaming",
		repeat("delta", 6), "finalize:end_turn", "complete", "agentStatus:idle"))
	if text, _ := deltas(got); text != "You said: hold your horses" {
		t.Errorf("reply = %q", text)
	}
}

// An old server sends init without lastSeq and never acks: written
// frames count as acked, so a small buffer does not stall the agent.
func TestOldServerWithoutAcks(t *testing.T) {
	s := newFakeServer(t)
	s.autoAck.Store(false)
	s.omitLastSeq.Store(true)
	cfg := s.testConfig(t)
	cfg.MaxUnacked = 3
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	c.send(prompt("m1", "/chunks 20\nno acks here"))
	frames := c.until(turnEnd("m1"))
	if _, n := deltas(frames); n != 20 {
		t.Errorf("%d deltas, want 20", n)
	}
}

func TestKeepalivePing(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	cfg.PingInterval = 10 * time.Millisecond
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	eventually.NoError(t, waitFor, "3 pings", func() error {
		if n := c.pings.Load(); n < 3 {
			return fmt.Errorf("only %d pings", n)
		}
		return nil
	})
	if n := s.attempts.Load(); n != 1 {
		t.Errorf("%d connections, want 1: pings must not disturb a healthy connection", n)
	}
}

func TestBadTokenGivesUpAfterFiveRejections(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	cfg.Token = "wrong"
	err := runResult(t, startRunner(t, cfg))
	if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Run = %v, want a rejection error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the token: %v", err)
	}
	if n := s.attempts.Load(); n != maxRejections {
		t.Errorf("%d attempts, want %d", n, maxRejections)
	}
}

func TestPolicyCloseGivesUp(t *testing.T) {
	s := newFakeServer(t)
	s.closeOnOpen.Store(protocol.ClosePolicy)
	err := runResult(t, startRunner(t, s.testConfig(t)))
	if err == nil || !strings.Contains(err.Error(), "1008") {
		t.Fatalf("Run = %v, want a rejection error", err)
	}
	if n := s.attempts.Load(); n != maxRejections {
		t.Errorf("%d attempts, want %d", n, maxRejections)
	}
}

func TestGiveUpAfter(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s := newFakeServer(t)
		cfg := s.testConfig(t)
		cfg.ServerURL = "http://" + addr
		cfg.GiveUpAfter = 150 * time.Millisecond
		start := time.Now()
		err = runResult(t, startRunner(t, cfg))
		if err == nil || !strings.Contains(err.Error(), "could not connect") {
			t.Fatalf("Run = %v", err)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("the error shows the token: %v", err)
		}
		if d := time.Since(start); d < cfg.GiveUpAfter {
			t.Errorf("gave up after %s, before GiveUpAfter", d)
		}
	})
	t.Run("server unavailable", func(t *testing.T) {
		s := newFakeServer(t)
		s.rejectStatus.Store(http.StatusServiceUnavailable)
		cfg := s.testConfig(t)
		cfg.GiveUpAfter = 150 * time.Millisecond
		err := runResult(t, startRunner(t, cfg))
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Run = %v", err)
		}
		if s.attempts.Load() < 2 {
			t.Errorf("gave up after %d attempts", s.attempts.Load())
		}
	})
}

func TestSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8787":         "ws://127.0.0.1:8787/api/sessions/s%2F1/ws?role=runner&token=t%26k",
		"https://example.com/agentops/": "wss://example.com/agentops/api/sessions/s%2F1/ws?role=runner&token=t%26k",
	} {
		got, err := SocketURL(in, "s/1", "t&k")
		if err != nil || got != want {
			t.Errorf("SocketURL(%q) = %q, %v; want %q", in, got, err, want)
		}
		if r := redactURL(got); strings.Contains(r, "t%26k") || !strings.Contains(r, "REDACTED") {
			t.Errorf("redactURL = %q", r)
		}
	}
	for _, bad := range []string{"ftp://x", "localhost:8787", "http://"} {
		if _, err := SocketURL(bad, "s", "t"); err == nil {
			t.Errorf("SocketURL(%q) accepted", bad)
		}
	}
}

func TestConfigRequiredFields(t *testing.T) {
	for _, cfg := range []Config{
		{SessionID: "s", Token: "t", Agent: script.New()},
		{ServerURL: "http://x", Token: "t", Agent: script.New()},
		{ServerURL: "http://x", SessionID: "s", Agent: script.New()},
		{ServerURL: "http://x", SessionID: "s", Token: "t"},
	} {
		if err := Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "required") {
			t.Errorf("Run(%+v) = %v", cfg, err)
		}
	}
}

// A benchmark-sized stream: 10000 deltas, nothing lost, in order.
func TestTenThousandDeltas(t *testing.T) {
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	body := strings.Repeat("0123456789", 1000)
	c.send(prompt("m1", "/chunks 10000\n"+body))
	frames := c.until(turnEnd("m1"))
	checkSeq(t, frames, frames[0].Seq)
	text, n := deltas(frames)
	if n != 10000 || text != "You said: "+body {
		t.Fatalf("%d deltas, text of %d bytes", n, len(text))
	}
}

func TestEnvDirectiveReportsPresenceNotValues(t *testing.T) {
	t.Setenv("SCRIPT_TEST_SECRET", "sk-not-to-be-shown")
	s := newFakeServer(t)
	startRunner(t, s.testConfig(t))
	c := s.conn()
	c.expectReady()
	c.send(prompt("m", "/env SCRIPT_TEST_SECRET SCRIPT_TEST_MISSING\n/chunks 1"))
	text, _ := deltas(c.until(turnEnd("m")))
	// sha256("sk-not-to-be-shown"), first 6 bytes.
	want := "SCRIPT_TEST_SECRET=set sha256:" + sha12("sk-not-to-be-shown") + "\nSCRIPT_TEST_MISSING=unset"
	if text != want {
		t.Fatalf("reply %q, want %q", text, want)
	}
	if strings.Contains(text, "sk-not") {
		t.Fatal("the reply shows the value")
	}
	c.send(prompt("m2", "/env SCRIPT_TEST_MISSING\nand text"))
	text, _ = deltas(c.until(turnEnd("m2")))
	if text != "SCRIPT_TEST_MISSING=unset\nYou said: and text" {
		t.Fatalf("reply with text: %q", text)
	}
}

func sha12(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:6])
}
