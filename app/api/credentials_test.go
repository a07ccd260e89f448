package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/dashboard"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// services are the domain services behind newCredsEnv's API.
type services struct {
	creds     *credentials.Service
	notify    *notify.Service
	dashboard *dashboard.Service
}

// newCredsEnv is an API with open sign-up and the routes of credentials,
// notifications and the compatibility stubs.
func newCredsEnv(t *testing.T, st *store.Store) (*env, *credentials.Service) {
	e, svc := newFeatureEnv(t, st)
	return e, svc.creds
}

func newFeatureEnv(t *testing.T, st *store.Store) (*env, services) {
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
	c := clockwork.NewFakeClockAt(time.Now().UTC())
	svc := services{
		creds:     credentials.New(st, keys.NewRing(st, kr, path, log), c.Now, log),
		notify:    notify.New(st, nil, c.Now, log),
		dashboard: dashboard.New(st, c.Now),
	}
	h := api.New(api.Deps{Auth: auth.New(st, auth.Config{OpenSignup: true, Now: c.Now}, log), Credentials: svc.creds,
		Notify: svc.notify, Dashboard: svc.dashboard},
		api.Options{AllowedOrigins: []string{"http://app.example"}, Version: "test", Ready: st.Ping}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, st: st, clock: c, logs: &syncBuffer{}}, svc
}

func array(t *testing.T, r resp) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(r.Raw, &out); err != nil {
		t.Fatalf("want a bare JSON array, got %s", r.Raw)
	}
	return out
}

func TestCredentialRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e, creds := newCredsEnv(t, st)
		admin := e.register("admin@example.com", pw)
		member := e.register("member@example.com", pw)

		r := e.call("GET", "/api/auth/me/credentials", member, nil)
		expect(t, r, 200, "")
		if got := array(t, r); len(got) != 0 {
			t.Fatalf("no credentials yet: %s", r.Raw)
		}
		r = e.call("PUT", "/api/auth/me/credentials/anthropic", member, map[string]any{"key": "sk-ant-secret-1"})
		expect(t, r, 200, "")
		r = e.call("PUT", "/api/auth/me/credentials/custom-local", member,
			map[string]any{"key": "sk-local-2", "baseUrl": "http://127.0.0.1:11434/v1", "models": []string{"qwen", "llama"}})
		expect(t, r, 200, "")

		r = e.call("GET", "/api/auth/me/credentials", member, nil)
		expect(t, r, 200, "")
		list := array(t, r)
		if len(list) != 2 {
			t.Fatalf("list: %s", r.Raw)
		}
		a, c := list[0], list[1]
		if a["provider"] != "anthropic" || a["credentialType"] != "api_key" || a["isSet"] != true || a["id"] == "" ||
			a["createdAt"] == nil || a["updatedAt"] == nil || a["baseUrl"] != nil {
			t.Fatalf("anthropic entry: %v", a)
		}
		if c["provider"] != "custom-local" || c["baseUrl"] != "http://127.0.0.1:11434/v1" {
			t.Fatalf("custom entry: %v", c)
		}
		if strings.Contains(string(r.Raw), "sk-") {
			t.Fatalf("a secret left the server: %s", r.Raw)
		}
		// Another user sees none of them.
		r = e.call("GET", "/api/auth/me/credentials", admin, nil)
		if got := array(t, r); len(got) != 0 {
			t.Fatalf("admin sees the member's credentials: %s", r.Raw)
		}

		// Bad input: 400 with the field, nothing changes.
		for _, tc := range []struct {
			path  string
			body  any
			field string
		}{
			{"/api/auth/me/credentials/1password", map[string]any{"key": "x"}, "provider"},
			{"/api/auth/me/credentials/anthropic", map[string]any{}, "key"},
			{"/api/auth/me/credentials/anthropic", map[string]any{"key": ""}, "key"},
			{"/api/auth/me/credentials/anthropic", map[string]any{"key": 5}, "key"},
			{"/api/auth/me/credentials/anthropic", map[string]any{"key": "x", "baseUrl": "file:///etc/passwd"}, "baseUrl"},
			{"/api/auth/me/credentials/custom-x", map[string]any{"key": "x"}, "baseUrl"},
			{"/api/auth/me/credentials/custom-x", map[string]any{"key": "x", "baseUrl": "http://h", "models": "m"}, "models"},
		} {
			r := e.call("PUT", tc.path, member, tc.body)
			expect(t, r, 400, "VALIDATION_ERROR")
			if d, _ := r.Body["details"].(map[string]any); d["field"] != tc.field {
				t.Errorf("PUT %s %v: details %v, want field %s", tc.path, tc.body, r.Body["details"], tc.field)
			}
		}
		expect(t, e.call("PUT", "/api/auth/me/credentials/anthropic", member, "{not json"), 400, "VALIDATION_ERROR")
		expect(t, e.call("PUT", "/api/auth/me/credentials/anthropic", "", map[string]any{"key": "x"}), 401, "UNAUTHORIZED")
		env, err := creds.CredentialsEnv(context.Background(), userID(t, e, member))
		if err != nil || env["ANTHROPIC_API_KEY"] != "sk-ant-secret-1" || env["OPENAI_BASE_URL"] != "http://127.0.0.1:11434/v1" {
			t.Fatalf("after rejected PUTs the stored keys are unchanged: %v %v", env, err)
		}

		expect(t, e.call("DELETE", "/api/auth/me/credentials/anthropic", member, nil), 200, "")
		expect(t, e.call("DELETE", "/api/auth/me/credentials/anthropic", member, nil), 404, "NOT_FOUND")
		expect(t, e.call("DELETE", "/api/auth/me/credentials/bogus", member, nil), 400, "VALIDATION_ERROR")
	})
}

func TestOrgLLMKeyRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e, creds := newCredsEnv(t, st)
		admin := e.register("admin@example.com", pw)
		member := e.register("member@example.com", pw)

		expect(t, e.call("GET", "/api/admin/llm-keys", member, nil), 403, "FORBIDDEN")
		expect(t, e.call("PUT", "/api/admin/llm-keys/openai", member, map[string]any{"key": "x"}), 403, "FORBIDDEN")
		expect(t, e.call("DELETE", "/api/admin/llm-keys/openai", member, nil), 403, "FORBIDDEN")

		r := e.call("PUT", "/api/admin/llm-keys/openai", admin, map[string]any{"key": "sk-org", "baseUrl": "https://gw.example/v1", "models": []string{"gpt-x"}})
		expect(t, r, 200, "")
		expect(t, e.call("PUT", "/api/admin/llm-keys/anthropic", admin, map[string]any{"key": "sk-org-ant"}), 200, "")
		r = e.call("GET", "/api/admin/llm-keys", admin, nil)
		expect(t, r, 200, "")
		list := array(t, r)
		if len(list) != 2 || list[0]["provider"] != "anthropic" || list[1]["provider"] != "openai" ||
			list[1]["isSet"] != true || list[1]["baseUrl"] != "https://gw.example/v1" || list[1]["updatedAt"] == nil {
			t.Fatalf("org keys: %s", r.Raw)
		}
		if m, _ := list[1]["models"].([]any); len(m) != 1 || m[0] != "gpt-x" {
			t.Fatalf("models: %s", r.Raw)
		}
		if strings.Contains(string(r.Raw), "sk-org") {
			t.Fatalf("a secret left the server: %s", r.Raw)
		}
		// The member has no key of their own: their sessions get the org's.
		env, err := creds.CredentialsEnv(context.Background(), userID(t, e, member))
		if err != nil || env["OPENAI_API_KEY"] != "sk-org" || env["ANTHROPIC_API_KEY"] != "sk-org-ant" {
			t.Fatalf("member env: %v %v", env, err)
		}
		expect(t, e.call("DELETE", "/api/admin/llm-keys/openai", admin, nil), 200, "")
		expect(t, e.call("DELETE", "/api/admin/llm-keys/openai", admin, nil), 404, "NOT_FOUND")
		if got := array(t, e.call("GET", "/api/admin/llm-keys", admin, nil)); len(got) != 1 {
			t.Fatalf("after delete: %v", got)
		}
	})
}

func userID(t *testing.T, e *env, token string) string {
	t.Helper()
	id, _ := e.userOf(token)["id"].(string)
	if id == "" {
		t.Fatal("no user id")
	}
	return id
}
