package app_test

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agentops/agentops/cmd/agentops"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store/storetest"
)

// envRunAsCLI makes this test binary behave as the agentops command: the
// local sandbox of the end-to-end tests starts it as `… runner`, so the
// tests run a real runner child process without building the binary.
const envRunAsCLI = "TEST_AGENTOPS_RUN_AS_CLI" // not AGENTOPS_*: local sandboxes drop those

// envCLIVersion is the version this binary reports when run as the CLI
// (default "test"): the upgrade test runs a "v1" server, then a "v2" one.
const envCLIVersion = "TEST_AGENTOPS_CLI_VERSION"

func TestMain(m *testing.M) {
	if os.Getenv(envRunAsCLI) == "1" {
		// As main.go: SIGINT and SIGTERM end the command gracefully.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		version := os.Getenv(envCLIVersion)
		if version == "" {
			version = "test"
		}
		code := agentops.Execute(ctx, version)
		stop()
		os.Exit(code)
	}
	os.Setenv(envRunAsCLI, "1") // inherited by the runner children only
	// A Ctrl-C ends this binary before its tests' cleanups: end the servers
	// it runs as children and their runners (own process groups) too.
	stop := storetest.StopOnInterrupt(redistest.StopShared, killCopiesOfThisBinary)
	code := m.Run()
	stop()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}

// killCopiesOfThisBinary kills the other processes running this test
// binary (the servers of the kill -9 tests and the runners, which lead
// process groups of their own), with the groups they lead.
func killCopiesOfThisBinary() {
	self := os.Getpid()
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if argv0 != os.Args[0] || pid == self {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
