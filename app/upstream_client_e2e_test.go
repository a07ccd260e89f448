package app_test

import (
	"testing"

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
