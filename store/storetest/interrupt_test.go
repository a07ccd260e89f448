package storetest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

const envHelper = "TEST_STORETEST_HOLD_POSTGRES"

// TestHelperHoldsPostgres is the child of TestInterruptStopsPostgres: it
// starts its own Postgres, says where, and waits to be interrupted.
func TestHelperHoldsPostgres(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		return // only as the child below
	}
	u := PostgresURL(t)
	os.Stdout.WriteString("READY " + u + "\n")
	time.Sleep(5 * time.Minute)
}

// A Ctrl-C during a package's tests used to kill the test binary with no
// cleanup: the Postgres it had started (in a session of its own) went on
// running, and its directory stayed.
func TestInterruptStopsPostgres(t *testing.T) {
	tmp := t.TempDir()
	// As root the server runs as the postgres user, which must reach its
	// directory under tmp.
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsPostgres$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=1", EnvPostgresURL+"=", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// If the child left its server, end it (its pid is the first line
		// of postmaster.pid).
		pidFiles, _ := filepath.Glob(filepath.Join(tmp, "agentops-pg-*", "data", "postmaster.pid"))
		for _, f := range pidFiles {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	ready := make(chan string, 1)
	var said strings.Builder // the child's output, read once ready is closed
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
				continue
			}
			said.WriteString(sc.Text() + "\n")
		}
		close(ready)
	}()
	var dbURL string
	select {
	case dbURL = <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatal("the child did not start Postgres")
	}
	if dbURL == "" {
		t.Fatalf("the child ended before starting Postgres:\n%s", said.String())
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "agentops-pg-*")); len(dirs) != 1 {
		t.Fatalf("want the child's Postgres directory under %s, found %v", tmp, dirs)
	}

	// Ctrl-C: the whole foreground process group gets SIGINT.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		t.Fatal("the child did not exit after SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("the child exited %d, want 130", code)
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "agentops-pg-*")); len(dirs) != 0 {
		t.Errorf("the child's Postgres directory is still there: %v", dirs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, dbURL); err == nil {
		c.Close(ctx)
		t.Errorf("the child's Postgres still answers at %s", dbURL)
	}
}
