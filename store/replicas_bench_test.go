package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// BenchmarkLeaseHeartbeat is one replica heartbeat with 1000 live
// sessions on Postgres: the replica's row, the renewal of its 1000 leases
// (one statement) and the list of what it owns, as app/session does every
// quarter of the lease time. (docs/benchmarks.md, "Several replicas")
func BenchmarkLeaseHeartbeat(b *testing.B) {
	const sessions = 1000
	ctx := context.Background()
	s := storetest.Open(b, store.Postgres)
	now := time.Now().UTC()
	u := &store.User{ID: uuid.NewString(), Email: "bench@example.com", Role: store.RoleMember, IdleTimeoutSeconds: 900,
		UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	if err := s.Users().Create(ctx, u); err != nil {
		b.Fatal(err)
	}
	if err := s.Replicas().Register(ctx, &store.Replica{ID: "r1", AdvertiseURL: "http://r1", Release: "0022", StartedAt: now, HeartbeatAt: now}); err != nil {
		b.Fatal(err)
	}
	for range sessions {
		sess := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "w", Status: "running", Purpose: "interactive",
			Agent: "script", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
		if err := s.Sessions().Create(ctx, sess); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Leases().Acquire(ctx, sess.ID, "r1", now, 20*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		now := time.Now().UTC()
		if err := s.Replicas().Heartbeat(ctx, "r1", now); err != nil {
			b.Fatal(err)
		}
		n, err := s.Leases().Renew(ctx, "r1", now, 20*time.Second)
		if err != nil || n != sessions {
			b.Fatalf("renewed %d, %v", n, err)
		}
		owned, err := s.Leases().Owned(ctx, "r1")
		if err != nil || len(owned) != sessions {
			b.Fatalf("owned %d, %v", len(owned), err)
		}
	}
}

// BenchmarkFencedCommit is the cost the fence adds to an actor's write: a
// transaction with the fence and one session update, against the same
// transaction without the fence.
func BenchmarkFencedCommit(b *testing.B) {
	ctx := context.Background()
	s := storetest.Open(b, store.Postgres)
	now := time.Now().UTC()
	u := &store.User{ID: uuid.NewString(), Email: "bench@example.com", Role: store.RoleMember, IdleTimeoutSeconds: 900,
		UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	if err := s.Users().Create(ctx, u); err != nil {
		b.Fatal(err)
	}
	sess := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "w", Status: "running", Purpose: "interactive",
		Agent: "script", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
	if err := s.Sessions().Create(ctx, sess); err != nil {
		b.Fatal(err)
	}
	l, err := s.Leases().Acquire(ctx, sess.ID, "r1", now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, fenced := range []bool{false, true} {
		name := "unfenced"
		if fenced {
			name = "fenced"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				err := s.InTx(ctx, func(tx *store.Store) error {
					if fenced {
						if err := tx.Fence(ctx, sess.ID, "r1", l.Epoch); err != nil {
							return err
						}
					}
					sess.Title = time.Now().String()
					return tx.Sessions().Update(ctx, sess, "title")
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
