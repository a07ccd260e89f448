// Command agentops is a self-hosted control plane for background AI coding
// agents: one binary that serves the API, the sessions and the workflows.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/agentops/agentops/cmd/agentops"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := agentops.Execute(ctx, version)
	stop()
	os.Exit(code)
}
