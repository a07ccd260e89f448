package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// POST /api/auth/me/credentials/:provider/test makes one call to the
// provider with the stored key and says whether it was accepted, without
// ever showing the key.
func TestCredentialKeyCheck(t *testing.T) {
	var calls []string
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.Method+" "+r.URL.Path)
		ok := r.Header.Get("Authorization") == "Bearer good-key" ||
			r.Header.Get("x-api-key") == "good-key" && r.Header.Get("anthropic-version") != ""
		switch {
		case r.URL.Path == "/broken/models":
			w.WriteHeader(http.StatusBadGateway)
		case r.URL.Path != "/v1/models":
			http.NotFound(w, r)
		case !ok:
			w.WriteHeader(http.StatusUnauthorized)
		default:
			_, _ = w.Write([]byte(`{"data":[]}`))
		}
	}))
	t.Cleanup(provider.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		calls = nil
		e, _ := newCredsEnv(t, st)
		u := e.register("u@example.com", pw)
		put := func(p, key, base string) {
			t.Helper()
			expect(t, e.call("PUT", "/api/auth/me/credentials/"+p, u, map[string]any{"key": key, "baseUrl": base}), 200, "")
		}
		put("openai", "good-key", provider.URL+"/v1")
		put("anthropic", "good-key", provider.URL) // "/v1" is added for Anthropic
		put("custom-bad", "wrong-key-123", provider.URL+"/v1")
		put("custom-broken", "good-key", provider.URL+"/broken")
		put("custom-gone", "good-key", gone.URL+"/v1")

		for p, want := range map[string]string{
			"openai": "", "anthropic": "", "custom-bad": "refused the key (HTTP 401)",
			"custom-broken": "answered HTTP 502", "custom-gone": "cannot be reached",
		} {
			r := e.call("POST", "/api/auth/me/credentials/"+p+"/test", u, nil)
			expect(t, r, 200, "")
			if want == "" {
				if r.Body["ok"] != true || r.Body["error"] != nil {
					t.Errorf("%s: %s, want {ok:true}", p, r.Raw)
				}
				continue
			}
			msg, _ := r.Body["error"].(string)
			if r.Body["ok"] != false || !strings.Contains(msg, want) {
				t.Errorf("%s: %s, want ok:false and %q", p, r.Raw, want)
			}
			if strings.Contains(string(r.Raw), "key-123") || strings.Contains(string(r.Raw), "good-key") {
				t.Errorf("%s: the answer shows the key: %s", p, r.Raw)
			}
		}
		if len(calls) != 4 {
			t.Errorf("provider calls %v, want one per reachable check", calls)
		}
		expect(t, e.call("POST", "/api/auth/me/credentials/google/test", u, nil), 404, "NOT_FOUND")
		expect(t, e.call("POST", "/api/auth/me/credentials/1password/test", u, nil), 400, "VALIDATION_ERROR")
		expect(t, e.call("POST", "/api/auth/me/credentials/openai/test", "", nil), 401, "UNAUTHORIZED")
	})
}
