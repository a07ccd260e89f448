package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/sandbox/sandboxtest"
	"github.com/agentops/agentops/internal/testutil/eventually"
)

// probeRunner is a runner that writes in its workspace, then tries to
// read the server's instance key ($KEY) and list the data dir ($DATA).
const probeRunner = `
id -u > uid
echo hello > note
if cat "$KEY" > leaked 2>/dev/null; then echo readable > key; else echo denied > key; fi
if ls "$DATA" > listing 2>/dev/null; then echo readable > data; else echo denied > data; fi
printf '%s' "$HOME" > home
echo $$ > ready.tmp && mv ready.tmp ready
trap 'exit 0' TERM
while :; do sleep 0.1; done
`

// runnerUser is the unprivileged user the tests run runners as: "nobody".
func runnerUser(t *testing.T) *sandbox.RunAs {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root (as CI does): it starts runners as another user")
	}
	ru, err := sandbox.LookupRunAs("nobody")
	if err != nil {
		t.Fatal(err)
	}
	return ru
}

// reachableTempDir is a temporary folder every user can enter (t.TempDir's
// parents are 0700).
func reachableTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "agentops-runas-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLocalRunAsUserOwnsItsWorkspaceAndCannotReadTheDataDir(t *testing.T) {
	ru := runnerUser(t)
	// The server's data dir: 0700, with an instance key 0600.
	data := t.TempDir()
	key := filepath.Join(data, "instance.key")
	if err := os.WriteFile(key, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := reachableTempDir(t)
	h := mustLocal(t, probeRunner, func(o *sandbox.LocalOptions) {
		o.Root = filepath.Join(base, "workspaces")
		o.StateRoot = filepath.Join(base, "workspaces", ".agent-state")
		o.LogDir = filepath.Join(data, "runner-logs")
		o.RunAs = ru
	})
	id := uuid.NewString()
	req := sandboxtest.Request(id)
	req.Env = map[string]string{"KEY": key, "DATA": data}
	sb, _ := h.mustSpawn(t, req)

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(sb.Workspace, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	eventually.True(t, waitTimeout, "probe done", func() bool {
		_, err := os.Stat(filepath.Join(sb.Workspace, "home"))
		return err == nil
	})
	if got := read("uid"); got != strconv.Itoa(int(ru.UID)) {
		t.Errorf("runner uid = %s, want %d", got, ru.UID)
	}
	if got := read("note"); got != "hello" {
		t.Errorf("the runner could not write in its workspace: note = %q", got)
	}
	if got := read("key"); got != "denied" {
		t.Errorf("the runner read the instance key: %s (leaked %q)", got, read("leaked"))
	}
	if got := read("data"); got != "denied" {
		t.Errorf("the runner listed the data dir: %s", got)
	}
	if got := read("home"); got != ru.Home && !(ru.Home == "" && got == "/") {
		t.Errorf("HOME = %q, want the runner user's %q", got, ru.Home)
	}
	// The workspace, the file it wrote, the agent state dir and its own
	// TMPDIR (the server's may be a 0700 folder of root's) are the user's.
	tmp := filepath.Join(base, "workspaces", ".tmp", id)
	for _, p := range []string{sb.Workspace, filepath.Join(sb.Workspace, "note"), filepath.Join(base, "workspaces", ".agent-state", id), tmp} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != ru.UID {
			t.Errorf("%s belongs to uid %d, want %d", p, st.Uid, ru.UID)
		}
	}
	// The log stays the server's and out of the runner's reach.
	if err := h.p.Terminate(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.p.RemoveWorkspace(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Workspace); !os.IsNotExist(err) {
		t.Errorf("workspace still there after RemoveWorkspace: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the runner's temp dir is still there after RemoveWorkspace: %v", err)
	}
}

func TestLookupRunAsRefusesRootAndUnknownUsers(t *testing.T) {
	if _, err := sandbox.LookupRunAs("root"); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("LookupRunAs(root) = %v, want a refusal", err)
	}
	if _, err := sandbox.LookupRunAs("no-such-user-agentops"); err == nil {
		t.Error("LookupRunAs(unknown) succeeded")
	}
}

func TestRunAsCanReach(t *testing.T) {
	ru := runnerUser(t)
	open := reachableTempDir(t)
	closed := filepath.Join(open, "data") // 0700, root's
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if ok, blocker, err := ru.CanReach(filepath.Join(closed, "workspaces")); err != nil || ok || blocker != closed {
		t.Errorf("CanReach(inside a 0700 dir) = %v, %q, %v; want false, %q", ok, blocker, err, closed)
	}
	if ok, blocker, err := ru.CanReach(filepath.Join(open, "workspaces")); err != nil || !ok {
		t.Errorf("CanReach(inside a 0755 dir) = %v, %q, %v; want true", ok, blocker, err)
	}
}
