package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/metrics"
	"github.com/agentops/agentops/realtime"
)

// scrape returns the samples of one scrape, by series.
func scrape(t *testing.T, m *metrics.Metrics) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]string{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// TestNilMetricsRecordNothing: parts built without metrics call them all
// the same.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.HTTPDone("/x", "GET", 200, time.Second, false)
	m.HTTPInFlight(1)
	m.SocketOpened("browser")
	m.SocketClosed("browser")
	m.SlowConsumerClosed()
	m.RunnerLost()
	m.TurnFinished("script", "end_turn")
	m.JobRan("j", errors.New("x"), time.Second)
	m.GaugeFunc("x", "x", func() float64 { return 1 })
	ps := realtime.NewMemory()
	defer ps.Close()
	if m.PubSub("memory", ps) != realtime.PubSub(ps) {
		t.Fatal("a nil Metrics must return the pub/sub as is")
	}
}

// TestPubSubCountsPublishesAndDroppedSubscribers wraps the in-process
// driver: publishes are counted, and a subscriber that falls behind is
// counted once when it learns it was dropped.
func TestPubSubCountsPublishesAndDroppedSubscribers(t *testing.T) {
	m := metrics.New("test")
	mem := realtime.NewMemory()
	defer mem.Close()
	ps := m.PubSub("memory", mem)
	ctx := context.Background()
	sub, err := ps.Subscribe(ctx, "topic", realtime.WithQueueSize(1))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ps.Publish(ctx, "topic", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.Publish(ctx, "bad topic", nil); err == nil {
		t.Fatal("an invalid topic must fail")
	}
	for range sub.C() {
	}
	if !errors.Is(sub.Err(), realtime.ErrSlowSubscriber) || !errors.Is(sub.Err(), realtime.ErrSlowSubscriber) {
		t.Fatalf("the subscriber should have been dropped: %v", sub.Err())
	}
	got := scrape(t, m)
	for series, want := range map[string]string{
		`agentops_pubsub_publishes_total{driver="memory"}`:        "3",
		`agentops_pubsub_publish_errors_total{driver="memory"}`:   "1",
		`agentops_pubsub_subscriber_drops_total{driver="memory"}`: "1",
	} {
		if got[series] != want {
			t.Fatalf("%s = %q, want %s", series, got[series], want)
		}
	}
}

// TestTurnOutcomes maps the runner's finish reasons to outcomes.
func TestTurnOutcomes(t *testing.T) {
	m := metrics.New("test")
	for _, r := range []string{"end_turn", "end_turn", "error", "canceled", "length"} {
		m.TurnFinished("script", r)
	}
	got := scrape(t, m)
	for outcome, want := range map[string]string{"completed": "2", "error": "1", "canceled": "1", "other": "1"} {
		if s := `agentops_agent_turns_total{agent="script",outcome="` + outcome + `"}`; got[s] != want {
			t.Fatalf("%s = %q, want %s", s, got[s], want)
		}
	}
}
