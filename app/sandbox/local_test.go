package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/sandbox/sandboxtest"
	"github.com/agentops/agentops/internal/testutil/eventually"
)

// fakeRunner stands in for `agentops runner`: it records its arguments,
// token and working directory in the workspace, writes its pid to "ready"
// last, and runs until SIGTERM.
const fakeRunner = `
printf '%s\n' "$@" > args
printf '%s' "$AGENTOPS_RUNNER_TOKEN" > token
printf '%s' "$EXTRA" > extra
printf '%s' "${AGENTOPS_SERVER_SECRET-unset}" > secret
pwd -P > cwd
echo started >&2
echo $$ > ready.tmp && mv ready.tmp ready
trap 'exit 0' TERM
while :; do sleep 0.1; done
`

// stubborn ignores SIGTERM (so does its sleep: ignored signals survive exec).
const stubborn = `
trap '' TERM
echo $$ > ready.tmp && mv ready.tmp ready
while :; do sleep 0.1; done
`

// withOrphan starts a grandchild that ignores SIGTERM and outlives the runner.
const withOrphan = `
sh -c 'trap "" TERM; while :; do sleep 0.1; done' &
echo $! > orphan
echo $$ > ready.tmp && mv ready.tmp ready
trap 'exit 0' TERM
while :; do sleep 0.1; done
`

const waitTimeout = 10 * time.Second

func shCommand(script string) []string { return []string{"/bin/sh", "-c", script, "fake-runner"} }

type exitRecord struct {
	sessionID string
	sandboxID string
	err       error
}

type harness struct {
	p      *sandbox.Local
	root   string
	logDir string
	exits  chan exitRecord
	logs   *syncBuffer
}

func mustLocal(t *testing.T, script string, mod func(*sandbox.LocalOptions)) *harness {
	t.Helper()
	h := &harness{
		root:   filepath.Join(t.TempDir(), "workspaces"),
		logDir: filepath.Join(t.TempDir(), "logs"),
		exits:  make(chan exitRecord, 16),
		logs:   &syncBuffer{},
	}
	opts := sandbox.LocalOptions{
		Root:      h.root,
		LogDir:    h.logDir,
		Command:   shCommand(script),
		OnExit:    func(id, sandboxID string, err error) { h.exits <- exitRecord{id, sandboxID, err} },
		Logger:    slog.New(slog.NewTextHandler(h.logs, nil)),
		StopGrace: 2 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	p, err := sandbox.NewLocal(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() { _ = p.Close() })
	return h
}

func (h *harness) mustSpawn(t *testing.T, req sandbox.SpawnRequest) (sandbox.Sandbox, int) {
	t.Helper()
	sb, err := h.p.Spawn(context.Background(), req)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	return sb, mustReady(t, sb)
}

// mustReady waits until the runner of sb has written its pid to "ready" and
// checks that it is the pid in sb.ID.
func mustReady(t *testing.T, sb sandbox.Sandbox) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(sb.ID, "local:"))
	if err != nil || !strings.HasPrefix(sb.ID, "local:") {
		t.Fatalf("Sandbox.ID = %q, want local:<pid>", sb.ID)
	}
	eventually.True(t, waitTimeout, "runner ready", func() bool {
		b, err := os.ReadFile(filepath.Join(sb.Workspace, "ready"))
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid)
	})
	return pid
}

func (h *harness) noExit(t *testing.T) {
	t.Helper()
	select {
	case e := <-h.exits:
		t.Fatalf("OnExit(%s, %v) called for a runner the provider stopped", e.sessionID, e.err)
	default:
	}
}

func TestLocalContract(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Provider { return mustLocal(t, fakeRunner, nil).p })
}

// Not parallel: it sets an environment variable of the test process.
func TestLocalSpawn(t *testing.T) {
	t.Setenv("AGENTOPS_SERVER_SECRET", "must-not-leak")
	h := mustLocal(t, fakeRunner, nil)
	id := uuid.NewString()
	req := sandboxtest.Request(id)
	req.ServerURL = "https://example.com/base?x='y'"
	req.Token = "tok 'en\" $HOME"
	req.Agent = "claude code"
	req.Env = map[string]string{"EXTRA": "a b'c"}
	sb, pid := h.mustSpawn(t, req)

	ws := filepath.Join(h.root, id)
	if sb.Workspace != ws {
		t.Fatalf("Workspace = %q, want %q", sb.Workspace, ws)
	}
	fi, err := os.Stat(ws)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("workspace mode %v, want 0700", fi.Mode().Perm())
	}
	if !alive(pid) {
		t.Fatal("runner not running")
	}
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != pid || pgid == syscall.Getpgrp() {
		t.Errorf("runner pgid %d (pid %d, test's group %d): want a group of its own", pgid, pid, syscall.Getpgrp())
	}

	wantArgs := []string{"--server-url", req.ServerURL, "--session-id", id, "--agent", "claude code", "--workspace", ws}
	if got := readLines(t, filepath.Join(ws, "args")); !slices.Equal(got, wantArgs) {
		t.Errorf("args %q, want %q", got, wantArgs)
	}
	if got := readFile(t, filepath.Join(ws, "token")); got != req.Token {
		t.Errorf("token %q, want %q", got, req.Token)
	}
	if got := readFile(t, filepath.Join(ws, "extra")); got != "a b'c" {
		t.Errorf("EXTRA %q", got)
	}
	if got := readFile(t, filepath.Join(ws, "secret")); got != "unset" {
		t.Errorf("the server's AGENTOPS_* variable reached the runner: %q", got)
	}
	realWS, _ := filepath.EvalSymlinks(ws)
	if got := strings.TrimSpace(readFile(t, filepath.Join(ws, "cwd"))); got != realWS {
		t.Errorf("cwd %q, want %q", got, realWS)
	}
	logPath := filepath.Join(h.logDir, id+".log")
	eventually.True(t, waitTimeout, "log written", func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("started"))
	})
	if fi, err := os.Stat(logPath); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", fi.Mode().Perm())
	}
	if strings.Contains(readFile(t, logPath), req.Token) {
		t.Error("the token is in the log")
	}

	if err := h.p.Terminate(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Error("runner still running after Terminate")
	}
	h.noExit(t)
}

func TestLocalHibernateRestore(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	ctx := context.Background()
	id := uuid.NewString()
	sb, pid := h.mustSpawn(t, sandboxtest.Request(id))
	if err := os.WriteFile(filepath.Join(sb.Workspace, "work"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := h.p.Hibernate(ctx, id); err != nil {
		t.Fatalf("Hibernate: %v", err)
	}
	if !gone(pid) {
		t.Fatal("runner still running after Hibernate")
	}
	if got := readFile(t, filepath.Join(sb.Workspace, "work")); got != "kept" {
		t.Fatalf("workspace not kept: %q", got)
	}
	h.noExit(t)
	if err := h.p.Hibernate(ctx, id); err != nil {
		t.Fatalf("second Hibernate: %v", err)
	}

	req := sandboxtest.Request(id)
	req.Token = "restored-token"
	sb2, err := h.p.Restore(ctx, req)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	pid2 := mustReady(t, sb2)
	if sb2.Workspace != sb.Workspace || pid2 == pid || !alive(pid2) {
		t.Fatalf("Restore: workspace %q (was %q), pid %d (was %d)", sb2.Workspace, sb.Workspace, pid2, pid)
	}
	if got := readFile(t, filepath.Join(sb.Workspace, "token")); got != "restored-token" {
		t.Fatalf("restored runner has token %q", got)
	}
	logPath := filepath.Join(h.logDir, id+".log")
	eventually.True(t, waitTimeout, "second start logged", func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Count(b, []byte("started\n")) == 2
	})
	if err := h.p.Terminate(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.noExit(t)
}

func TestLocalOnExit(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, `echo $$ > ready.tmp && mv ready.tmp ready; read -r code < code; exit "$code"`, nil)
	ctx := context.Background()
	for _, code := range []int{3, 0} {
		id := uuid.NewString()
		ws := filepath.Join(h.root, id)
		if err := os.MkdirAll(ws, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, "code"), []byte(strconv.Itoa(code)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sb, err := h.p.Spawn(ctx, sandboxtest.Request(id))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-h.exits:
			if e.sessionID != id {
				t.Fatalf("OnExit for %q, want %q", e.sessionID, id)
			}
			if e.sandboxID != sb.ID {
				t.Fatalf("OnExit names sandbox %q, want %q (what Spawn returned)", e.sandboxID, sb.ID)
			}
			var ee *exec.ExitError
			switch {
			case code == 0 && e.err != nil:
				t.Fatalf("exit 0 reported as %v", e.err)
			case code != 0 && (!errors.As(e.err, &ee) || ee.ExitCode() != code):
				t.Fatalf("exit %d reported as %v", code, e.err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("OnExit not called for a runner that exited with %d", code)
		}
		// The provider has forgotten the runner: nothing to stop, and the
		// workspace can go.
		if err := h.p.Terminate(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := h.p.RemoveWorkspace(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalTerminateKillsAfterGrace(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, stubborn, func(o *sandbox.LocalOptions) { o.StopGrace = 200 * time.Millisecond })
	id := uuid.NewString()
	_, pid := h.mustSpawn(t, sandboxtest.Request(id))
	done := make(chan error, 1)
	go func() { done <- h.p.Terminate(context.Background(), id) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Terminate did not return for a runner that ignores SIGTERM")
	}
	if !gone(pid) {
		t.Fatal("runner that ignores SIGTERM still running after Terminate")
	}
	if !strings.Contains(h.logs.String(), "ignored SIGTERM") {
		t.Errorf("no SIGKILL logged:\n%s", h.logs.String())
	}
	h.noExit(t)
}

// A context that ends cuts the grace short.
func TestLocalHibernateContextCutsGrace(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, stubborn, func(o *sandbox.LocalOptions) { o.StopGrace = time.Hour })
	id := uuid.NewString()
	_, pid := h.mustSpawn(t, sandboxtest.Request(id))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.p.Hibernate(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatal("runner still running")
	}
}

func TestLocalStopKillsWhatTheRunnerLeft(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, withOrphan, nil)
	id := uuid.NewString()
	sb, _ := h.mustSpawn(t, sandboxtest.Request(id))
	orphan, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(sb.Workspace, "orphan"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.p.Hibernate(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, waitTimeout, "grandchild killed", func() bool { return gone(orphan) })
}

func TestLocalSpawnReplacesRunningRunner(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	id := uuid.NewString()
	_, pid1 := h.mustSpawn(t, sandboxtest.Request(id))
	_, pid2 := h.mustSpawn(t, sandboxtest.Request(id))
	if pid1 == pid2 || !gone(pid1) || !alive(pid2) {
		t.Fatalf("old runner %d gone=%v, new runner %d alive=%v", pid1, gone(pid1), pid2, alive(pid2))
	}
	h.noExit(t)
}

func TestLocalRejectsBadSessionIDsWithoutTouchingDisk(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	for _, id := range sandboxtest.BadSessionIDs {
		if _, err := h.p.Spawn(context.Background(), sandboxtest.Request(id)); !errors.Is(err, sandbox.ErrInvalidSessionID) {
			t.Errorf("Spawn(%q) = %v", id, err)
		}
	}
	entries, err := os.ReadDir(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("Root has %d entries after rejected spawns, first %q", len(entries), entries[0].Name())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(h.root), "x")); err == nil {
		t.Fatal("a workspace escaped Root")
	}
}

func TestLocalRestoreNeedsWorkspace(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	if _, err := h.p.Restore(context.Background(), sandboxtest.Request(uuid.NewString())); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Restore without a workspace = %v, want fs.ErrNotExist", err)
	}
}

func TestLocalRemoveWorkspace(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	ctx := context.Background()
	id := uuid.NewString()
	sb, _ := h.mustSpawn(t, sandboxtest.Request(id))
	if err := h.p.RemoveWorkspace(ctx, id); !errors.Is(err, sandbox.ErrRunnerActive) {
		t.Fatalf("RemoveWorkspace of a running session = %v, want ErrRunnerActive", err)
	}
	ro := filepath.Join(sb.Workspace, "modcache", "pkg")
	if err := os.MkdirAll(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), nil, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Terminate(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.p.RemoveWorkspace(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Workspace); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("workspace still there: %v", err)
	}
	// The runner log goes with the workspace (archiving removes both;
	// nothing else would).
	if _, err := os.Stat(filepath.Join(h.logDir, id+".log")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("runner log still there after RemoveWorkspace: %v", err)
	}
}

func TestLocalCloseStopsAll(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	var pids []int
	for range 3 {
		_, pid := h.mustSpawn(t, sandboxtest.Request(uuid.NewString()))
		pids = append(pids, pid)
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("runner %d running after Close", pid)
		}
	}
	h.noExit(t)
}

func TestLocalKeepRunnersOnClose(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, func(o *sandbox.LocalOptions) { o.KeepRunnersOnClose = true })
	_, pid := h.mustSpawn(t, sandboxtest.Request(uuid.NewString()))
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatal("runner stopped by Close with KeepRunnersOnClose")
	}
	// Detached: its exit is not reported.
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, waitTimeout, "runner exit", func() bool { return gone(pid) })
	h.noExit(t)
}

func TestLocalConcurrentCalls(t *testing.T) {
	t.Parallel()
	h := mustLocal(t, fakeRunner, nil)
	ctx := context.Background()
	ids := []string{uuid.NewString(), uuid.NewString()}
	var wg sync.WaitGroup
	for i := range 12 {
		id := ids[i%2]
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.p.Spawn(ctx, sandboxtest.Request(id))
			case 1:
				err = h.p.Hibernate(ctx, id)
			case 2:
				err = h.p.Terminate(ctx, id)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if err := h.p.Terminate(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := h.p.RemoveWorkspace(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	h.noExit(t)
}

func TestNewLocalNeedsRoot(t *testing.T) {
	if _, err := sandbox.NewLocal(sandbox.LocalOptions{}); err == nil {
		t.Fatal("NewLocal without Root succeeded")
	}
}

// Helpers.

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

// gone reports whether pid has exited. A zombie counts: a grandchild that
// our PID 1 has not reaped yet is no longer running.
func gone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH) || err == nil && zombie(pid)
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Not parallel: it changes the working directory.
func TestLocalRelativeCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runner.sh"), []byte("#!/bin/sh\n"+fakeRunner), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	h := mustLocal(t, "", func(o *sandbox.LocalOptions) { o.Command = []string{"./runner.sh"} })
	id := uuid.NewString()
	h.mustSpawn(t, sandboxtest.Request(id))
	if err := h.p.Terminate(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// The agent's state dir is passed as --state-dir (outside the workspace),
// kept across a restore and removed with the workspace; RunnerArgs follow.
func TestLocalAgentStateDir(t *testing.T) {
	stateRoot := filepath.Join(t.TempDir(), "agent-state")
	h := mustLocal(t, fakeRunner, func(o *sandbox.LocalOptions) {
		o.StateRoot = stateRoot
		o.RunnerArgs = []string{"--agents-dir", "/opt/agents"}
	})
	id := uuid.NewString()
	h.mustSpawn(t, sandboxtest.Request(id))
	state := filepath.Join(stateRoot, id)
	args := filepath.Join(h.root, id, "args")
	eventually.NoError(t, 10*time.Second, "the runner's args", func() error {
		data, err := os.ReadFile(args)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "--state-dir\n"+state+"\n--agents-dir\n/opt/agents\n") {
			return fmt.Errorf("args %q", data)
		}
		return nil
	})
	if err := os.WriteFile(filepath.Join(state, "kept"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Hibernate(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.Restore(t.Context(), sandboxtest.Request(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "kept")); err != nil {
		t.Fatalf("state lost across hibernate and restore: %v", err)
	}
	if err := h.p.Terminate(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.p.RemoveWorkspace(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state dir after RemoveWorkspace: %v", err)
	}
}
