// Package storetest gives tests real, migrated databases: an SQLite file in
// a temporary directory, and a fresh database on a throwaway PostgreSQL.
//
// The Postgres server is shared by the whole test run: `make test` starts
// one (internal/testutil/testenv) and passes its URL in AGENTOPS_TEST_POSTGRES_URL.
// Without that variable the first test that needs Postgres starts one for
// its package; such packages call storetest.Main from TestMain so that the
// server is stopped when the package's tests end.
package storetest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"
	"github.com/agentops/agentops/store"
)

// EnvPostgresURL names the variable holding the shared server's admin URL.
const EnvPostgresURL = "AGENTOPS_TEST_POSTGRES_URL"

var shared struct {
	once   sync.Once
	url    string
	err    error
	server *pgtest.Server
}

func serverURL() (string, error) {
	shared.once.Do(func() {
		if u := os.Getenv(EnvPostgresURL); u != "" {
			shared.url = u
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.server, shared.err = pgtest.Start(ctx)
		if shared.err == nil {
			shared.url = shared.server.URL()
		}
	})
	return shared.url, shared.err
}

// Main runs the package's tests and stops a Postgres server that this
// process started, also on an interrupt. Use it as the body of TestMain.
func Main(m *testing.M) {
	stop := StopOnInterrupt()
	code := m.Run()
	stop()
	StopShared()
	os.Exit(code)
}

// StopOnInterrupt makes a SIGINT or SIGTERM (a Ctrl-C) stop the Postgres
// server this process started, then run also in order, then exit with 130:
// without it the test binary dies with no cleanup, and the server, which
// runs in a session of its own, goes on with its directory. stop ends the
// watch; call it before the normal teardown. Packages whose TestMain does
// more than Main call it themselves, passing what else needs ending.
func StopOnInterrupt(also ...func()) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "storetest: %s: stopping the test servers\n", s)
			StopShared()
			for _, fn := range also {
				fn()
			}
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-exited
	}
}

// StopShared stops a Postgres server that this process started, for
// packages whose TestMain does more than Main. A start in progress is
// waited for.
func StopShared() {
	shared.once.Do(func() {}) // synchronizes with a start in another goroutine
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
		}
		shared.server = nil
	}
}

// PostgresURL creates an empty database on the shared server and returns
// its URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin, err := serverURL()
	if err != nil {
		t.Fatalf("start postgres for tests: %v", err)
	}
	u, drop, err := pgtest.CreateDatabase(context.Background(), admin, "t")
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(drop)
	return u
}

// SQLiteURL returns the path of a new SQLite database file in a temporary
// directory removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "agentops.db")
}

// URL returns a fresh database URL of dialect d.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.Postgres {
		return PostgresURL(t)
	}
	return SQLiteURL(t)
}

// Open returns a migrated store of dialect d, closed when the test ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	return OpenURL(t, URL(t, d))
}

// OpenURL returns a migrated store on the database at url, closed when the
// test ends. Opening one URL several times gives several handles on one
// database, as replicas have.
func OpenURL(t testing.TB, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatalf("open store %s: %v", store.RedactURL(url), err)
	}
	d := s.Dialect()
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s store: %v", d, err)
	}
	return s
}

// Dialects lists the dialects every store test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// EachDialect runs fn as a subtest named after each dialect, with a fresh
// migrated store.
func EachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}
