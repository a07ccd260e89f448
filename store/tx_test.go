package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

var errAbort = errors.New("abort on purpose")

// txFixture is committed state that the transactions below try to change.
type txFixture struct {
	user   *store.User
	invite *store.Invite
}

func newTxFixture(t *testing.T, s *store.Store) txFixture {
	t.Helper()
	u := mkUser(t, s, "existing@example.com", store.RoleMember, at(0))
	noErr(t, "meta", s.Meta().Set(context.Background(), "k", "before"))
	return txFixture{user: u, invite: mkInvite(t, s, "INV", "x@example.com", u.ID, at(0), at(time.Hour))}
}

// writeEverything changes the fixture through tx and checks that tx reads
// its own writes. It returns the id of the user it created.
func writeEverything(t *testing.T, ctx context.Context, tx *store.Store, f txFixture) string {
	t.Helper()
	nu := &store.User{ID: uuid.NewString(), Email: "new@example.com", Role: store.RoleAdmin, UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: at(time.Second), UpdatedAt: at(time.Second)}
	noErr(t, "tx create user", tx.Users().Create(ctx, nu))
	mkSession(t, tx, nu.ID, "tx-session", at(time.Hour))
	mkToken(t, tx, nu.ID, "tx-key", at(0), time.Time{})
	noErr(t, "tx meta", tx.Meta().Set(ctx, "k", "during"))
	noErr(t, "tx login failure", tx.LoginFailures().Record(ctx, "x@example.com", "", at(0)))
	mod := *f.user
	mod.Name = "renamed"
	mod.UpdatedAt = at(time.Minute)
	noErr(t, "tx update", tx.Users().Update(ctx, &mod, "name"))
	noErr(t, "tx delete invite", tx.Invites().Delete(ctx, f.invite.ID))

	// Reads through tx see its writes.
	if _, err := tx.Users().Get(ctx, nu.ID); err != nil {
		t.Errorf("tx does not read its own insert: %v", err)
	}
	if v, _ := tx.Meta().Get(ctx, "k"); v != "during" {
		t.Errorf("tx reads meta %q, want its own write", v)
	}
	if n, _ := tx.Users().Count(ctx); n != 2 {
		t.Errorf("tx counts %d users, want 2", n)
	}
	if _, err := tx.Invites().GetByCode(ctx, "INV"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tx still reads the invite it deleted: %v", err)
	}
	return nu.ID
}

// checkUnchanged asserts that none of writeEverything's writes is visible.
func checkUnchanged(t *testing.T, ctx context.Context, s *store.Store, f txFixture, newID string) {
	t.Helper()
	if _, err := s.Users().Get(ctx, newID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user created in the transaction: %v, want ErrNotFound", err)
	}
	if n, _ := s.Users().Count(ctx); n != 1 {
		t.Errorf("%d users, want 1", n)
	}
	for _, table := range []string{"auth_sessions", "api_tokens", "login_failures"} {
		if n := countRows(t, s, table, ""); n != 0 {
			t.Errorf("%s has %d rows written in the transaction", table, n)
		}
	}
	if v, _ := s.Meta().Get(ctx, "k"); v != "before" {
		t.Errorf("meta k = %q, want before", v)
	}
	u, err := s.Users().Get(ctx, f.user.ID)
	noErr(t, "get existing user", err)
	if u.Name != "" {
		t.Errorf("existing user's name = %q, want unchanged", u.Name)
	}
	if _, err := s.Invites().GetByCode(ctx, "INV"); err != nil {
		t.Errorf("invite deleted in the transaction: %v", err)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := newTxFixture(t, s)
		var newID string
		err := s.InTx(ctx, func(tx *store.Store) error {
			newID = writeEverything(t, ctx, tx, f)
			// Not visible outside before commit.
			if _, err := s.Users().Get(ctx, newID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("uncommitted user visible outside the transaction: %v", err)
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InTx returned %v, want the function's error", err)
		}
		checkUnchanged(t, ctx, s, f, newID)

		// The store still works after a rollback, and a nil return commits.
		err = s.InTx(ctx, func(tx *store.Store) error {
			newID = writeEverything(t, ctx, tx, f)
			return nil
		})
		noErr(t, "committed transaction", err)
		if _, err := s.Users().Get(ctx, newID); err != nil {
			t.Errorf("user of a committed transaction: %v", err)
		}
		if v, _ := s.Meta().Get(ctx, "k"); v != "during" {
			t.Errorf("meta after commit = %q, want during", v)
		}
		if n := countRows(t, s, "invites", ""); n != 0 {
			t.Errorf("invite deleted in a committed transaction is still there")
		}
	})
}

func TestInTxRollsBackOnPanic(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := newTxFixture(t, s)
		var newID string
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Error("InTx swallowed the panic")
				}
			}()
			_ = s.InTx(ctx, func(tx *store.Store) error {
				newID = writeEverything(t, ctx, tx, f)
				panic("boom")
			})
		}()
		checkUnchanged(t, ctx, s, f, newID)
		// The writer is usable afterwards (on SQLite, its only connection
		// was not leaked inside an open transaction).
		noErr(t, "write after panic", s.Meta().Set(ctx, "after", "panic"))
	})
}

func TestInTxNestedReusesTransaction(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		// A nested InTx that opened a second transaction would deadlock on
		// SQLite's single writer connection: bound the wait.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := newTxFixture(t, s)

		// The inner function succeeds, the outer fails: the inner writes
		// belong to the outer transaction and are rolled back with it.
		var newID string
		err := s.InTx(ctx, func(tx *store.Store) error {
			err := tx.InTx(ctx, func(inner *store.Store) error {
				newID = writeEverything(t, ctx, inner, f)
				return nil
			})
			noErr(t, "inner InTx", err)
			// The outer transaction sees the inner writes.
			if _, err := tx.Users().Get(ctx, newID); err != nil {
				t.Errorf("outer transaction does not see the inner insert: %v", err)
			}
			// Nothing is committed yet.
			if _, err := s.Users().Get(ctx, newID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("inner writes visible outside before the outer commit: %v", err)
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("outer InTx returned %v, want its function's error", err)
		}
		checkUnchanged(t, ctx, s, f, newID)

		// An inner error returned through the outer aborts everything.
		err = s.InTx(ctx, func(tx *store.Store) error {
			noErr(t, "outer write", tx.Meta().Set(ctx, "outer", "x"))
			return tx.InTx(ctx, func(inner *store.Store) error {
				noErr(t, "inner write", inner.Meta().Set(ctx, "inner", "y"))
				return errAbort
			})
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InTx returned %v, want the inner error", err)
		}
		for _, k := range []string{"outer", "inner"} {
			if _, err := s.Meta().Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("meta %s after rollback: %v, want ErrNotFound", k, err)
			}
		}

		// Both levels commit together.
		err = s.InTx(ctx, func(tx *store.Store) error {
			if err := tx.Meta().Set(ctx, "outer", "x"); err != nil {
				return err
			}
			return tx.InTx(ctx, func(inner *store.Store) error {
				return inner.Meta().Set(ctx, "inner", "y")
			})
		})
		noErr(t, "nested commit", err)
		for k, want := range map[string]string{"outer": "x", "inner": "y"} {
			if v, err := s.Meta().Get(ctx, k); err != nil || v != want {
				t.Errorf("meta %s = %q, %v; want %q", k, v, err, want)
			}
		}
	})
}
