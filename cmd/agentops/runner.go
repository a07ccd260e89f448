package agentops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app/runner"
)

// RunnerTokenEnv holds the runner's session token. It is never a flag, so
// it does not show in ps; the runner removes it from its environment once
// read, so the agent's processes do not inherit it.
const RunnerTokenEnv = "AGENTOPS_RUNNER_TOKEN"

// newRunner is `agentops runner`: the process that runs a session's agent
// (anywhere) and connects back to the server. Its flags are per-process
// arguments, not configuration settings, so none reads an AGENTOPS_*
// variable (they are not marked with fromEnv).
func newRunner() *cobra.Command {
	var (
		serverURL, sessionID, agentName, workspace string
		giveUpAfter                                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "runner",
		Short: "Run a session's agent and connect it to the server",
		Long: "Run a session's agent and connect it to the server's session socket.\n" +
			"The session's runner token is read from " + RunnerTokenEnv + ".\n" +
			"Agents: " + fmt.Sprint(runner.AgentNames()) + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token := os.Getenv(RunnerTokenEnv)
			if token == "" {
				return fmt.Errorf("%s is not set: the runner reads its session token from the environment", RunnerTokenEnv)
			}
			agent, err := runner.NewAgent(agentName)
			if err != nil {
				return err
			}
			if _, err := runner.SocketURL(serverURL, sessionID, token); err != nil {
				return err
			}
			ws, err := resolveWorkspace(workspace)
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
			log := runnerLogger(cmd)
			log.Info("runner starting", "server", serverURL, "session_id", sessionID, "agent", agentName, "workspace", ws)
			err = runner.Run(cmd.Context(), runner.Config{
				ServerURL:   serverURL,
				SessionID:   sessionID,
				Token:       token,
				Agent:       agent,
				Workspace:   ws,
				Logger:      log,
				GiveUpAfter: giveUpAfter,
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
