package agentops

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/keys"
)

func newKeys(cfg *app.Config) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the instance keyring that seals stored credentials"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Add a new primary key, re-seal every secret with it, then drop the old key",
		Long: `Rotate the instance keyring in the key file (--instance-key-file):
a new primary key is added (the old one stays, to open), every stored secret
is re-sealed with the new key in one transaction that also updates the
database's key record, and the old key is dropped from the file.

Running servers keep working: they re-read the key file when the database or
a sealed value names a key they do not hold. Replicas on other machines must
get the new key file before they restart. If a rotation is interrupted, run
it again: it completes the interrupted rotation instead of starting another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := app.RotateKeys(cmd.Context(), *cfg, cfg.NewLogger(), keys.RotateOptions{})
			if err != nil {
				if strings.Contains(err.Error(), cfg.Database()) {
					return err // it names the database already
				}
				return inDatabase(cfg, err)
			}
			out := cmd.OutOrStdout()
			if res.Resumed {
				fmt.Fprintln(out, "completed an interrupted rotation")
			}
			fmt.Fprintf(out, "primary key: %s\n", res.NewKey)
			fmt.Fprintf(out, "re-sealed %d secrets\n", res.Resealed)
			if len(res.Dropped) > 0 {
				fmt.Fprintf(out, "dropped key(s): %s\n", strings.Join(res.Dropped, ", "))
			}
			fmt.Fprintf(out, "back up %s with the database; replicas need the new file before they restart\n", cfg.InstanceKeyFile)
			return nil
		},
	})
	return cmd
}
