package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"sync"
)

// LeaderLock elects one holder among the processes sharing a database. On
// Postgres it is a session-level advisory lock held on a connection of its
// own: when the holder dies or its connection drops, the server releases
// the lock and another process takes it at its next Held call. On SQLite
// there is one server process per database, so it is always held.
type LeaderLock struct {
	s   *Store
	key int64

	mu       sync.Mutex
	conn     *sql.Conn // holds the lock; nil when not held
	released bool      // Release was called: never take it again
}

// LeaderLock returns the election named name. It takes nothing until Held
// is called.
func (s *Store) LeaderLock(name string) *LeaderLock {
	h := fnv.New64a()
	h.Write([]byte("agentops-leader:" + name))
	return &LeaderLock{s: s, key: int64(h.Sum64())}
}

// Held reports whether this process holds the lock, trying to take it if
// it does not, and checking that the connection holding it is alive if it
// does.
func (l *LeaderLock) Held(ctx context.Context) (bool, error) {
	if l.s.dialect != Postgres {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return false, nil
	}
	if l.conn != nil {
		// The lock lives as long as its session: a dead connection lost it.
		if err := l.conn.PingContext(ctx); err == nil {
			return true, nil
		}
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn }) // discard it, not back to the pool
		_ = l.conn.Close()
		l.conn = nil
	}
	conn, err := l.s.wdb.DB.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("leader lock: connect: %w", err)
	}
	var got bool
	// A session advisory lock is re-entrant and stacks; it is only ever
	// taken here, on a fresh connection, so it is held at most once.
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		_ = conn.Close()
		return false, fmt.Errorf("leader lock: %w", err)
	}
	if !got {
		_ = conn.Close()
		return false, nil
	}
	l.conn = conn
	return true, nil
}

// Release gives the lock up (if held) so that another process can take it
// at once rather than when this one's connection drops, and for good:
// Held reports false afterwards (a process that is stopping must not win
// the lock back from a late caller).
func (l *LeaderLock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = true
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", l.key)
	cerr := l.conn.Close()
	l.conn = nil
	if err != nil {
		return fmt.Errorf("leader lock: release: %w", err)
	}
	return cerr
}
