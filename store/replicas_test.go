package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestReplicaRegistry(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, id := range []string{"r1", "r2"} {
			noErr(t, "register "+id, s.Replicas().Register(ctx, &store.Replica{ID: id, AdvertiseURL: "http://" + id + ":8787",
				Release: "0022", StartedAt: base, HeartbeatAt: base}))
		}
		noErr(t, "heartbeat", s.Replicas().Heartbeat(ctx, "r1", at(10*time.Second)))
		live, err := s.Replicas().Live(ctx, at(5*time.Second))
		noErr(t, "live", err)
		if len(live) != 1 || live[0].ID != "r1" || live[0].AdvertiseURL != "http://r1:8787" || !live[0].HeartbeatAt.Equal(at(10*time.Second)) {
			t.Fatalf("live replicas %+v, want r1 alone", live)
		}
		noErr(t, "draining", s.Replicas().SetDraining(ctx, "r1", true))
		r1, err := s.Replicas().Get(ctx, "r1")
		noErr(t, "get", err)
		if !r1.Draining {
			t.Fatal("r1 not draining")
		}
		noErr(t, "delete", s.Replicas().Delete(ctx, "r2"))
		if err := s.Replicas().Heartbeat(ctx, "r2", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("heartbeat of a deleted replica: %v, want ErrNotFound (register again)", err)
		}
	})
}

// One owner per session: a lease another replica holds is refused until
// it expires; every acquisition increases the epoch; the stale owner's
// writes are fenced and change nothing.
func TestSessionLeasesFenceStaleOwner(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "lease@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		ttl := 20 * time.Second

		l1, err := s.Leases().Acquire(ctx, sess.ID, "r1", base, ttl)
		noErr(t, "r1 acquires", err)
		if l1.Epoch != 1 || l1.Owner != "r1" || !l1.ExpiresAt.Equal(at(ttl)) {
			t.Fatalf("first lease %+v", l1)
		}
		held, err := s.Leases().Acquire(ctx, sess.ID, "r2", at(10*time.Second), ttl)
		if !errors.Is(err, store.ErrLeaseHeld) || held == nil || held.Owner != "r1" || held.Epoch != 1 {
			t.Fatalf("r2 acquiring a held lease: %+v, %v; want ErrLeaseHeld naming r1", held, err)
		}

		// r1 writes under its lease.
		write := func(replica string, epoch int64, title string) error {
			return s.InTx(ctx, func(tx *store.Store) error {
				if err := tx.Fence(ctx, sess.ID, replica, epoch); err != nil {
					return err
				}
				cur, err := tx.Sessions().Get(ctx, sess.ID)
				if err != nil {
					return err
				}
				cur.Title = title
				return tx.Sessions().Update(ctx, cur, "title")
			})
		}
		noErr(t, "owner writes", write("r1", 1, "by r1"))

		// r1 pauses past its lease; r2 takes the session over.
		l2, err := s.Leases().Acquire(ctx, sess.ID, "r2", at(ttl+time.Second), ttl)
		noErr(t, "r2 takes an expired lease", err)
		if l2.Epoch != 2 || l2.Owner != "r2" {
			t.Fatalf("taken-over lease %+v, want r2 at epoch 2", l2)
		}
		// r1 resumes: its write is refused and changes nothing; its
		// heartbeat does not win the lease back.
		if err := write("r1", 1, "stale"); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale owner's write: %v, want ErrFenced", err)
		}
		if n, err := s.Leases().Renew(ctx, "r1", at(ttl+2*time.Second), ttl); err != nil || n != 0 {
			t.Fatalf("stale owner's renew extended %d leases (%v), want 0", n, err)
		}
		noErr(t, "new owner writes", write("r2", 2, "by r2"))
		got, err := s.Sessions().Get(ctx, sess.ID)
		noErr(t, "get", err)
		if got.Title != "by r2" {
			t.Fatalf("title %q, want the new owner's", got.Title)
		}
		if err := write("r2", 1, "wrong epoch"); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("right owner, old epoch: %v, want ErrFenced", err)
		}
		if err := s.Fence(ctx, sess.ID, "r2", 2); err == nil {
			t.Fatal("Fence outside a transaction passed")
		}

		// Heartbeats keep it; orphan scan sees only expired ones.
		n, err := s.Leases().Renew(ctx, "r2", at(ttl+15*time.Second), ttl)
		if err != nil || n != 1 {
			t.Fatalf("renew: %d, %v", n, err)
		}
		orph, err := s.Leases().Orphaned(ctx, at(2*ttl+time.Second), 10)
		noErr(t, "orphaned", err)
		if len(orph) != 0 {
			t.Fatalf("renewed lease listed as orphaned: %+v", orph)
		}
		orph, err = s.Leases().Orphaned(ctx, at(3*ttl), 10)
		noErr(t, "orphaned later", err)
		if len(orph) != 1 || orph[0].SessionID != sess.ID {
			t.Fatalf("orphaned after expiry %+v", orph)
		}

		// A released lease is free at once, and the next owner gets a
		// higher epoch even when it is the same replica.
		noErr(t, "release", s.Leases().Release(ctx, sess.ID, "r2", 2, at(ttl+16*time.Second)))
		if err := write("r2", 2, "after release"); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("write after release: %v, want ErrFenced", err)
		}
		l3, err := s.Leases().Acquire(ctx, sess.ID, "r2", at(ttl+17*time.Second), ttl)
		noErr(t, "re-acquire", err)
		if l3.Epoch != 3 {
			t.Fatalf("re-acquired epoch %d, want 3", l3.Epoch)
		}
		owned, err := s.Leases().Owned(ctx, "r2")
		noErr(t, "owned", err)
		if len(owned) != 1 || owned[0].Epoch != 3 {
			t.Fatalf("owned %+v", owned)
		}
		if n, err := s.Leases().ExpireAll(ctx, "r2", at(ttl+18*time.Second)); err != nil || n != 1 {
			t.Fatalf("expire all: %d, %v", n, err)
		}
		cur, err := s.Leases().Get(ctx, sess.ID)
		noErr(t, "get lease", err)
		if cur.Held(at(ttl + 18*time.Second)) {
			t.Fatalf("handed-over lease still held: %+v", cur)
		}
		orph, err = s.Leases().Orphaned(ctx, at(ttl+18*time.Second), 10)
		noErr(t, "orphaned after hand-over", err)
		if len(orph) != 1 {
			t.Fatalf("a handed-over lease is not up for takeover at once: %+v", orph)
		}
	})
}

// On Postgres a takeover waits for a write that passed the fence to
// commit, so the stale owner's write cannot land after the new owner took
// the lease.
func TestSessionLeaseTakeoverWaitsForFencedWrite(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.Postgres {
			return // SQLite: one writer at a time; the transaction holds the write lock
		}
		ctx := context.Background()
		u := mkUser(t, s, "race@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		_, err := s.Leases().Acquire(ctx, sess.ID, "r1", base, time.Second)
		noErr(t, "acquire", err)

		inFence := make(chan struct{})
		commit := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- s.InTx(ctx, func(tx *store.Store) error {
				if err := tx.Fence(ctx, sess.ID, "r1", 1); err != nil {
					return err
				}
				close(inFence)
				<-commit
				cur, err := tx.Sessions().Get(ctx, sess.ID)
				if err != nil {
					return err
				}
				cur.Title = "r1 before takeover"
				return tx.Sessions().Update(ctx, cur, "title")
			})
		}()
		<-inFence
		took := make(chan error, 1)
		go func() {
			_, err := s.Leases().Acquire(ctx, sess.ID, "r2", at(time.Hour), time.Minute)
			took <- err
		}()
		select {
		case err := <-took:
			t.Fatalf("takeover did not wait for the fenced write (err %v)", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(commit)
		noErr(t, "fenced write", <-done)
		noErr(t, "takeover", <-took)
		l, err := s.Leases().Get(ctx, sess.ID)
		noErr(t, "get", err)
		if l.Owner != "r2" || l.Epoch != 2 {
			t.Fatalf("lease after takeover %+v", l)
		}
	})
}
