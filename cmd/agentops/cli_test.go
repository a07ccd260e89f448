package agentops_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/cmd/agentops"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// isolateEnv removes every AGENTOPS_* setting the test process inherited
// (except the test harness's own) and points the default data directory
// at a temporary one, so that commands see only what the test sets.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "AGENTOPS_") || k == storetest.EnvPostgresURL || k == "AGENTOPS_PG_BINDIR" {
			continue
		}
		t.Setenv(k, "") // restores the original value when the test ends
		os.Unsetenv(k)
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
}

// execute runs the real command tree with args, stdin piped from a string
// (not a terminal), and returns what it wrote.
func execute(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := agentops.NewRoot("test")
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// cliEnv is one instance: a data dir and a database of one dialect.
type cliEnv struct {
	t       *testing.T
	dialect store.Dialect
	dataDir string
	dbURL   string
}

func newEnv(t *testing.T, d store.Dialect) *cliEnv {
	t.Helper()
	e := newBareEnv(t, d)
	e.mustRun("", "migrate", "up") // as serve would have
	return e
}

// newBareEnv is an instance whose database is not set up yet.
func newBareEnv(t *testing.T, d store.Dialect) *cliEnv {
	t.Helper()
	isolateEnv(t)
	return &cliEnv{t: t, dialect: d, dataDir: t.TempDir(), dbURL: storetest.URL(t, d)}
}

// run executes a command against this instance (flags for the data dir and
// database appended).
func (e *cliEnv) run(stdin string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	return execute(e.t, stdin, append(args, "--data-dir", e.dataDir, "--database-url", e.dbURL)...)
}

// mustRun is run that fails the test on error.
func (e *cliEnv) mustRun(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("agentops %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// open opens the instance's database directly, as the server would see it.
func (e *cliEnv) open() (*store.Store, *auth.Service) {
	e.t.Helper()
	st, err := store.Open(context.Background(), e.dbURL, store.Options{})
	if err != nil {
		e.t.Fatalf("open %s: %v", e.dialect, err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st, auth.New(st, auth.Config{}, slog.New(slog.DiscardHandler))
}

func eachDialect(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

func wantErrContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not mention %q", err, want)
	}
}

func wantInvalidCredentials(t *testing.T, err error) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Word != "invalid_credentials" {
		t.Fatalf("want invalid_credentials, got %v", err)
	}
}

func pending(t *testing.T, dbURL string) int {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", dbURL, err)
	}
	defer st.Close()
	states, err := st.MigrationStatus(context.Background())
	if err != nil {
		t.Fatalf("migration status: %v", err)
	}
	return store.Pending(states)
}

func TestUserCreate(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		ctx := context.Background()

		// The first user is admin without --admin; the email is normalized.
		out := e.mustRun("first-password\n", "user", "create", "--email", " Ada@Example.com ", "--name", "Ada")
		if !strings.HasPrefix(out, "created admin user ada@example.com (") {
			t.Errorf("first user: stdout %q, want it to report an admin ada@example.com", out)
		}
		// A second user without --admin is a member; with --admin, an admin.
		out = e.mustRun("second-password", "user", "create", "--email", "bob@example.com", "--name", "Bob")
		if !strings.HasPrefix(out, "created member user bob@example.com (") {
			t.Errorf("second user: stdout %q, want a member", out)
		}
		e.mustRun("third-password\n", "user", "create", "--email", "cy@example.com", "--admin")

		st, svc := e.open()
		for email, role := range map[string]string{
			"ada@example.com": store.RoleAdmin, "bob@example.com": store.RoleMember, "cy@example.com": store.RoleAdmin,
		} {
			u, err := st.Users().GetByEmail(ctx, email)
			if err != nil {
				t.Fatalf("user %s was not created: %v", email, err)
			}
			if u.Role != role {
				t.Errorf("user %s has role %q, want %q", email, u.Role, role)
			}
		}
		if u, _ := st.Users().GetByEmail(ctx, "ada@example.com"); u != nil && u.Name != "Ada" {
			t.Errorf("name = %q, want Ada", u.Name)
		}
		// The piped password (newline stripped) is the one that logs in.
		if _, err := svc.Login(ctx, "ada@example.com", "first-password", ""); err != nil {
			t.Errorf("login with the piped password: %v", err)
		}
		if _, err := svc.Login(ctx, "bob@example.com", "second-password", ""); err != nil {
			t.Errorf("login with a password piped without a newline: %v", err)
		}

		// A duplicate email, in any case, is refused.
		_, _, err := e.run("another-password\n", "user", "create", "--email", "ADA@example.com")
		wantErrContains(t, err, "email_already_registered")

		// Too short a password is refused and creates nobody.
		_, _, err = e.run("short\n", "user", "create", "--email", "dee@example.com")
		wantErrContains(t, err, "at least 8")
		if _, err := st.Users().GetByEmail(ctx, "dee@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user was created despite the short password (err %v)", err)
		}

		// No password at all is refused with a message saying how to give one.
		for _, stdin := range []string{"", "\n"} {
			_, _, err = e.run(stdin, "user", "create", "--email", "eve@example.com")
			wantErrContains(t, err, "no password given")
		}
		if _, err := st.Users().GetByEmail(ctx, "eve@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user was created without a password (err %v)", err)
		}
		if n, err := st.Users().Count(ctx); err != nil || n != 3 {
			t.Errorf("users = %d (err %v), want 3", n, err)
		}
	})
}

func TestUserSetPassword(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mustRun("old-password\n", "user", "create", "--email", "ada@example.com")
		_, svc := e.open()
		loginToken, err := svc.Login(ctx, "ada@example.com", "old-password", "")
		if err != nil {
			t.Fatalf("login before set-password: %v", err)
		}

		out := e.mustRun("new-password\r\n", "user", "set-password", "--email", "Ada@Example.com")
		if strings.TrimSpace(out) != "password set for ada@example.com" {
			t.Errorf("stdout %q", out)
		}
		if _, err := svc.Login(ctx, "ada@example.com", "new-password", ""); err != nil {
			t.Errorf("login with the new password: %v", err)
		}
		_, err = svc.Login(ctx, "ada@example.com", "old-password", "")
		wantInvalidCredentials(t, err)
		// Setting the password ends the user's existing logins.
		if _, err := svc.Authenticate(ctx, loginToken); err == nil {
			t.Errorf("a login token from before set-password still authenticates")
		}

		_, _, err = e.run("new-password\n", "user", "set-password", "--email", "nobody@example.com")
		wantErrContains(t, err, "not found")
		_, _, err = e.run("short\n", "user", "set-password", "--email", "ada@example.com")
		wantErrContains(t, err, "at least 8")
		if _, err := svc.Login(ctx, "ada@example.com", "new-password", ""); err != nil {
			t.Errorf("a refused set-password changed the password: %v", err)
		}
	})
}

// Five failures lock an email out from that address; set-password and
// user unlock lift the lock for every address.
func TestUserUnlock(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mustRun("the-password\n", "user", "create", "--email", "ada@example.com")
		_, svc := e.open()
		lockOut := func() {
			t.Helper()
			for range 5 {
				_, err := svc.Login(ctx, "ada@example.com", "wrong-password", "203.0.113.9")
				wantInvalidCredentials(t, err)
			}
			_, err := svc.Login(ctx, "ada@example.com", "the-password", "203.0.113.9")
			if e, ok := apperr.As(err); !ok || e.Word != "too_many_attempts" {
				t.Fatalf("after five failures: %v", err)
			}
		}
		lockOut()
		e.mustRun("the-password\n", "user", "set-password", "--email", "ada@example.com")
		if _, err := svc.Login(ctx, "ada@example.com", "the-password", "203.0.113.9"); err != nil {
			t.Fatalf("set-password did not lift the limit: %v", err)
		}
		lockOut()
		out := e.mustRun("", "user", "unlock", "--email", "ADA@example.com")
		if !strings.Contains(out, "cleared 5 failed logins for ada@example.com") {
			t.Errorf("unlock said %q", out)
		}
		if _, err := svc.Login(ctx, "ada@example.com", "the-password", "203.0.113.9"); err != nil {
			t.Fatalf("unlock did not lift the limit: %v", err)
		}
		_, _, err := e.run("", "user", "unlock")
		wantErrContains(t, err, "email")
	})
}

func TestTokenCreate(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mustRun("ada-password\n", "user", "create", "--email", "ada@example.com")

		before := time.Now()
		out := e.mustRun("", "token", "create", "--email", "ada@example.com", "--name", "ci", "--expires-in", "30d")
		after := time.Now()
		if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Fatalf("stdout %q: want exactly one line (the key, for scripts)", out)
		}
		key := strings.TrimSuffix(out, "\n")
		if !strings.HasPrefix(key, "sk_") || len(key) != 67 {
			t.Fatalf("key %q: want sk_ and 64 more characters", key)
		}

		st, svc := e.open()
		p, err := svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatalf("the printed key does not authenticate: %v", err)
		}
		if p.User.Email != "ada@example.com" || p.APITokenID == "" {
			t.Errorf("principal = %+v, want ada's API key", p)
		}
		tok, err := st.APITokens().GetValid(ctx, auth.HashToken(key), time.Now())
		if err != nil {
			t.Fatalf("get token: %v", err)
		}
		if tok.Name != "ci" {
			t.Errorf("name = %q, want ci", tok.Name)
		}
		lo, hi := before.Add(30*24*time.Hour-time.Second), after.Add(30*24*time.Hour+time.Second)
		if tok.ExpiresAt.Before(lo) || tok.ExpiresAt.After(hi) {
			t.Errorf("expires at %v, want 30 days out (between %v and %v)", tok.ExpiresAt, lo, hi)
		}

		// Without --expires-in the key does not expire.
		out = e.mustRun("", "token", "create", "--email", "ada@example.com", "--name", "forever")
		tok, err = st.APITokens().GetValid(ctx, auth.HashToken(strings.TrimSpace(out)), time.Now().Add(100*365*24*time.Hour))
		if err != nil {
			t.Fatalf("a key created without --expires-in is not valid far in the future: %v", err)
		}
		if !tok.ExpiresAt.IsZero() {
			t.Errorf("expires at %v, want never", tok.ExpiresAt)
		}

		// An unknown owner is an error, and no key is printed.
		out, _, err = e.run("", "token", "create", "--email", "nobody@example.com", "--name", "ci")
		wantErrContains(t, err, "not found")
		if out != "" {
			t.Errorf("stdout %q after a failed create, want nothing", out)
		}
	})
}

func TestTokenCreateBadExpiryTouchesNothing(t *testing.T) {
	isolateEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(t.TempDir(), "db", "agentops.db")
	out, _, err := execute(t, "", "token", "create", "--email", "ada@example.com", "--name", "ci", "--expires-in", "bogus",
		"--data-dir", dataDir, "--database-url", dbPath)
	wantErrContains(t, err, "bogus")
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	for _, p := range []string{dataDir, filepath.Dir(dbPath)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a rejected --expires-in (stat err %v): the database was touched", p, err)
		}
	}
}

func TestParseTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"never", 0},
		{"30d", 30 * 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"12h", 12 * time.Hour},
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
	} {
		got, err := agentops.ParseTTL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"bogus", "d", "0d", "-1d", "1.5d", "30", "30x", "-12h", "0h", "d30", " 30d", "3651d", "106752d", "213504d"} {
		if got, err := agentops.ParseTTL(in); err == nil {
			t.Errorf("ParseTTL(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("ParseTTL(%q) error %q does not say the duration is invalid", in, err)
		}
	}
}

func TestEnvDataDir(t *testing.T) {
	isolateEnv(t)
	envDir, flagDir := t.TempDir(), t.TempDir()
	t.Setenv("AGENTOPS_DATA_DIR", envDir)

	// Without --data-dir (and without a database URL) the SQLite database
	// goes in AGENTOPS_DATA_DIR.
	if _, _, err := execute(t, "", "migrate", "up"); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	if n := pending(t, filepath.Join(envDir, "agentops.db")); n != 0 {
		t.Errorf("the database in AGENTOPS_DATA_DIR has %d pending migrations, want 0", n)
	}

	// --data-dir beats the variable.
	if _, _, err := execute(t, "", "migrate", "up", "--data-dir", flagDir); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	if n := pending(t, filepath.Join(flagDir, "agentops.db")); n != 0 {
		t.Errorf("the database in --data-dir has %d pending migrations, want 0", n)
	}
}

func TestEnvDatabaseURL(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		isolateEnv(t)
		all, err := store.LoadMigrations(d)
		if err != nil {
			t.Fatal(err)
		}
		envURL, flagURL := storetest.URL(t, d), storetest.URL(t, d)
		t.Setenv("AGENTOPS_DATABASE_URL", envURL)

		// A flag beats the variable: only the flag's database is migrated.
		if _, _, err := execute(t, "", "migrate", "up", "--data-dir", t.TempDir(), "--database-url", flagURL); err != nil {
			t.Fatalf("migrate up: %v", err)
		}
		if n := pending(t, flagURL); n != 0 {
			t.Errorf("--database-url database: %d pending, want 0", n)
		}
		if n := pending(t, envURL); n != len(all) {
			t.Errorf("AGENTOPS_DATABASE_URL database: %d pending, want %d (the flag should have won)", n, len(all))
		}

		// Without the flag the variable is used.
		out, _, err := execute(t, "", "migrate", "up", "--data-dir", t.TempDir())
		if err != nil {
			t.Fatalf("migrate up: %v", err)
		}
		if !strings.Contains(out, "applied 0001_") {
			t.Errorf("migrate up on AGENTOPS_DATABASE_URL: stdout %q, want it to apply 0001", out)
		}
		if n := pending(t, envURL); n != 0 {
			t.Errorf("AGENTOPS_DATABASE_URL database: %d pending, want 0", n)
		}
	})
}

func TestEnvInvalidValue(t *testing.T) {
	t.Run("log level", func(t *testing.T) {
		isolateEnv(t)
		dir := t.TempDir()
		t.Setenv("AGENTOPS_LOG_LEVEL", "loud")
		_, _, err := execute(t, "", "migrate", "status", "--data-dir", dir)
		wantErrContains(t, err, "loud")
		wantErrContains(t, err, "log-level")
		if _, err := os.Stat(filepath.Join(dir, "agentops.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the database was opened despite the invalid setting (stat err %v)", err)
		}
		// The flag beats the bad variable.
		if _, _, err := execute(t, "", "migrate", "up", "--data-dir", dir, "--log-level", "error"); err != nil {
			t.Errorf("--log-level error with AGENTOPS_LOG_LEVEL=loud: %v", err)
		}
	})
	t.Run("typed flag", func(t *testing.T) {
		isolateEnv(t)
		dir := filepath.Join(t.TempDir(), "data")
		t.Setenv("AGENTOPS_OPEN_SIGNUP", "maybe")
		// serve must fail while reading its settings, before it opens or
		// listens on anything; the deadline bounds the test if it does not.
		root := agentops.NewRoot("test")
		root.SetArgs([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"})
		root.SetIn(strings.NewReader(""))
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := root.ExecuteContext(ctx)
		wantErrContains(t, err, "AGENTOPS_OPEN_SIGNUP")
		wantErrContains(t, err, "maybe")
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve created its data dir despite the invalid setting (stat err %v)", err)
		}
	})
}

var (
	pendingLine = regexp.MustCompile(`(?m)^0001\s+\S+\s+pending$`)
	appliedLine = regexp.MustCompile(`(?m)^0001\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
)

func TestMigrate(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newBareEnv(t, d)
		all, err := store.LoadMigrations(d)
		if err != nil {
			t.Fatal(err)
		}

		if d == store.SQLite {
			// status creates nothing: a missing file is an error.
			_, _, err := e.run("", "migrate", "status")
			wantErrContains(t, err, e.dbURL)
			if _, err := os.Stat(e.dbURL); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("migrate status created %s (stat err %v)", e.dbURL, err)
			}
			// A new SQLite file created empty, as a Postgres database
			// is: status lists every migration pending.
			st, err := store.Open(context.Background(), e.dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
		}
		out := e.mustRun("", "migrate", "status")
		if !pendingLine.MatchString(out) {
			t.Errorf("status on a fresh database does not list 0001 as pending:\n%s", out)
		}
		if want := string(d) + " database, " + strconv.Itoa(len(all)) + " pending\n"; !strings.HasSuffix(out, want) {
			t.Errorf("status on a fresh database:\n%s\nwant it to end with %q", out, want)
		}

		out = e.mustRun("", "migrate", "up")
		if !strings.Contains(out, "applied 0001_"+all[0].Name+"\n") {
			t.Errorf("migrate up: stdout %q, want it to report 0001 applied", out)
		}
		if strings.Contains(out, "up to date") {
			t.Errorf("migrate up that applied migrations says %q", out)
		}

		out = e.mustRun("", "migrate", "status")
		if !appliedLine.MatchString(out) || pendingLine.MatchString(out) {
			t.Errorf("status after up does not show 0001 applied:\n%s", out)
		}
		if !strings.HasSuffix(out, string(d)+" database, 0 pending\n") {
			t.Errorf("status after up:\n%s\nwant it to end with 0 pending", out)
		}

		out = e.mustRun("", "migrate", "up")
		if strings.TrimSpace(out) != "database is up to date" {
			t.Errorf("second migrate up: stdout %q, want \"database is up to date\"", out)
		}
	})
}

func TestVersion(t *testing.T) {
	isolateEnv(t)
	out, _, err := execute(t, "", "version")
	if err != nil {
		t.Fatal(err)
	}
	if out != "agentops test\n" {
		t.Errorf("version printed %q, want %q", out, "agentops test\n")
	}
}

// Per-command arguments are not configuration: the environment must not
// fill them (AGENTOPS_ADMIN would make every new user an admin).
func TestEnvDoesNotSetCommandArguments(t *testing.T) {
	dir := t.TempDir()
	db := storetest.URL(t, store.SQLite)
	t.Setenv("AGENTOPS_ADMIN", "true")
	t.Setenv("AGENTOPS_EMAIL", "env@example.com")
	_, _, err := execute(t, "a long passphrase\n", "user", "create", "--data-dir", dir, "--database-url", db)
	wantErrContains(t, err, "email")
	if _, _, err := execute(t, "", "migrate", "up", "--data-dir", dir, "--database-url", db); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"first@example.com", "second@example.com"} {
		if _, _, err := execute(t, "a long passphrase\n", "user", "create", "--email", email, "--data-dir", dir, "--database-url", db); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.Users().GetByEmail(t.Context(), "second@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleMember {
		t.Fatalf("AGENTOPS_ADMIN made %s an %s", u.Email, u.Role)
	}
}
