// Package sandbox starts and stops the runners that do a session's work.
// A Provider is the seam; its drivers sit side by side: local (a process per
// session on this machine, in its own workspace directory) and external (a
// command the user runs wherever they like). Both pass the contract in
// app/sandbox/sandboxtest.
//
// A runner connects back to the server over WebSocket with a per-session
// token; the provider only starts, stops and forgets runners. Whether a
// runner is healthy is the session actor's business (the socket), not the
// provider's.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// TokenEnv is the environment variable that carries the runner token. The
// token is never put on a command line, where ps would show it.
const TokenEnv = "AGENTOPS_RUNNER_TOKEN"

var (
	// ErrClosed is returned by Spawn and Restore after Close.
	ErrClosed = errors.New("sandbox: provider closed")
	// ErrInvalidSessionID is returned for a session id that is not 1 to 64
	// of [A-Za-z0-9-] starting with a letter or digit (a UUID is fine).
	ErrInvalidSessionID = errors.New("sandbox: invalid session id")
	// ErrInvalidRequest is returned for a SpawnRequest with a bad server
	// URL, an empty token or agent, or a bad environment variable name.
	ErrInvalidRequest = errors.New("sandbox: invalid spawn request")
	// ErrRunnerActive is returned by RemoveWorkspace while a runner is
	// using the workspace.
	ErrRunnerActive = errors.New("sandbox: runner still active")
)

// SpawnRequest says which runner to start.
type SpawnRequest struct {
	SessionID string
	UserID    string
	// ServerURL is the http(s) base URL the runner dials.
	ServerURL string
	// Token is the per-session runner token.
	Token string
	Agent string
	// Env is added to the runner's environment. Names must be shell
	// identifiers ([A-Za-z_][A-Za-z0-9_]*).
	Env map[string]string
}

// Sandbox describes a started (or startable) runner.
type Sandbox struct {
	// ID names the sandbox for logs and the API: "local:<pid>", "external".
	ID string
	// Workspace is the runner's working directory when the provider knows
	// it (local), else "".
	Workspace string
	// Command is, for external, the shell command that starts the runner
	// elsewhere; it contains the token. Empty for local.
	Command string
}

// Provider starts and stops runners. Its methods are safe for concurrent
// use; calls for one session are serialized.
type Provider interface {
	// Name is the driver's name, as in --sandbox: "local", "external".
	Name() string
	// Spawn starts a runner for a new session, creating its workspace.
	Spawn(ctx context.Context, req SpawnRequest) (Sandbox, error)
	// Hibernate stops the session's runner and keeps its workspace. It
	// returns nil when no runner is running.
	Hibernate(ctx context.Context, sessionID string) error
	// Restore starts a runner again on the workspace that Spawn created.
	Restore(ctx context.Context, req SpawnRequest) (Sandbox, error)
	// Terminate stops the session's runner; the workspace stays until
	// RemoveWorkspace (when the session is archived). It returns nil when no
	// runner is running.
	Terminate(ctx context.Context, sessionID string) error
	// RemoveWorkspace deletes the session's workspace and what the driver
	// keeps beside it (the local runner log); nil if there is none.
	RemoveWorkspace(ctx context.Context, sessionID string) error
	// Close releases the provider; Spawn and Restore fail after it. What
	// happens to running runners is the driver's to document.
	Close() error
}

// ValidateSessionID reports whether id can name a workspace directory and
// be passed as a flag value: 1 to 64 of [A-Za-z0-9-], not starting with
// '-'. This rules out path separators, "." and "..".
func ValidateSessionID(id string) error {
	if id == "" || len(id) > 64 || id[0] == '-' {
		return fmt.Errorf("%w: %q", ErrInvalidSessionID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: %q", ErrInvalidSessionID, id)
		}
	}
	return nil
}

// ValidateRequest checks what every provider needs from req.
func ValidateRequest(req SpawnRequest) error {
	if err := ValidateSessionID(req.SessionID); err != nil {
		return err
	}
	u, err := url.Parse(req.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: server URL %q is not an http(s) URL", ErrInvalidRequest, req.ServerURL)
	}
	if strings.ContainsAny(req.ServerURL, "\x00\n\r") {
		return fmt.Errorf("%w: server URL has control characters", ErrInvalidRequest)
	}
	if req.Token == "" || strings.ContainsRune(req.Token, 0) {
		return fmt.Errorf("%w: empty or invalid token", ErrInvalidRequest)
	}
	if req.Agent == "" || strings.ContainsRune(req.Agent, 0) {
		return fmt.Errorf("%w: empty or invalid agent", ErrInvalidRequest)
	}
	for k, v := range req.Env {
		if !isShellName(k) {
			return fmt.Errorf("%w: environment variable name %q", ErrInvalidRequest, k)
		}
		if k == TokenEnv {
			return fmt.Errorf("%w: %s is set from the token", ErrInvalidRequest, TokenEnv)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("%w: environment variable %s has a NUL byte", ErrInvalidRequest, k)
		}
	}
	return nil
}

// runnerFlags are the flags of `agentops runner` that every provider passes.
func runnerFlags(req SpawnRequest) []string {
	return []string{"--server-url", req.ServerURL, "--session-id", req.SessionID, "--agent", req.Agent}
}

// sortedEnv returns req.Env as NAME=value, sorted by name so that command
// lines and environments are reproducible.
func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ShellQuote returns s as one word for a POSIX shell: unchanged if it has
// only characters no shell treats specially, else in single quotes, where
// each single quote in s closes the quoting, is written as \' and reopens it.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-+./:,@%", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
