package agentops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// progressTo reports on w, redrawing one line when w is a terminal.
func progressTo(w io.Writer) *ops.Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return ops.NewProgress(w, tty)
}

// sqliteFile strips the prefixes Open accepts from an SQLite URL.
func sqliteFile(url string) string {
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		url = strings.TrimPrefix(url, p)
	}
	if i := strings.IndexByte(url, '?'); i >= 0 {
		url = url[:i]
	}
	return url
}

// instanceKey returns the keyring's text: AGENTOPS_INSTANCE_KEY, else the
// key file; nil if neither exists.
func instanceKey(cfg *app.Config) ([]byte, error) {
	if cfg.InstanceKey != "" {
		return []byte(cfg.InstanceKey), nil
	}
	b, err := os.ReadFile(cfg.InstanceKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func newBackup(cfg *app.Config) *cobra.Command {
	var out string
	var withoutKey, withWorkspaces bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write an archive of the instance (database snapshot, objects, instance key) while it runs",
		Long: `Write one archive (tar; .tar.gz or .tgz compresses it) of the instance:
a consistent snapshot of the SQLite database (taken with VACUUM INTO, which
blocks no writer), every object of the object storage (fs or S3, the same
flags as serve), and the instance key, with a manifest of checksums. The
server may keep running; backup takes none of its locks.

On Postgres, back the database up with pg_dump: this command says so and
still archives the objects and the key. Workspaces are left out unless
--include-workspaces; a session restored without its workspace is
hibernated and wakes in an empty one. See docs/operations.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			ctx := cmd.Context()
			key, err := instanceKey(cfg)
			if err != nil {
				return err
			}
			st, err := ops.OpenExisting(ctx, cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			if key == nil && !withoutKey {
				if _, _, err := keys.Record(ctx, st); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no instance key at %s (nor in AGENTOPS_INSTANCE_KEY): give it with --instance-key-file, or pass --without-key", cfg.InstanceKeyFile)
				}
				// The instance never served: it has no key and nothing sealed.
				withoutKey = true
				fmt.Fprintln(cmd.ErrOrStderr(), "the instance has no instance key yet (it never served): nothing is sealed")
			}
			if withoutKey {
				key = nil
			}
			b, closeBlob, err := app.OpenBlob(ctx, *cfg)
			if err != nil {
				return err
			}
			defer closeBlob()
			res, err := ops.Backup(ctx, ops.BackupOptions{
				Store: st, Blob: b, Key: key, WithoutKey: withoutKey,
				WorkspacesDir: cfg.WorkspacesDir, IncludeWorkspaces: withWorkspaces,
				Out: out, Version: cfg.Version, Progress: progressTo(cmd.ErrOrStderr()),
			})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING:", w)
			}
			var rows int64
			for _, t := range res.Manifest.Tables {
				rows += t.Rows
			}
			fi, _ := os.Stat(out)
			var size int64
			if fi != nil {
				size = fi.Size()
			}
			db := fmt.Sprintf("%d rows in %d tables", rows, len(res.Manifest.Tables))
			if !res.Manifest.Database {
				db = "database left out (Postgres: use pg_dump)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d objects, key %s, workspaces %s; %.1f MB (%.1f MB of content) in %s\n",
				out, db, res.Manifest.Objects, yesNo(res.Manifest.Key), yesNo(res.Manifest.Workspaces),
				float64(size)/1e6, float64(res.Bytes)/1e6, res.Elapsed.Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "archive to write (.tar, or .tar.gz/.tgz to compress); never overwritten")
	f.BoolVar(&withoutKey, "without-key", false, "leave the instance key out (keep it safe yourself: without it the stored credentials cannot be opened)")
	f.BoolVar(&withWorkspaces, "include-workspaces", false, "also archive the sessions' workspaces (under --workspaces-dir)")
	addBlobFlags(f, cfg)
	addWorkspacesFlag(f, cfg)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "included"
	}
	return "left out"
}

func newRestore(cfg *app.Config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore FILE --data-dir DIR",
		Short: "Restore a backup archive into a new, empty data dir",
		Long: `Restore an archive written by ` + "`agentops backup`" + ` into an empty data dir.
Every entry's checksum (and the schema version) is checked before anything
is written; a truncated or altered archive is refused, naming the entry.
The database and key go into the data dir (or --database-url and
--instance-key-file); objects go to the object storage this command is
given (fs under the data dir, or S3: the same flags as serve), which must
be empty. Sessions restored without their workspaces are hibernated and
wake in an empty workspace.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			closeBlob := func() error { return nil }
			defer func() { closeBlob() }()
			res, err := ops.Restore(ctx, ops.RestoreOptions{
				Archive: args[0], DataDir: cfg.DataDir, DatabaseURL: sqliteFileOrURL(cfg.DatabaseURL), KeyFile: cfg.InstanceKeyFile,
				WorkspacesDir: cfg.WorkspacesDir, Progress: progressTo(cmd.ErrOrStderr()),
				OpenBlob: func(ctx context.Context) (blob.Storage, error) {
					b, closeFn, err := app.OpenBlob(ctx, *cfg)
					if err == nil {
						closeBlob = closeFn
					}
					return b, err
				},
			})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING:", w)
			}
			m := res.Manifest
			fmt.Fprintf(cmd.OutOrStdout(), "restored the backup of %s (agentops %s) into %s: database %s, %d objects, key %s, %d credentials open",
				m.CreatedAt.Format(time.RFC3339), m.Version, cfg.DataDir, yesNo(m.Database), res.Objects, yesNo(m.Key), res.Credentials)
			if !m.Workspaces && res.Hibernated > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d sessions are hibernated and wake in an empty workspace", res.Hibernated)
			}
			if m.Database {
				fmt.Fprintf(cmd.OutOrStdout(), "\nstart it with: agentops serve --data-dir %s\n", cfg.DataDir)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "\nrestore the database with pg_restore, then: agentops serve --data-dir %s --database-url postgres://…\n", cfg.DataDir)
			}
			return nil
		},
	}
	addBlobFlags(cmd.Flags(), cfg)
	addWorkspacesFlag(cmd.Flags(), cfg)
	return cmd
}

// addWorkspacesFlag is serve's --workspaces-dir for the commands that read
// or write workspaces (backup, restore): give them the same folder.
func addWorkspacesFlag(f *pflag.FlagSet, cfg *app.Config) {
	f.StringVar(&cfg.WorkspacesDir, "workspaces-dir", "", "folder of local sessions' workspaces, as given to serve (default <data-dir>/workspaces)")
	fromEnv(f, "workspaces-dir")
}

func sqliteFileOrURL(u string) string {
	if store.IsPostgres(u) {
		return u
	}
	return sqliteFile(u)
}

func newMigrateData(cfg *app.Config) *cobra.Command {
	var from, to string
	var force bool
	var batch int
	cmd := &cobra.Command{
		Use:   "migrate-data --from DATABASE --to DATABASE",
		Short: "Copy every table from one database to another (SQLite ↔ Postgres), verified",
		Long: `Copy the instance's data between databases: an SQLite file or a postgres://
URL on either side. The target's schema is migrated, then every table is
copied in dependency order and in batches from one consistent snapshot of
the source, and each table's row count and content digest are compared;
sequences are fixed and the search index is rebuilt.

The source may be live, but writes after the snapshot are not copied: stop
the server for the final cut-over. An interrupted run resumes when run again
with the same source. A target holding any other data is refused unless
--force, which deletes it first.

The instance key must move with the data: serve the new database with the
same key file (--instance-key-file) or AGENTOPS_INSTANCE_KEY. The command
checks that the key it is given opens the copied credentials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return errors.New("--from and --to are required")
			}
			ctx := cmd.Context()
			errw := cmd.ErrOrStderr()
			var kr *keyring.Keyring
			key, err := instanceKey(cfg)
			if err != nil {
				return err
			}
			if key != nil {
				if kr, err = keyring.Parse(key); err != nil {
					return fmt.Errorf("instance key %s: %w", cfg.InstanceKeyFile, err)
				}
			} else {
				fmt.Fprintf(errw, "WARNING: no instance key at %s: the copied credentials are not checked; pass the source's --instance-key-file\n", cfg.InstanceKeyFile)
			}
			res, err := ops.MigrateData(ctx, ops.MigrateOptions{
				From: sqliteFileOrURL(from), To: sqliteFileOrURL(to), Force: force, BatchRows: batch,
				Keyring: kr, Progress: progressTo(errw), Log: cfg.NewLogger(),
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var rows, size int64
			for _, t := range res.Tables {
				rows += t.Rows
				size += t.Bytes
			}
			if res.Resumed {
				fmt.Fprintln(out, "resumed an interrupted migrate-data")
			}
			fmt.Fprintf(out, "copied %d rows (%.1f MB) in %d tables to %s in %s; every table's row count and digest match the source snapshot of %s\n",
				rows, float64(size)/1e6, len(res.Tables), store.RedactURL(to), res.Elapsed.Round(time.Millisecond), res.Snapshot.Format(time.RFC3339))
			fmt.Fprintf(out, "rebuilt the search index (%d documents); fixed %d sequences\n", res.SearchDocs, res.Sequences)
			if res.KeyChecked {
				fmt.Fprintf(out, "the instance key opens the copied database and its %d credentials\n", res.Credentials)
			}
			keyHint := "--instance-key-file " + cfg.InstanceKeyFile
			if cfg.InstanceKey != "" {
				keyHint = "(with the same AGENTOPS_INSTANCE_KEY)"
			}
			fmt.Fprintf(out, "writes to the source after the snapshot were not copied. The instance key moves with the data: serve the new database with the same key:\n  agentops serve --database-url %s %s\n",
				store.RedactURL(to), keyHint)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source database: an SQLite file or a postgres:// URL (not changed)")
	f.StringVar(&to, "to", "", "target database: a postgres:// URL or an SQLite file (created if missing)")
	f.BoolVar(&force, "force", false, "delete the target's data first (otherwise a non-empty target is refused)")
	f.IntVar(&batch, "batch-size", 1000, "rows per read and insert")
	return cmd
}
