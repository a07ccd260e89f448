package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopGrace is how long Hibernate, Terminate and Close wait after
// SIGTERM before they SIGKILL a runner.
const DefaultStopGrace = 5 * time.Second

// LocalOptions configures NewLocal.
type LocalOptions struct {
	// Root holds the workspaces: Root/<sessionID>, mode 0700. Required.
	Root string
	// LogDir receives each runner's stdout and stderr, appended to
	// LogDir/<sessionID>.log (0600). Default Root/.logs (no session id
	// starts with a dot, so it cannot be a workspace).
	LogDir string
	// Command is the runner program and its leading arguments; the provider
	// appends --server-url, --session-id, --agent and --workspace. Default:
	// this executable and "runner". A relative path with a slash is taken
	// from the server's working directory. With /bin/sh -c, end Command
	// with the name for $0 so the flags become "$@".
	Command []string
	// OnExit, if set, is called when a runner exits on its own (not when
	// Hibernate, Terminate, Spawn, Restore or Close stopped it), with the
	// Sandbox.ID that Spawn or Restore returned for it (so that a report
	// about an older runner can be told apart) and Wait's error: nil for
	// exit status 0, an *exec.ExitError otherwise. It runs on
	// the goroutine that waited for the process and must return quickly,
	// for instance by sending to the session actor's mailbox; Close waits
	// for it, so it must not wait for Close. It may call the provider's
	// other methods (say Restore), which by then no longer know the runner.
	OnExit func(sessionID, sandboxID string, err error)
	// Logger receives start and exit records. Default: discard.
	Logger *slog.Logger
	// StopGrace is the wait between SIGTERM and SIGKILL. Default
	// DefaultStopGrace.
	StopGrace time.Duration
	// StateRoot, if set, holds each session's agent state (the agent's
	// HOME, XDG and CLI directories) in StateRoot/<sessionID>, outside the
	// workspace's tree: passed as --state-dir, kept across Hibernate and
	// Restore, removed by RemoveWorkspace.
	StateRoot string
	// RunnerArgs are more flags for every runner (--agents-dir, deadlines).
	RunnerArgs []string
	// KeepRunnersOnClose makes Close leave running runners alive (detached:
	// OnExit is no longer called for them) instead of stopping them, so
	// that they outlive a server restart and reconnect to the next server.
	KeepRunnersOnClose bool
	// RunAs, if set, runs every runner as this unprivileged user (the
	// server must run as root): Root, StateRoot and each session's
	// workspace and state dir belong to it, and the runner gets its HOME,
	// USER and LOGNAME. Root and StateRoot must be reachable by the user
	// (outside a 0700 data dir); LogDir is written through a descriptor
	// and may stay out of its reach.
	RunAs *RunAs
}

// Local runs each session's runner as a child process on this machine, in
// the session's workspace directory and in a process group of its own, so
// that a signal to the server's group (Ctrl-C in a terminal) does not reach
// it. One goroutine per child waits for it (the supervisor); Close stops
// the runners and waits for the supervisors.
//
// The runner gets the server's environment minus every AGENTOPS_* variable
// (the server's configuration holds secrets: the instance key, database and
// S3 credentials), then SpawnRequest.Env, then AGENTOPS_RUNNER_TOKEN.
//
// Spawn or Restore for a session whose runner is still running stops that
// runner first (the newer request wins, as a newer runner connection does).
type Local struct {
	root, logDir string
	stateRoot    string
	tmpRoot      string // with runAs: <root>/.tmp, each runner's TMPDIR under it
	runnerArgs   []string
	command      []string
	onExit       func(sessionID, sandboxID string, err error)
	log          *slog.Logger
	grace        time.Duration
	keep         bool
	runAs        *RunAs

	sessions keyedMutex // serializes the calls for one session

	mu      sync.Mutex
	closed  bool
	runners map[string]*localRunner
	wg      sync.WaitGroup // supervisors; Add only under mu while !closed

	closeOnce sync.Once
}

type localRunner struct {
	sessionID string
	pid       int // also the process group id
	cmd       *exec.Cmd
	done      chan struct{} // closed once the process is reaped

	quiet bool // guarded by Local.mu: we stopped it; do not call OnExit
}

var _ Provider = (*Local)(nil)

// NewLocal returns the local provider, creating Root and LogDir.
func NewLocal(opts LocalOptions) (*Local, error) {
	if opts.Root == "" {
		return nil, errors.New("sandbox: local: Root is required")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("sandbox: local: %w", err)
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = filepath.Join(root, ".logs")
	}
	if logDir, err = filepath.Abs(logDir); err != nil {
		return nil, fmt.Errorf("sandbox: local: %w", err)
	}
	for _, d := range []string{root, logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: local: %w", err)
		}
	}
	command := slices.Clone(opts.Command)
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("sandbox: local: default command: %w", err)
		}
		command = []string{exe, "runner"}
	}
	if command[0] == "" {
		return nil, errors.New("sandbox: local: empty command")
	}
	// exec resolves a relative path against the child's directory (the
	// workspace); pin it to ours.
	if strings.ContainsRune(command[0], filepath.Separator) && !filepath.IsAbs(command[0]) {
		if command[0], err = filepath.Abs(command[0]); err != nil {
			return nil, fmt.Errorf("sandbox: local: %w", err)
		}
	}
	l := &Local{
		root:      root,
		logDir:    logDir,
		stateRoot: opts.StateRoot, runnerArgs: slices.Clone(opts.RunnerArgs),
		command: command,
		onExit:  opts.OnExit,
		log:     opts.Logger,
		grace:   opts.StopGrace,
		keep:    opts.KeepRunnersOnClose,
		runAs:   opts.RunAs,
		runners: make(map[string]*localRunner),
	}
	if l.runAs != nil {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("sandbox: local: running runners as %s needs the server to run as root", l.runAs.Name)
		}
		// The server's own TMPDIR may be out of the user's reach (a 0700
		// folder of root's): each runner gets one of its own.
		l.tmpRoot = filepath.Join(root, ".tmp")
		for _, d := range []string{root, l.stateRoot, l.tmpRoot} {
			if d == "" {
				continue
			}
			if err := l.runAs.own(d); err != nil {
				return nil, fmt.Errorf("sandbox: local: give %s to %s: %w", d, l.runAs.Name, err)
			}
		}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.grace <= 0 {
		l.grace = DefaultStopGrace
	}
	return l, nil
}

// Name implements Provider.
func (l *Local) Name() string { return "local" }

// Workspace returns the directory of a session's workspace.
func (l *Local) Workspace(sessionID string) (string, error) {
	if err := ValidateSessionID(sessionID); err != nil {
		return "", err
	}
	return filepath.Join(l.root, sessionID), nil
}

// Spawn implements Provider: it creates the workspace if needed and starts
//
//	Command... --server-url URL --session-id ID --agent AGENT --workspace DIR
//
// in it. A runner still running for the session is stopped first.
func (l *Local) Spawn(ctx context.Context, req SpawnRequest) (Sandbox, error) {
	return l.start(ctx, req, true)
}

// Restore implements Provider: like Spawn, but the workspace must exist
// (an error wrapping fs.ErrNotExist otherwise).
func (l *Local) Restore(ctx context.Context, req SpawnRequest) (Sandbox, error) {
	return l.start(ctx, req, false)
}

// Hibernate implements Provider: SIGTERM to the runner's process group,
// SIGKILL after StopGrace (or when ctx ends). The workspace stays.
func (l *Local) Hibernate(ctx context.Context, sessionID string) error {
	return l.stopCall(ctx, sessionID)
}

// Terminate implements Provider; for local runners it is Hibernate.
func (l *Local) Terminate(ctx context.Context, sessionID string) error {
	return l.stopCall(ctx, sessionID)
}

// RemoveWorkspace implements Provider. It returns ErrRunnerActive while the
// session's runner runs (Terminate first). The log file stays.
func (l *Local) RemoveWorkspace(ctx context.Context, sessionID string) error {
	dir, err := l.Workspace(sessionID)
	if err != nil {
		return err
	}
	unlock := l.sessions.lock(sessionID)
	defer unlock()
	l.mu.Lock()
	closed, running := l.closed, l.runners[sessionID] != nil
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if running {
		return fmt.Errorf("%w: session %s", ErrRunnerActive, sessionID)
	}
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("sandbox: remove workspace: %w", err)
	}
	if l.stateRoot != "" {
		if err := removeTree(filepath.Join(l.stateRoot, sessionID)); err != nil {
			return fmt.Errorf("sandbox: remove agent state: %w", err)
		}
	}
	if l.tmpRoot != "" {
		if err := removeTree(filepath.Join(l.tmpRoot, sessionID)); err != nil {
			return fmt.Errorf("sandbox: remove runner temp dir: %w", err)
		}
	}
	// The runner's log goes with its workspace: nothing else ever removes it.
	if err := os.Remove(filepath.Join(l.logDir, sessionID+".log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sandbox: remove runner log: %w", err)
	}
	return nil
}

// Close implements Provider. It stops every runner (as Terminate does, all
// at once) and waits for the supervisors, including OnExit calls under
// way; with KeepRunnersOnClose it only detaches them: OnExit is not called
// for them, and each supervisor stays until its runner exits, since waiting
// for a child cannot be interrupted. The composition root decides whether
// to call Close on shutdown. Every method but Name returns ErrClosed
// afterwards. Close is idempotent.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		runners := make([]*localRunner, 0, len(l.runners))
		for _, r := range l.runners {
			r.quiet = true
			runners = append(runners, r)
		}
		l.mu.Unlock()
		if l.keep {
			for _, r := range runners {
				l.log.Info("sandbox: runner left running", "session_id", r.sessionID, "pid", r.pid)
			}
			return
		}
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Go(func() { l.stop(context.Background(), r) })
		}
		wg.Wait()
		l.wg.Wait()
	})
	return nil
}

func (l *Local) start(ctx context.Context, req SpawnRequest, create bool) (Sandbox, error) {
	if err := ValidateRequest(req); err != nil {
		return Sandbox{}, err
	}
	if err := ctx.Err(); err != nil {
		return Sandbox{}, err
	}
	id := req.SessionID
	unlock := l.sessions.lock(id)
	defer unlock()
	if l.isClosed() {
		return Sandbox{}, ErrClosed
	}
	l.stopSession(ctx, id)
	if err := ctx.Err(); err != nil {
		return Sandbox{}, err
	}

	dir := filepath.Join(l.root, id)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Sandbox{}, fmt.Errorf("sandbox: workspace: %w", err)
		}
	} else if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		return Sandbox{}, fmt.Errorf("sandbox: restore %s: no workspace: %w", id, err)
	}
	if l.runAs != nil {
		if err := l.runAs.own(dir); err != nil {
			return Sandbox{}, fmt.Errorf("sandbox: workspace: %w", err)
		}
	}

	logf, err := os.OpenFile(filepath.Join(l.logDir, id+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return Sandbox{}, fmt.Errorf("sandbox: runner log: %w", err)
	}
	// The child gets its own descriptor; ours is only needed to start it.
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s agentops: starting runner for session %s\n", time.Now().UTC().Format(time.RFC3339), id)

	args := append(slices.Clone(l.command[1:]), runnerFlags(req)...)
	args = append(args, "--workspace", dir)
	if l.stateRoot != "" {
		state := filepath.Join(l.stateRoot, req.SessionID)
		if err := os.MkdirAll(state, 0o700); err != nil {
			return Sandbox{}, fmt.Errorf("sandbox: agent state dir: %w", err)
		}
		if l.runAs != nil {
			if err := l.runAs.own(state); err != nil {
				return Sandbox{}, fmt.Errorf("sandbox: agent state dir: %w", err)
			}
		}
		args = append(args, "--state-dir", state)
	}
	args = append(args, l.runnerArgs...)
	// Not CommandContext: ctx bounds this call, not the runner's life.
	cmd := exec.Command(l.command[0], args...)
	cmd.Dir = dir
	cmd.Env = runnerEnv(req)
	cmd.Stdout, cmd.Stderr = logf, logf // *os.File: no copying goroutines
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.runAs != nil {
		tmp := filepath.Join(l.tmpRoot, req.SessionID)
		if err := l.runAs.own(tmp); err != nil {
			return Sandbox{}, fmt.Errorf("sandbox: runner temp dir: %w", err)
		}
		// Later entries win in exec's environment handling.
		cmd.Env = append(cmd.Env, l.runAs.Env()...)
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
		cmd.SysProcAttr.Credential = l.runAs.Credential()
	}
	if err := cmd.Start(); err != nil {
		return Sandbox{}, fmt.Errorf("sandbox: start runner: %w", err)
	}
	r := &localRunner{sessionID: id, pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}

	l.mu.Lock()
	if l.closed {
		// Close ran while we were starting: it did not see this runner.
		l.mu.Unlock()
		_ = syscall.Kill(-r.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return Sandbox{}, ErrClosed
	}
	l.runners[id] = r
	l.wg.Add(1)
	l.mu.Unlock()
	go l.supervise(r)

	l.log.Info("sandbox: runner started", "session_id", id, "user_id", req.UserID, "pid", r.pid, "workspace", dir)
	return Sandbox{ID: r.sandboxID(), Workspace: dir}, nil
}

func (r *localRunner) sandboxID() string { return fmt.Sprintf("local:%d", r.pid) }

func (l *Local) supervise(r *localRunner) {
	defer l.wg.Done()
	err := r.cmd.Wait()
	l.mu.Lock()
	if l.runners[r.sessionID] == r {
		delete(l.runners, r.sessionID)
	}
	quiet := r.quiet
	l.mu.Unlock()
	close(r.done)
	if quiet {
		l.log.Info("sandbox: runner stopped", "session_id", r.sessionID, "pid", r.pid, "status", exitStatus(err))
		return
	}
	l.log.Warn("sandbox: runner exited", "session_id", r.sessionID, "pid", r.pid, "status", exitStatus(err))
	if l.onExit != nil {
		l.onExit(r.sessionID, r.sandboxID(), err)
	}
}

func (l *Local) stopCall(ctx context.Context, sessionID string) error {
	if err := ValidateSessionID(sessionID); err != nil {
		return err
	}
	unlock := l.sessions.lock(sessionID)
	defer unlock()
	if l.isClosed() {
		return ErrClosed
	}
	l.stopSession(ctx, sessionID)
	return nil
}

// stopSession stops the session's runner, if any. The caller holds the
// session's lock.
func (l *Local) stopSession(ctx context.Context, sessionID string) {
	l.mu.Lock()
	r := l.runners[sessionID]
	if r != nil {
		// Under mu, as the supervisor reads it: either the supervisor has
		// already removed r (it exited on its own and OnExit is called) or
		// it will see quiet.
		r.quiet = true
	}
	l.mu.Unlock()
	if r != nil {
		l.stop(ctx, r)
	}
}

// stop ends r's process group: SIGTERM, then SIGKILL after the grace or
// when ctx ends, and returns once r is reaped. The SIGKILL goes to the
// group even when the runner left on SIGTERM, for what it left behind (an
// agent's child processes). Safe to call concurrently for one runner.
func (l *Local) stop(ctx context.Context, r *localRunner) {
	_ = syscall.Kill(-r.pid, syscall.SIGTERM)
	timer := time.NewTimer(l.grace)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		l.log.Warn("sandbox: runner ignored SIGTERM; killing it", "session_id", r.sessionID, "pid", r.pid, "grace", l.grace)
	case <-ctx.Done():
	}
	_ = syscall.Kill(-r.pid, syscall.SIGKILL)
	<-r.done
}

func (l *Local) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// runnerEnv is the server's environment without AGENTOPS_* variables, then
// req.Env, then the token (last, so nothing overrides it).
func runnerEnv(req SpawnRequest) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGENTOPS_") {
			env = append(env, kv)
		}
	}
	env = append(env, sortedEnv(req.Env)...)
	return append(env, TokenEnv+"="+req.Token)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// removeTree removes dir and everything in it. Read-only directories (a Go
// module cache, for one) make os.RemoveAll fail for a non-root user, so on
// failure it makes the directories writable and tries again. WalkDir does
// not follow symbolic links, so nothing outside dir is changed.
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// keyedMutex is a mutex per key, forgotten when nobody holds or waits for it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
