package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store"
)

// Upstream's session list shows each session's owner (name or email, and
// avatar) and its participants.
func TestSessionListCarriesTheOwner(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	s.mustJSON("PATCH", "/api/auth/me", s.token, map[string]any{"name": "Olive Owner"}, 200, nil)
	id := s.createSession(nil).Session.ID
	var out struct{ Sessions []map[string]any }
	s.mustJSON("GET", "/api/sessions", s.token, nil, 200, &out)
	if len(out.Sessions) != 1 || out.Sessions[0]["id"] != id {
		t.Fatalf("list: %+v", out)
	}
	item := out.Sessions[0]
	if item["ownerName"] != "Olive Owner" || item["ownerEmail"] != "owner@example.com" {
		t.Fatalf("list items carry the owner's name and email: %+v", item)
	}
	if _, ok := item["ownerAvatarUrl"]; ok {
		t.Fatalf("no avatar: ownerAvatarUrl is left out, as upstream does: %+v", item)
	}
	if item["participantCount"] != 0.0 || item["participants"] == nil || len(item["participants"].([]any)) != 0 {
		t.Fatalf("no participants: %+v", item)
	}
}

// doStatus.runningStartedAt is epoch milliseconds (a number, as upstream
// sends it) and the session has activeSeconds: upstream's client shows
// their sum as the session's duration, which was always 0 s.
func TestDurationFieldsAreUpstreams(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	before := time.Now().UnixMilli()
	id := s.createSession(nil).Session.ID
	var got struct {
		Session  map[string]any
		DoStatus map[string]any
	}
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	ms, ok := got.DoStatus["runningStartedAt"].(float64)
	if !ok || int64(ms) < before-1000 || int64(ms) > time.Now().UnixMilli() {
		t.Fatalf("runningStartedAt must be epoch milliseconds: %#v", got.DoStatus["runningStartedAt"])
	}
	if got.Session["activeSeconds"] != 0.0 {
		t.Fatalf("activeSeconds: %#v", got.Session["activeSeconds"])
	}
	s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	if got.DoStatus["runningStartedAt"] != nil {
		t.Fatalf("a terminated session has no running period: %#v", got.DoStatus["runningStartedAt"])
	}
	if _, ok := got.Session["activeSeconds"].(float64); !ok {
		t.Fatalf("activeSeconds: %#v", got.Session["activeSeconds"])
	}
}

// kill -9 of a local runner in the middle of a turn: the server hears of
// the exit from the sandbox and starts a new runner at once (the
// runner-lost deadline is set far away here, so recovery cannot come from
// it), the half-streamed message ends with finish reason error, and the
// prompt's reply comes whole from the new runner.
func TestRunnerKilledMidTurnRecoversAtOnce(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) {
		c.SessionTimings.RunnerLost = time.Hour
		c.SessionTimings.RevertGrace = time.Hour
	})
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()
	pid := runnerPID(t, s.cfg.DataDir, id)
	b.send(map[string]any{"type": "prompt", "content": "long story\n/slow 100\n/chunks 10"})
	b.waitFor("a chunk", typ("chunk"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	msgs := s.waitTranscript(id, func(m []message) bool {
		return len(m) == 3 && len(partsOfType(m[2], "finish")) == 1
	})
	cut := msgs[1]
	fin := partsOfType(cut, "finish")
	if cut.Role != "assistant" || len(fin) != 1 || fin[0]["reason"] != "error" || len(partsOfType(cut, "error")) != 1 {
		t.Fatalf("the cut message ends with an error: %+v", cut)
	}
	for _, p := range cut.Parts {
		if p["streaming"] == true {
			t.Fatalf("the cut message does not stream: %+v", cut)
		}
	}
	if msgs[2].Content != "You said: long story" || partsOfType(msgs[2], "finish")[0]["reason"] != "end_turn" {
		t.Fatalf("the retried reply: %+v", msgs[2])
	}
	if pid2 := runnerPID(t, s.cfg.DataDir, id); pid2 == pid {
		t.Fatal("a new runner process must have been started")
	}
}

// A browser that offers the agentops.v2 subprotocol is answered with it
// and gets message.part.updated frames while a message is written, and
// message.updated only once it is finished; one that offers only valet is
// answered valet (TestSessionTurnEndToEnd checks its frames).
func TestAgentopsV2Subprotocol(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=client"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + s.token, "agentops.v2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "agentops.v2" {
		t.Fatalf("the server answers agentops.v2 to a browser that offers it, got %q", c.Subprotocol())
	}
	c.SetReadLimit(4 << 20)
	next := func() map[string]any {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		_ = json.Unmarshal(data, &f)
		return f
	}
	for f := next(); ; f = next() {
		if d := statusData(f); (f["type"] == "init" && d["runnerReady"] == true) || (f["type"] == "agentStatus" && f["status"] == "idle") {
			break
		}
	}
	b, _ := json.Marshal(map[string]any{"type": "prompt", "content": "hi\n/tool bash completed {\"command\":\"ls\"}"})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	var partFrames, updated int
	var finished bool
	for !finished {
		f := next()
		switch f["type"] {
		case "message.part.updated":
			partFrames++
			if _, ok := f["index"].(float64); !ok || f["messageId"] == nil || f["part"] == nil {
				t.Fatalf("part frame: %v", f)
			}
		case "message.updated":
			updated++
			for _, p := range statusData(f)["parts"].([]any) {
				finished = finished || p.(map[string]any)["type"] == "finish"
			}
			if !finished {
				t.Fatalf("a v2 browser gets message.updated only for a finished message: %v", f)
			}
		}
	}
	if partFrames == 0 || updated != 1 {
		t.Fatalf("part frames %d, message.updated %d", partFrames, updated)
	}
}
