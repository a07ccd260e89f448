package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/artifacts"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/dashboard"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/app/memory"
	"github.com/agentops/agentops/app/metrics"
	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/app/persona"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/repos"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/builtin"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workspace"
	"github.com/agentops/agentops/jobs"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
	"github.com/agentops/agentops/store/blob/s3blob"
	"github.com/agentops/agentops/web"
)

// App is a configured server: its store, keyring and services.
type App struct {
	cfg      Config
	log      *slog.Logger
	Store    *store.Store
	Keyring  *keyring.Keyring
	Auth     *auth.Service
	Memory   *memory.Service
	Personas *persona.Service

	// Blob is the object storage (artifacts); closeBlob releases it.
	Blob      blob.Storage
	closeBlob func() error

	// Keys follows the key file when a rotation changes it; Credentials
	// are the provider keys sealed with it.
	Keys        *keys.Ring
	Credentials *credentials.Service
	// Notify is the inbox; Serve builds it over the pub/sub it uses.
	Notify *notify.Service
	// Metrics is the Prometheus registry every part records into.
	Metrics *metrics.Metrics

	// lock is the data dir's serve lock, held until Close.
	lock *dirLock
}

// OpenMode says whether OpenStore may create the database and whether it
// applies pending migrations.
type OpenMode int

const (
	// CreateAndMigrate creates the data dir and database when missing
	// and applies pending migrations (serve).
	CreateAndMigrate OpenMode = iota
	// CreateOnly creates them when missing and applies nothing (migrate
	// up applies and reports the migrations itself).
	CreateOnly
	// Existing needs a database that exists and holds the schema, and
	// applies pending migrations (user, token, keys).
	Existing
	// Inspect needs a database that exists, and changes nothing
	// (migrate status).
	Inspect
)

// Database names the configured database for messages: the SQLite file, or
// the Postgres URL without its password.
func (c Config) Database() string { return store.RedactURL(c.DatabaseURL) }

// errNoDatabase explains what to do about a database that is not there.
func errNoDatabase(cfg Config) error {
	return fmt.Errorf("no agentops database at %s: run `agentops serve` or `agentops migrate up` with this --data-dir/--database-url first, or point them at the right one", cfg.Database())
}

// OpenStore opens the configured database as mode says.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger, mode OpenMode) (*store.Store, error) {
	return openStore(ctx, cfg, log, mode, store.Options{})
}

func openStore(ctx context.Context, cfg Config, log *slog.Logger, mode OpenMode, opts store.Options) (*store.Store, error) {
	create := mode == CreateAndMigrate || mode == CreateOnly
	if create {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
		}
	}
	opts.MustExist = !create
	st, err := store.Open(ctx, cfg.DatabaseURL, opts)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, errNoDatabase(cfg)
	} else if err != nil {
		return nil, err
	}
	if mode == Existing {
		states, err := st.MigrationStatus(ctx)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("database %s: %w", cfg.Database(), err)
		}
		if store.Pending(states) == len(states) {
			st.Close()
			return nil, errNoDatabase(cfg)
		}
	}
	if mode == CreateAndMigrate || mode == Existing {
		applied, err := st.Migrate(ctx)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("migrate database: %w", err)
		}
		for _, m := range applied {
			log.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	return st, nil
}

// Open prepares everything serve needs: data dir, database (migrated),
// keyring (checked against the database) and the domain services.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := metrics.New(cfg.Version)
	st, err := openStore(ctx, cfg, log, CreateAndMigrate, store.Options{WrapSearch: m.Search})
	if err != nil {
		lock.release()
		return nil, err
	}
	m.Pools(st.PoolStats)
	m.SessionCounts(st.Sessions().CountLiveByStatus)
	kr, err := LoadKeyring(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		lock.release()
		return nil, err
	}
	a := &App{cfg: cfg, log: log, Store: st, Keyring: kr, Metrics: m, lock: lock}
	a.Auth = auth.New(st, auth.Config{OpenSignup: cfg.OpenSignup}, log)
	a.openCredentials()
	if err := a.openBlob(ctx); err != nil {
		st.Close()
		lock.release()
		return nil, err
	}
	a.Memory = memory.New(st, memory.Config{MaxFiles: cfg.MemoryMaxFiles})
	a.Personas = persona.New(st)
	return a, nil
}

// openBlob opens the configured object storage (OpenBlob).
func (a *App) openBlob(ctx context.Context) error {
	b, closeFn, err := OpenBlob(ctx, a.cfg)
	if err != nil {
		return err
	}
	a.Blob, a.closeBlob = b, closeFn
	return nil
}

// OpenBlob opens the configured object storage: files under
// <data-dir>/blobs, or an S3 bucket (checked now, so that a wrong endpoint
// or credentials stop the start). Call the returned function to release it.
func OpenBlob(ctx context.Context, cfg Config) (blob.Storage, func() error, error) {
	switch cfg.Blob {
	case "s3":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s3, err := s3blob.New(ctx, s3blob.Options{
			Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, Bucket: cfg.S3.Bucket,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, PathStyle: cfg.S3.PathStyle,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("object storage (--blob s3): %w", err)
		}
		return s3, func() error { return nil }, nil
	default:
		fs, err := fsblob.New(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return nil, nil, fmt.Errorf("object storage (--blob fs): %w", err)
		}
		return fs, fs.Close, nil
	}
}

// Close releases the object storage, the database and the data dir.
func (a *App) Close() error {
	if a.closeBlob != nil {
		_ = a.closeBlob()
	}
	err := a.Store.Close()
	a.lock.release()
	return err
}

// keyringMetaKey holds "<primary key id>:<check value>" in instance_meta.
const keyringMetaKey = keys.MetaKey

// LoadKeyring loads the instance keyring (from AGENTOPS_INSTANCE_KEY, or
// the key file, created with a new key on first run) and checks it
// against the database's record; on first run it writes that record. A
// keyring that cannot open this database is refused.
func LoadKeyring(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (*keyring.Keyring, error) {
	recorded, err := st.Meta().Get(ctx, keyringMetaKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var kr *keyring.Keyring
	switch {
	case cfg.InstanceKey != "":
		if kr, err = keyring.Parse([]byte(cfg.InstanceKey)); err != nil {
			return nil, fmt.Errorf("AGENTOPS_INSTANCE_KEY: %w", err)
		}
	case recorded != "":
		// The database was sealed with a key: never invent a new one.
		if kr, err = keyring.Load(cfg.InstanceKeyFile); err != nil {
			return nil, fmt.Errorf("this database was set up with an instance key that must be given again (--instance-key-file or AGENTOPS_INSTANCE_KEY): %w", err)
		}
	default:
		var created bool
		if kr, created, err = keyring.LoadOrCreate(cfg.InstanceKeyFile); err != nil {
			return nil, err
		}
		if created {
			log.Info("created instance keyring; back it up with the database", "path", cfg.InstanceKeyFile)
		}
	}
	if recorded == "" {
		check, err := kr.Check(kr.PrimaryID())
		if err != nil {
			return nil, err
		}
		if _, err := st.Meta().SetIfAbsent(ctx, keyringMetaKey, kr.PrimaryID()+":"+check); err != nil {
			return nil, err
		}
		// Another replica may have won the race with a different keyring.
		if recorded, err = st.Meta().Get(ctx, keyringMetaKey); err != nil {
			return nil, err
		}
	}
	id, check, _ := strings.Cut(recorded, ":")
	if err := kr.Verify(id, check); err != nil {
		return nil, fmt.Errorf("refusing to start: the instance keyring cannot open this database (it records key %s): %w", id, err)
	}
	return kr, nil
}

// Serve listens and serves until ctx ends, then shuts down gracefully:
// stop accepting, let requests in flight finish (up to 15 s, then cut the
// rest off), stop background work. The caller closes the App (and so the
// database) after Serve returns.
func (a *App) Serve(ctx context.Context) error {
	start := time.Now()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	pubsub, err := a.openPubSub(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	defer pubsub.Close()
	pubsub = a.Metrics.PubSub(a.cfg.PubSub, pubsub)
	bus := events.New(a.Store, pubsub, a.cfg.Events, a.log)
	a.Notify = a.openNotify(bus)
	sessions, provider, err := a.newSessions(ln.Addr().(*net.TCPAddr), bus)
	if err != nil {
		ln.Close()
		return err
	}
	a.registerServeMetrics(bus, sessions)
	a.warnSharedLocalRunners(ctx)
	defer provider.Close()
	clock := a.cfg.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	workflows := a.newWorkflows(sessions, bus, clock)
	// From here on the actors and the event bus run: whatever way Serve
	// returns, they stop (and write what they hold) before the caller
	// closes the database.
	var stopped bool
	defer func() {
		if !stopped {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sessions.Shutdown(sctx)
			bus.Shutdown(sctx)
		}
	}()
	if err := sessions.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("restore sessions: %w", err)
	}
	var locate workspace.Locator
	if local, ok := provider.(*sandbox.Local); ok {
		locate = local.Workspace
	}
	proxies, err := api.ParseProxies(a.cfg.TrustedProxies)
	if err != nil {
		ln.Close()
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	repoSvc, err := repos.New(a.Store, a.Credentials, sessions, repos.Options{APIURL: a.cfg.GitHubAPIURL,
		RefreshInterval: a.cfg.PRRefreshInterval, Now: func() time.Time { return clock.Now().UTC() }}, a.log.With("component", "repos"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("--github-api-url: %w", err)
	}
	handler := api.New(api.Deps{
		Auth: a.Auth, Sessions: sessions, Memory: a.Memory, Personas: a.Personas, Events: bus,
		Artifacts:   artifacts.New(a.Blob, sessions, artifacts.Options{MaxUploadBytes: a.cfg.MaxUploadBytes}),
		Workspace:   workspace.New(sessions, locate, workspace.Limits{}),
		Workflows:   workflows,
		Credentials: a.Credentials,
		Notify:      a.Notify,
		Dashboard:   dashboard.New(a.Store, nil),
		Repos:       repoSvc,
	}, api.Options{
		AllowedOrigins: a.cfg.AllowedOrigins,
		TrustedProxies: proxies,
		PublicURL:      a.cfg.PublicURL,
		Version:        a.cfg.Version,
		Ready:          a.ready,
		Metrics:        a.Metrics,
		MetricsToken:   a.cfg.MetricsToken,
		Web:            web.Dist(),
		Draining:       sessions.Draining,
	}, a.log)
	if handler, err = a.forwarding(ctx, sessions, sessions.ReplicaID(), handler); err != nil {
		ln.Close()
		return err
	}
	// inflight counts running handlers (sockets included): the database
	// must not close under one.
	var inflight sync.WaitGroup
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			handler.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Event streams never finish on their own: end them when shutdown
	// starts, so that Shutdown need not wait for them (clients resume
	// elsewhere from their Last-Event-ID).
	srv.RegisterOnShutdown(bus.StopStreams)
	sched, err := jobs.New(jobs.Options{Store: a.Store, Logger: a.log, Clock: clock, Observe: a.Metrics.JobRan})
	if err != nil {
		ln.Close()
		return err
	}
	maint := &maintenance{st: a.Store, sessions: sessions, events: bus, archiveAfter: a.cfg.ArchiveAfter, log: a.log,
		artifacts: artifacts.NewRemover(a.Blob),
		now:       func() time.Time { return clock.Now().UTC() }}
	if err := maint.register(sched); err != nil {
		ln.Close()
		return fmt.Errorf("schedule maintenance: %w", err)
	}
	if err := registerWorkflowJobs(sched, workflows); err != nil {
		ln.Close()
		return fmt.Errorf("schedule workflow jobs: %w", err)
	}
	// Pull requests' state: on one replica (the scheduler's elected one),
	// every interval; each pull request backs off on its own failures.
	if err := sched.ScheduleCron(repos.RefreshJob, "@every "+a.cfg.PRRefreshInterval.String(), repoSvc.Refresh); err != nil {
		ln.Close()
		return fmt.Errorf("schedule the pull request refresh: %w", err)
	}
	sched.Start()

	a.log.Info("agentops listening", "url", a.cfg.PublicURL, "addr", ln.Addr().String(),
		"database", string(a.Store.Dialect()), "pubsub", a.cfg.PubSub, "data_dir", a.cfg.DataDir, "version", a.cfg.Version, "blob", a.cfg.Blob,
		"startup", time.Since(start).Round(time.Millisecond))
	if needs, err := a.Auth.NeedsSetup(ctx); err == nil && needs {
		a.log.Info("no users yet: register the first (admin) account with POST " + a.cfg.PublicURL +
			"/auth/email/register, or run `agentops user create --email you@example.com --admin`")
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(api.JSONProtocolErrors(ln)) }()
	// systemd (Type=notify): ready once the listener serves; the watchdog
	// is petted while the server answers its own /health over loopback.
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		a.cfg.Systemd.Watchdog(wdCtx, selfCheck(ln.Addr().String()), func(err error) {
			a.log.Warn("systemd watchdog: not pinging", "err", err)
		})
	}()
	if err := a.cfg.Systemd.Ready("listening on " + ln.Addr().String()); err != nil {
		a.log.Warn("systemd notify", "err", err)
	}
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		a.log.Info("shutting down")
	}
	// /ready says not ready from now on, and no session starts here: with
	// replicas, the sessions are handed over once the actors stop below.
	sessions.Drain(context.Background())
	stopWatchdog()
	<-wdDone
	if err := a.cfg.Systemd.Stopping(); err != nil {
		a.log.Warn("systemd notify", "err", err)
	}
	// Stop taking requests and let those in flight finish (15 s); event
	// streams end at once (RegisterOnShutdown), clients resume elsewhere.
	hctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = srv.Shutdown(hctx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close() // cut off what is left; waited for below
	}
	// Then the background work, each with its own time: periodic jobs,
	// the actors (they write what they hold and close their sockets with
	// "going away"), the event bus.
	if serr := sched.Stop(); serr != nil {
		a.log.Warn("stop scheduler", "err", serr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sessions.Shutdown(sctx)
	bus.Shutdown(sctx)
	stopped = true
	// Hijacked sockets end with their actors and streams; wait for their
	// handlers (and any cut off above) before the database closes.
	done := make(chan struct{})
	go func() { inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		a.log.Warn("handlers still running after shutdown")
	}
	if serveErr != nil {
		return serveErr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// selfCheck answers whether the server still serves: a GET of its own
// /health over loopback.
func selfCheck(addr string) func(context.Context) error {
	client := &http.Client{}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("self check: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("self check: /health answered %d", resp.StatusCode)
		}
		return nil
	}
}

// newSessions builds the session manager with its sandbox provider. Local
// runners dial the server over loopback; external ones use the public URL.
// openPubSub connects the configured pub/sub driver.
func (a *App) openPubSub(ctx context.Context) (realtime.PubSub, error) {
	switch a.cfg.PubSub {
	case "postgres":
		ps, err := realtime.NewPostgres(ctx, a.cfg.DatabaseURL, realtime.PostgresOptions{Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("--pubsub postgres: %w", err)
		}
		return ps, nil
	case "redis":
		ps, err := realtime.NewRedis(ctx, a.cfg.RedisURL, realtime.RedisOptions{Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("--pubsub redis: %w", err)
		}
		return ps, nil
	}
	return realtime.NewMemory(), nil
}

// registerServeMetrics adds the gauges read at scrape time from the parts
// Serve builds.
func (a *App) registerServeMetrics(bus *events.Bus, sessions *session.Manager) {
	m := a.Metrics
	m.GaugeFunc("event_streams", "Event-bus subscribers: SSE and WebSocket event streams served now.",
		func() float64 { return float64(bus.Streams()) })
	m.GaugeFunc("session_actors", "Session actors live in this process.",
		func() float64 { return float64(sessions.ActorStats().Actors) })
	m.GaugeFunc("session_mailbox_depth", "Commands waiting in all session actors' mailboxes.",
		func() float64 { return float64(sessions.ActorStats().MailboxDepth) })
	m.GaugeFunc("session_mailbox_depth_max", "Commands waiting in the fullest session actor's mailbox.",
		func() float64 { return float64(sessions.ActorStats().MaxMailboxDepth) })
	m.GaugeFunc("terminals_open", "Browser terminals open now.",
		func() float64 { return float64(sessions.TerminalStats().Open) })
	m.GaugeFunc("terminal_queue_peak_bytes", "The most shell output that ever waited for one browser terminal (bounded by the terminal window, 256 KiB).",
		func() float64 { return float64(sessions.TerminalStats().PeakQueuedBytes) })
}

func (a *App) newSessions(addr *net.TCPAddr, bus *events.Bus) (*session.Manager, sandbox.Provider, error) {
	agents := map[string][]protocol.ModelGroup{}
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		ag, err := reg.New(name, agent.Options{})
		if err != nil {
			return nil, nil, err
		}
		agents[name] = ag.Models()
	}
	if _, ok := agents[a.cfg.DefaultAgent]; !ok && a.cfg.DefaultAgent != "" {
		return nil, nil, fmt.Errorf("--default-agent %q is not a known agent (known: %s)", a.cfg.DefaultAgent, strings.Join(reg.Names(), ", "))
	}
	var mgr *session.Manager
	var provider sandbox.Provider
	runnerURL := a.cfg.PublicURL
	switch a.cfg.Sandbox {
	case "external":
		provider = sandbox.NewExternal(sandbox.ExternalOptions{})
	default:
		host := addr.IP.String()
		if addr.IP.IsUnspecified() {
			host = "127.0.0.1"
		}
		runnerURL = "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
		runnerArgs := []string{"--agents-dir", a.cfg.AgentsDir}
		if a.cfg.AgentsAllowRoot {
			runnerArgs = append(runnerArgs, "--agents-allow-root")
		}
		if a.cfg.AgentNoProgress > 0 {
			runnerArgs = append(runnerArgs, "--no-progress-timeout", a.cfg.AgentNoProgress.String())
		}
		if a.cfg.AgentTurnTimeout > 0 {
			runnerArgs = append(runnerArgs, "--turn-timeout", a.cfg.AgentTurnTimeout.String())
		}
		runAs, err := a.runnerUser()
		if err != nil {
			return nil, nil, err
		}
		local, err := sandbox.NewLocal(sandbox.LocalOptions{
			Root:       a.cfg.WorkspacesDir,
			StateRoot:  a.cfg.AgentStateDir(),
			RunAs:      runAs,
			RunnerArgs: runnerArgs,
			Command:    a.cfg.RunnerCommand,
			LogDir:     filepath.Join(a.cfg.DataDir, "runner-logs"),
			OnExit: func(sessionID, sandboxID string, err error) {
				if mgr != nil {
					mgr.RunnerExited(sessionID, sandboxID, err)
				}
			},
			Logger: a.log,
			// Runners outlive a restart of the server and reconnect to the
			// next one.
			KeepRunnersOnClose: !a.cfg.StopRunnersOnShutdown,
		})
		if err != nil {
			return nil, nil, err
		}
		provider = local
	}
	if a.cfg.RunnerURL != "" {
		runnerURL = a.cfg.RunnerURL // a load balancer in front of several replicas
	}
	repl, err := a.replication()
	if err != nil {
		return nil, nil, err
	}
	mgr = session.NewManager(a.Store, bus, provider, session.Config{
		Replica:   repl,
		RunnerURL: runnerURL, DefaultAgent: a.cfg.DefaultAgent, Agents: agents, Timings: a.cfg.SessionTimings,
		Catalog: &agentCatalog{reg: reg, models: agents, dir: a.cfg.AgentsDir, external: a.cfg.Sandbox == "external",
			creds: a.Credentials, now: time.Now},
		RPCs: a.Memory.RPCs(), Personas: a.Personas,
		Credentials: a.Credentials, Hook: a.Notify, Metrics: a.Metrics, Artifacts: artifacts.NewRemover(a.Blob),
		RepoRoots: a.cfg.RepoRoots, RepoTokens: a.Credentials,
		// Until local runners can run as another user (--runner-user,
		// issue 13), every local runner runs as the server's user.
		LocalRunnersAsServerUser: a.cfg.Sandbox != "external" && a.cfg.RunnerUser == "",
		Version:                  a.cfg.Version,
	}, a.log)
	return mgr, provider, nil
}
