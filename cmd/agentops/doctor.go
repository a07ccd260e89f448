package agentops

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
)

// errDoctorFound makes doctor exit 1 after printing its report.
var errDoctorFound = errors.New("doctor found problems")

func newDoctor(cfg *app.Config) *cobra.Command {
	var sf *serveFlags
	var configErr error
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration, database, keyring, object storage, pub/sub, agents and dependencies",
		Long: `doctor checks what serve needs, with the same flags and AGENTOPS_* variables, and prints each
problem with how to fix it. It only reads (a probe object is written to the object storage and
deleted), so it is safe against the data dir and database of a running server.
Exit status: 0 when nothing is broken (warnings allowed), 1 otherwise.`,
		Args: cobra.NoArgs,
		// Its own pre-run: a configuration error is a finding, not the end.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				configErr = err
				return nil
			}
			cfg.InstanceKey = os.Getenv("AGENTOPS_INSTANCE_KEY")
			configErr = cfg.Resolve()
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if configErr == nil {
				configErr = sf.apply(cfg)
			}
			report := app.Doctor(cmd.Context(), *cfg, app.DoctorOptions{ConfigErr: configErr})
			report.Write(cmd.OutOrStdout())
			if report.Broken() {
				return errDoctorFound
			}
			return nil
		},
	}
	sf = bindServeFlags(cmd.Flags(), cfg)
	return cmd
}
