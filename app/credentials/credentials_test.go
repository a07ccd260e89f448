package credentials_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func newService(t *testing.T, st *store.Store) *credentials.Service {
	t.Helper()
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "instance.key")
	if err := kr.Save(path); err != nil {
		t.Fatal(err)
	}
	check, _ := kr.Check(kr.PrimaryID())
	if err := st.Meta().Set(context.Background(), keys.MetaKey, kr.PrimaryID()+":"+check); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	return credentials.New(st, keys.NewRing(st, kr, path, log), nil, log)
}

func mkUser(t *testing.T, st *store.Store, email string) string {
	t.Helper()
	u := &store.User{ID: uuid.NewString(), Email: email, Role: store.RoleMember, UIQueueMode: "followup",
		IdentityProvider: "email", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestOwnerKeysWinOverOrgKeysPerProvider(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(t, st)
		alice, bob := mkUser(t, st, "alice@example.com"), mkUser(t, st, "bob@example.com")
		admin := mkUser(t, st, "admin@example.com")
		must := func(_ *credentials.View, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(svc.SetOrg(ctx, admin, "anthropic", credentials.Input{Key: "org-ant"}))
		must(svc.SetOrg(ctx, admin, "openai", credentials.Input{Key: "org-oai", BaseURL: "https://proxy.example/v1"}))
		must(svc.SetUser(ctx, alice, "anthropic", credentials.Input{Key: " alice-ant \n"}))
		must(svc.SetUser(ctx, alice, "github", credentials.Input{Key: "ghp_alice"}))

		env, err := svc.CredentialsEnv(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"ANTHROPIC_API_KEY": "alice-ant", // hers (trimmed), not the org's
			"OPENAI_API_KEY":    "org-oai", "OPENAI_BASE_URL": "https://proxy.example/v1",
			"GITHUB_TOKEN": "ghp_alice", "GH_TOKEN": "ghp_alice",
		}
		equalEnv(t, env, want)

		env, err = svc.CredentialsEnv(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		equalEnv(t, env, map[string]string{"ANTHROPIC_API_KEY": "org-ant", "OPENAI_API_KEY": "org-oai", "OPENAI_BASE_URL": "https://proxy.example/v1"})

		// Views never hold secrets; a PUT replaces, a DELETE removes.
		list, err := svc.ListUser(ctx, alice)
		if err != nil || len(list) != 2 || list[0].Provider != "anthropic" || list[1].Provider != "github" {
			t.Fatalf("list %+v %v", list, err)
		}
		must(svc.SetUser(ctx, alice, "anthropic", credentials.Input{Key: "alice-ant-2", BaseURL: "http://127.0.0.1:9/"}))
		again, _ := svc.ListUser(ctx, alice)
		if again[0].ID != list[0].ID || !again[0].CreatedAt.Equal(list[0].CreatedAt) || again[0].BaseURL != "http://127.0.0.1:9/" {
			t.Fatalf("replace must keep id and creation: %+v then %+v", list[0], again[0])
		}
		if err := svc.DeleteUser(ctx, alice, "anthropic"); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteUser(ctx, alice, "anthropic"); !isKind(err, apperr.KindNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		env, _ = svc.CredentialsEnv(ctx, alice)
		if env["ANTHROPIC_API_KEY"] != "org-ant" {
			t.Fatalf("after deleting hers, the org's key applies: %v", env)
		}
		if err := svc.DeleteOrg(ctx, "anthropic"); err != nil {
			t.Fatal(err)
		}
		env, _ = svc.CredentialsEnv(ctx, alice)
		if _, ok := env["ANTHROPIC_API_KEY"]; ok {
			t.Fatalf("no key left: %v", env)
		}

		// A sealed value moved to another owner does not open.
		aliceGH, _ := st.Credentials().Get(ctx, store.UserOwner(alice), "github")
		stolen := *aliceGH
		stolen.ID, stolen.Owner, stolen.UserID = uuid.NewString(), store.UserOwner(bob), bob
		if err := st.Credentials().Upsert(ctx, &stolen); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CredentialsEnv(ctx, bob); !errors.Is(err, keyring.ErrCorrupt) {
			t.Fatalf("a copied ciphertext must not open for another owner: %v", err)
		}
	})
}

func TestInputValidation(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	svc := newService(t, st)
	u := mkUser(t, st, "u@example.com")
	bad := []struct {
		provider string
		in       credentials.Input
		field    string
	}{
		{"1password", credentials.Input{Key: "x"}, "provider"},
		{"OpenAI", credentials.Input{Key: "x"}, "provider"},
		{"custom-", credentials.Input{Key: "x", BaseURL: "http://x"}, "provider"},
		{"custom-Bad", credentials.Input{Key: "x", BaseURL: "http://x"}, "provider"},
		{"openai", credentials.Input{Key: "   "}, "key"},
		{"openai", credentials.Input{Key: "a\nb"}, "key"},
		{"openai", credentials.Input{Key: strings.Repeat("k", credentials.MaxKeyBytes+1)}, "key"},
		{"openai", credentials.Input{Key: "x", BaseURL: "ftp://host"}, "baseUrl"},
		{"openai", credentials.Input{Key: "x", BaseURL: "not a url"}, "baseUrl"},
		{"google", credentials.Input{Key: "x", BaseURL: "https://g.example"}, "baseUrl"},
		{"custom-groq", credentials.Input{Key: "x"}, "baseUrl"},
		{"custom-groq", credentials.Input{Key: "x", BaseURL: "https://g.example", Models: []string{""}}, "models"},
		{"custom-groq", credentials.Input{Key: "x", BaseURL: "https://g.example", Models: []string{"a,b"}}, "models"},
		{"custom-groq", credentials.Input{Key: "x", BaseURL: "https://g.example", Models: make([]string, credentials.MaxModels+1)}, "models"},
	}
	for _, tc := range bad {
		_, err := svc.SetUser(context.Background(), u, tc.provider, tc.in)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalid || e.Details["field"] != tc.field {
			t.Errorf("%s %+v: got %v, want a 400 on %s", tc.provider, tc.in.BaseURL, err, tc.field)
		}
	}
	if n := countCredentials(t, st); n != 0 {
		t.Fatalf("bad input stored %d credentials", n)
	}
	if err := svc.DeleteUser(context.Background(), u, "nope"); !isKind(err, apperr.KindInvalid) {
		t.Fatalf("delete of an unknown provider: %v", err)
	}
}

func TestEnvMapping(t *testing.T) {
	env := credentials.Env([]credentials.Resolved{
		{Provider: "custom-b", Key: "kb", BaseURL: "http://b/v1"},
		{Provider: "custom-a", Key: "ka", BaseURL: "http://a/v1", Models: []string{"m1", "m2"}},
		{Provider: "google", Key: "g"},
	})
	equalEnv(t, env, map[string]string{
		"CUSTOM_A_API_KEY": "ka", "CUSTOM_A_BASE_URL": "http://a/v1", "CUSTOM_A_MODELS": "m1,m2",
		"CUSTOM_B_API_KEY": "kb", "CUSTOM_B_BASE_URL": "http://b/v1",
		// custom-b comes first in the slice, but custom-a first by name.
		"OPENAI_API_KEY": "ka", "OPENAI_BASE_URL": "http://a/v1", "OPENAI_MODELS": "m1,m2",
		"GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "g", "GOOGLE_GENERATIVE_AI_API_KEY": "g",
	})
	env = credentials.Env([]credentials.Resolved{
		{Provider: "openai", Key: "o"},
		{Provider: "custom-a", Key: "ka", BaseURL: "http://a/v1"},
	})
	equalEnv(t, env, map[string]string{"OPENAI_API_KEY": "o", "CUSTOM_A_API_KEY": "ka", "CUSTOM_A_BASE_URL": "http://a/v1"})
}

func equalEnv(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("env %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("env %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func isKind(err error, k apperr.Kind) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == k
}

func countCredentials(t *testing.T, st *store.Store) int {
	t.Helper()
	n, err := st.DB().NewSelect().Model((*store.Credential)(nil)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}
