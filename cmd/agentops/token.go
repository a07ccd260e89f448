package agentops

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentops/agentops/app"
)

// maxTTLDays bounds day counts (ten years, as API keys allow), which also
// keeps the multiplication far from overflowing.
const maxTTLDays = 3650

// ParseTTL reads a duration with day support: "30d", "12h", "90m".
func ParseTTL(s string) (time.Duration, error) {
	if s == "" || s == "0" || s == "never" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > maxTTLDays {
			return 0, fmt.Errorf("invalid duration %q: use a whole number of days from 1d to %dd", s, maxTTLDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, fmt.Errorf("invalid duration %q: use 30d, 12h or 90m", s)
	}
	return dur, nil
}

func newToken(cfg *app.Config) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API keys"}
	var email, name, expires string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an sk_ API key for a user and print it (once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ttl, err := ParseTTL(expires)
			if err != nil {
				return err
			}
			svc, done, err := openAuth(cmd, cfg)
			if err != nil {
				return err
			}
			defer done()
			key, t, err := svc.CreateAPIKeyForEmail(cmd.Context(), email, name, ttl)
			if err != nil {
				return inDatabase(cfg, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			exp := "never"
			if !t.ExpiresAt.IsZero() {
				exp = t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created API key %q (%s) for %s, expires %s; it is shown only once\n", t.Name, t.ID, email, exp)
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "the key's owner (required)")
	create.Flags().StringVar(&name, "name", "", "a name for the key (required)")
	create.Flags().StringVar(&expires, "expires-in", "", "lifetime, like 30d or 12h (default: no expiry)")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("name")
	cmd.AddCommand(create)
	return cmd
}
