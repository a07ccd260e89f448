package agentops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app/runner"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/builtin"
	"github.com/agentops/agentops/app/runner/tools"
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
			toolSrv, toolSocket, cleanup, err := toolServer()
			if err != nil {
				return err
			}
			defer cleanup()
			waits := &tools.Waits{}
			deadlines.LastWait = waits.Last
			ag, err := agents.New(agentName, agent.Options{
				Workspace: ws, StateDir: stateDir, AgentsDir: agentsDir, Getenv: os.Getenv,
				AllowRoot: allowRoot, Deadlines: deadlines, Logger: log.With("agent", agentName),
				Tools: toolSrv,
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
				ToolSocket:  toolSocket,
				ToolWaits:   waits,
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
	cmd.AddCommand(newRunnerMCP())
	return cmd
}

// maxSocketPath is the longest unix socket path that fits every system's
// sun_path (108 bytes on Linux, 104 on macOS, with the terminating NUL).
const maxSocketPath = 100

// toolServer makes the unix socket path (in a private temporary
// directory, short enough for sun_path) where the runner answers the
// agent's tool calls, and the command that serves them over MCP: this
// executable's `runner mcp`. Variables named TEST_AGENTOPS_* are passed
// on to it, so that a test binary standing in for agentops stays one.
func toolServer() (*agent.ToolServer, string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", nil, fmt.Errorf("runner: cannot find its own executable for the tools server: %w", err)
	}
	sweepToolDirs(time.Now(), os.TempDir(), "/tmp")
	dir, err := os.MkdirTemp("", toolDirPrefix)
	if err != nil {
		return nil, "", nil, fmt.Errorf("runner: %w", err)
	}
	sock := filepath.Join(dir, "tools.sock")
	if len(sock) > maxSocketPath {
		// A deep TMPDIR (a runner user's, under the workspaces dir) would
		// not fit a unix socket's path: /tmp does, and the folder is
		// still this user's own, mode 0700.
		_ = os.RemoveAll(dir)
		if dir, err = os.MkdirTemp("/tmp", toolDirPrefix); err != nil {
			return nil, "", nil, fmt.Errorf("runner: %w", err)
		}
		sock = filepath.Join(dir, "tools.sock")
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TEST_AGENTOPS_") {
			env[k] = v
		}
	}
	srv := &agent.ToolServer{Command: exe, Args: []string{"runner", "mcp", "--socket", sock}, Env: env, CallTimeout: tools.CallTimeout}
	return srv, sock, func() { _ = os.RemoveAll(dir) }, nil
}

// toolDirPrefix names the folders of runners' tools sockets.
const toolDirPrefix = "agentops-tools-"

// sweepToolDirs removes this user's tools-socket folders that runners
// killed without a chance to clean up (SIGKILL, a crash) left in the
// parents: a folder whose socket no longer answers, or one older than a
// minute that never got its socket. A live runner's folder is kept.
func sweepToolDirs(now time.Time, parents ...string) {
	seen := map[string]bool{}
	for _, parent := range parents {
		matches, _ := filepath.Glob(filepath.Join(parent, toolDirPrefix+"*"))
		for _, dir := range matches {
			if seen[dir] {
				continue
			}
			seen[dir] = true
			if staleToolDir(dir, now) {
				_ = os.RemoveAll(dir)
			}
		}
	}
}

func staleToolDir(dir string, now time.Time) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false // another user's: not ours to judge
	}
	sock := filepath.Join(dir, "tools.sock")
	if _, err := os.Lstat(sock); err != nil {
		return now.Sub(fi.ModTime()) > time.Minute
	}
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	_ = c.Close()
	return false
}

// newRunnerMCP is `agentops runner mcp`: the stdio MCP server that agent
// CLIs start; it forwards each tool call to its runner's socket.
func newRunnerMCP() *cobra.Command {
	var (
		socket           string
		permissionPrompt bool
	)
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve agentops' tools (memory, ask_user) to an agent CLI over stdio MCP",
		Long: "Serve agentops' tools to an agent CLI as a stdio MCP server: memory_read, memory_write,\n" +
			"memory_patch, memory_delete, memory_search and ask_user. Each call goes to the runner\n" +
			"listening on --socket; the runner configures its agent's CLI with this command.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if socket == "" {
				return errors.New("--socket is required")
			}
			var extra []tools.Spec
			if permissionPrompt {
				extra = append(extra, tools.PermissionSpec)
			}
			return tools.ServeMCP(cmd.Context(), os.Stdin, os.Stdout, socket, cmd.Root().Version, extra...)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the runner's tools socket (required)")
	cmd.Flags().BoolVar(&permissionPrompt, "permission-prompt", false, "also serve permission_prompt, Claude Code's permission-prompt tool (permissionMode ask)")
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
