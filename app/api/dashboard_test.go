package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestDashboardStatsRoute(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e, _ := newFeatureEnv(t, st)
		tok := e.register("a@example.com", pw)
		uid := userID(t, e, tok)
		now := e.clock.Now()
		for i := range 5 {
			at := now.Add(-time.Duration(i) * 25 * time.Hour).Truncate(time.Microsecond)
			s := &store.Session{ID: uuid.NewString(), UserID: uid, Workspace: "repo", Status: store.StatusTerminated,
				Purpose: "interactive", Agent: "script", CreatedAt: at, UpdatedAt: at, LastActiveAt: at.Add(time.Minute)}
			if err := st.Sessions().Create(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}

		r := e.call("GET", "/api/dashboard/stats", tok, nil)
		expect(t, r, 200, "")
		for _, k := range []string{"hero", "userHero", "delta", "activity", "topRepos", "recentSessions", "activeSessions", "period"} {
			if _, ok := r.Body[k]; !ok {
				t.Fatalf("stats lack %s: %s", k, r.Raw)
			}
		}
		if r.Body["period"] != float64(720) || r.Body["timezone"] != "UTC" {
			t.Fatalf("defaults: period %v zone %v", r.Body["period"], r.Body["timezone"])
		}
		hero := r.Body["hero"].(map[string]any)
		if hero["totalSessions"] != float64(5) || hero["totalSessionDurationSeconds"] != float64(300) || hero["sessionHours"] != 0.1 {
			t.Fatalf("hero: %v", hero)
		}
		if days := r.Body["activity"].([]any); len(days) < 30 || len(days) > 31 {
			t.Fatalf("720 hours touch 30 or 31 days, got %d", len(days))
		}

		r = e.call("GET", "/api/dashboard/stats?period=7&unit=days&tz=Pacific/Auckland", tok, nil)
		expect(t, r, 200, "")
		days := r.Body["activity"].([]any)
		if len(days) != 7 || r.Body["period"] != float64(168) || r.Body["timezone"] != "Pacific/Auckland" {
			t.Fatalf("7 days: %d points, period %v, zone %v", len(days), r.Body["period"], r.Body["timezone"])
		}
		if last := days[6].(map[string]any)["date"]; last != now.In(mustLoad(t, "Pacific/Auckland")).Format(time.DateOnly) {
			t.Fatalf("the series ends today in Auckland, not %v", last)
		}

		// The profile's zone applies when tz is absent.
		expect(t, e.call("PATCH", "/api/auth/me", tok, map[string]any{"timezone": "Asia/Kolkata"}), 200, "")
		if r := e.call("GET", "/api/dashboard/stats?period=24", tok, nil); r.Body["timezone"] != "Asia/Kolkata" {
			t.Fatalf("profile zone: %v", r.Body["timezone"])
		}

		for _, q := range []string{"period=0", "period=abc", "period=2161", "period=91&unit=days", "unit=weeks", "tz=Mars/Olympus", "tz=Local"} {
			r := e.call("GET", "/api/dashboard/stats?"+q, tok, nil)
			expect(t, r, 400, "VALIDATION_ERROR")
		}
		expect(t, e.call("GET", "/api/dashboard/stats", "", nil), 401, "UNAUTHORIZED")
	})
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// The routes upstream's client and smoke tests call for features agentops
// does not have answer truthfully.
func TestCompatibilityRoutes(t *testing.T) {
	e, _ := newFeatureEnv(t, storetest.Open(t, store.SQLite))
	tok := e.register("a@example.com", pw)
	uid := userID(t, e, tok)

	r := e.call("GET", "/api/me/orchestrator", tok, nil)
	expect(t, r, 200, "")
	if r.Body["sessionId"] != "orchestrator:"+uid || r.Body["exists"] != false || r.Body["needsRestart"] != false ||
		r.Body["identity"] != nil || r.Body["session"] != nil {
		t.Fatalf("orchestrator: %s", r.Raw)
	}
	if _, ok := r.Body["identity"]; !ok {
		t.Fatal("identity must be present (null)")
	}
	r = e.call("GET", "/api/integrations", tok, nil)
	if l, ok := r.Body["integrations"].([]any); r.Status != 200 || !ok || len(l) != 0 {
		t.Fatalf("integrations: %s", r.Raw)
	}
	r = e.call("GET", "/api/integrations/available", tok, nil)
	if l, ok := r.Body["services"].([]any); r.Status != 200 || !ok || len(l) != 0 {
		t.Fatalf("available: %s", r.Raw)
	}
	r = e.call("GET", "/api/channels/label?channelType=web&channelId=default", tok, nil)
	if r.Status != 200 || r.Body["label"] != "Web" {
		t.Fatalf("web label: %s", r.Raw)
	}
	r = e.call("GET", "/api/channels/label?channelType=slack&channelId=C1", tok, nil)
	if v, ok := r.Body["label"]; r.Status != 200 || !ok || v != nil {
		t.Fatalf("slack label: %s", r.Raw)
	}
	expect(t, e.call("GET", "/api/channels/label?channelType=web", tok, nil), 400, "VALIDATION_ERROR")
	expect(t, e.call("GET", "/api/channels/label?channelId=x", tok, nil), 400, "VALIDATION_ERROR")
	for _, p := range []string{"/api/me/orchestrator", "/api/integrations", "/api/integrations/available", "/api/channels/label?channelType=web&channelId=x"} {
		expect(t, e.call("GET", p, "", nil), 401, "UNAUTHORIZED")
	}
}
