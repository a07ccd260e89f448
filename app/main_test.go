package app_test

import (
	"context"
	"os"
	"os/signal"
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

func TestMain(m *testing.M) {
	if os.Getenv(envRunAsCLI) == "1" {
		// As main.go: SIGINT and SIGTERM end the command gracefully.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := agentops.Execute(ctx, "test")
		stop()
		os.Exit(code)
	}
	os.Setenv(envRunAsCLI, "1") // inherited by the runner children only
	code := m.Run()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}
