package sandbox

import (
	"context"
	"strings"
	"sync/atomic"
)

// ExternalOptions configures NewExternal.
type ExternalOptions struct {
	// BinaryName is the program in the command shown to users; default
	// "agentops".
	BinaryName string
}

// External starts nothing: Spawn and Restore return the command a user runs
// on a machine of their choice, and the runner it starts dials the server.
// Stopping is done by the session actor over the runner's socket, so
// Hibernate and Terminate have nothing to do; nor has RemoveWorkspace, since
// the workspace is on the other machine.
type External struct {
	binary string
	closed atomic.Bool
}

var _ Provider = (*External)(nil)

// NewExternal returns the external provider.
func NewExternal(opts ExternalOptions) *External {
	if opts.BinaryName == "" {
		opts.BinaryName = "agentops"
	}
	return &External{binary: opts.BinaryName}
}

// Name implements Provider.
func (e *External) Name() string { return "external" }

// Spawn implements Provider: it returns the command that starts the runner,
//
//	AGENTOPS_RUNNER_TOKEN=<token> [NAME=value ...] agentops runner --server-url <url> --session-id <id> --agent <agent>
//
// with every word shell-quoted. The command holds the token: show it only
// to the session's owner.
func (e *External) Spawn(ctx context.Context, req SpawnRequest) (Sandbox, error) {
	if e.closed.Load() {
		return Sandbox{}, ErrClosed
	}
	if err := ValidateRequest(req); err != nil {
		return Sandbox{}, err
	}
	return Sandbox{ID: "external", Command: e.command(req)}, nil
}

// Restore implements Provider: the same command, with the new token.
func (e *External) Restore(ctx context.Context, req SpawnRequest) (Sandbox, error) {
	return e.Spawn(ctx, req)
}

// Hibernate implements Provider; the actor stops the runner over its socket.
func (e *External) Hibernate(ctx context.Context, sessionID string) error {
	return e.noop(sessionID)
}

// Terminate implements Provider; the actor stops the runner over its socket.
func (e *External) Terminate(ctx context.Context, sessionID string) error {
	return e.noop(sessionID)
}

// RemoveWorkspace implements Provider; the workspace is not on this machine.
func (e *External) RemoveWorkspace(ctx context.Context, sessionID string) error {
	return e.noop(sessionID)
}

func (e *External) noop(sessionID string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	return ValidateSessionID(sessionID)
}

// Close implements Provider. Every method but Name returns ErrClosed
// afterwards.
func (e *External) Close() error {
	e.closed.Store(true)
	return nil
}

func (e *External) command(req SpawnRequest) string {
	words := []string{TokenEnv + "=" + ShellQuote(req.Token)}
	for _, kv := range sortedEnv(req.Env) {
		name, value, _ := strings.Cut(kv, "=")
		words = append(words, name+"="+ShellQuote(value))
	}
	words = append(words, ShellQuote(e.binary), "runner")
	for _, f := range runnerFlags(req) {
		words = append(words, ShellQuote(f))
	}
	return strings.Join(words, " ")
}
