package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	poll "github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/jobs"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustService(t *testing.T, st *store.Store, clock clockwork.Clock, setup func(s *jobs.Service)) *jobs.Service {
	t.Helper()
	// The fake clock jumps by hours; a lease that long keeps a job claimed
	// while its outcome is being recorded, as the real five minutes do.
	s, err := jobs.New(jobs.Options{Store: st, Clock: clock, PollInterval: 50 * time.Millisecond, Lease: 10000 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	s.Start()
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// eventually polls cond (advancing the fake clock by step each round, if
// given) until it holds or 10 s pass.
func eventually(t *testing.T, clock *clockwork.FakeClock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.True(t, 10*time.Second, what, func() bool {
		if cond() {
			return true
		}
		if clock != nil && step > 0 {
			clock.Advance(step)
		}
		return false
	})
}

// recorder is a handler that counts runs per payload.
type recorder struct {
	mu   sync.Mutex
	runs map[string]int
}

func (r *recorder) handle(_ context.Context, p []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]int{}
	}
	r.runs[string(p)]++
	return nil
}

func (r *recorder) count(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[p]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.runs {
		n += c
	}
	return n
}

func TestOneShotRunsWhenDueAndOnlyThen(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		rec := &recorder{}
		s := mustService(t, st, clock, func(s *jobs.Service) { s.Handle("ping", rec.handle) })
		id, err := s.ScheduleAt(ctx, t0.Add(time.Hour), "ping", []byte("later"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ScheduleAt(ctx, t0.Add(-time.Minute), "ping", []byte("overdue")); err != nil {
			t.Fatal(err)
		}
		eventually(t, nil, 0, "the overdue job", func() bool { return rec.count("overdue") == 1 })
		// Not due yet: an advance of 59 minutes leaves it pending.
		clock.Advance(59 * time.Minute)
		time.Sleep(100 * time.Millisecond)
		if rec.count("later") != 0 {
			t.Fatal("a job ran before it was due")
		}
		eventually(t, clock, time.Minute, "the job due in an hour", func() bool { return rec.count("later") == 1 })
		// A job that ran is gone; it never runs twice.
		// The job row is deleted once the handler has returned, a moment
		// after the run was counted.
		eventually(t, nil, 0, "the finished job to be deleted", func() bool {
			_, err := st.Jobs().Get(ctx, id)
			return errors.Is(err, store.ErrNotFound)
		})
		clock.Advance(time.Hour)
		time.Sleep(100 * time.Millisecond)
		if rec.count("later") != 1 || rec.count("overdue") != 1 {
			t.Fatalf("runs: %v", rec.runs)
		}
	})
}

func TestOneShotSurvivesARestart(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		first, err := jobs.New(jobs.Options{Store: st, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		first.Handle("ping", func(context.Context, []byte) error { return nil })
		if _, err := first.ScheduleAt(ctx, t0.Add(10*time.Minute), "ping", []byte("kept")); err != nil {
			t.Fatal(err)
		}
		// The process stops before the job is due (it never started its
		// loop); the next one runs it.
		if err := first.Stop(); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		mustService(t, st, clock, func(s *jobs.Service) { s.Handle("ping", rec.handle) })
		eventually(t, clock, time.Minute, "the job scheduled before the restart", func() bool { return rec.count("kept") == 1 })
	})
}

func TestOneShotRunsOnceAcrossReplicas(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			st := storetest.OpenURL(t, url)
			rec := &recorder{}
			var replicas []*jobs.Service
			for i := range 3 {
				// On Postgres each replica has its own pool on the same
				// database; an SQLite file has one server process.
				rst := st
				if d == store.Postgres && i > 0 {
					rst = storetest.OpenURL(t, url)
				}
				replicas = append(replicas, mustService(t, rst, clockwork.NewRealClock(), func(s *jobs.Service) {
					s.Handle("ping", func(ctx context.Context, p []byte) error {
						time.Sleep(time.Millisecond) // let the others try to claim it meanwhile
						return rec.handle(ctx, p)
					})
				}))
			}
			const n = 60
			for i := range n {
				if _, err := replicas[i%3].ScheduleAt(ctx, time.Now(), "ping", fmt.Appendf(nil, "job-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, nil, 0, "every job", func() bool { return rec.total() >= n })
			time.Sleep(200 * time.Millisecond)
			for i := range n {
				if c := rec.count(fmt.Sprintf("job-%d", i)); c != 1 {
					t.Errorf("job-%d ran %d times", i, c)
				}
			}
		})
	}
}

func TestOneShotRetriesThenFails(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		var flaky, broken atomic.Int32
		s := mustService(t, st, clock, func(s *jobs.Service) {
			s.Handle("flaky", func(context.Context, []byte) error {
				if flaky.Add(1) == 1 {
					return errors.New("first try fails")
				}
				return nil
			})
			s.Handle("broken", func(context.Context, []byte) error {
				broken.Add(1)
				panic("always")
			})
		})
		if _, err := s.ScheduleAt(ctx, t0, "flaky", nil); err != nil {
			t.Fatal(err)
		}
		id, err := s.ScheduleAt(ctx, t0, "broken", nil, jobs.WithMaxAttempts(3))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, nil, 0, "the first attempts", func() bool { return flaky.Load() == 1 && broken.Load() == 1 })
		// The retry waits for its backoff (30 s), not a moment less.
		clock.Advance(29 * time.Second)
		time.Sleep(100 * time.Millisecond)
		if flaky.Load() != 1 {
			t.Fatal("a failed job was retried before its backoff")
		}
		eventually(t, clock, 10*time.Second, "the retries", func() bool { return flaky.Load() == 2 && broken.Load() == 3 })
		eventually(t, nil, 0, "the failed job recorded", func() bool {
			j, err := st.Jobs().Get(ctx, id)
			return err == nil && j.Status == store.JobFailed
		})
		j, _ := st.Jobs().Get(ctx, id)
		if j.Attempts != 3 || j.LastError != "panic: always" {
			t.Fatalf("failed job: attempts %d, last error %q", j.Attempts, j.LastError)
		}
		clock.Advance(24 * time.Hour)
		time.Sleep(100 * time.Millisecond)
		if broken.Load() != 3 || flaky.Load() != 2 {
			t.Fatalf("runs after the end: broken %d, flaky %d", broken.Load(), flaky.Load())
		}
	})
}

func TestCancelDedupeAndUnknownKinds(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		rec := &recorder{}
		s := mustService(t, st, clock, func(s *jobs.Service) { s.Handle("ping", rec.handle) })
		if _, err := s.ScheduleAt(ctx, t0, "nobody-handles-this", nil); !errors.Is(err, jobs.ErrUnknownKind) {
			t.Fatalf("unknown kind: %v", err)
		}
		id, err := s.ScheduleAt(ctx, t0.Add(time.Hour), "ping", []byte("cancelled"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.ScheduleAt(ctx, t0.Add(time.Hour), "ping", []byte("once"), jobs.WithDedupeKey("k1"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.ScheduleAt(ctx, t0.Add(2*time.Hour), "ping", []byte("once"), jobs.WithDedupeKey("k1"))
		if err != nil || a != b {
			t.Fatalf("the same key scheduled twice: %s and %s (%v)", a, b, err)
		}
		if err := s.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(ctx, id); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("cancel twice: %v", err)
		}
		eventually(t, clock, 10*time.Minute, "the deduplicated job", func() bool { return rec.count("once") == 1 })
		clock.Advance(3 * time.Hour)
		time.Sleep(100 * time.Millisecond)
		if rec.count("cancelled") != 0 || rec.count("once") != 1 {
			t.Fatalf("runs: %v", rec.runs)
		}
	})
}

func TestCronRunsOnItsScheduleAndCanBeCancelled(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	clock := clockwork.NewFakeClockAt(t0)
	s := mustService(t, st, clock, nil)
	if err := s.ScheduleCron("bad", "61 * * * *", func(context.Context) error { return nil }); !errors.Is(err, jobs.ErrInvalid) {
		t.Fatalf("bad cron expression: %v", err)
	}
	var runs atomic.Int32
	if err := s.ScheduleCron("every-5", "*/5 * * * *", func(context.Context) error { runs.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	next, err := s.NextRuns("every-5", 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Time{t0.Add(5 * time.Minute), t0.Add(10 * time.Minute), t0.Add(15 * time.Minute)} {
		if i >= len(next) || !next[i].Equal(want) {
			t.Fatalf("next runs %v, want from %v every 5 minutes", next, t0.Add(5*time.Minute))
		}
	}
	eventually(t, clock, time.Minute, "the first run", func() bool { return runs.Load() >= 1 })
	if err := s.Cancel(context.Background(), "every-5"); err != nil {
		t.Fatal(err)
	}
	n := runs.Load()
	clock.Advance(time.Hour)
	time.Sleep(100 * time.Millisecond)
	if runs.Load() != n {
		t.Fatalf("a cancelled periodic job ran: %d → %d", n, runs.Load())
	}
}

// TestCronRunsOnOneReplicaAndFailsOver: two replicas on one Postgres run a
// periodic job; only the leader runs it. When the leader's database
// connection is cut (as when its host dies), the other takes over; when a
// leader stops cleanly, the other takes over at once.
func TestCronRunsOnOneReplicaAndFailsOver(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t, store.Postgres)
	admin := storetest.OpenURL(t, url)
	var runs [2]atomic.Int32
	var svcs [2]*jobs.Service
	var clocks [2]*clockwork.FakeClock
	for i := range svcs {
		clocks[i] = clockwork.NewFakeClockAt(t0)
		s, err := jobs.New(jobs.Options{Store: storetest.OpenURL(t, url), Clock: clocks[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop() })
		if err := s.ScheduleCron("tick", "* * * * *", func(context.Context) error { runs[i].Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
		svcs[i] = s
	}
	// Replica 0 asks first and becomes the leader.
	if !svcs[0].IsLeader(ctx) || svcs[1].IsLeader(ctx) {
		t.Fatal("want replica 0 to lead and replica 1 not to")
	}
	svcs[0].Start()
	svcs[1].Start()
	tick := func() {
		clocks[0].Advance(time.Minute)
		clocks[1].Advance(time.Minute)
	}
	eventually(t, nil, 0, "three runs on the leader", func() bool { tick(); return runs[0].Load() >= 3 })
	if runs[1].Load() != 0 {
		t.Fatalf("the follower ran the periodic job %d times", runs[1].Load())
	}
	// Cut the leader's connection from the server side.
	var killed int
	if err := admin.DB().QueryRowContext(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d lock holders, want 1", killed)
	}
	// Whichever replica asks first takes the free lock (replica 0's
	// scheduler may be in the middle of a run and ask again): exactly one
	// leads, and only it runs the job.
	var leader, follower int
	eventually(t, nil, 0, "a new leader", func() bool {
		l0, l1 := svcs[0].IsLeader(ctx), svcs[1].IsLeader(ctx)
		if l0 == l1 {
			return false
		}
		leader, follower = 0, 1
		if l1 {
			leader, follower = 1, 0
		}
		return true
	})
	time.Sleep(50 * time.Millisecond) // a run under way at the cut ends
	before := [2]int32{runs[0].Load(), runs[1].Load()}
	eventually(t, nil, 0, "runs on the leader", func() bool { tick(); return runs[leader].Load() >= before[leader]+2 })
	if runs[follower].Load() > before[follower]+1 { // at most a run already under way
		t.Fatalf("the follower kept running the job: %d → %d", before[follower], runs[follower].Load())
	}
	// A clean stop hands leadership over at once.
	if err := svcs[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	if !svcs[follower].IsLeader(ctx) {
		t.Fatalf("replica %d did not take over after replica %d stopped", follower, leader)
	}
}

// TestOneShotOfADeadReplicaRunsAfterItsLease: a replica that claimed a job
// and died leaves it claimed; another runs it once the lease is over, not
// before.
func TestOneShotOfADeadReplicaRunsAfterItsLease(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(t0)
		now := t0
		j := &store.ScheduledJob{ID: "job-of-the-dead", Kind: "ping", Payload: "orphan", Status: store.JobPending,
			RunAt: now, MaxAttempts: 5, CreatedAt: now, UpdatedAt: now}
		if err := st.Jobs().Insert(ctx, j); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.Jobs().Claim(ctx, now, "dead-replica", 5*time.Minute, 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %d jobs", err, len(claimed))
		}
		rec := &recorder{}
		mustService(t, st, clock, func(s *jobs.Service) { s.Handle("ping", rec.handle) })
		clock.Advance(4 * time.Minute)
		time.Sleep(150 * time.Millisecond)
		if rec.count("orphan") != 0 {
			t.Fatal("a job claimed by another replica ran before its lease ended")
		}
		eventually(t, clock, 30*time.Second, "the orphaned job", func() bool { return rec.count("orphan") == 1 })
		eventually(t, nil, 0, "the orphaned job finished", func() bool {
			_, err := st.Jobs().Get(ctx, j.ID)
			return errors.Is(err, store.ErrNotFound)
		})
	})
}
