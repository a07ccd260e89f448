package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
)

// envRunAsTestenv makes this test binary behave as testenv, so the tests run
// the real command in a child process that they can signal.
const envRunAsTestenv = "TEST_TESTENV_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunAsTestenv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// The command every test runs under testenv: it records its TMPDIR, makes a
// directory there, and leaves two processes behind, as the kill -9 tests
// leave runners: one in its own session and process group (setsid), one a
// plain background child (ignoring SIGINT, as a non-interactive shell's
// background jobs do). Then it exits with $EXIT, or, without $EXIT, waits.
const leaveBehind = `
mkdir "$TMPDIR/made-by-the-command"
setsid sleep 300 & echo $! >"$OUT/grouped"
sleep 300 & echo $! >"$OUT/plain"
echo "$TMPDIR" >"$OUT/tmpdir"
if [ -n "$EXIT" ]; then exit "$EXIT"; fi
wait
`

type testenvRun struct {
	t      *testing.T
	out    string // where the command writes what it did
	cmd    *exec.Cmd
	stderr stderrFile
	done   chan struct{}
	code   int
}

// startTestenv runs testenv -- sh -c script in a process group of its own,
// as a shell runs a foreground job.
func startTestenv(t *testing.T, script string, env ...string) *testenvRun {
	t.Helper()
	r := &testenvRun{t: t, out: t.TempDir(), done: make(chan struct{})}
	r.cmd = exec.Command(os.Args[0], "--", "sh", "-c", script)
	r.cmd.Env = append(os.Environ(), append(env, envRunAsTestenv+"=1", "OUT="+r.out)...)
	// A file, not a pipe: leftovers that inherit a pipe would keep Wait
	// from returning.
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.stderr = stderrFile(f.Name())
	r.cmd.Stderr = f
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		for _, name := range []string{"grouped", "plain"} {
			if pid := r.pid(name); pid > 0 && alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		<-r.done
		if t.Failed() {
			t.Logf("testenv's stderr:\n%s", r.stderr.String())
		}
	})
	return r
}

// wait waits for testenv to exit and returns its status.
func (r *testenvRun) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(time.Minute):
		r.t.Fatalf("testenv did not exit; stderr:\n%s", r.stderr.String())
		return 0
	}
}

// pid reads a pid the command recorded (0 if none).
func (r *testenvRun) pid(name string) int {
	b, _ := os.ReadFile(filepath.Join(r.out, name))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

var rootLine = regexp.MustCompile(`testenv: temporary files under (\S+)`)

// root is the temporary directory testenv announced.
func (r *testenvRun) root() string {
	r.t.Helper()
	m := rootLine.FindStringSubmatch(r.stderr.String())
	if m == nil {
		r.t.Fatalf("testenv named no temporary directory; stderr:\n%s", r.stderr.String())
	}
	return m[1]
}

// assertNothingLeft checks that the command's processes are gone and
// testenv's temporary directory (the Postgres and Redis directories, the
// command's TMPDIR) is removed, and that no process runs from it (Postgres).
func (r *testenvRun) assertNothingLeft() {
	r.t.Helper()
	root := r.root()
	for _, name := range []string{"grouped", "plain"} {
		if pid := r.pid(name); pid > 0 && alive(pid) {
			r.t.Errorf("the %s process the command left (pid %d) still runs", name, pid)
		}
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		r.t.Errorf("testenv's temporary directory %s is still there (%v)", root, err)
	}
	if b, err := os.ReadFile(filepath.Join(r.out, "tmpdir")); err == nil && !strings.HasPrefix(string(b), root+"/") && strings.TrimSpace(string(b)) != root {
		r.t.Errorf("the command's TMPDIR %q is not under testenv's directory %s", b, root)
	}
	if procs := processesMentioning(root); len(procs) > 0 {
		r.t.Errorf("processes still run from %s: %v", root, procs)
	}
}

func TestLeftoversAreEndedWhenTheCommandExits(t *testing.T) {
	r := startTestenv(t, leaveBehind, "EXIT=3")
	if code := r.wait(); code != 3 {
		t.Errorf("testenv exited %d, want the command's 3", code)
	}
	if r.pid("grouped") == 0 || r.pid("plain") == 0 {
		t.Fatalf("the command did not run; stderr:\n%s", r.stderr.String())
	}
	r.assertNothingLeft()
	if n := strings.Count(r.stderr.String(), "testenv: killed a leftover process: sleep 300"); n != 2 {
		t.Errorf("testenv named %d killed leftovers, want 2; stderr:\n%s", n, r.stderr.String())
	}
}

func TestInterruptLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal func(r *testenvRun)
	}{
		// A terminal's Ctrl-C reaches the whole foreground process group.
		{"ctrl-c", func(r *testenvRun) { _ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT) }},
		// A CI timeout or kill(1) reaches testenv alone.
		{"sigterm to testenv", func(r *testenvRun) { _ = r.cmd.Process.Signal(syscall.SIGTERM) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startTestenv(t, leaveBehind)
			eventually.True(t, time.Minute, "the command to start its processes", func() bool {
				_, err := os.Stat(filepath.Join(r.out, "tmpdir"))
				return err == nil
			})
			tc.signal(r)
			if code := r.wait(); code == 0 {
				t.Errorf("testenv exited 0 after a signal")
			}
			r.assertNothingLeft()
		})
	}
}

// A Ctrl-C while Postgres starts (initdb, pg_ctl) leaves no server and no
// directory either.
func TestInterruptDuringStartLeavesNothing(t *testing.T) {
	r := startTestenv(t, "exit 0")
	eventually.True(t, 10*time.Second, "testenv to create its directory", func() bool {
		return rootLine.MatchString(r.stderr.String())
	})
	time.Sleep(300 * time.Millisecond) // into initdb
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	if code := r.wait(); code == 0 {
		t.Errorf("testenv exited 0 after a signal")
	}
	r.assertNothingLeft()
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// processesMentioning lists the live processes whose command line holds s.
func processesMentioning(s string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if alive(pid) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// stderrFile is the file testenv's stderr goes to.
type stderrFile string

func (f stderrFile) String() string {
	b, _ := os.ReadFile(string(f))
	return string(b)
}
