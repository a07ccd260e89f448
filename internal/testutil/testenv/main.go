// Command testenv runs a command (the test suite) with the servers the tests
// need, one of each for the whole run: a throwaway PostgreSQL, whose admin
// URL it exports as AGENTOPS_TEST_POSTGRES_URL, and a throwaway Redis,
// exported as AGENTOPS_TEST_REDIS_URL. It exits with the command's status.
//
//	go run ./internal/testutil/testenv -- go test -tags sqlite_fts5 ./...
//
// It leaves nothing behind, also when interrupted (Ctrl-C, SIGTERM):
//   - every temporary directory of the run (the servers', and the command's:
//     TMPDIR points into it) is under one directory that testenv removes;
//   - on Linux it is a child subreaper, so processes that outlive their
//     parents adopt testenv instead of init: the runners that the kill -9
//     tests leave in their own process groups, a test binary whose go
//     command died. When the command ends, testenv kills what is left of
//     them (with their process groups) and names them;
//   - a signal is forwarded to the command; if the command has not ended
//     after a grace period, or a second signal comes, it is killed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"
	"github.com/agentops/agentops/internal/testutil/redistest"
)

// killGrace is how long the command has to end after a signal was
// forwarded to it, before it is killed.
const killGrace = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) (code int) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv -- command [args...]")
		return 2
	}
	// From the start: a Ctrl-C while the servers start must clean up too.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: cannot adopt orphaned processes, leftovers will not be cleaned up:", err)
	}
	root, err := os.MkdirTemp("", "agentops-testenv-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	// Traversable: as root, Postgres runs as the postgres user in a
	// directory of its own under root.
	_ = os.Chmod(root, 0o755)
	// Our own temporary directories (pgtest, redistest) and the command's
	// go under root.
	os.Setenv("TMPDIR", root)
	fmt.Fprintf(os.Stderr, "testenv: temporary files under %s\n", root)
	defer func() {
		for _, l := range endLeftovers(30 * time.Second) {
			fmt.Fprintf(os.Stderr, "testenv: killed a leftover process: %s\n", l)
		}
		if err := os.RemoveAll(root); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			if code == 0 {
				code = 1
			}
		}
	}()

	// Start-up is cancelled by a signal.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startErr := make(chan error, 1)
	var pg *pgtest.Server
	var rd *redistest.Server
	go func() { startErr <- startServers(ctx, &pg, &rd) }()
	select {
	case err = <-startErr:
	case s := <-sigs:
		cancel()
		<-startErr
		err = fmt.Errorf("interrupted (%s) while starting the servers", s)
	}
	defer func() {
		if rd != nil {
			if err := rd.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "testenv:", err)
			}
		}
		if pg != nil {
			if err := pg.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "testenv:", err)
			}
		}
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AGENTOPS_TEST_POSTGRES_URL="+pg.URL(), redistest.EnvURL+"="+rd.URL())
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var grace <-chan time.Time
	signalled := false
	for {
		select {
		case s := <-sigs:
			if signalled {
				fmt.Fprintf(os.Stderr, "testenv: %s again: killing %s\n", s, args[0])
				_ = cmd.Process.Kill()
				continue
			}
			signalled = true
			_ = cmd.Process.Signal(s)
			grace = time.After(killGrace)
		case <-grace:
			fmt.Fprintf(os.Stderr, "testenv: %s did not end %s after the signal: killing it\n", args[0], killGrace)
			_ = cmd.Process.Kill()
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee) && ee.ExitCode() >= 0:
				return ee.ExitCode()
			case errors.As(err, &ee): // ended by a signal: the shell's convention
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return 1
			case err != nil:
				fmt.Fprintln(os.Stderr, "testenv:", err)
				return 1
			}
			return 0
		}
	}
}

// startServers starts Postgres and Redis, setting *pg and *rd as each
// comes up so that the caller stops what started.
func startServers(ctx context.Context, pg **pgtest.Server, rd **redistest.Server) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	start := time.Now()
	p, err := pgtest.Start(pctx)
	cancel()
	if err != nil {
		return err
	}
	*pg = p
	fmt.Fprintf(os.Stderr, "testenv: postgres ready at %s in %s\n", p.URL(), time.Since(start).Round(time.Millisecond))

	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	start = time.Now()
	r, err := redistest.Start(rctx)
	cancel()
	if err != nil {
		return err
	}
	*rd = r
	fmt.Fprintf(os.Stderr, "testenv: redis ready at %s in %s\n", r.URL(), time.Since(start).Round(time.Millisecond))
	return nil
}
