package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

const metricsToken = "scrape-secret-0123456789"

// scrape reads /metrics with the token and returns every sample by its
// series ("name{a=\"x\",b=\"y\"}", labels sorted as the exposition has them).
func (s *server) scrape() map[string]float64 {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		s.t.Fatalf("GET /metrics: %d %s", res.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// series names a sample: series("x_total", "b", "2", "a", "1") is
// x_total{a="1",b="2"}.
func series(name string, kv ...string) string {
	if len(kv) == 0 {
		return name
	}
	var pairs []string
	for i := 0; i < len(kv); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// metricIs waits until the sample has the value want.
func (s *server) metricIs(what string, want float64, name string, kv ...string) {
	s.t.Helper()
	key := series(name, kv...)
	eventually.NoError(s.t, 20*time.Second, what, func() error {
		if got := s.scrape()[key]; got != want {
			return fmt.Errorf("%s = %v, want %v", key, got, want)
		}
		return nil
	})
}

// metricAtLeast waits until the sample is at least want.
func (s *server) metricAtLeast(what string, want float64, name string, kv ...string) {
	s.t.Helper()
	key := series(name, kv...)
	eventually.NoError(s.t, 20*time.Second, what, func() error {
		if got := s.scrape()[key]; got < want {
			return fmt.Errorf("%s = %v, want at least %v", key, got, want)
		}
		return nil
	})
}

// TestMetricsEndpointNeedsItsToken: /metrics is a JSON 404 unless a token
// is configured; then a missing or wrong bearer token is a 401 with the
// error body, and the right one gets the Prometheus text format.
func TestMetricsEndpointNeedsItsToken(t *testing.T) {
	off := startServer(t, store.SQLite, "local")
	code, body := off.call("GET", "/metrics", "", nil)
	if code != 404 || !strings.Contains(string(body), `"code":"NOT_FOUND"`) {
		t.Fatalf("without --metrics-token: %d %s", code, body)
	}
	if code, body = off.call("GET", "/metrics", metricsToken, nil); code != 404 {
		t.Fatalf("without --metrics-token, with a token: %d %s", code, body)
	}

	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.MetricsToken = metricsToken })
	for _, tok := range []string{"", "wrong", metricsToken + "x", metricsToken[:len(metricsToken)-1], s.token} {
		code, body := s.call("GET", "/metrics", tok, nil)
		if code != 401 || !strings.Contains(string(body), `"code":"UNAUTHORIZED"`) {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
	}
	req, _ := http.NewRequest("GET", s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Basic "+metricsToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("a token in another scheme: %d", res.StatusCode)
	}
	m := s.scrape()
	for _, name := range []string{"agentops_build_info{version=\"test\"}", "agentops_go_goroutines", "agentops_session_actors"} {
		if _, ok := m[name]; !ok {
			t.Fatalf("%s missing from the scrape", name)
		}
	}
	for k := range m {
		if !strings.HasPrefix(k, "agentops_") {
			t.Fatalf("metric %s does not start with agentops_", k)
		}
	}
}

// TestMetricsFollowTraffic drives real traffic (sessions prompted with the
// script agent, a turn that fails, a browser that stops reading, a memory
// search, an event stream, scheduled jobs on a moved clock) and checks that
// the metrics moved by what happened, not just that they exist.
func TestMetricsFollowTraffic(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Now())
		s := startServer(t, d, "local", func(c *app.Config) { c.MetricsToken = metricsToken; c.Clock = clock })
		before := s.scrape()
		if before[series("agentops_sessions", "status", "running")] != 0 {
			t.Fatalf("running sessions before any: %v", before[series("agentops_sessions", "status", "running")])
		}

		c := s.createSession(nil)
		id := c.Session.ID
		b := s.dial(id, s.token)
		b.waitReady()
		s.metricIs("one running session", 1, "agentops_sessions", "status", "running")
		s.metricIs("one browser socket", 1, "agentops_session_sockets", "kind", "browser")
		s.metricIs("one runner socket", 1, "agentops_session_sockets", "kind", "runner")

		b.send(map[string]any{"type": "prompt", "content": "hello"})
		b.turnDone()
		b.send(map[string]any{"type": "prompt", "content": "/fail boom"})
		b.turnDone()
		s.metricIs("one completed turn", 1, "agentops_agent_turns_total", "agent", "script", "outcome", "completed")
		s.metricIs("one failed turn", 1, "agentops_agent_turns_total", "agent", "script", "outcome", "error")

		m := s.scrape()
		if got := m[series("agentops_http_requests_total", "route", "/api/sessions", "method", "POST", "status", "201")]; got != 1 {
			t.Fatalf("POST /api/sessions 201 counted %v times", got)
		}
		if got := m[series("agentops_http_request_duration_seconds_count", "route", "/api/sessions", "method", "POST")]; got != 1 {
			t.Fatalf("POST /api/sessions latency observed %v times", got)
		}
		if m[series("agentops_pubsub_publishes_total", "driver", "memory")] == 0 && m[series("agentops_pubsub_publishes_total", "driver", "postgres")] == 0 {
			t.Fatal("session events were published, the pub/sub counted none")
		}
		if m["agentops_session_actors"] < 1 {
			t.Fatalf("live actors: %v", m["agentops_session_actors"])
		}
		pool := "write"
		if d == store.Postgres {
			pool = "main"
		}
		if m[series("agentops_db_pool_open_connections", "pool", pool)] < 1 {
			t.Fatalf("pool %s has no open connection: %v", pool, m)
		}
		code, body := s.call("GET", "/api/nowhere", s.token, nil)
		if code != 404 {
			t.Fatalf("unknown route: %d %s", code, body)
		}
		if got := s.scrape()[series("agentops_http_requests_total", "route", "unmatched", "method", "GET", "status", "404")]; got != 1 {
			t.Fatalf("an unmatched route counted %v times under \"unmatched\"", got)
		}

		// Search latency: one memory search, one observation.
		provider := "fts5"
		if d == store.Postgres {
			provider = "postgres"
		}
		s.mustJSON("GET", "/api/me/memory/search?query=anything", s.token, nil, 200, nil)
		s.metricIs("one search timed", 1, "agentops_search_duration_seconds_count", "provider", provider)

		// An event stream is an event-bus subscriber while it lasts.
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		s.metricIs("one event stream", 1, "agentops_event_streams")
		cancel()
		res.Body.Close()
		s.metricIs("no event stream", 0, "agentops_event_streams")

		// The hourly maintenance and the per-minute workflow jobs run
		// when the clock passes their time.
		eventually.NoError(t, 20*time.Second, "maintenance to run", func() error {
			if got := s.scrape()[series("agentops_job_runs_total", "job", "maintenance.prune", "outcome", "ok")]; got < 1 {
				clock.Advance(10 * time.Minute)
				return fmt.Errorf("maintenance.prune ran %v times", got)
			}
			return nil
		})
		s.metricAtLeast("workflow schedules job to run", 1, "agentops_job_runs_total", "job", "workflows.schedules", "outcome", "ok")
		s.metricAtLeast("job durations observed", 1, "agentops_job_duration_seconds_count", "job", "maintenance.prune")

		// Ending the session: no running session, no runner socket. The
		// browser's socket stays open (it is told the session ended, as
		// upstream's client expects) until the browser closes it.
		s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
		s.metricIs("no running session", 0, "agentops_sessions", "status", "running")
		s.metricIs("no runner socket", 0, "agentops_session_sockets", "kind", "runner")
		s.metricIs("the browser socket of the ended session", 1, "agentops_session_sockets", "kind", "browser")
		b.c.Close(websocket.StatusNormalClosure, "")
		<-b.closed
		s.metricIs("no browser socket", 0, "agentops_session_sockets", "kind", "browser")
		// Sockets are counted as requests when they end, and stay out of
		// the latency histogram.
		s.metricAtLeast("socket upgrades counted (the browser and the runner)", 2, "agentops_http_requests_total", "route", "/api/sessions/{id}/ws", "method", "GET", "status", "101")
		if got := s.scrape()[series("agentops_http_request_duration_seconds_count", "route", "/api/sessions/{id}/ws", "method", "GET")]; got != 0 {
			t.Fatalf("socket lifetimes in the latency histogram: %v", got)
		}

		// A browser that stops reading is closed as a slow consumer; a
		// reading one stays. (On a session of its own, last: its actor is
		// busy with the flood until the server stops.)
		id2 := s.createSession(nil).Session.ID
		b2 := s.dial(id2, s.token)
		b2.waitReady()
		slow := s.dialSilent(id2)
		s.metricIs("two browser sockets", 2, "agentops_session_sockets", "kind", "browser")
		// Each tool update re-sends the whole message: 300 tools (the prompt
		// stays under its 100 kB limit) are 900 frames and ~30 MB per
		// browser, more than the send queue (1024 frames, 8 MiB) and the
		// socket buffers hold.
		s.mustJSON("POST", "/api/sessions/"+id2+"/prompt", s.token, map[string]any{
			"content": strings.Repeat("/tool probe completed {\"pad\":\""+strings.Repeat("x", 200)+"\"}\n", 300) + "flood"}, 200, nil)
		eventually.NoError(t, 120*time.Second, "the silent browser to be closed as a slow consumer", func() error {
			if got := s.scrape()["agentops_session_slow_consumer_closes_total"]; got != 1 {
				return fmt.Errorf("slow consumer closes: %v", got)
			}
			return nil
		})
		s.metricIs("one refused frame", 1, "agentops_session_browser_frames_dropped_total")
		s.metricIs("the silent browser gone, the reading one still there", 1, "agentops_session_sockets", "kind", "browser")
		slow.CloseNow()
	})
}

// dialSilent opens a browser socket that never reads: its frames pile up
// in the server's send queue.
func (s *server) dialSilent(id string) *websocket.Conn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=client"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + s.token}})
	if err != nil {
		s.t.Fatalf("dial: %v", err)
	}
	s.t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestMetricsRunnerLost: a runner that goes away from a running session
// is counted, and the alert rule of docs/operations.md (running sessions
// without a runner socket) sees it until the runner is back.
func TestMetricsRunnerLost(t *testing.T) {
	s := startServer(t, store.SQLite, "external", func(c *app.Config) { c.MetricsToken = metricsToken })
	id, token := externalSession(t, s)
	b := s.dial(id, s.token)
	stop, done := startRunner(t, s, id, token)
	b.waitReady()
	s.metricIs("one runner socket", 1, "agentops_session_sockets", "kind", "runner")
	s.metricIs("one running session", 1, "agentops_sessions", "status", "running")
	stop()
	<-done
	s.metricIs("the runner counted lost", 1, "agentops_session_runners_lost_total")
	s.metricIs("no runner socket", 0, "agentops_session_sockets", "kind", "runner")
	m := s.scrape()
	if m[series("agentops_sessions", "status", "running")]-m[series("agentops_session_sockets", "kind", "runner")] != 1 {
		t.Fatalf("the runners-lost alert expression: running %v, runner sockets %v",
			m[series("agentops_sessions", "status", "running")], m[series("agentops_session_sockets", "kind", "runner")])
	}
	startRunner(t, s, id, token)
	s.metricIs("the runner back", 1, "agentops_session_sockets", "kind", "runner")
	if got := s.scrape()["agentops_session_runners_lost_total"]; got != 1 {
		t.Fatalf("a runner coming back is no loss: %v", got)
	}
}
