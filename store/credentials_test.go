package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func mkCredential(owner, userID, provider, sealed, keyID string, at time.Time) *store.Credential {
	return &store.Credential{ID: uuid.NewString(), Owner: owner, UserID: userID, Provider: provider, CredentialType: "api_key",
		Sealed: sealed, KeyID: keyID, CreatedAt: at, UpdatedAt: at}
}

func TestCredentialsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := s.Credentials()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		v := mkUser(t, s, "b@example.com", store.RoleMember, base)

		first := mkCredential(store.UserOwner(u.ID), u.ID, "openai", "v1:k0:AAA", "k0", base)
		first.BaseURL, first.Models = "https://llm.example/v1", []string{"m1", "m2"}
		noErr(t, "insert", r.Upsert(ctx, first))
		// A second PUT replaces the secret and settings but keeps the id
		// and the creation time.
		again := mkCredential(store.UserOwner(u.ID), u.ID, "openai", "v1:k1:BBB", "k1", at(time.Hour))
		noErr(t, "upsert", r.Upsert(ctx, again))
		if again.ID != first.ID || !again.CreatedAt.Equal(base) {
			t.Fatalf("upsert must keep id and created_at: got %s %s, want %s %s", again.ID, again.CreatedAt, first.ID, base)
		}
		got, err := r.Get(ctx, store.UserOwner(u.ID), "openai")
		noErr(t, "get", err)
		if got.Sealed != "v1:k1:BBB" || got.KeyID != "k1" || got.BaseURL != "" || got.Models != nil {
			t.Fatalf("after upsert: %+v", got)
		}
		sameTime(t, "updated_at", got.UpdatedAt, at(time.Hour))

		noErr(t, "insert anthropic", r.Upsert(ctx, mkCredential(store.UserOwner(u.ID), u.ID, "anthropic", "v1:k0:CCC", "k0", base)))
		noErr(t, "insert other user's", r.Upsert(ctx, mkCredential(store.UserOwner(v.ID), v.ID, "openai", "v1:k0:DDD", "k0", base)))
		org := mkCredential(store.OrgOwner, "", "openai", "v1:k0:EEE", "k0", base)
		org.SetBy = u.ID
		noErr(t, "insert org", r.Upsert(ctx, org))

		list, err := r.List(ctx, store.UserOwner(u.ID))
		noErr(t, "list", err)
		if len(list) != 2 || list[0].Provider != "anthropic" || list[1].Provider != "openai" {
			t.Fatalf("list = %+v", list)
		}
		both, err := r.ListOwners(ctx, store.UserOwner(u.ID), store.OrgOwner)
		noErr(t, "list owners", err)
		if len(both) != 3 {
			t.Fatalf("user + org = %d rows, want 3", len(both))
		}

		counts, err := r.CountByKey(ctx)
		noErr(t, "count by key", err)
		if counts["k0"] != 3 || counts["k1"] != 1 {
			t.Fatalf("counts = %v", counts)
		}
		todo, err := r.NotSealedBy(ctx, "k1", 10)
		noErr(t, "not sealed by", err)
		if len(todo) != 3 {
			t.Fatalf("not sealed by k1: %d, want 3", len(todo))
		}
		// A re-seal only replaces the value it read.
		ok, err := r.Reseal(ctx, todo[0].ID, "v1:k0:stale", "v1:k1:NEW", "k1")
		noErr(t, "stale reseal", err)
		if ok {
			t.Fatal("a re-seal over a changed value must not apply")
		}
		ok, err = r.Reseal(ctx, todo[0].ID, todo[0].Sealed, "v1:k1:NEW", "k1")
		noErr(t, "reseal", err)
		if !ok {
			t.Fatal("re-seal did not apply")
		}

		wantErr(t, "delete missing", r.Delete(ctx, store.UserOwner(u.ID), "google"), store.ErrNotFound)
		noErr(t, "delete", r.Delete(ctx, store.UserOwner(u.ID), "anthropic"))
		// Deleting a user takes their credentials, not the org's it set.
		noErr(t, "delete user", s.Users().Delete(ctx, u.ID))
		if n := countRows(t, s, "credentials", "owner = ?", store.UserOwner(u.ID)); n != 0 {
			t.Fatalf("%d credentials of a deleted user remain", n)
		}
		o, err := r.Get(ctx, store.OrgOwner, "openai")
		noErr(t, "org key survives", err)
		if o.SetBy != "" {
			t.Fatalf("set_by must be cleared, got %q", o.SetBy)
		}
	})
}
