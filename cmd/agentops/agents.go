package agentops

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/builtin"
)

// newAgents is `agentops agents list|install`.
func newAgents(cfg *app.Config) *cobra.Command {
	reg := builtin.Registry()
	cmd := &cobra.Command{Use: "agents", Short: "List and install the coding agents sessions can run"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Show each agent: installed or not, its version and path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AGENT\tINSTALLED\tVERSION\tKNOWN-GOOD\tPATH")
			for _, name := range reg.Names() {
				info, _ := reg.Info(name)
				in, err := agent.Locate(cmd.Context(), info, cfg.AgentsDir, os.Getenv("PATH"))
				installed, path := "yes", in.Path
				if err != nil {
					installed, path = "no", "-"
				}
				if info.BuiltIn() {
					path = "(built in)"
				}
				known := info.Version
				if known == "" {
					known = "-"
				}
				version := in.Version
				if version == "" {
					version = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, installed, version, known, path)
			}
			fmt.Fprintf(w, "\nagents dir: %s\n", cfg.AgentsDir)
			return w.Flush()
		},
	})
	var version string
	install := &cobra.Command{
		Use:   "install NAME",
		Short: "Install an agent's CLI at its known-good version with npm into the agents dir",
		Long: "Install an agent's CLI with npm into the agents dir (--agents-dir, default <data-dir>/agents).\n" +
			"Needs Node.js and npm. A running server finds the new agent within 30 seconds, without a restart.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, ok := reg.Info(args[0])
			if !ok {
				return fmt.Errorf("unknown agent %q (known: %v)", args[0], reg.Names())
			}
			v := version
			if v == "" {
				v = info.Version
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "installing %s@%s into %s\n", info.Package, v, agent.InstallDir(cfg.AgentsDir, info))
			in, err := agent.Install(cmd.Context(), info, cfg.AgentsDir, v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s %s at %s\n", info.ID, in.Version, in.Path)
			return nil
		},
	}
	install.Flags().StringVar(&version, "version", "", "npm version to install (default: the known-good one)")
	cmd.AddCommand(install)
	return cmd
}
