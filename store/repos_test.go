package store_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestInvites(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admin := mkUser(t, s, "admin@example.com", store.RoleAdmin, at(0))
		joiner := mkUser(t, s, "joiner@example.com", store.RoleMember, at(1))
		now := at(time.Hour)
		later := now.Add(24 * time.Hour)

		inv := mkInvite(t, s, "CODE-1", "new@example.com", admin.ID, at(time.Second), later)
		got, err := s.Invites().GetByCode(ctx, "CODE-1")
		noErr(t, "get by code", err)
		if got.ID != inv.ID || got.Email != "new@example.com" || got.InvitedBy != admin.ID || got.Role != store.RoleMember || !got.AcceptedAt.IsZero() || got.AcceptedBy != "" {
			t.Errorf("invite read back as %+v", got)
		}
		sameTime(t, "expires_at", got.ExpiresAt, later)
		_, err = s.Invites().GetByCode(ctx, "code-1")
		wantErr(t, "code in another case", err, store.ErrNotFound)
		_, err = s.Invites().GetByCode(ctx, "nope")
		wantErr(t, "unknown code", err, store.ErrNotFound)
		dup := &store.Invite{ID: uuid.NewString(), Code: "CODE-1", Role: store.RoleMember, ExpiresAt: later, CreatedAt: now}
		wantErr(t, "duplicate code", s.Invites().Create(ctx, dup), store.ErrConflict)

		// An invite is accepted once.
		noErr(t, "accept", s.Invites().MarkAccepted(ctx, inv.ID, joiner.ID, now))
		wantErr(t, "accept again", s.Invites().MarkAccepted(ctx, inv.ID, admin.ID, now.Add(time.Second)), store.ErrNotFound)
		got, err = s.Invites().GetByCode(ctx, "CODE-1")
		noErr(t, "get accepted", err)
		if got.AcceptedBy != joiner.ID {
			t.Errorf("accepted_by = %q, want the first acceptor %q", got.AcceptedBy, joiner.ID)
		}
		sameTime(t, "accepted_at", got.AcceptedAt, now)

		// An expired invite cannot be accepted, and stays unaccepted.
		old := mkInvite(t, s, "OLD", "old@example.com", admin.ID, at(0), now.Add(-time.Minute))
		wantErr(t, "accept expired", s.Invites().MarkAccepted(ctx, old.ID, joiner.ID, now), store.ErrNotFound)
		edge := mkInvite(t, s, "EDGE", "", admin.ID, at(0), now)
		wantErr(t, "accept at the expiry instant", s.Invites().MarkAccepted(ctx, edge.ID, joiner.ID, now), store.ErrNotFound)
		got, err = s.Invites().GetByCode(ctx, "OLD")
		noErr(t, "get expired", err)
		if !got.AcceptedAt.IsZero() || got.AcceptedBy != "" {
			t.Errorf("refused accept changed the invite: %+v", got)
		}
		wantErr(t, "accept a missing invite", s.Invites().MarkAccepted(ctx, uuid.NewString(), joiner.ID, now), store.ErrNotFound)

		// Delete.
		noErr(t, "delete", s.Invites().Delete(ctx, old.ID))
		_, err = s.Invites().GetByCode(ctx, "OLD")
		wantErr(t, "get deleted", err, store.ErrNotFound)
		wantErr(t, "delete again", s.Invites().Delete(ctx, old.ID), store.ErrNotFound)
		wantErr(t, "delete missing", s.Invites().Delete(ctx, uuid.NewString()), store.ErrNotFound)

		list, err := s.Invites().List(ctx)
		noErr(t, "list", err)
		if len(list) != 2 || list[0].ID != inv.ID || list[1].ID != edge.ID {
			t.Errorf("List = %+v, want CODE-1 then EDGE (newest first)", list)
		}
	})
}

func TestInvitesFindOpenForEmail(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admin := mkUser(t, s, "admin@example.com", store.RoleAdmin, at(0))
		now := at(time.Hour)
		later := now.Add(time.Hour)
		const email = "bob@example.com"

		_, err := s.Invites().FindOpenForEmail(ctx, email, now)
		wantErr(t, "no invites", err, store.ErrNotFound)

		mkInvite(t, s, "older", email, admin.ID, at(1*time.Second), later)
		newest := mkInvite(t, s, "newest", email, admin.ID, at(3*time.Second), later)
		mkInvite(t, s, "middle", email, admin.ID, at(2*time.Second), later)
		mkInvite(t, s, "expired", email, admin.ID, at(4*time.Second), now.Add(-time.Second))
		mkInvite(t, s, "elsewhere", "carol@example.com", admin.ID, at(5*time.Second), later)
		mkInvite(t, s, "open", "", admin.ID, at(6*time.Second), later)

		got, err := s.Invites().FindOpenForEmail(ctx, email, now)
		noErr(t, "find", err)
		if got.ID != newest.ID {
			t.Errorf("found invite %q, want the newest open one %q", got.Code, newest.Code)
		}
		noErr(t, "accept newest", s.Invites().MarkAccepted(ctx, newest.ID, admin.ID, now))
		got, err = s.Invites().FindOpenForEmail(ctx, email, now)
		noErr(t, "find after accepting newest", err)
		if got.Code != "middle" {
			t.Errorf("found %q after accepting the newest, want middle", got.Code)
		}
		// Past the expiry of all of them, nothing is open.
		_, err = s.Invites().FindOpenForEmail(ctx, email, later)
		wantErr(t, "all expired", err, store.ErrNotFound)
		_, err = s.Invites().FindOpenForEmail(ctx, "dave@example.com", now)
		wantErr(t, "other email", err, store.ErrNotFound)
	})
}

func TestMeta(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Meta().Get(ctx, "missing")
		wantErr(t, "get missing", err, store.ErrNotFound)

		noErr(t, "set", s.Meta().Set(ctx, "k", "v1"))
		noErr(t, "overwrite", s.Meta().Set(ctx, "k", "v2"))
		v, err := s.Meta().Get(ctx, "k")
		noErr(t, "get", err)
		if v != "v2" {
			t.Errorf("Get after overwrite = %q, want v2", v)
		}
		noErr(t, "set empty", s.Meta().Set(ctx, "empty", ""))
		v, err = s.Meta().Get(ctx, "empty")
		if err != nil || v != "" {
			t.Errorf("empty value read back as %q, %v", v, err)
		}

		wrote, err := s.Meta().SetIfAbsent(ctx, "once", "first")
		noErr(t, "set if absent", err)
		if !wrote {
			t.Error("SetIfAbsent on a new key reported no write")
		}
		wrote, err = s.Meta().SetIfAbsent(ctx, "once", "second")
		noErr(t, "set if absent again", err)
		if wrote {
			t.Error("SetIfAbsent on an existing key reported a write")
		}
		wrote, err = s.Meta().SetIfAbsent(ctx, "k", "v3")
		noErr(t, "set if absent on a Set key", err)
		if wrote {
			t.Error("SetIfAbsent on a key written by Set reported a write")
		}
		for key, want := range map[string]string{"once": "first", "k": "v2"} {
			v, err := s.Meta().Get(ctx, key)
			noErr(t, "get "+key, err)
			if v != want {
				t.Errorf("%s = %q, want %q", key, v, want)
			}
		}
		if n := countRows(t, s, "instance_meta", ""); n != 3 {
			t.Errorf("instance_meta has %d rows, want 3", n)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		lf := s.LoginFailures()
		const a, b = "a@example.com", "b@example.com"

		n, oldest, err := lf.Since(ctx, a, "", at(0))
		noErr(t, "since with none", err)
		if n != 0 || !oldest.IsZero() {
			t.Errorf("Since with no failures = %d, %v", n, oldest)
		}

		// Recorded out of order.
		for _, d := range []time.Duration{5 * time.Minute, time.Minute, 3 * time.Minute, 10 * time.Minute} {
			noErr(t, "record", lf.Record(ctx, a, "", at(d)))
		}
		noErr(t, "record b", lf.Record(ctx, b, "", at(2*time.Minute)))

		n, oldest, err = lf.Since(ctx, a, "", at(0))
		noErr(t, "since", err)
		if n != 4 {
			t.Errorf("Since(0) = %d failures, want 4", n)
		}
		sameTime(t, "oldest since 0", oldest, at(time.Minute))

		// Strictly after since.
		n, oldest, err = lf.Since(ctx, a, "", at(3*time.Minute))
		noErr(t, "since 3m", err)
		if n != 2 {
			t.Errorf("Since(3m) = %d failures, want 2 (5m, 10m)", n)
		}
		sameTime(t, "oldest since 3m", oldest, at(5*time.Minute))

		// Clear forgets only that email.
		noErr(t, "clear", lf.Clear(ctx, a, ""))
		n, _, err = lf.Since(ctx, a, "", at(0))
		noErr(t, "since after clear", err)
		if n != 0 {
			t.Errorf("after Clear: %d failures", n)
		}
		n, _, err = lf.Since(ctx, b, "", at(0))
		noErr(t, "since b after clear a", err)
		if n != 1 {
			t.Errorf("other email after Clear: %d failures, want 1", n)
		}

		// Counts are per client address; Clear forgets one address,
		// ClearEmail every address of the email.
		noErr(t, "record from x", lf.Record(ctx, b, "192.0.2.1", at(3*time.Minute)))
		noErr(t, "record from y", lf.Record(ctx, b, "192.0.2.2", at(3*time.Minute)))
		if n, _, _ := lf.Since(ctx, b, "192.0.2.1", at(0)); n != 1 {
			t.Errorf("b from x: %d failures, want 1", n)
		}
		noErr(t, "clear x", lf.Clear(ctx, b, "192.0.2.1"))
		if n, _, _ := lf.Since(ctx, b, "192.0.2.2", at(0)); n != 1 {
			t.Errorf("clearing x forgot y: %d failures", n)
		}
		cleared, err := lf.ClearEmail(ctx, b)
		noErr(t, "clear email", err)
		if cleared != 2 { // "" and y
			t.Errorf("ClearEmail cleared %d, want 2", cleared)
		}
		noErr(t, "record b again", lf.Record(ctx, b, "", at(2*time.Minute)))

		// DeleteBefore removes failures at or before the cutoff, of every email.
		for _, d := range []time.Duration{time.Minute, 4 * time.Minute, 6 * time.Minute} {
			noErr(t, "record", lf.Record(ctx, a, "", at(d)))
		}
		removed, err := lf.DeleteBefore(ctx, at(4*time.Minute))
		noErr(t, "delete before", err)
		if removed != 3 { // a@1m, a@4m, b@2m
			t.Errorf("DeleteBefore removed %d, want 3", removed)
		}
		n, oldest, err = lf.Since(ctx, a, "", at(0))
		noErr(t, "since after delete", err)
		if n != 1 {
			t.Errorf("after DeleteBefore: %d failures of a, want 1", n)
		}
		sameTime(t, "oldest after delete", oldest, at(6*time.Minute))
		n, _, err = lf.Since(ctx, b, "", at(0))
		noErr(t, "since b after delete", err)
		if n != 0 {
			t.Errorf("after DeleteBefore: %d failures of b, want 0", n)
		}
	})
}

// TestRacesHaveOneWinner: operations that must happen once (accepting an
// invite, revoking a key, claiming a setting, taking an email) have
// exactly one winner when many requests race, from two handles (two
// servers) on one database; the losers get the store's error.
func TestRacesHaveOneWinner(t *testing.T) {
	const racers = 8
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			url := storetest.URL(t, d)
			a := openRaw(t, url)
			_, err := a.Migrate(ctx)
			noErr(t, "migrate", err)
			b := openRaw(t, url)
			handles := []*store.Store{a, b}

			admin := mkUser(t, a, "admin@example.com", store.RoleAdmin, at(0))
			now := at(time.Hour)
			inv := mkInvite(t, a, "RACE", "", admin.ID, at(0), now.Add(time.Hour))
			key := mkToken(t, a, admin.ID, "race-key", at(0), time.Time{})

			race := func(what string, op func(s *store.Store, i int) error, loserErr error) {
				t.Helper()
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, racers)
				for i := range racers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = op(handles[i%2], i)
					}()
				}
				close(start)
				wg.Wait()
				wins := 0
				for _, err := range errs {
					switch {
					case err == nil:
						wins++
					case !errors.Is(err, loserErr):
						t.Errorf("%s: a racer failed with %v, want %v", what, err, loserErr)
					}
				}
				if wins != 1 {
					t.Errorf("%s: %d winners among %d racers, want 1", what, wins, racers)
				}
			}

			race("accept invite", func(s *store.Store, i int) error {
				return s.Invites().MarkAccepted(ctx, inv.ID, admin.ID, now.Add(time.Duration(i)*time.Microsecond))
			}, store.ErrNotFound)
			race("revoke key", func(s *store.Store, i int) error {
				return s.APITokens().Revoke(ctx, admin.ID, key.ID, now)
			}, store.ErrNotFound)
			race("claim setting", func(s *store.Store, i int) error {
				wrote, err := s.Meta().SetIfAbsent(ctx, "claim", strconv.Itoa(i))
				if err == nil && !wrote {
					return store.ErrConflict
				}
				return err
			}, store.ErrConflict)
			race("take email", func(s *store.Store, i int) error {
				u := &store.User{ID: uuid.NewString(), Email: "same@example.com", Role: store.RoleMember, UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
				return s.Users().Create(ctx, u)
			}, store.ErrConflict)

			if n := countRows(t, a, "users", "email = ?", "same@example.com"); n != 1 {
				t.Errorf("%d users with the raced email", n)
			}
		})
	}
}
