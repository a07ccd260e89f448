package app_test

import (
	"testing"
	"time"

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
