package cli

import (
	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
)

func newServe(cfg *app.Config) *cobra.Command {
	var origins []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (creates the data dir and applies migrations first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	f.StringVar(&cfg.PubSub, "pubsub", "", "how replicas share events: memory (one server; the default on SQLite), postgres (LISTEN/NOTIFY; the default on Postgres) or redis (--redis-url)")
	f.StringVar(&cfg.RedisURL, "redis-url", "", "Redis for --pubsub redis: redis://[user:password@]host:port[/db] (rediss:// for TLS)")
	fromEnv(f, "listen", "public-url", "allowed-origins", "open-signup", "sandbox", "default-agent", "pubsub", "redis-url")
	return cmd
}
