package agentops_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// A command pointed at the wrong data dir or database must not create and
// migrate an empty one and then report "User not found": only serve and
// migrate up create a database; the others name the one they looked at.
func TestCommandsDoNotCreateADatabase(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		isolateEnv(t)
		dir := filepath.Join(t.TempDir(), "wrong")
		dbURL := storetest.URL(t, d)
		where := dbURL
		if d == store.SQLite {
			dbURL = "" // the default: agentops.db in the data dir
			where = filepath.Join(dir, "agentops.db")
		}
		args := func(a ...string) []string {
			a = append(a, "--data-dir", dir)
			if dbURL != "" {
				a = append(a, "--database-url", dbURL)
			}
			return a
		}
		for _, cmd := range [][]string{
			{"user", "create", "--email", "a@example.com"},
			{"user", "set-password", "--email", "a@example.com"},
			{"token", "create", "--email", "a@example.com", "--name", "ci"},
			{"keys", "rotate"},
		} {
			_, _, err := execute(t, "a long passphrase\n", args(cmd...)...)
			wantErrContains(t, err, where)
			wantErrContains(t, err, "migrate up")
		}
		if d == store.SQLite {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a command created the data dir (stat err %v)", err)
			}
			_, _, err := execute(t, "", args("migrate", "status")...)
			wantErrContains(t, err, where)
		} else {
			all, err := store.LoadMigrations(d)
			if err != nil {
				t.Fatal(err)
			}
			if n := pending(t, dbURL); n != len(all) {
				t.Fatalf("a command migrated the empty database: %d of %d pending", n, len(all))
			}
		}

		// Once the database exists, errors still say which one it was.
		if _, _, err := execute(t, "", args("migrate", "up")...); err != nil {
			t.Fatal(err)
		}
		_, _, err := execute(t, "a long passphrase\n", args("user", "set-password", "--email", "nobody@example.com")...)
		wantErrContains(t, err, "not found")
		wantErrContains(t, err, where)
	})
}

// Two servers on one data dir are refused, naming the one that runs;
// the other commands work beside it.
func TestServeHoldsTheDataDir(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	cfg := app.Config{DataDir: dir, Listen: "127.0.0.1:0", Version: "test"}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	_, _, err = execute(t, "", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	wantErrContains(t, err, "pid "+strconv.Itoa(os.Getpid()))
	wantErrContains(t, err, dir)

	if _, _, err := execute(t, "a long passphrase\n", "user", "create", "--email", "a@example.com", "--data-dir", dir); err != nil {
		t.Fatalf("user create beside a running server: %v", err)
	}
	if out, _, err := execute(t, "", "migrate", "status", "--data-dir", dir); err != nil || !strings.Contains(out, "0 pending") {
		t.Fatalf("migrate status beside a running server: %v %s", err, out)
	}
	// When the server is gone, the next one starts.
	a.Close()
	b, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open after the first server closed: %v", err)
	}
	b.Close()
}
