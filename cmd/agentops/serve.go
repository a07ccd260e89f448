package agentops

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/sdnotify"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workflow"
)

func newServe(cfg *app.Config) *cobra.Command {
	var sf *serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (creates the data dir and applies migrations first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sf.apply(cfg); err != nil {
				return err
			}
			log := cfg.NewLogger()
			notifier, err := sdnotify.FromEnv(os.Getenv)
			if err != nil {
				return err
			}
			cfg.Systemd = notifier
			a, err := app.Open(cmd.Context(), *cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			return a.Serve(cmd.Context())
		},
	}
	sf = bindServeFlags(cmd.Flags(), cfg)
	return cmd
}

// serveFlags are the settings of serve that need more than a flag
// variable; doctor binds the same flags, so that it checks what serve
// would run with.
type serveFlags struct {
	origins      []string
	archiveAfter string
}

// apply puts them into cfg (resolving it again for the origins).
func (sf *serveFlags) apply(cfg *app.Config) error {
	d, err := ParseTTL(sf.archiveAfter)
	if err != nil {
		return fmt.Errorf("--archive-after: %w", err)
	}
	cfg.ArchiveAfter = d
	if len(sf.origins) > 0 {
		cfg.AllowedOrigins = sf.origins
		if err := cfg.Resolve(); err != nil {
			return err
		}
	}
	return nil
}

// bindServeFlags defines serve's settings on f, with their AGENTOPS_*
// variables.
func bindServeFlags(f *pflag.FlagSet, cfg *app.Config) *serveFlags {
	sf := &serveFlags{archiveAfter: "7d"}
	origins, archiveAfter := &sf.origins, &sf.archiveAfter
	f.StringVar(&cfg.Listen, "listen", app.DefaultListen, "address to listen on")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL clients reach the server at (default http://<listen>)")
	f.StringSliceVar(origins, "allowed-origins", nil, "comma-separated origins allowed by CORS (default the public URL; * for any)")
	f.BoolVar(&cfg.OpenSignup, "open-signup", false, "let anyone register (otherwise the first user becomes admin and others need an invite)")
	f.StringVar(&cfg.Sandbox, "sandbox", "local", "where runners run: local (a process per session under the data dir) or external (you start `agentops runner` elsewhere)")
	f.StringVar(&cfg.DefaultAgent, "default-agent", "", "agent for sessions that do not name one (default: the first of claude-code, codex, opencode installed and usable for the caller, else script)")
	f.BoolVar(&cfg.AgentsAllowRoot, "agents-allow-root", false, "let agent CLIs bypass their permission prompts when runners run as root (they are told they are sandboxed)")
	f.StringVar(&cfg.RunnerUser, "runner-user", "", "when serve runs as root: run local runners and their agents as this unprivileged user, who owns the workspaces and cannot read the data dir")
	f.StringVar(&cfg.WorkspacesDir, "workspaces-dir", "", "folder of local sessions' workspaces (default <data-dir>/workspaces; with --runner-user <data-dir>-workspaces, outside the data dir)")
	f.DurationVar(&cfg.AgentNoProgress, "agent-no-progress-timeout", 2*time.Minute, "end a turn when the agent shows no progress (text, tool or step) for this long")
	f.DurationVar(&cfg.AgentTurnTimeout, "agent-turn-timeout", time.Hour, "end a turn that runs longer than this")
	f.StringVar(archiveAfter, "archive-after", *archiveAfter, "archive terminated and errored sessions (and remove their workspaces) this long after they end: 7d, 36h; 0 never")
	f.StringSliceVar(&cfg.TrustedProxies, "trusted-proxies", nil, "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (for the login limit); default none")
	f.StringSliceVar(&cfg.RepoRoots, "repo-roots", nil, "comma-separated folders under which sessions may use local repositories (repoPath, file:// repoUrl); default none: off")
	fromEnv(f, "listen", "public-url", "allowed-origins", "open-signup", "sandbox", "default-agent", "archive-after", "trusted-proxies", "repo-roots",
		"agents-allow-root", "agent-no-progress-timeout", "agent-turn-timeout", "runner-user", "workspaces-dir")
	// GitHub: pull requests from sessions.
	f.StringVar(&cfg.GitHubAPIURL, "github-api-url", "", "GitHub's API base URL (default https://api.github.com/); for GitHub Enterprise an API base such as https://ghe.example.com/api/v3/, whose repository URLs on the same host map to owner/name by their path")
	f.DurationVar(&cfg.PRRefreshInterval, "pr-refresh-interval", 5*time.Minute, "how often the state (open, merged, closed) of pull requests made from sessions is read again from GitHub; a failing one backs off")
	fromEnv(f, "github-api-url", "pr-refresh-interval")
	// Object storage (artifacts).
	addBlobFlags(f, cfg)
	f.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", app.DefaultMaxUploadBytes, "largest artifact upload accepted, in bytes")
	fromEnv(f, "max-upload-bytes")
	f.IntVar(&cfg.MemoryMaxFiles, "memory-max-files", app.DefaultMemoryMaxFiles, "cap on each user's memory files outside preferences/; the least relevant, least recently read are evicted")
	fromEnv(f, "memory-max-files")
	// Workflows.
	f.IntVar(&cfg.Workflows.MaxPerUser, "workflow-max-per-user", workflow.DefaultMaxPerUser, "active workflow executions (pending, running, waiting for approval) one user may have; more get 429")
	f.IntVar(&cfg.Workflows.MaxGlobal, "workflow-max-global", workflow.DefaultMaxGlobal, "active workflow executions in all; more get 429")
	f.Int64Var(&cfg.Workflows.WebhookMaxBodyBytes, "webhook-max-body-bytes", workflow.DefaultWebhookMaxBodyBytes, "largest webhook delivery body accepted, in bytes (at most 524288)")
	fromEnv(f, "workflow-max-per-user", "workflow-max-global", "webhook-max-body-bytes")
	f.StringVar(&cfg.PubSub, "pubsub", "", "how replicas share events: memory (one server; the default on SQLite), postgres (LISTEN/NOTIFY; the default on Postgres) or redis (--redis-url)")
	f.StringVar(&cfg.RedisURL, "redis-url", "", "Redis for --pubsub redis: redis://[user:password@]host:port[/db] (rediss:// for TLS)")
	fromEnv(f, "pubsub", "redis-url")
	f.StringVar(&cfg.MetricsToken, "metrics-token", "", "turn /metrics (Prometheus) on; scrapers send this as a bearer token (prefer AGENTOPS_METRICS_TOKEN: flags show in ps)")
	fromEnv(f, "metrics-token")
	f.DurationVar(&cfg.SessionTimings.ApprovalTTL, "approval-ttl", session.DefaultApprovalTTL, "deny an approval (permissionMode ask) nobody answers within this long")
	fromEnv(f, "approval-ttl")
	// Several replicas (docs/deploy.md, "Several replicas").
	f.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "URL the other replicas reach this one at (http://10.0.0.5:8787); turns session leases on, so several replicas on one Postgres share sessions")
	f.StringVar(&cfg.RunnerURL, "runner-url", "", "URL runners dial (default: the loopback listen address for local runners, the public URL for external ones; behind a load balancer, its URL)")
	f.DurationVar(&cfg.SessionLease, "session-lease", app.DefaultSessionLease, "how long a replica's sessions stay its own without a heartbeat (heartbeat: a quarter of it); a dead replica's sessions move after this")
	fromEnv(f, "advertise-url", "runner-url", "session-lease")
	return sf
}
