package agentops

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/workflow"
)

func newServe(cfg *app.Config) *cobra.Command {
	var origins []string
	archiveAfter := "7d"
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (creates the data dir and applies migrations first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := ParseTTL(archiveAfter)
			if err != nil {
				return fmt.Errorf("--archive-after: %w", err)
			}
			cfg.ArchiveAfter = d
			if len(origins) > 0 {
				cfg.AllowedOrigins = origins
				if err := cfg.Resolve(); err != nil {
					return err
				}
			}
			log := cfg.NewLogger()
			a, err := app.Open(cmd.Context(), *cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			return a.Serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", app.DefaultListen, "address to listen on")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL clients reach the server at (default http://<listen>)")
	f.StringSliceVar(&origins, "allowed-origins", nil, "comma-separated origins allowed by CORS (default the public URL; * for any)")
	f.BoolVar(&cfg.OpenSignup, "open-signup", false, "let anyone register (otherwise the first user becomes admin and others need an invite)")
	f.StringVar(&cfg.Sandbox, "sandbox", "local", "where runners run: local (a process per session under the data dir) or external (you start `agentops runner` elsewhere)")
	f.StringVar(&cfg.DefaultAgent, "default-agent", "script", "agent for sessions that do not name one")
	f.StringVar(&archiveAfter, "archive-after", archiveAfter, "archive terminated and errored sessions (and remove their workspaces) this long after they end: 7d, 36h; 0 never")
	fromEnv(f, "listen", "public-url", "allowed-origins", "open-signup", "sandbox", "default-agent", "archive-after")
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
	return cmd
}
