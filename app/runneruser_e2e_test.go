package app_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// copyReachable copies this test binary (the runner of the local
// sandboxes) into a folder every user can enter: go test's own build dir
// is 0700.
func copyReachable(t *testing.T) (dir, exe string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "agentops-runneruser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	exe = filepath.Join(dir, "agentops-test")
	dst, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

// TestRunnerUserRunsAgentsWithoutAccessToTheDataDir: with --runner-user
// (serve as root, as CI runs), the runner and its agent run as that user:
// the agent's file lands in a workspace outside the data dir that the
// user owns, the runner process has the user's uid, and the data dir and
// instance key are out of its reach.
func TestRunnerUserRunsAgentsWithoutAccessToTheDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root (as CI does): serve starts runners as another user")
	}
	ru, err := sandbox.LookupRunAs("nobody")
	if err != nil {
		t.Fatal(err)
	}
	base, exe := copyReachable(t)
	s := startServer(t, store.SQLite, "local", func(c *app.Config) {
		c.RunnerUser = "nobody"
		c.WorkspacesDir = filepath.Join(base, "workspaces")
		c.RunnerCommand = []string{exe, "runner"}
	})
	c := s.createSession(map[string]any{"agent": "script"})
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.cfg.DataDir, "runner-logs", c.Session.ID+".log"))
			t.Logf("runner log:\n%s", b)
		}
	})
	s.promptAndWait(c.Session.ID, "/write hello.txt from the agent")
	ws := filepath.Join(base, "workspaces", c.Session.ID)
	b, err := os.ReadFile(filepath.Join(ws, "hello.txt"))
	if err != nil || strings.TrimSpace(string(b)) != "from the agent" {
		t.Fatalf("the agent's file: %q, %v", b, err)
	}
	for _, p := range []string{ws, filepath.Join(ws, "hello.txt")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != ru.UID {
			t.Errorf("%s belongs to uid %d, want the runner user's %d", p, st.Uid, ru.UID)
		}
	}
	// The runner process runs as the user.
	eventually.True(t, 10*time.Second, "a runner process of the session as nobody", func() bool {
		return runnerUIDs(t, c.Session.ID)[ru.UID]
	})
	if runnerUIDs(t, c.Session.ID)[0] {
		t.Error("a runner of the session runs as root")
	}
	// The data dir (0700, root's) and the instance key are out of reach.
	for _, p := range []string{s.cfg.DataDir, s.cfg.InstanceKeyFile} {
		if ok, blocker, err := ru.CanReach(p); err != nil || ok {
			t.Errorf("the runner user can reach %s (blocker %q, err %v)", p, blocker, err)
		}
	}
}

// runnerUIDs returns the uids of the processes whose command line names
// the session.
func runnerUIDs(t *testing.T, sessionID string) map[uint32]bool {
	t.Helper()
	out := map[uint32]bool{}
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), sessionID) || !strings.Contains(string(b), "runner") {
			continue
		}
		fi, err := os.Stat(filepath.Dir(p))
		if err != nil {
			continue
		}
		out[fi.Sys().(*syscall.Stat_t).Uid] = true
	}
	return out
}

// TestRunnerUserWorkspacesOutsideTheDataDir: with a runner user the
// workspaces default to a folder beside the data dir, and a workspaces dir
// inside the data dir is refused at start.
func TestRunnerUserWorkspacesOutsideTheDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "agentops")
	cfg := app.Config{DataDir: data, RunnerUser: "nobody"}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	if cfg.WorkspacesDir != data+"-workspaces" || cfg.AgentStateDir() != filepath.Join(data+"-workspaces", ".agent-state") {
		t.Errorf("workspaces %s, agent state %s; want beside the data dir", cfg.WorkspacesDir, cfg.AgentStateDir())
	}
	cfg = app.Config{DataDir: data, RunnerUser: "nobody", WorkspacesDir: filepath.Join(data, "ws")}
	if err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "inside the data dir") {
		t.Errorf("Resolve with workspaces inside the data dir = %v, want a refusal", err)
	}
	// Without a runner user nothing moves.
	cfg = app.Config{DataDir: data}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	if cfg.WorkspacesDir != filepath.Join(data, "workspaces") || cfg.AgentStateDir() != filepath.Join(data, "agent-state") {
		t.Errorf("default workspaces %s, agent state %s", cfg.WorkspacesDir, cfg.AgentStateDir())
	}
}

// TestRunnerUserOutOfReachIsAStartError: serve refuses to start when the
// runner user cannot enter the folder on the way to its workspaces.
func TestRunnerUserOutOfReachIsAStartError(t *testing.T) {
	closed := t.TempDir() // 0700
	err := serveOnceErr(t, func(c *app.Config) {
		c.RunnerUser = "nobody"
		c.WorkspacesDir = filepath.Join(closed, "ws")
	})
	if err == nil || !strings.Contains(err.Error(), "cannot enter") {
		t.Fatalf("serve = %v, want an error naming the folder nobody cannot enter", err)
	}
}

// serveOnceErr runs Serve with tweaked settings and returns its error when
// it stops on its own within a few seconds (nil when it kept serving).
func serveOnceErr(t *testing.T, tweak func(*app.Config)) error {
	t.Helper()
	cfg := newConfig(t, store.SQLite)
	tweak(&cfg)
	cfg.Listen = freeAddr(t)
	cfg.PublicURL, cfg.AllowedOrigins = "", nil
	cfg.StopRunnersOnShutdown = true
	if err := cfg.Resolve(); err != nil {
		return err
	}
	a := mustOpen(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		return nil
	}
}
