package app_test

import (
	"context"
	"os"
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
		os.Exit(agentops.Execute(context.Background(), "test"))
	}
	os.Setenv(envRunAsCLI, "1") // inherited by the runner children only
	code := m.Run()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}
