package agentops

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store"
)

func newMigrate(cfg *app.Config) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply or inspect database migrations"}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := app.OpenStore(cmd.Context(), *cfg, cfg.NewLogger(), app.CreateOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			applied, err := st.Migrate(cmd.Context())
			for _, m := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s_%s\n", m.Version, m.Name)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := app.OpenStore(cmd.Context(), *cfg, cfg.NewLogger(), app.Inspect)
			if err != nil {
				return err
			}
			defer st.Close()
			states, err := st.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "VERSION\tNAME\tAPPLIED\n")
			for _, s := range states {
				at := "pending"
				if !s.AppliedAt.IsZero() {
					at = s.AppliedAt.Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Version, s.Name, at)
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%s database, %d pending\n", st.Dialect(), store.Pending(states))
			return nil
		},
	})
	return cmd
}
