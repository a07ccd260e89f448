// Package store holds the bun models and repositories shared by the SQLite
// and Postgres dialects. Open picks the dialect from the database URL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/agentops/agentops/search"
)

// Dialect names the database behind a Store.
type Dialect string

// The two supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options tune Open. The zero value is sane.
type Options struct {
	// MaxConns bounds the Postgres pool and the SQLite read pool.
	MaxConns int
	// WrapSearch, if set, wraps the dialect's search provider (the
	// composition root times searches with it).
	WrapSearch func(search.Provider) search.Provider
	// MustExist refuses to create a SQLite file (or its directory) that
	// is not there: the error wraps ErrNoDatabase. Postgres databases are
	// never created.
	MustExist bool
}

// ErrNoDatabase: Options.MustExist and the SQLite file is not there.
var ErrNoDatabase = errors.New("no database")

// Store is the handle to the database. Reads go to a read pool, writes to
// the writer (on SQLite a single connection, so concurrent writers queue in
// Go instead of failing with "database is locked"). Inside InTx both point
// at the transaction, so repositories work the same in and out of one.
type Store struct {
	dialect Dialect
	r, w    bun.IDB
	rdb     *bun.DB
	wdb     *bun.DB
	search  search.Provider // the dialect's full-text search
	gc      *groupCommitter // SQLite: batches write transactions; nil on Postgres
}

// IsPostgres reports whether the URL selects Postgres rather than SQLite.
func IsPostgres(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Open connects to databaseURL: a postgres:// URL, or an SQLite file path
// (optionally prefixed with sqlite:// or file:). It does not migrate.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 20
	}
	open := openSQLite
	if IsPostgres(databaseURL) {
		open = openPostgres
	}
	st, err := open(ctx, databaseURL, opts)
	if err == nil && opts.WrapSearch != nil {
		st.search = opts.WrapSearch(st.search)
	}
	return st, err
}

func openPostgres(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	pcfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url %s: %w", RedactURL(databaseURL), err)
	}
	// bun interpolates every query client-side, so each statement is unique
	// text: preparing and caching them would cost a round trip and server
	// memory per statement for nothing.
	pcfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	sqldb := stdlib.OpenDB(*pcfg, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		// pgx reads timestamptz in the process's local zone; we keep UTC.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}))
	sqldb.SetMaxOpenConns(opts.MaxConns)
	sqldb.SetMaxIdleConns(opts.MaxConns)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", RedactURL(databaseURL), err)
	}
	return &Store{dialect: Postgres, r: db, w: db, rdb: db, wdb: db, search: search.NewPostgres()}, nil
}

func sqlitePath(databaseURL string) string {
	p := strings.TrimPrefix(databaseURL, "sqlite://")
	p = strings.TrimPrefix(p, "sqlite:")
	p = strings.TrimPrefix(p, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

func sqliteDSN(path string, extra url.Values) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_loc", "UTC")
	for k, v := range extra {
		q[k] = v
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	path := sqlitePath(databaseURL)
	if path == "" {
		return nil, errors.New("open sqlite: empty database path")
	}
	extra := url.Values{}
	if opts.MustExist {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
		}
		// And should it go between the check and the open, SQLite
		// must not make an empty one.
		extra.Set("mode", "rw")
	} else if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: create %s: %w", dir, err)
		}
	}
	// The database holds password hashes and sealed secrets: only its owner
	// may read it. SQLite creates -wal and -shm with the same mode.
	if !opts.MustExist {
		if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			f.Close()
		}
	}
	// The writer: one connection, and every transaction takes the write lock
	// at BEGIN, so a read-then-write never fails to upgrade its lock.
	wextra := url.Values{"_txlock": {"immediate"}}
	for k, v := range extra {
		wextra[k] = v
	}
	wsql, err := sql.Open("sqlite3", sqliteDSN(path, wextra))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wsql.SetMaxOpenConns(1)
	wsql.SetMaxIdleConns(1)
	wsql.SetConnMaxLifetime(0)
	wsql.SetConnMaxIdleTime(0)
	wdb := bun.NewDB(wsql, newSQLiteDialect())
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := checkFTS5(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	rsql, err := sql.Open("sqlite3", sqliteDSN(path, url.Values{"_query_only": {"true"}}))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	readers := min(opts.MaxConns, max(4, runtime.NumCPU()*2))
	rsql.SetMaxOpenConns(readers)
	rsql.SetMaxIdleConns(readers)
	rdb := bun.NewDB(rsql, newSQLiteDialect())
	return &Store{dialect: SQLite, r: rdb, w: wdb, rdb: rdb, wdb: wdb, search: search.NewFTS5(), gc: newGroupCommitter(wdb)}, nil
}

// ErrNoFTS5 means the binary was built without SQLite's FTS5 module.
var ErrNoFTS5 = errors.New("this agentops binary was built without SQLite FTS5: rebuild with `go build -tags sqlite_fts5` (the Makefile does)")

func checkFTS5(ctx context.Context, db *bun.DB) error {
	var on int
	if err := db.QueryRowContext(ctx, "SELECT sqlite_compileoption_used('ENABLE_FTS5')").Scan(&on); err != nil {
		return fmt.Errorf("check sqlite fts5: %w", err)
	}
	if on != 1 {
		return ErrNoFTS5
	}
	return nil
}

// Dialect reports which database is behind the store.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the writer handle, for the few callers (migrations, dialect
// helpers, tests) that need raw access.
func (s *Store) DB() *bun.DB { return s.wdb }

// IDB is the handle writes go to: the transaction inside InTx, else the
// writer. Search providers take it so that index changes join the
// transaction.
func (s *Store) IDB() bun.IDB { return s.w }

// Search returns the dialect's full-text search provider.
func (s *Store) Search() search.Provider { return s.search }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	if s.gc != nil {
		s.gc.close()
	}
	if s.rdb != s.wdb {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	return errors.Join(errs...)
}

// InTx runs fn in one write transaction. The Store handed to fn routes
// every repository through that transaction; fn's error rolls it back.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if _, ok := s.w.(bun.Tx); ok {
		return fn(s) // already inside a transaction
	}
	inTx := func(tx bun.Tx) *Store {
		return &Store{dialect: s.dialect, r: tx, w: tx, rdb: s.rdb, wdb: s.wdb, search: s.search, gc: s.gc}
	}
	if s.gc != nil {
		return s.gc.do(ctx, func(tx bun.Tx) error { return fn(inTx(tx)) })
	}
	return s.wdb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return fn(inTx(tx))
	})
}

// RedactURL hides the password of a database URL for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// LockKey serializes transactions on a name: on Postgres it takes a
// transaction-scoped advisory lock; on SQLite every write transaction
// already holds the database's write lock. Call it inside InTx.
func (s *Store) LockKey(ctx context.Context, name string) error {
	if _, ok := s.w.(bun.Tx); !ok {
		return fmt.Errorf("lock %s: LockKey needs a transaction", name)
	}
	if s.dialect != Postgres {
		return nil
	}
	_, err := s.w.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", name)
	return wrap("lock "+name, err)
}
