package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestBadJSONBodies(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ada@example.com", pw)
		cases := []struct {
			name, path, body string
			status           int
			field            string
		}{
			{"malformed", "/auth/email/login", `{"email":`, 400, ""},
			{"not json", "/auth/email/login", `email=a&password=b`, 400, ""},
			{"empty", "/auth/email/register", ``, 400, ""},
			{"array", "/auth/email/register", `[1,2]`, 400, ""},
			{"two values", "/auth/email/login", `{"email":"a@b.c"} {"x":1}`, 400, ""},
			{"wrong type", "/auth/email/register", `{"email":["a"],"password":"x"}`, 400, "email"},
			{"wrong type number", "/auth/email/login", `{"email":"a@b.c","password":12345678}`, 400, "password"},
			{"missing email", "/auth/email/register", `{"password":"long enough pw"}`, 400, "email"},
			{"missing password", "/auth/email/register", `{"email":"new@example.com"}`, 400, "password"},
			{"missing name", "/api/api-keys", `{}`, 400, "name"},
			{"blank name", "/api/api-keys", `{"name":"   "}`, 400, "name"},
			{"bad expiry", "/api/api-keys", `{"name":"k","expiresInDays":0}`, 400, "expiresInDays"},
			{"expiry type", "/api/api-keys", `{"name":"k","expiresInDays":"7"}`, 400, "expiresInDays"},
			{"oversized", "/api/api-keys", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.call("POST", c.path, tok, c.body)
				expect(t, r, c.status, "")
				if c.status == 413 && r.str("code") != "PAYLOAD_TOO_LARGE" {
					t.Fatalf("code: %s", r.Raw)
				}
				if c.field != "" {
					d, _ := r.Body["details"].(map[string]any)
					if d["field"] != c.field {
						t.Fatalf("details.field = %v, want %s: %s", d["field"], c.field, r.Raw)
					}
				}
			})
		}
		// None of that created anything.
		if r := e.call("GET", "/api/api-keys", tok, nil); len(r.Body["keys"].([]any)) != 0 {
			t.Fatalf("bad input created keys: %s", r.Raw)
		}
		if n, _ := st.Users().Count(t.Context()); n != 1 {
			t.Fatalf("bad input created users: %d", n)
		}
		// Unknown fields are ignored.
		expect(t, e.call("POST", "/api/api-keys", tok, `{"name":"k","scopes":["x"],"future":{"a":1}}`), 201, "")
	})
}

func TestRequestIDHealthAndReady(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		r := e.call("GET", "/health", "", nil)
		expect(t, r, 200, "")
		if r.str("status") != "ok" || r.str("timestamp") == "" {
			t.Fatalf("health: %s", r.Raw)
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Fatal("every response carries X-Request-Id")
		}
		r = e.call("GET", "/health", "", nil, "X-Request-Id", "trace-123")
		if r.Header.Get("X-Request-Id") != "trace-123" {
			t.Fatalf("a valid incoming id is reused: %q", r.Header.Get("X-Request-Id"))
		}
		r = e.call("GET", "/health", "", nil, "X-Request-Id", "bad id\twith spaces")
		if got := r.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
			t.Fatalf("an unsafe incoming id is replaced: %q", got)
		}
		expect(t, e.call("GET", "/ready", "", nil), 200, "")
		st.Close()
		r = e.call("GET", "/ready", "", nil)
		expect(t, r, 503, "UNAVAILABLE")
		expect(t, e.call("GET", "/health", "", nil), 200, "") // health does not need the database
	})
}

func TestCORS(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{origins: []string{"http://app.example"}})
	r := e.call("OPTIONS", "/api/auth/me", "", nil, "Origin", "http://app.example", "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization,content-type")
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from an allowed origin: %d %v", r.Status, r.Header)
	}
	r = e.call("GET", "/health", "", nil, "Origin", "http://app.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "http://app.example" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Fatalf("simple request from an allowed origin: %v", r.Header)
	}
	r = e.call("OPTIONS", "/api/auth/me", "", nil, "Origin", "http://evil.example", "Access-Control-Request-Method", "GET")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin must not be allowed: %v", r.Header)
	}
	r = e.call("GET", "/health", "", nil, "Origin", "http://evil.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("another origin must not be allowed")
	}
}

func TestAccessLogRedactsCredentials(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{})
	tok := e.register("ada@example.com", pw)
	e.call("GET", "/api/auth/me?token=supersecretvalue&limit=5", tok, nil)
	e.call("GET", "/api/sessions/x/ws?role=runner&token=runnersecret", "", nil)
	logs := e.logs.String()
	if !strings.Contains(logs, "/api/auth/me") {
		t.Fatalf("requests are logged: %s", logs)
	}
	for _, secret := range []string{"supersecretvalue", "runnersecret", tok, pw} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log leaks %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "limit=5") {
		t.Fatalf("other parameters stay visible: %s", logs)
	}
}

func TestUnexpectedErrorsBecome500WithRequestID(t *testing.T) {
	// A closed store makes the domain fail in an unexpected way: the client
	// gets the generic 500 with the request id, never the internal error.
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{})
	tok := e.register("ada@example.com", pw)
	_ = tok
	st.Close()
	r := e.call("POST", "/auth/email/login", "", map[string]any{"email": "ada@example.com", "password": pw}, "X-Request-Id", "req-42")
	expect(t, r, 500, "INTERNAL_ERROR")
	if r.str("requestId") != "req-42" || strings.Contains(string(r.Raw), "sql") {
		t.Fatalf("500 body: %s", r.Raw)
	}
}
