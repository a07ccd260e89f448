package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
)

// toolResults returns the final state of the assistant's tool calls, by
// call id.
func toolResults(t *testing.T, m message) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, p := range partsOfType(m, "tool-call") {
		out[p["callId"].(string)] = p
	}
	return out
}

// TestAgentMemoryThroughSockets: an agent reads and writes its owner's
// memory over the runner socket (mem-* RPCs) through a real runner
// process, and the owner sees the result over REST.
func TestAgentMemoryThroughSockets(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		s.mustJSON("PUT", "/api/me/memory", s.token, map[string]any{"path": "preferences/style.md", "content": "# Style\nShort answers."}, 201, nil)
		c := s.createSession(nil)
		b := s.dial(c.Session.ID, s.token)
		b.waitReady()
		b.send(map[string]any{"type": "prompt", "content": strings.Join([]string{
			"/mem read preferences/style.md",
			"/mem write projects/agentops.md # Agentops\\nThe runner speaks mem RPCs.",
			"/mem append projects/agentops.md \\nAppended by the agent.",
			"/mem search runner rpcs",
			"/mem read projects/",
			"/mem write ../../../ nowhere",
			"/mem rm preferences/style.md",
			"Remember this.",
		}, "\n")})
		b.turnDone()

		msgs := s.messages(c.Session.ID)
		if len(msgs) != 2 {
			t.Fatalf("transcript: %+v", msgs)
		}
		calls := toolResults(t, msgs[1])
		result := func(id string) map[string]any {
			t.Helper()
			p := calls[id]
			if p == nil || p["status"] != "completed" {
				t.Fatalf("%s: %+v", id, p)
			}
			raw, _ := json.Marshal(p["result"])
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			return out
		}
		if f := result("mem_1")["file"].(map[string]any); f["content"] != "# Style\nShort answers." || f["pinned"] != true {
			t.Fatalf("mem-read: %+v", f)
		}
		if f := result("mem_2")["file"].(map[string]any); f["path"] != "projects/agentops.md" || f["version"] != 1.0 || f["title"] != "Agentops" {
			t.Fatalf("mem-write: %+v", f)
		}
		if r := result("mem_3")["result"].(map[string]any); r["applied"] != 1.0 || r["version"] != 2.0 {
			t.Fatalf("mem-patch: %+v", r)
		}
		hits := result("mem_4")["results"].([]any)
		if len(hits) != 1 || hits[0].(map[string]any)["path"] != "projects/agentops.md" || !strings.Contains(hits[0].(map[string]any)["snippet"].(string), "mem RPCs") {
			t.Fatalf("mem-search: %+v", hits)
		}
		if files := result("mem_5")["files"].([]any); len(files) != 1 || files[0].(map[string]any)["path"] != "projects/agentops.md" {
			t.Fatalf("mem-read of a directory: %+v", files)
		}
		if p := calls["mem_6"]; p["status"] != "error" || !strings.Contains(p["error"].(string), "path is required") {
			t.Fatalf("a bad path is refused with the reason: %+v", p)
		}
		if r := result("mem_7"); r["deleted"] != 1.0 {
			t.Fatalf("mem-rm: %+v", r)
		}

		// The owner sees what the agent did.
		var got struct {
			File map[string]any `json:"file"`
		}
		s.mustJSON("GET", "/api/me/memory?path=projects/agentops.md", s.token, nil, 200, &got)
		if got.File["content"] != "# Agentops\nThe runner speaks mem RPCs.\nAppended by the agent." || got.File["version"] != 2.0 {
			t.Fatalf("the file over REST: %+v", got.File)
		}
		s.mustJSON("GET", "/api/me/memory?path=preferences/style.md", s.token, nil, 200, &got)
		if got.File != nil {
			t.Fatalf("the agent removed the file: %+v", got.File)
		}
	})
}
