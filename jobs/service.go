package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/store"
)

// Options configure a Service. Store is required.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Clock drives cron schedules and one-shot due times; tests use a fake.
	Clock clockwork.Clock
	// Location is the time zone of cron expressions (default UTC).
	Location *time.Location
	// Owner names this process in job claims (default host:pid:random).
	Owner string
	// PollInterval bounds how long a one-shot job scheduled by another
	// replica waits to be seen (default 2 s). Jobs scheduled in this
	// process wake the loop at once.
	PollInterval time.Duration
	// Lease is how long a claimed one-shot job may run; its handler's
	// context ends then, and another replica may take the job (default 5 min).
	Lease time.Duration
	// Workers bounds the one-shot jobs running at once (default 4).
	Workers int
	// Observe, if set, is told of every finished run: periodic jobs by
	// name, one-shot jobs by kind (runs cut short by Stop are not told).
	Observe func(job string, err error, took time.Duration)
}

// Service is the Scheduler: gocron for periodic jobs, elected on Postgres,
// and a loop that claims and runs due one-shot jobs.
type Service struct {
	st     *store.Store
	log    *slog.Logger
	clock  clockwork.Clock
	owner  string
	poll   time.Duration
	lease  time.Duration
	leader *store.LeaderLock
	cron   gocron.Scheduler
	obs    func(job string, err error, took time.Duration)

	mu       sync.Mutex
	handlers map[string]Handler
	crons    map[string]uuid.UUID // name → gocron job
	started  bool

	wake    chan struct{}
	sem     chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped sync.Once
}

var _ Scheduler = (*Service)(nil)

// New builds a Service; Start begins running jobs.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("jobs: a store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Observe == nil {
		o.Observe = func(string, error, time.Duration) {}
	}
	s := &Service{st: o.Store, log: o.Logger.With("component", "jobs"), clock: o.Clock, owner: o.Owner,
		poll: o.PollInterval, lease: o.Lease, leader: o.Store.LeaderLock("jobs"), obs: o.Observe,
		handlers: map[string]Handler{}, crons: map[string]uuid.UUID{},
		wake: make(chan struct{}, 1), sem: make(chan struct{}, o.Workers)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	cron, err := gocron.NewScheduler(
		gocron.WithClock(o.Clock),
		gocron.WithLocation(o.Location),
		gocron.WithDistributedElector(elector{s}),
		gocron.WithStopTimeout(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("jobs: start cron scheduler: %w", err)
	}
	s.cron = cron
	return s, nil
}

// elector lets gocron run periodic jobs on the replica that holds the
// leader lock (always, on SQLite).
type elector struct{ s *Service }

func (e elector) IsLeader(ctx context.Context) error {
	if e.s.ctx.Err() != nil {
		return errors.New("stopping")
	}
	held, err := e.s.leader.Held(ctx)
	if err != nil {
		return err
	}
	if !held {
		return errors.New("not the leader")
	}
	return nil
}

// IsLeader reports whether this process runs the periodic jobs now.
func (s *Service) IsLeader(ctx context.Context) bool {
	held, err := s.leader.Held(ctx)
	return err == nil && held
}

// Owner is the name this process claims one-shot jobs under.
func (s *Service) Owner() string { return s.owner }

// Handle registers the handler of a one-shot job kind. Register every kind
// before Start, so that jobs left from before a restart find theirs.
func (s *Service) Handle(kind string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[kind] = h
}

// Start runs periodic jobs and the one-shot loop until Stop.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.cron.Start()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop()
	}()
}

// Stop ends the one-shot loop and the periodic jobs, waits for running jobs
// (their contexts are cancelled), and gives the leader lock up so another
// replica takes over at once.
func (s *Service) Stop() error {
	var err error
	s.stopped.Do(func() {
		s.cancel()
		err = s.cron.Shutdown()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, s.leader.Release(ctx))
	})
	return err
}

// ScheduleCron runs fn on expr (5 fields: minute hour day month weekday)
// under name, replacing a job of that name. Runs of one job never overlap:
// a run still going when the next is due makes it skip that one.
func (s *Service) ScheduleCron(name, expr string, fn CronFunc) error {
	if name == "" || fn == nil {
		return invalid("a periodic job needs a name and a function")
	}
	log := s.log.With("job", name)
	task := func(ctx context.Context) {
		start := s.clock.Now()
		defer func() {
			if p := recover(); p != nil {
				log.Error("periodic job panicked", "panic", p)
				s.obs(name, fmt.Errorf("panic: %v", p), s.clock.Since(start))
			}
		}()
		if err := fn(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("periodic job failed", "err", err, "took", s.clock.Since(start).Round(time.Millisecond))
				s.obs(name, err, s.clock.Since(start))
			}
			return
		}
		log.Debug("periodic job done", "took", s.clock.Since(start).Round(time.Millisecond))
		s.obs(name, nil, s.clock.Since(start))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := []gocron.JobOption{gocron.WithName(name), gocron.WithContext(s.ctx),
		gocron.WithSingletonMode(gocron.LimitModeReschedule)}
	if id, ok := s.crons[name]; ok {
		j, err := s.cron.Update(id, gocron.CronJob(expr, false), gocron.NewTask(task), opts...)
		if err != nil {
			return invalid("cron %q for %s: %v", expr, name, err)
		}
		s.crons[name] = j.ID()
		return nil
	}
	j, err := s.cron.NewJob(gocron.CronJob(expr, false), gocron.NewTask(task), opts...)
	if err != nil {
		return invalid("cron %q for %s: %v", expr, name, err)
	}
	s.crons[name] = j.ID()
	return nil
}

// NextRuns returns the next n run times of the periodic job name.
func (s *Service) NextRuns(name string, n int) ([]time.Time, error) {
	s.mu.Lock()
	id, ok := s.crons[name]
	s.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	for _, j := range s.cron.Jobs() {
		if j.ID() == id {
			return j.NextRuns(n)
		}
	}
	return nil, ErrNotFound
}

// ScheduleAt stores a one-shot job (see Scheduler).
func (s *Service) ScheduleAt(ctx context.Context, at time.Time, kind string, payload []byte, opts ...AtOption) (string, error) {
	cfg := atConfig{maxAttempts: 5}
	for _, o := range opts {
		o(&cfg)
	}
	s.mu.Lock()
	_, ok := s.handlers[kind]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	now := s.clock.Now().UTC()
	j := &store.ScheduledJob{ID: uuid.NewString(), Kind: kind, Payload: string(payload), DedupeKey: cfg.dedupeKey,
		Status: store.JobPending, RunAt: at.UTC(), MaxAttempts: cfg.maxAttempts, CreatedAt: now, UpdatedAt: now}
	if err := s.st.Jobs().Insert(ctx, j); err != nil {
		if cfg.dedupeKey != "" && errors.Is(err, store.ErrConflict) {
			prev, gerr := s.st.Jobs().GetByDedupeKey(ctx, cfg.dedupeKey)
			if gerr == nil {
				return prev.ID, nil
			}
		}
		return "", fmt.Errorf("schedule %s job: %w", kind, err)
	}
	s.poke()
	return j.ID, nil
}

// Cancel removes a pending one-shot job by id, or a periodic job by name.
func (s *Service) Cancel(ctx context.Context, id string) error {
	s.mu.Lock()
	cid, ok := s.crons[id]
	if ok {
		delete(s.crons, id)
	}
	s.mu.Unlock()
	if ok {
		if err := s.cron.RemoveJob(cid); err != nil {
			return fmt.Errorf("cancel periodic job %s: %w", id, err)
		}
		return nil
	}
	err := s.st.Jobs().Cancel(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop claims and runs due one-shot jobs, then sleeps until the next is
// due, the poll interval passes, or this process schedules one.
func (s *Service) loop() {
	for {
		s.runDue()
		wait := s.poll
		if at, ok, err := s.st.Jobs().NextRunAt(s.ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(s.clock.Now()), 0))
		} else if err != nil && s.ctx.Err() == nil {
			s.log.Warn("read next job", "err", err)
		}
		t := s.clock.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.Chan():
		}
		t.Stop()
	}
}

// runDue claims what is due, as many at a time as there are free workers,
// until nothing due is left or the service stops.
func (s *Service) runDue() {
	for s.ctx.Err() == nil {
		free := cap(s.sem) - len(s.sem)
		if free == 0 {
			// Wait for a worker rather than claim jobs nobody can run yet.
			select {
			case s.sem <- struct{}{}:
				<-s.sem
				continue
			case <-s.ctx.Done():
				return
			}
		}
		claimed, err := s.st.Jobs().Claim(s.ctx, s.clock.Now().UTC(), s.owner, s.lease, free)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("claim due jobs", "err", err)
			}
			return
		}
		for i := range claimed {
			j := claimed[i]
			s.sem <- struct{}{}
			s.wg.Add(1)
			go func() {
				defer func() { <-s.sem; s.wg.Done() }()
				s.run(&j)
			}()
		}
		if len(claimed) < free {
			return
		}
	}
}

// run runs one claimed job and records the outcome.
func (s *Service) run(j *store.ScheduledJob) {
	log := s.log.With("job_id", j.ID, "kind", j.Kind, "attempt", j.Attempts)
	s.mu.Lock()
	h := s.handlers[j.Kind]
	s.mu.Unlock()
	// Outcomes are recorded even while stopping: a finished job must not
	// run again.
	rctx := context.WithoutCancel(s.ctx)
	now := func() time.Time { return s.clock.Now().UTC() }
	if h == nil {
		log.Error("no handler for job kind; keeping the job as failed")
		s.obs(j.Kind, errors.New("no handler"), 0)
		if err := s.st.Jobs().Fail(rctx, j.ID, s.owner, "no handler for kind "+j.Kind, now()); err != nil {
			log.Warn("record job failure", "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.lease)
	start := s.clock.Now()
	err := safeRun(ctx, h, []byte(j.Payload))
	cancel()
	took := s.clock.Since(start).Round(time.Millisecond)
	if s.ctx.Err() == nil {
		s.obs(j.Kind, err, s.clock.Since(start))
	}
	switch {
	case err == nil:
		if ferr := s.st.Jobs().Finish(rctx, j.ID, s.owner); ferr != nil && !errors.Is(ferr, store.ErrNotFound) {
			log.Warn("record job done", "err", ferr)
		}
		log.Info("job done", "took", took)
	case s.ctx.Err() != nil:
		// Stopping: give the job back so that it runs again after restart
		// rather than waiting for its lease to expire.
		if rerr := s.st.Jobs().Retry(rctx, j.ID, s.owner, now(), err.Error(), now()); rerr != nil {
			log.Warn("release job on stop", "err", rerr)
		}
	case j.Attempts >= j.MaxAttempts:
		log.Error("job failed; out of attempts", "err", err, "took", took)
		if ferr := s.st.Jobs().Fail(rctx, j.ID, s.owner, err.Error(), now()); ferr != nil {
			log.Warn("record job failure", "err", ferr)
		}
	default:
		next := now().Add(retryDelay(j.Attempts))
		log.Warn("job failed; will retry", "err", err, "retry_at", next, "took", took)
		if rerr := s.st.Jobs().Retry(rctx, j.ID, s.owner, next, err.Error(), now()); rerr != nil {
			log.Warn("record job retry", "err", rerr)
		}
	}
}

func safeRun(ctx context.Context, h Handler, payload []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, payload)
}
