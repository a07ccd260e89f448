// Command testenv runs a command (the test suite) with the servers the tests
// need, one of each for the whole run: a throwaway PostgreSQL, whose admin
// URL it exports as AGENTOPS_TEST_POSTGRES_URL, and a throwaway Redis,
// exported as AGENTOPS_TEST_REDIS_URL. It stops them when the command ends
// and exits with the command's status.
//
//	go run ./internal/testutil/testenv -- go test -tags sqlite_fts5 ./...
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

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv -- command [args...]")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	start := time.Now()
	pg, err := pgtest.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "testenv: postgres ready at %s in %s\n", pg.URL(), time.Since(start).Round(time.Millisecond))

	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	start = time.Now()
	rd, err := redistest.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer func() {
		if err := rd.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "testenv: redis ready at %s in %s\n", rd.URL(), time.Since(start).Round(time.Millisecond))

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AGENTOPS_TEST_POSTGRES_URL="+pg.URL(), redistest.EnvURL+"="+rd.URL())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			} else if err != nil {
				fmt.Fprintln(os.Stderr, "testenv:", err)
				return 1
			}
			return 0
		}
	}
}
