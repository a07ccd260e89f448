package agenttest

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/app/runner/agent"
)

// CacheEnv names the directory where tests install agent CLIs (once; later
// runs reuse them). Default: /var/cache/agentops-test/agents when it is
// writable, else agentops-test/agents under the user's cache directory.
const CacheEnv = "AGENTOPS_TEST_AGENTS_CACHE"

// CacheDir is where tests install agent CLIs.
func CacheDir(t testing.TB) string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	d := "/var/cache/agentops-test/agents"
	if err := os.MkdirAll(d, 0o755); err == nil {
		return d
	}
	uc, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory for agent CLIs: set %s", CacheEnv)
	}
	return filepath.Join(uc, "agentops-test", "agents")
}

// CLI returns the path of the agent's CLI at its known-good version,
// installing it with npm into CacheDir first when it is missing. Test
// processes that install at once take turns (a lock file).
func CLI(t testing.TB, info agent.Info) string {
	t.Helper()
	dir := CacheDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock-"+info.ID), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if agent.InstalledPackageVersion(dir, info) == info.Version {
		if in, err := agent.Locate(ctx, info, dir, "/nonexistent"); err == nil {
			return in.Path
		}
	}
	t.Logf("installing %s@%s into %s", info.Package, info.Version, dir)
	in, err := agent.Install(ctx, info, dir, info.Version, testWriter{t})
	if err != nil {
		t.Fatalf("install %s: %v", info.ID, err)
	}
	return in.Path
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
