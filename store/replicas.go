package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Several replicas on one database (docs/deploy.md, "Several replicas"):
// a registry of the serve processes, and one lease per live session naming
// the replica that runs its actor. Times are the callers' (Go's clock, as
// everywhere in the store); replicas' clocks must agree to well within a
// lease time, which NTP gives.

// ErrLeaseHeld means another live replica holds the session's lease.
var ErrLeaseHeld = errors.New("session lease held by another replica")

// ErrFenced means a write was refused because the writer's lease on the
// session is gone: another replica took it over (a higher epoch), or it
// was released. The writer must stop acting for the session.
var ErrFenced = errors.New("session lease lost: write fenced")

// Replica is one serve process sharing the database.
type Replica struct {
	bun.BaseModel `bun:"table:replicas"`

	ID           string    `bun:"id,pk"`
	AdvertiseURL string    `bun:"advertise_url,notnull"`
	Release      string    `bun:"release,notnull"`
	Draining     bool      `bun:"draining,notnull"`
	StartedAt    time.Time `bun:"started_at,notnull"`
	HeartbeatAt  time.Time `bun:"heartbeat_at,notnull"`
}

// Replicas is the repository of the replica registry.
type Replicas struct{ s *Store }

// Replicas returns the replica registry.
func (s *Store) Replicas() Replicas { return Replicas{s} }

// Register records (or re-records) a replica.
func (r Replicas) Register(ctx context.Context, rep *Replica) error {
	_, err := r.s.w.NewInsert().Model(rep).
		On("CONFLICT (id) DO UPDATE").
		Set("advertise_url = EXCLUDED.advertise_url").
		Set("release = EXCLUDED.release").
		Set("draining = EXCLUDED.draining").
		Set("heartbeat_at = EXCLUDED.heartbeat_at").
		Exec(ctx)
	return wrap("register replica", err)
}

// Heartbeat renews a replica's heartbeat; ErrNotFound if it is not
// registered (another replica deleted it as dead: register again).
func (r Replicas) Heartbeat(ctx context.Context, id string, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*Replica)(nil)).
		Set("heartbeat_at = ?", now).Where("id = ?", id).Exec(ctx)
	return affectedOne("replica heartbeat", res, err)
}

// SetDraining marks a replica as draining (it takes no new sessions).
func (r Replicas) SetDraining(ctx context.Context, id string, draining bool) error {
	res, err := r.s.w.NewUpdate().Model((*Replica)(nil)).
		Set("draining = ?", draining).Where("id = ?", id).Exec(ctx)
	return affectedOne("replica draining", res, err)
}

// Get returns one replica or ErrNotFound.
func (r Replicas) Get(ctx context.Context, id string) (*Replica, error) {
	rep := new(Replica)
	err := r.s.r.NewSelect().Model(rep).Where("id = ?", id).Scan(ctx)
	if err != nil {
		return nil, wrap("get replica", err)
	}
	return rep, nil
}

// Live lists the replicas whose heartbeat is newer than since, by id.
func (r Replicas) Live(ctx context.Context, since time.Time) ([]Replica, error) {
	var out []Replica
	err := r.s.r.NewSelect().Model(&out).Where("heartbeat_at > ?", since).Order("id").Scan(ctx)
	return out, wrap("list live replicas", err)
}

// Delete removes a replica (it stopped, or its heartbeat is long gone).
func (r Replicas) Delete(ctx context.Context, id string) error {
	_, err := r.s.w.NewDelete().Model((*Replica)(nil)).Where("id = ?", id).Exec(ctx)
	return wrap("delete replica", err)
}

// SessionLease says which replica runs a session's actor. Owner is empty
// when the lease was released.
type SessionLease struct {
	bun.BaseModel `bun:"table:session_leases"`

	SessionID  string    `bun:"session_id,pk"`
	Owner      string    `bun:"owner_replica_id,nullzero"`
	Epoch      int64     `bun:"epoch,notnull"`
	AcquiredAt time.Time `bun:"acquired_at,notnull"`
	ExpiresAt  time.Time `bun:"expires_at,notnull"`
}

// Held reports whether the lease names a replica and has not expired.
func (l *SessionLease) Held(now time.Time) bool {
	return l.Owner != "" && l.ExpiresAt.After(now)
}

// Leases is the repository of session leases.
type Leases struct{ s *Store }

// Leases returns the session lease repository.
func (s *Store) Leases() Leases { return Leases{s} }

// Get returns a session's lease or ErrNotFound (never leased).
func (r Leases) Get(ctx context.Context, sessionID string) (*SessionLease, error) {
	l := new(SessionLease)
	err := r.s.r.NewSelect().Model(l).Where("session_id = ?", sessionID).Scan(ctx)
	if err != nil {
		return nil, wrap("get session lease", err)
	}
	return l, nil
}

// Acquire gives replica the session's lease until now+ttl when it is free
// (never taken, released, expired) or already the replica's own, and
// returns it with a new epoch: every acquisition increases the epoch, so
// an earlier actor for the session (on another replica, or an older one
// on this one) is fenced from then on. A lease another replica holds is
// ErrLeaseHeld, with that lease.
func (r Leases) Acquire(ctx context.Context, sessionID, replica string, now time.Time, ttl time.Duration) (*SessionLease, error) {
	l := &SessionLease{SessionID: sessionID, Owner: replica, Epoch: 1, AcquiredAt: now, ExpiresAt: now.Add(ttl)}
	res, err := r.s.w.NewInsert().Model(l).
		On("CONFLICT (session_id) DO UPDATE").
		Set("owner_replica_id = EXCLUDED.owner_replica_id").
		Set("epoch = ?TableAlias.epoch + 1").
		Set("acquired_at = EXCLUDED.acquired_at").
		Set("expires_at = EXCLUDED.expires_at").
		Where("?TableAlias.owner_replica_id IS NULL OR ?TableAlias.owner_replica_id = ? OR ?TableAlias.expires_at <= ?", replica, now).
		Returning("epoch").
		Exec(ctx, &l.Epoch)
	if err != nil {
		if errors.Is(wrap("", err), ErrNotFound) { // the WHERE refused: RETURNING gave no row
			return r.held(ctx, sessionID)
		}
		return nil, wrap("acquire session lease", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return r.held(ctx, sessionID)
	}
	return l, nil
}

func (r Leases) held(ctx context.Context, sessionID string) (*SessionLease, error) {
	cur, err := r.Get(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	return cur, fmt.Errorf("session %s: owner %s, epoch %d, until %s: %w", sessionID, cur.Owner, cur.Epoch, cur.ExpiresAt.Format(time.RFC3339), ErrLeaseHeld)
}

// Renew extends every lease replica holds to now+ttl, in one statement,
// and returns how many it extended. A lease that expired but that nobody
// took over is renewed too: its epoch is unchanged, so nobody else wrote.
func (r Leases) Renew(ctx context.Context, replica string, now time.Time, ttl time.Duration) (int64, error) {
	res, err := r.s.w.NewUpdate().Model((*SessionLease)(nil)).
		Set("expires_at = ?", now.Add(ttl)).
		Where("owner_replica_id = ?", replica).Exec(ctx)
	if err != nil {
		return 0, wrap("renew session leases", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Release gives a lease up at once (the actor stopped, the replica
// drains), if replica still holds it at that epoch.
func (r Leases) Release(ctx context.Context, sessionID, replica string, epoch int64, now time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*SessionLease)(nil)).
		Set("owner_replica_id = NULL").Set("expires_at = ?", now).
		Where("session_id = ? AND owner_replica_id = ? AND epoch = ?", sessionID, replica, epoch).Exec(ctx)
	return wrap("release session lease", err)
}

// ExpireAll ends every lease replica holds now (a replica handing its
// sessions over as it stops) and returns how many. They keep naming the
// replica, so Orphaned lists them and another replica takes them over at
// its next heartbeat, rather than when they would have expired.
func (r Leases) ExpireAll(ctx context.Context, replica string, now time.Time) (int64, error) {
	res, err := r.s.w.NewUpdate().Model((*SessionLease)(nil)).
		Set("expires_at = ?", now).
		Where("owner_replica_id = ? AND expires_at > ?", replica, now).Exec(ctx)
	if err != nil {
		return 0, wrap("release session leases", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Owned lists the leases replica holds, by session id.
func (r Leases) Owned(ctx context.Context, replica string) ([]SessionLease, error) {
	var out []SessionLease
	err := r.s.r.NewSelect().Model(&out).Where("owner_replica_id = ?", replica).Order("session_id").Scan(ctx)
	return out, wrap("list owned session leases", err)
}

// Orphaned lists up to limit leases that name an owner but expired before
// now: sessions whose replica died, for another replica to take over.
func (r Leases) Orphaned(ctx context.Context, now time.Time, limit int) ([]SessionLease, error) {
	var out []SessionLease
	err := r.s.r.NewSelect().Model(&out).
		Where("owner_replica_id IS NOT NULL AND expires_at <= ?", now).
		Order("expires_at").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list orphaned session leases", err)
}

// Fence refuses, with ErrFenced, to let the current transaction go on
// unless replica still holds the session's lease at epoch. Call it first
// in the transaction of every write an actor makes. On Postgres it also
// locks the lease row until commit, so a takeover (which updates that row)
// waits for the write to commit and the write cannot land after it; on
// SQLite the transaction holds the database's write lock already.
//
// Expiry is not checked: a lease that expired but that nobody took over
// still has its epoch, and nobody else has written.
func (s *Store) Fence(ctx context.Context, sessionID, replica string, epoch int64) error {
	if _, ok := s.w.(bun.Tx); !ok {
		return fmt.Errorf("fence session %s: Fence needs a transaction", sessionID)
	}
	res, err := s.w.NewUpdate().Model((*SessionLease)(nil)).
		Set("epoch = epoch").
		Where("session_id = ? AND owner_replica_id = ? AND epoch = ?", sessionID, replica, epoch).Exec(ctx)
	if err != nil {
		return wrap("fence session "+sessionID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("session %s, replica %s, epoch %d: %w", sessionID, replica, epoch, ErrFenced)
	}
	return nil
}
