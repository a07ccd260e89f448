package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func appendEvent(t *testing.T, s *store.Store, userID, typ string, created time.Time) (*store.UserEvent, string) {
	t.Helper()
	e := &store.UserEvent{UserID: userID, Type: typ, Data: json.RawMessage(`{"k":"` + typ + `"}`), CreatedAt: created}
	epoch, err := s.UserEvents().Append(context.Background(), e, "ep-"+userID[:4])
	noErr(t, "append "+typ, err)
	return e, epoch
}

func seqs(es []store.UserEvent) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestUserEventsSequencePerUser(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		b := mkUser(t, s, "b@example.com", store.RoleMember, at(0))

		// A stream exists before any event, with the epoch it was created with.
		st, err := s.UserEvents().Stream(ctx, a.ID, "first", at(0))
		noErr(t, "stream", err)
		if st.Epoch != "first" || st.LastSeq != 0 {
			t.Fatalf("new stream %+v", st)
		}
		e1, epoch := appendEvent(t, s, a.ID, "one", at(time.Second))
		if e1.Seq != 1 || epoch != "first" {
			t.Fatalf("first event: seq %d epoch %q; want 1, the stream's epoch", e1.Seq, epoch)
		}
		appendEvent(t, s, a.ID, "two", at(2*time.Second))
		eb, epochB := appendEvent(t, s, b.ID, "b-one", at(2*time.Second))
		if eb.Seq != 1 || epochB != "ep-"+b.ID[:4] {
			t.Fatalf("other user's first event: seq %d epoch %q", eb.Seq, epochB)
		}
		// The epoch is fixed once the stream exists.
		st, err = s.UserEvents().Stream(ctx, a.ID, "ignored", at(0))
		noErr(t, "stream again", err)
		if st.Epoch != "first" || st.LastSeq != 2 {
			t.Fatalf("stream after two events %+v", st)
		}

		got, err := s.UserEvents().After(ctx, a.ID, 0, 10)
		noErr(t, "after 0", err)
		if fmt.Sprint(seqs(got)) != "[1 2]" || got[1].Type != "two" || string(got[1].Data) != `{"k": "two"}` && string(got[1].Data) != `{"k":"two"}` {
			t.Fatalf("events %+v", got)
		}
		sameTime(t, "created_at", got[0].CreatedAt, at(time.Second))
		got, err = s.UserEvents().After(ctx, a.ID, 1, 10)
		noErr(t, "after 1", err)
		if fmt.Sprint(seqs(got)) != "[2]" {
			t.Fatalf("after 1: %v", seqs(got))
		}
		got, err = s.UserEvents().After(ctx, a.ID, 0, 1)
		noErr(t, "limit", err)
		if fmt.Sprint(seqs(got)) != "[1]" {
			t.Fatalf("limit 1: %v", seqs(got))
		}
		// An event needs its user.
		orphan := &store.UserEvent{UserID: "00000000-0000-0000-0000-000000000000", Type: "x", CreatedAt: at(0)}
		_, err = s.UserEvents().Append(ctx, orphan, "e")
		wantErr(t, "event of a missing user", err, store.ErrReferenced)
	})
}

// Concurrent appends to one stream get distinct, gapless sequence numbers.
func TestUserEventsConcurrentAppends(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		const writers, each = 8, 20
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := &store.UserEvent{UserID: u.ID, Type: fmt.Sprintf("w%d.%d", w, i), CreatedAt: store.Now()}
					if _, err := s.UserEvents().Append(ctx, e, "e"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, err := s.UserEvents().After(ctx, u.ID, 0, 1000)
		noErr(t, "list", err)
		if len(got) != writers*each {
			t.Fatalf("%d events, want %d", len(got), writers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
	})
}

func TestUserEventsPruning(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		b := mkUser(t, s, "b@example.com", store.RoleMember, at(0))
		oldest, err := s.UserEvents().OldestSeq(ctx, a.ID)
		noErr(t, "oldest of none", err)
		if oldest != 0 {
			t.Fatalf("oldest of no events = %d", oldest)
		}
		for i := range 10 {
			appendEvent(t, s, a.ID, fmt.Sprint("a", i), at(time.Duration(i)*time.Hour))
		}
		// A clock that went back: seq 11 carries an earlier time than seq 10.
		appendEvent(t, s, a.ID, "a10", at(8*time.Hour+30*time.Minute))
		appendEvent(t, s, b.ID, "b0", at(0))

		n, err := s.UserEvents().TrimUser(ctx, a.ID, 11, 8)
		noErr(t, "trim", err)
		if n != 3 {
			t.Fatalf("trim to 8 of 11 deleted %d", n)
		}
		oldest, err = s.UserEvents().OldestSeq(ctx, a.ID)
		noErr(t, "oldest", err)
		if oldest != 4 {
			t.Fatalf("oldest after trim = %d, want 4", oldest)
		}

		// Everything up to the newest event older than 9h goes: seq 11
		// (8h30) pulls seq 10 (9h) with it, which keeps the rest gapless.
		n, err = s.UserEvents().DeleteBefore(ctx, at(9*time.Hour))
		noErr(t, "delete before", err)
		left, err := s.UserEvents().After(ctx, a.ID, 0, 100)
		noErr(t, "list", err)
		if n != 8+1 || len(left) != 0 {
			t.Fatalf("deleted %d, left %v; want 9 deleted (8 of a, b's), none of a left", n, seqs(left))
		}
		// The stream keeps counting.
		e, _ := appendEvent(t, s, a.ID, "a11", at(10*time.Hour))
		if e.Seq != 12 {
			t.Fatalf("next seq after pruning = %d, want 12", e.Seq)
		}
	})
}

func TestEventTicketsClaim(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		sess := mkSession(t, s, u.ID, "login", at(24*time.Hour))
		now := at(time.Minute)
		tk := &store.EventTicket{TokenHash: "h1", UserID: u.ID, AuthSessionID: sess.ID, ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now}
		noErr(t, "create", s.EventTickets().Create(ctx, tk))

		// A fresh ticket opens a stream, with or without resuming.
		got, err := s.EventTickets().Claim(ctx, "h1", "stream-1", false, now, now.Add(time.Minute))
		noErr(t, "first claim", err)
		if got.UserID != u.ID || got.AuthSessionID != sess.ID || got.Holder != "stream-1" {
			t.Fatalf("claimed %+v", got)
		}
		sameTime(t, "used_at", got.UsedAt, now)
		// Used: never again without resuming; not while stream-1 holds it.
		_, err = s.EventTickets().Claim(ctx, "h1", "stream-2", false, now.Add(time.Second), now.Add(time.Minute))
		wantErr(t, "reuse", err, store.ErrTicketInUse)
		_, err = s.EventTickets().Claim(ctx, "h1", "stream-2", true, now.Add(time.Second), now.Add(time.Minute))
		wantErr(t, "resume while held", err, store.ErrTicketInUse)
		// stream-1 keeps it alive, then lets go: a resume may take it.
		noErr(t, "refresh", s.EventTickets().Refresh(ctx, "h1", "stream-1", now.Add(2*time.Minute)))
		noErr(t, "release", s.EventTickets().Release(ctx, "h1", "stream-1"))
		got, err = s.EventTickets().Claim(ctx, "h1", "stream-2", true, now.Add(2*time.Second), now.Add(time.Minute))
		noErr(t, "resume after release", err)
		sameTime(t, "used_at stays the first use", got.UsedAt, now)
		wantErr(t, "refresh by the old holder", s.EventTickets().Refresh(ctx, "h1", "stream-1", now.Add(time.Hour)), store.ErrNotFound)
		// A holder that vanished without releasing loses it when its hold ends.
		_, err = s.EventTickets().Claim(ctx, "h1", "stream-3", true, now.Add(59*time.Second), now.Add(2*time.Minute))
		wantErr(t, "resume before the hold ends", err, store.ErrTicketInUse)
		_, err = s.EventTickets().Claim(ctx, "h1", "stream-3", true, now.Add(61*time.Second), now.Add(2*time.Minute))
		noErr(t, "resume after the hold ended", err)
		// Expired: unknown, whatever else.
		_, err = s.EventTickets().Claim(ctx, "h1", "stream-4", true, now.Add(5*time.Minute), now.Add(6*time.Minute))
		wantErr(t, "expired", err, store.ErrNotFound)
		_, err = s.EventTickets().Claim(ctx, "nope", "stream-4", false, now, now.Add(time.Minute))
		wantErr(t, "unknown", err, store.ErrNotFound)

		n, err := s.EventTickets().DeleteExpired(ctx, now.Add(5*time.Minute))
		noErr(t, "delete expired", err)
		if n != 1 {
			t.Fatalf("deleted %d expired tickets", n)
		}
		// Ending the login ends its tickets.
		noErr(t, "create 2", s.EventTickets().Create(ctx, &store.EventTicket{TokenHash: "h2", UserID: u.ID, AuthSessionID: sess.ID, ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now}))
		noErr(t, "logout", s.AuthSessions().DeleteByHash(ctx, "login"))
		if c := countRows(t, s, "event_tickets", "token_hash = ?", "h2"); c != 0 {
			t.Fatalf("ticket of a deleted login survives")
		}
	})
}

func TestCredentialsByID(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		now := at(time.Hour)
		live := mkSession(t, s, u.ID, "live", now.Add(time.Minute))
		old := mkSession(t, s, u.ID, "old", now)
		got, err := s.AuthSessions().GetValidByID(ctx, live.ID, now)
		noErr(t, "live login", err)
		if got.User == nil || got.User.ID != u.ID {
			t.Fatalf("login without its user: %+v", got)
		}
		_, err = s.AuthSessions().GetValidByID(ctx, old.ID, now)
		wantErr(t, "expired login", err, store.ErrNotFound)

		key := mkToken(t, s, u.ID, "key", at(0), time.Time{})
		k, err := s.APITokens().GetValidByID(ctx, key.ID, now)
		noErr(t, "key", err)
		if k.User == nil || k.User.ID != u.ID {
			t.Fatalf("key without its user: %+v", k)
		}
		noErr(t, "revoke", s.APITokens().Revoke(ctx, u.ID, key.ID, now))
		_, err = s.APITokens().GetValidByID(ctx, key.ID, now)
		wantErr(t, "revoked key", err, store.ErrNotFound)
	})
}
