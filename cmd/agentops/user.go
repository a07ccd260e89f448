package agentops

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/auth"
)

// readPassword prompts twice on a terminal, or reads one line from a pipe.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password given: type it at the prompt or pipe it on stdin")
	}
	return pw, nil
}

func openAuth(cmd *cobra.Command, cfg *app.Config) (*auth.Service, func(), error) {
	log := cfg.NewLogger()
	st, err := app.OpenStore(cmd.Context(), *cfg, log, app.Existing)
	if err != nil {
		return nil, nil, err
	}
	return auth.New(st, auth.Config{}, log), func() { st.Close() }, nil
}

// inDatabase names the database in a command's error, so that a wrong
// --data-dir or --database-url shows ("User not found (database …)").
func inDatabase(cfg *app.Config, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (database %s)", err, cfg.Database())
}

func newUser(cfg *app.Config) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var email, name string
	var admin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user (the password is read from a prompt or stdin); the first user is always admin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			svc, done, err := openAuth(cmd, cfg)
			if err != nil {
				return err
			}
			defer done()
			u, err := svc.CreateUser(cmd.Context(), email, name, pw, admin)
			if err != nil {
				return inDatabase(cfg, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s user %s (%s)\n", u.Role, u.Email, u.ID)
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "email address (required)")
	create.Flags().StringVar(&name, "name", "", "display name")
	create.Flags().BoolVar(&admin, "admin", false, "make the user an admin")
	_ = create.MarkFlagRequired("email")

	var pwEmail string
	setPassword := &cobra.Command{
		Use:   "set-password",
		Short: "Set a user's password (read from a prompt or stdin); ends the user's logins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			svc, done, err := openAuth(cmd, cfg)
			if err != nil {
				return err
			}
			defer done()
			if err := svc.SetPassword(cmd.Context(), pwEmail, pw); err != nil {
				return inDatabase(cfg, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password set for %s\n", strings.ToLower(strings.TrimSpace(pwEmail)))
			return nil
		},
	}
	setPassword.Flags().StringVar(&pwEmail, "email", "", "email address (required)")
	_ = setPassword.MarkFlagRequired("email")

	var unlockEmail string
	unlock := &cobra.Command{
		Use:   "unlock",
		Short: "Clear the failed-login limit of an email, from every address (set-password does this too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, done, err := openAuth(cmd, cfg)
			if err != nil {
				return err
			}
			defer done()
			n, err := svc.Unlock(cmd.Context(), unlockEmail)
			if err != nil {
				return inDatabase(cfg, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cleared %d failed logins for %s\n", n, strings.ToLower(strings.TrimSpace(unlockEmail)))
			return nil
		},
	}
	unlock.Flags().StringVar(&unlockEmail, "email", "", "email address (required)")
	_ = unlock.MarkFlagRequired("email")
	var linkEmail string
	loginLink := &cobra.Command{
		Use:   "login-link --email EMAIL",
		Short: "Print a one-time login link for a user (valid 7 days; the user then sets a password)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if linkEmail == "" {
				return errors.New("--email is required")
			}
			svc, done, err := openAuth(cmd, cfg)
			if err != nil {
				return err
			}
			defer done()
			tok, err := svc.CreateLoginLinkForEmail(cmd.Context(), linkEmail)
			if err != nil {
				return inDatabase(cfg, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimRight(cfg.PublicURL, "/")+auth.LoginLinkPath+tok)
			return nil
		},
	}
	loginLink.Flags().StringVar(&linkEmail, "email", "", "email address (required)")
	loginLink.Flags().StringVar(&cfg.PublicURL, "public-url", "", "URL the server is reached at (default http://<listen>)")
	fromEnv(loginLink.Flags(), "public-url")
	cmd.AddCommand(create, setPassword, unlock, loginLink)
	return cmd
}
