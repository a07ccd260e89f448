package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestNULAndNullBodies: a NUL character anywhere a client can put one is a
// 400 that changes nothing (the databases cannot store it), and a body of
// null is not an empty object.
func TestNULAndNullBodies(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ada@example.com", pw)
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/auth/email/login", `{"email":"a\u0000@x.io","password":"long enough"}`},
			{"GET", "/invites/a%00b", nil},
			{"PATCH", "/api/auth/me", `{"name":"a\u0000b"}`},
			{"POST", "/api/api-keys", `{"name":"k\u0000"}`},
			{"DELETE", "/api/api-keys/a%00b", nil},
			{"GET", "/api/personas?x=%00", nil},
			{"PATCH", "/api/auth/me", `null`},
			{"POST", "/api/api-keys", ` null `},
			{"POST", "/api/api-keys", `"a string"`},
		} {
			r := e.call(c.method, c.path, tok, c.body)
			expect(t, r, http.StatusBadRequest, "")
			if r.str("code") != "VALIDATION_ERROR" {
				t.Errorf("%s %s: %s", c.method, c.path, r.Raw)
			}
		}
		if r := e.call("GET", "/api/api-keys", tok, nil); len(r.Body["keys"].([]any)) != 0 {
			t.Fatalf("bad input created keys: %s", r.Raw)
		}
		if u := e.userOf(tok); u["name"] == "a\u0000b" {
			t.Fatalf("a NUL name was stored: %v", u)
		}
		// An escaped backslash followed by u0000 is text, not a NUL.
		r := e.call("POST", "/api/api-keys", tok, `{"name":"C:\\u0000dir"}`)
		expect(t, r, 201, "")
	})
}

func TestProfileRefusesTheServersOwnZone(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{})
	tok := e.register("ada@example.com", pw)
	for _, tz := range []string{"Local", "Mars/Olympus", "Europe\\Berlin"} {
		expect(t, e.call("PATCH", "/api/auth/me", tok, map[string]any{"timezone": tz}), 400, "")
	}
	expect(t, e.call("PATCH", "/api/auth/me", tok, map[string]any{"timezone": "Europe/Berlin"}), 200, "")
}

func TestAccessLogRedactsInviteCodes(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{})
	tok := e.register("ada@example.com", pw)
	r := e.call("POST", "/api/admin/invites", tok, map[string]any{"role": "admin"})
	expect(t, r, 201, "")
	code := r.str("code")
	if code == "" {
		t.Fatalf("invite: %s", r.Raw)
	}
	e.call("GET", "/invites/"+code, "", nil)
	e.call("POST", "/api/invites/"+code+"/accept", tok, nil)
	e.call("POST", "/auth/email/register?invite_code="+code, "", map[string]any{"email": "b@example.com", "password": pw})
	logs := e.logs.String()
	if strings.Contains(logs, code) {
		t.Fatalf("the log shows an invite code:\n%s", logs)
	}
	if !strings.Contains(logs, "/invites/REDACTED") || !strings.Contains(logs, "/api/invites/REDACTED/accept") {
		t.Fatalf("invite routes are still logged: %s", logs)
	}
}
