// Package agentops is the agentops command line: serve, migrate, user, token,
// keys, backup, restore, migrate-data, version. Every flag also reads an
// AGENTOPS_* environment variable.
package agentops

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agentops/agentops/app"
)

// envPrefix starts every environment variable that sets a flag.
const envPrefix = "AGENTOPS_"

// EnvName is the environment variable for a flag: --data-dir → AGENTOPS_DATA_DIR.
func EnvName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// envAnnotation marks the flags that are configuration settings and so
// read an environment variable. Per-command arguments (--email, --admin)
// do not: AGENTOPS_ADMIN must not make every created user an admin.
const envAnnotation = "agentops-env"

// fromEnv marks flags of fs as configuration settings.
func fromEnv(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, envAnnotation, []string{"true"}); err != nil {
			panic(err) // a typo in a flag name is a programming error
		}
	}
}

// applyEnv sets every configuration flag not given on the command line
// from its environment variable.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Annotations[envAnnotation] == nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, serr)
			}
		}
	})
	return err
}

// NewRoot builds the command tree.
func NewRoot(version string) *cobra.Command {
	cfg := &app.Config{Version: version}
	root := &cobra.Command{
		Use:           "agentops",
		Short:         "A self-hosted control plane for background AI coding agents",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			cfg.InstanceKey = os.Getenv("AGENTOPS_INSTANCE_KEY")
			return cfg.Resolve()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&cfg.DataDir, "data-dir", "", "data directory (default $XDG_DATA_HOME/agentops, else ~/.local/share/agentops)")
	pf.StringVar(&cfg.DatabaseURL, "database-url", "", "database: an SQLite file path (default agentops.db in the data dir) or a postgres:// URL")
	pf.StringVar(&cfg.InstanceKeyFile, "instance-key-file", "", "instance keyring file (default instance.key in the data dir; or the key itself in AGENTOPS_INSTANCE_KEY)")
	pf.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&cfg.AgentsDir, "agents-dir", "", "where `agentops agents install` puts agent CLIs; serve looks there before PATH (default <data-dir>/agents)")
	fromEnv(pf, "data-dir", "database-url", "instance-key-file", "log-level", "log-format", "agents-dir")

	root.AddCommand(newServe(cfg), newMigrate(cfg), newUser(cfg), newToken(cfg), newKeys(cfg), newBackup(cfg), newRestore(cfg), newMigrateData(cfg), newDoctor(cfg), newRunner(version), newAgents(cfg), newVersion(version), newImportUpstream(cfg))
	setUsage(root)
	return root
}

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, version string) int {
	root := NewRoot(version)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agentops:", err)
		return 1
	}
	return 0
}

func newVersion(version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "agentops", version)
			return nil
		},
	}
}
