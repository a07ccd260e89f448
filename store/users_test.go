package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// fullUser has every column set to a non-default value.
func fullUser(email string) *store.User {
	cpu, mem := 1.5, 2048
	return &store.User{
		ID:                  uuid.NewString(),
		Email:               email,
		Name:                "Ada Lovelace",
		AvatarURL:           "https://example.com/ada.png",
		PasswordHash:        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Role:                store.RoleAdmin,
		GitName:             "Ada",
		GitEmail:            "ada@git.example.com",
		OnboardingCompleted: true,
		IdleTimeoutSeconds:  600,
		SandboxCPUCores:     &cpu,
		SandboxMemoryMiB:    &mem,
		ModelPreferences:    []string{"claude-opus", "gpt-5"},
		UIQueueMode:         "steer",
		Timezone:            "Europe/Paris",
		IdentityProvider:    "github",
		CreatedAt:           at(time.Second + 123456*time.Microsecond),
		UpdatedAt:           at(2 * time.Second),
	}
}

// equalUsers compares two users field by field, times by instant.
func equalUsers(t *testing.T, what string, got, want *store.User) {
	t.Helper()
	sameTime(t, what+" created_at", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+" updated_at", got.UpdatedAt, want.UpdatedAt)
	g, w := *got, *want
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func TestUsersCreateAndGet(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		full := fullUser("ada@example.com")
		noErr(t, "create full user", s.Users().Create(ctx, full))
		minimal := mkUser(t, s, "min@example.com", store.RoleMember, at(0))

		got, err := s.Users().Get(ctx, full.ID)
		noErr(t, "get full user", err)
		equalUsers(t, "get full user", got, full)

		got, err = s.Users().GetByEmail(ctx, "ada@example.com")
		noErr(t, "get full user by email", err)
		equalUsers(t, "get full user by email", got, full)

		got, err = s.Users().Get(ctx, minimal.ID)
		noErr(t, "get minimal user", err)
		if got.SandboxCPUCores != nil || got.SandboxMemoryMiB != nil {
			t.Errorf("unset sandbox limits read back as %v, %v; want nil", got.SandboxCPUCores, got.SandboxMemoryMiB)
		}
		if len(got.ModelPreferences) != 0 || got.Name != "" || got.PasswordHash != "" || got.OnboardingCompleted {
			t.Errorf("unset columns read back set: %+v", got)
		}
		if got.Email != minimal.Email || got.Role != store.RoleMember {
			t.Errorf("minimal user read back as %+v", got)
		}
	})
}

func TestUsersConflictsAndMissing(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "taken@example.com", store.RoleMember, at(0))

		dup := fullUser("taken@example.com")
		wantErr(t, "create with a taken email", s.Users().Create(ctx, dup), store.ErrConflict)
		sameID := fullUser("other@example.com")
		sameID.ID = u.ID
		wantErr(t, "create with a taken id", s.Users().Create(ctx, sameID), store.ErrConflict)
		if n, err := s.Users().Count(ctx); err != nil || n != 1 {
			t.Fatalf("after refused creates: count = %d, %v; want 1", n, err)
		}

		_, err := s.Users().Get(ctx, uuid.NewString())
		wantErr(t, "get a missing id", err, store.ErrNotFound)
		_, err = s.Users().GetByEmail(ctx, "nobody@example.com")
		wantErr(t, "get a missing email", err, store.ErrNotFound)
		// Emails are matched exactly (callers normalize).
		_, err = s.Users().GetByEmail(ctx, "TAKEN@example.com")
		wantErr(t, "get by email in another case", err, store.ErrNotFound)

		ghost := &store.User{ID: uuid.NewString(), Name: "x", UpdatedAt: at(time.Hour)}
		wantErr(t, "update a missing user", s.Users().Update(ctx, ghost, "name"), store.ErrNotFound)
		wantErr(t, "delete a missing user", s.Users().Delete(ctx, uuid.NewString()), store.ErrNotFound)

		// Moving a user onto another's email is refused and changes nothing.
		v := mkUser(t, s, "second@example.com", store.RoleMember, at(time.Second))
		v.Email = "taken@example.com"
		wantErr(t, "update onto a taken email", s.Users().Update(ctx, v, "email"), store.ErrConflict)
		got, err := s.Users().Get(ctx, v.ID)
		noErr(t, "get after refused update", err)
		if got.Email != "second@example.com" {
			t.Errorf("refused update changed email to %q", got.Email)
		}
	})
}

func TestUsersUpdateOnlyNamedColumns(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		orig := fullUser("ada@example.com")
		noErr(t, "create", s.Users().Create(ctx, orig))

		mod := *orig
		cpu := 8.0
		mod.Name = "Countess of Lovelace"
		mod.OnboardingCompleted = false
		mod.ModelPreferences = []string{"o3"}
		// Changed in memory but not named: must stay as stored.
		mod.Email = "changed@example.com"
		mod.Role = store.RoleMember
		mod.GitName = "changed"
		mod.SandboxCPUCores = &cpu
		mod.CreatedAt = at(time.Hour)
		mod.UpdatedAt = at(time.Hour + 1500*time.Microsecond)
		noErr(t, "update", s.Users().Update(ctx, &mod, "name", "onboarding_completed", "model_preferences"))

		got, err := s.Users().Get(ctx, orig.ID)
		noErr(t, "get", err)
		want := *orig
		want.Name = "Countess of Lovelace"
		want.OnboardingCompleted = false
		want.ModelPreferences = []string{"o3"}
		want.UpdatedAt = mod.UpdatedAt // always written
		equalUsers(t, "after update", got, &want)

		// Clearing a nullable column through Update stores NULL.
		mod2 := want
		mod2.SandboxCPUCores = nil
		mod2.Name = ""
		noErr(t, "clear", s.Users().Update(ctx, &mod2, "sandbox_cpu_cores", "name"))
		got, err = s.Users().Get(ctx, orig.ID)
		noErr(t, "get after clear", err)
		if got.SandboxCPUCores != nil || got.Name != "" {
			t.Errorf("cleared columns read back as %v, %q", got.SandboxCPUCores, got.Name)
		}
		if got.SandboxMemoryMiB == nil || *got.SandboxMemoryMiB != 2048 {
			t.Errorf("unnamed sandbox_memory_mib changed to %v", got.SandboxMemoryMiB)
		}
	})
}

func TestUsersDeleteCascades(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		gone := mkUser(t, s, "gone@example.com", store.RoleAdmin, at(0))
		kept := mkUser(t, s, "kept@example.com", store.RoleMember, at(time.Second))
		future := at(24 * time.Hour)

		mkSession(t, s, gone.ID, "s-gone-1", future)
		mkSession(t, s, gone.ID, "s-gone-2", future)
		mkSession(t, s, kept.ID, "s-kept", future)
		mkToken(t, s, gone.ID, "k-gone-1", at(0), time.Time{})
		mkToken(t, s, gone.ID, "k-gone-2", at(time.Second), future)
		mkToken(t, s, kept.ID, "k-kept", at(0), time.Time{})
		byGone := mkInvite(t, s, "code-gone", "x@example.com", gone.ID, at(0), future)
		byKept := mkInvite(t, s, "code-kept", "y@example.com", kept.ID, at(0), future)
		acceptedByGone := mkInvite(t, s, "code-acc", "gone@example.com", kept.ID, at(0), future)
		noErr(t, "accept", s.Invites().MarkAccepted(ctx, acceptedByGone.ID, gone.ID, at(time.Minute)))

		noErr(t, "delete user", s.Users().Delete(ctx, gone.ID))

		_, err := s.Users().Get(ctx, gone.ID)
		wantErr(t, "get deleted user", err, store.ErrNotFound)
		if n := countRows(t, s, "auth_sessions", "user_id = ?", gone.ID); n != 0 {
			t.Errorf("%d login sessions of the deleted user survived", n)
		}
		if n := countRows(t, s, "api_tokens", "user_id = ?", gone.ID); n != 0 {
			t.Errorf("%d api keys of the deleted user survived", n)
		}
		for _, h := range []string{"s-gone-1", "s-gone-2"} {
			_, err := s.AuthSessions().GetValid(ctx, h, at(0))
			wantErr(t, "login with a session of the deleted user", err, store.ErrNotFound)
		}
		_, err = s.APITokens().GetValid(ctx, "k-gone-1", at(0))
		wantErr(t, "api key of the deleted user", err, store.ErrNotFound)

		// The other user's rows are untouched.
		if _, err := s.AuthSessions().GetValid(ctx, "s-kept", at(0)); err != nil {
			t.Errorf("other user's session: %v", err)
		}
		if _, err := s.APITokens().GetValid(ctx, "k-kept", at(0)); err != nil {
			t.Errorf("other user's api key: %v", err)
		}

		// Invites stay, with the reference to the deleted user cleared.
		inv, err := s.Invites().GetByCode(ctx, byGone.Code)
		noErr(t, "invite sent by deleted user", err)
		if inv.InvitedBy != "" {
			t.Errorf("invited_by = %q after its user was deleted, want NULL", inv.InvitedBy)
		}
		if n := countRows(t, s, "invites", "invited_by IS NULL"); n != 1 {
			t.Errorf("%d invites with invited_by NULL, want 1", n)
		}
		inv, err = s.Invites().GetByCode(ctx, byKept.Code)
		noErr(t, "invite sent by other user", err)
		if inv.InvitedBy != kept.ID {
			t.Errorf("invited_by of the other user's invite = %q, want %q", inv.InvitedBy, kept.ID)
		}
		inv, err = s.Invites().GetByCode(ctx, acceptedByGone.Code)
		noErr(t, "invite accepted by deleted user", err)
		if inv.AcceptedBy != "" || inv.AcceptedAt.IsZero() {
			t.Errorf("accepted invite after deleting its user: accepted_by %q, accepted_at %v", inv.AcceptedBy, inv.AcceptedAt)
		}
	})
}

func TestUsersListPagination(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Fractions chosen so that a layout that trims trailing zeros
		// (".1Z" > ".123456Z" as text) would misorder them, plus a tie on
		// created_at that the id must break, inserted out of order.
		offsets := []time.Duration{
			5 * time.Second,
			0,
			100 * time.Millisecond,
			123456 * time.Microsecond,
			2 * time.Second,
			2 * time.Second, // tie
			time.Hour,
			1 * time.Microsecond,
			59 * time.Minute,
			10 * time.Second,
		}
		var want []*store.User
		for i, d := range offsets {
			want = append(want, mkUser(t, s, fmt.Sprintf("u%02d@example.com", i), store.RoleMember, at(d)))
		}
		sort.Slice(want, func(i, j int) bool {
			if !want[i].CreatedAt.Equal(want[j].CreatedAt) {
				return want[i].CreatedAt.Before(want[j].CreatedAt)
			}
			return want[i].ID < want[j].ID
		})

		for _, limit := range []int{1, 3, 4, len(want), len(want) + 5} {
			var got []string
			var after store.UserCursor
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatalf("limit %d: pagination does not end", limit)
				}
				users, err := s.Users().List(ctx, after, limit)
				noErr(t, "list", err)
				if len(users) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(users))
				}
				if len(users) == 0 {
					break
				}
				for _, u := range users {
					got = append(got, u.ID)
				}
				last := users[len(users)-1]
				after = store.UserCursor{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			if len(got) != len(want) {
				t.Fatalf("limit %d: listed %d users, want %d", limit, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i].ID {
					t.Fatalf("limit %d: position %d is %s, want %s (%s)", limit, i, got[i], want[i].ID, want[i].Email)
				}
			}
		}
	})
}

func TestUsersCount(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		check := func(wantAll, wantAdmins int) {
			t.Helper()
			n, err := s.Users().Count(ctx)
			noErr(t, "count", err)
			a, err := s.Users().CountAdmins(ctx)
			noErr(t, "count admins", err)
			if n != wantAll || a != wantAdmins {
				t.Errorf("count = %d, admins = %d; want %d, %d", n, a, wantAll, wantAdmins)
			}
		}
		check(0, 0)
		a1 := mkUser(t, s, "a1@example.com", store.RoleAdmin, at(0))
		mkUser(t, s, "a2@example.com", store.RoleAdmin, at(1))
		m1 := mkUser(t, s, "m1@example.com", store.RoleMember, at(2))
		mkUser(t, s, "m2@example.com", store.RoleMember, at(3))
		mkUser(t, s, "m3@example.com", store.RoleMember, at(4))
		check(5, 2)
		noErr(t, "delete admin", s.Users().Delete(ctx, a1.ID))
		check(4, 1)
		m1.Role = store.RoleAdmin
		m1.UpdatedAt = at(time.Minute)
		noErr(t, "promote", s.Users().Update(ctx, m1, "role"))
		check(4, 2)
	})
}

// TestUsersListCursorOfDeletedUser: a client paging through users while
// an admin deletes the user its cursor points at must not be told, by an
// empty page, that the list has ended: List either continues after the
// cursor's position or reports an error.
func TestUsersListCursorOfDeletedUser(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var all []*store.User
		for i := range 5 {
			all = append(all, mkUser(t, s, fmt.Sprintf("u%d@example.com", i), store.RoleMember, at(time.Duration(i)*time.Second)))
		}
		page, err := s.Users().List(ctx, store.UserCursor{}, 2)
		noErr(t, "first page", err)
		if len(page) != 2 || page[1].ID != all[1].ID {
			t.Fatalf("first page = %d users", len(page))
		}
		cursor := store.UserCursor{CreatedAt: page[1].CreatedAt, ID: page[1].ID}
		noErr(t, "delete the cursor's user", s.Users().Delete(ctx, cursor.ID))

		rest, err := s.Users().List(ctx, cursor, 10)
		noErr(t, "list after a deleted cursor", err)
		if len(rest) != 3 || rest[0].ID != all[2].ID {
			t.Errorf("List after the deleted user's cursor returned %d users; want the 3 users after it", len(rest))
		}
	})
}
