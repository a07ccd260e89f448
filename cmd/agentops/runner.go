package agentops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app/runner"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/builtin"
)

// RunnerTokenEnv holds the runner's session token. It is never a flag, so
// it does not show in ps; the runner removes it from its environment once
// read, so the agent's processes do not inherit it.
const RunnerTokenEnv = "AGENTOPS_RUNNER_TOKEN"

// newRunner is `agentops runner`: the process that runs a session's agent
// (anywhere) and connects back to the server. Its flags are per-process
// arguments, not configuration settings, so none reads an AGENTOPS_*
// variable (they are not marked with fromEnv).
func newRunner(version string) *cobra.Command {
	var (
		serverURL, sessionID, agentName, workspace string
		stateDir, agentsDir                        string
		allowRoot                                  bool
		deadlines                                  agent.Deadlines
		giveUpAfter                                time.Duration
	)
	agents := builtin.Registry()
	cmd := &cobra.Command{
		Use:   "runner",
		Short: "Run a session's agent and connect it to the server",
		Long: "Run a session's agent and connect it to the server's session socket.\n" +
			"The session's runner token is read from " + RunnerTokenEnv + ".\n" +
			"Agents: " + strings.Join(agents.Names(), ", ") + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token := os.Getenv(RunnerTokenEnv)
			if token == "" {
				return fmt.Errorf("%s is not set: the runner reads its session token from the environment", RunnerTokenEnv)
			}
			if _, err := runner.SocketURL(serverURL, sessionID, token); err != nil {
				return err
			}
			ws, err := resolveWorkspace(workspace)
			if err != nil {
				return err
			}
			if stateDir != "" {
				if stateDir, err = filepath.Abs(stateDir); err != nil {
					return fmt.Errorf("--state-dir: %w", err)
				}
			}
			log := runnerLogger(cmd)
			ag, err := agents.New(agentName, agent.Options{
				Workspace: ws, StateDir: stateDir, AgentsDir: agentsDir, Getenv: os.Getenv,
				AllowRoot: allowRoot, Deadlines: deadlines, Logger: log.With("agent", agentName),
			})
			if err != nil {
				return err
			}
			if err := os.Unsetenv(RunnerTokenEnv); err != nil {
				return err
			}
			// Agents run tools relative to the process's directory.
			if err := os.Chdir(ws); err != nil {
				return fmt.Errorf("--workspace: %w", err)
			}
			log.Info("runner starting", "server", serverURL, "session_id", sessionID, "agent", agentName, "workspace", ws)
			err = runner.Run(cmd.Context(), runner.Config{
				ServerURL:   serverURL,
				SessionID:   sessionID,
				Token:       token,
				Agent:       ag,
				Workspace:   ws,
				Logger:      log,
				GiveUpAfter: giveUpAfter,
				Version:     version,
			})
			if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				log.Info("runner interrupted")
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server-url", "", "the server's URL, http(s)://host:port (required)")
	f.StringVar(&sessionID, "session-id", "", "the session to serve (required)")
	f.StringVar(&agentName, "agent", "script", "the agent to run")
	f.StringVar(&workspace, "workspace", "", "the agent's working directory (default the current directory)")
	f.StringVar(&stateDir, "state-dir", "", "the agent's HOME, XDG and CLI state directories, outside the workspace (default: a temporary directory)")
	f.StringVar(&agentsDir, "agents-dir", "", "where `agentops agents install` put agent CLIs (also searched: PATH)")
	f.BoolVar(&allowRoot, "agents-allow-root", false, "tell agent CLIs that refuse their bypass mode as root that they run sandboxed")
	f.DurationVar(&deadlines.NoProgress, "no-progress-timeout", agent.DefaultNoProgress, "end a turn when the agent shows no progress for this long")
	f.DurationVar(&deadlines.TurnCap, "turn-timeout", agent.DefaultTurnCap, "end a turn that runs longer than this")
	f.DurationVar(&giveUpAfter, "give-up-after", runner.DefaultGiveUpAfter, "exit with an error after failing to (re)connect for this long")
	for _, name := range []string{"server-url", "session-id"} {
		if err := cmd.MarkFlagRequired(name); err != nil {
			panic(err)
		}
	}
	return cmd
}

// resolveWorkspace makes dir absolute (default: the current directory)
// and checks that it is a directory.
func resolveWorkspace(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--workspace: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("--workspace: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("--workspace %s is not a directory", abs)
	}
	return abs, nil
}

// runnerLogger logs to stderr at the root's --log-level and --log-format
// (already validated by the root's pre-run).
func runnerLogger(cmd *cobra.Command) *slog.Logger {
	var level slog.Level
	if f := cmd.Flag("log-level"); f != nil {
		_ = level.UnmarshalText([]byte(f.Value.String()))
	}
	opts := &slog.HandlerOptions{Level: level}
	if f := cmd.Flag("log-format"); f != nil && f.Value.String() == "json" {
		return slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), opts))
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), opts))
}
