package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/jobs"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// observed records what Options.Observe is told.
type observed struct {
	mu   sync.Mutex
	runs map[string][]error
}

func (o *observed) observe(job string, err error, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs[job] = append(o.runs[job], err)
}

func (o *observed) of(job string) []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.runs[job]...)
}

// TestObserveSeesEveryRun: Observe is told of each finished run, one-shot
// (by kind) and periodic (by name), with its error.
func TestObserveSeesEveryRun(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		obs := &observed{runs: map[string][]error{}}
		s, err := jobs.New(jobs.Options{Store: st, Clock: clock, PollInterval: 50 * time.Millisecond, Lease: 10000 * time.Hour, Observe: obs.observe})
		if err != nil {
			t.Fatal(err)
		}
		s.Handle("good", func(context.Context, []byte) error { return nil })
		s.Handle("bad", func(context.Context, []byte) error { return errors.New("no") })
		if err := s.ScheduleCron("tick", "* * * * *", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { _ = s.Stop() })
		if _, err := s.ScheduleAt(ctx, t0, "good", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ScheduleAt(ctx, t0, "bad", nil, jobs.WithMaxAttempts(1)); err != nil {
			t.Fatal(err)
		}
		eventually(t, nil, 0, "the one-shot runs observed", func() bool { return len(obs.of("good")) == 1 && len(obs.of("bad")) == 1 })
		if obs.of("good")[0] != nil || obs.of("bad")[0] == nil || obs.of("bad")[0].Error() != "no" {
			t.Fatalf("outcomes: good %v, bad %v", obs.of("good"), obs.of("bad"))
		}
		eventually(t, clock, time.Minute, "the periodic run observed", func() bool { return len(obs.of("tick")) >= 1 })
		if obs.of("tick")[0] != nil {
			t.Fatalf("tick: %v", obs.of("tick"))
		}
	})
}
