package auth_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestPasswordHash(t *testing.T) {
	h1, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := auth.HashPassword("correct horse")
	if h1 == h2 {
		t.Fatal("each hash must have its own salt")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$") {
		t.Fatalf("hash format: %s", h1)
	}
	if ok, err := auth.CheckPassword(h1, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	for _, wrong := range []string{"", "correct horsE", "correct horse ", strings.Repeat("x", 1000)} {
		if ok, _ := auth.CheckPassword(h1, wrong); ok {
			t.Fatalf("%q must not match", wrong)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=1,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=1,t=1,p=1$!!$aGFzaA", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$"} {
		if ok, err := auth.CheckPassword(bad, "x"); ok || err == nil {
			t.Fatalf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

// Sign-ups racing on a new instance make exactly one admin.
func TestConcurrentFirstSignupsMakeOneAdmin(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		svc := auth.New(st, auth.Config{OpenSignup: true}, nil)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := svc.Register(ctx, auth.RegisterInput{Email: fmt.Sprintf("u%d@example.com", i), Password: "long enough password"})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		n, err := st.Users().CountAdmins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d admins, want exactly 1", n)
		}
	})
}

// Two admins demoting each other at once cannot leave no admin.
func TestConcurrentDemotionsKeepAnAdmin(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		svc := auth.New(st, auth.Config{}, nil)
		ctx := context.Background()
		for round := range 5 {
			a, err := svc.CreateUser(ctx, fmt.Sprintf("a%d@example.com", round), "", "", true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := svc.CreateUser(ctx, fmt.Sprintf("b%d@example.com", round), "", "", true)
			if err != nil {
				t.Fatal(err)
			}
			// Leave exactly these two as admins.
			users, _ := svc.ListUsers(ctx)
			for _, u := range users {
				if u.ID != a.ID && u.ID != b.ID && u.Role == store.RoleAdmin {
					if _, err := svc.SetRole(ctx, u.ID, store.RoleMember); err != nil {
						t.Fatal(err)
					}
				}
			}
			var wg sync.WaitGroup
			for _, id := range []string{a.ID, b.ID} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = svc.SetRole(ctx, id, store.RoleMember)
				}()
			}
			wg.Wait()
			if n, _ := st.Users().CountAdmins(ctx); n != 1 {
				t.Fatalf("round %d: %d admins after concurrent demotions, want 1", round, n)
			}
		}
	})
}
