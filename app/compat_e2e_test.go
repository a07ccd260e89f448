package app_test

import (
	"testing"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store"
)

// The listing calls of upstream's smoke suite (api.test.ts) that this
// release answers, through serve.
func TestSmokeListingsThroughServe(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.OpenSignup = true })
	var orch struct {
		SessionID    string `json:"sessionId"`
		Exists       *bool  `json:"exists"`
		NeedsRestart *bool  `json:"needsRestart"`
	}
	s.mustJSON("GET", "/api/me/orchestrator", s.token, nil, 200, &orch)
	if orch.SessionID == "" || orch.Exists == nil || *orch.Exists || orch.NeedsRestart == nil || *orch.NeedsRestart {
		t.Fatalf("orchestrator: %+v", orch)
	}
	var stats map[string]any
	s.mustJSON("GET", "/api/dashboard/stats", s.token, nil, 200, &stats)
	if _, ok := stats["hero"]; !ok {
		t.Fatalf("stats: %v", stats)
	}
	var integ struct{ Integrations []any }
	s.mustJSON("GET", "/api/integrations", s.token, nil, 200, &integ)
	var box struct{ Messages []any }
	s.mustJSON("GET", "/api/me/notifications?limit=50", s.token, nil, 200, &box)
	if box.Messages == nil {
		t.Fatal("messages must be an array")
	}
	var label struct{ Label *string }
	s.mustJSON("GET", "/api/channels/label?channelType=web&channelId=default", s.token, nil, 200, &label)
	if label.Label == nil {
		t.Fatal("a web channel has a label")
	}

	// Threads: a session of the caller has none; others' sessions and the
	// orchestrator alias (there is no orchestrator) are not found.
	id := s.createSession(nil).Session.ID
	var threads struct {
		Threads []any
		HasMore *bool
	}
	s.mustJSON("GET", "/api/sessions/"+id+"/threads", s.token, nil, 200, &threads)
	if threads.Threads == nil || len(threads.Threads) != 0 || threads.HasMore == nil || *threads.HasMore {
		t.Fatalf("threads: %+v", threads)
	}
	var paged map[string]any
	s.mustJSON("GET", "/api/sessions/"+id+"/threads?page=1&pageSize=20", s.token, nil, 200, &paged)
	if paged["totalCount"] != float64(0) || paged["totalPages"] != float64(0) {
		t.Fatalf("page mode: %v", paged)
	}
	s.mustJSON("GET", "/api/sessions/orchestrator/threads", s.token, nil, 404, nil)
	var other struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "other@example.com", "password": "another passphrase"}, 200, &other)
	s.mustJSON("GET", "/api/sessions/"+id+"/threads", other.SessionToken, nil, 404, nil)
}
