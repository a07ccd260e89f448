package agentops

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/importer"
)

func newImportUpstream(cfg *app.Config) *cobra.Command {
	var d1, r2, keyFile string
	var dryRun, merge bool
	cmd := &cobra.Command{
		Use:   "import-upstream --d1 FILE [--r2-dir DIR] [--upstream-encryption-key-file F] [--dry-run]",
		Short: "Import an upstream (Cloudflare) agent-ops deployment: its D1 export and R2 objects",
		Long: `Import the data of an agent-ops ("Valet") deployment on Cloudflare: users and
their passwords, sessions and transcripts, memories, workflows, triggers
(webhook secrets kept), executions, and provider keys (decrypted with the
deployment's ENCRYPTION_KEY and sealed with this instance's keyring).

--d1 is a "wrangler d1 export" SQL dump or a SQLite copy of the database.
The whole import is checked before anything is written: a dump lacking a
table or column the importer reads, a wrong encryption key, or emails that
already have an account (without --merge-users) stop it. It can be run
again: what is already imported is skipped. Users who signed in with
GitHub or Google get a one-time login link, printed here (valid 7 days).
See docs/migrating-from-upstream.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d1 == "" {
				return errors.New("--d1 is required: a wrangler d1 export (.sql) or a SQLite copy of the upstream database")
			}
			key := ""
			if keyFile != "" {
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return fmt.Errorf("--upstream-encryption-key-file: %w", err)
				}
				key = strings.TrimSpace(string(b))
				if key == "" {
					return fmt.Errorf("--upstream-encryption-key-file %s is empty", keyFile)
				}
			}
			ctx := cmd.Context()
			log := cfg.NewLogger()
			st, err := app.OpenStore(ctx, *cfg, log, app.CreateAndMigrate)
			if err != nil {
				return err
			}
			defer st.Close()
			kr, err := app.LoadKeyring(ctx, *cfg, st, log)
			if err != nil {
				return err
			}
			authSvc := auth.New(st, auth.Config{}, log)
			deps := importer.Deps{Store: st, Keyring: kr, LoginLink: authSvc.CreateLoginLink}
			if r2 != "" {
				b, closeBlob, err := app.OpenBlob(ctx, *cfg)
				if err != nil {
					return err
				}
				defer closeBlob()
				deps.Blob = b
			}
			var progress *os.File
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				progress = f
			}
			opts := importer.Options{Source: d1, R2Dir: r2, UpstreamKey: key, DryRun: dryRun, MergeUsers: merge,
				PublicURL: cfg.PublicURL, ScratchDir: cfg.DataDir, Log: log}
			if progress != nil {
				opts.Progress = progress
			}
			rep, err := importer.Run(ctx, deps, opts)
			if rep != nil {
				rep.Write(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&d1, "d1", "", "the upstream D1 database: a wrangler d1 export .sql dump or a SQLite file")
	f.StringVar(&r2, "r2-dir", "", "a folder holding a copy of the upstream R2 bucket")
	f.StringVar(&keyFile, "upstream-encryption-key-file", "", "a file holding upstream's ENCRYPTION_KEY (surrounding whitespace ignored)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be imported and every problem found; write nothing")
	f.BoolVar(&merge, "merge-users", false, "add an upstream user's data to the agentops account with the same email")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL the server is reached at, for the login links (default http://<listen>)")
	fromEnv(f, "public-url")
	addBlobFlags(f, cfg)
	return cmd
}
