package realtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/realtime/pubsubtest"
	"github.com/agentops/agentops/store/storetest"
)

// pgApps remembers the application_name of each Postgres PubSub, so that a
// test can make the server drop exactly that instance's connections.
var pgApps sync.Map // *realtime.Postgres → string

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// mustPostgres returns a Postgres PubSub on dbURL whose connections carry
// their own application_name, closed when the test ends.
func mustPostgres(t testing.TB, dbURL string, opts realtime.PostgresOptions) *realtime.Postgres {
	t.Helper()
	app := randomName("pubsubtest_")
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	if opts.PublishConns == 0 {
		opts.PublishConns = 2
	}
	ps, err := realtime.NewPostgres(context.Background(), dbURL+sep+"application_name="+app, opts)
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	pgApps.Store(ps, app)
	t.Cleanup(func() { _ = ps.Close(); pgApps.Delete(ps) })
	return ps
}

// terminatePostgres ends every server process of ps's connections.
func terminatePostgres(t *testing.T, dbURL string, ps realtime.PubSub) {
	t.Helper()
	app, ok := pgApps.Load(ps)
	if !ok {
		t.Fatal("not a PubSub from mustPostgres")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()) AS killed`, app).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no connection of %s to terminate", app)
	}
}

func TestPostgresContract(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	newPS := func(t *testing.T) realtime.PubSub { return mustPostgres(t, dbURL, realtime.PostgresOptions{}) }
	pubsubtest.Run(t, newPS,
		pubsubtest.WithPeer(func(t *testing.T, _ realtime.PubSub) realtime.PubSub { return newPS(t) }),
		pubsubtest.WithConnectionKiller(func(t *testing.T, ps realtime.PubSub) { terminatePostgres(t, dbURL, ps) }),
	)
}

// Two databases on one server are two deployments: their topics do not
// meet (NOTIFY is per database).
func TestPostgresDatabasesAreSeparate(t *testing.T) {
	a := mustPostgres(t, storetest.PostgresURL(t), realtime.PostgresOptions{})
	b := mustPostgres(t, storetest.PostgresURL(t), realtime.PostgresOptions{})
	sb := mustSub(t, b, "shared")
	sa := mustSub(t, a, "shared")
	mustPub(t, a, "shared", "for a")
	if m := recv(t, sa); string(m.Payload) != "for a" {
		t.Fatalf("got %q", m.Payload)
	}
	mustPub(t, b, "shared", "for b")
	if m := recv(t, sb); string(m.Payload) != "for b" {
		t.Fatalf("database b got %q, want its own message first", m.Payload)
	}
}

func TestPostgresUnreachable(t *testing.T) {
	_, err := realtime.NewPostgres(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", realtime.PostgresOptions{})
	if err == nil || !strings.Contains(err.Error(), "connect postgres") {
		t.Fatalf("err = %v, want a connection error", err)
	}
}
