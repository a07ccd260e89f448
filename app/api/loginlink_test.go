package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// A login link logs its user in once, within 7 days; its page's path is
// redacted in the access log.
func TestLoginLink(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		e.register("ada@example.com", pw)
		svc := auth.New(st, auth.Config{Now: e.clock.Now}, nil)
		tok, err := svc.CreateLoginLinkForEmail(context.Background(), "Ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		// Bad input: 400 and nothing spent.
		expect(t, e.call("POST", "/auth/login-link", "", `{"token":`), 400, "")
		expect(t, e.call("POST", "/auth/login-link", "", map[string]any{}), 400, "")
		expect(t, e.call("POST", "/auth/login-link", "", map[string]any{"token": "nope"}), 401, "invalid_login_link")

		e.call("GET", "/login/link/"+tok, "", nil)
		r := e.call("POST", "/auth/login-link", "", map[string]any{"token": tok})
		expect(t, r, 200, "")
		if u := e.userOf(r.str("sessionToken")); u["email"] != "ada@example.com" {
			t.Fatalf("the link logged in %v", u)
		}
		expect(t, e.call("POST", "/auth/login-link", "", map[string]any{"token": tok}), 401, "invalid_login_link")
		// The link's login sets a new password without the current one
		// (an ordinary login still needs it).
		session := r.str("sessionToken")
		expect(t, e.call("POST", "/api/auth/me/password", session, map[string]any{"newPassword": "a-new-password-1"}), 200, "")
		expect(t, e.login("ada@example.com", "a-new-password-1"), 200, "")
		other := e.login("ada@example.com", "a-new-password-1").str("sessionToken")
		expect(t, e.call("POST", "/api/auth/me/password", other, map[string]any{"newPassword": "another-password-2"}), 400, "")

		// An expired link is refused.
		old, err := svc.CreateLoginLinkForEmail(context.Background(), "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(auth.LoginLinkTTL + time.Minute)
		expect(t, e.call("POST", "/auth/login-link", "", map[string]any{"token": old}), 401, "invalid_login_link")

		if logs := e.logs.String(); strings.Contains(logs, tok) || !strings.Contains(logs, "/login/link/REDACTED") {
			t.Fatalf("the access log shows a login link token or no redacted path:\n%s", logs)
		}
	})
}

// Upstream's PBKDF2 password hashes (imported) are accepted.
func TestUpstreamPasswordHash(t *testing.T) {
	// pbkdf2:100000:<salt>:<key> of "correct horse", made with upstream's
	// format (PBKDF2-HMAC-SHA256, 16-byte salt, 32-byte key).
	ok, err := auth.CheckPassword(upstreamHashOf("correct horse"), "correct horse")
	if err != nil || !ok {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := auth.CheckPassword(upstreamHashOf("correct horse"), "wrong horse"); ok {
		t.Fatal("a wrong password matched")
	}
	if _, err := auth.CheckPassword("pbkdf2:10:00:00", "x"); err == nil {
		t.Fatal("a hash with too few iterations was accepted")
	}
	if !auth.NeedsRehash(upstreamHashOf("x")) {
		t.Fatal("an upstream hash does not need a re-hash")
	}
}
