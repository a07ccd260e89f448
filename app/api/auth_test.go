package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// The flow the README promises: first run, first user, login, API key.
func TestFirstRunRegisterLoginAndAPIKey(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		r := e.call("GET", "/auth/setup", "", nil)
		expect(t, r, 200, "")
		if r.Body["needsSetup"] != true {
			t.Fatalf("fresh instance must need setup: %s", r.Raw)
		}
		r = e.call("GET", "/auth/providers", "", nil)
		expect(t, r, 200, "")
		if !strings.HasPrefix(string(r.Raw), `[{"id":"email"`) {
			t.Fatalf("providers must be a bare array with email: %s", r.Raw)
		}

		tok := e.register("Ada@Example.com", pw, "name", "Ada")
		u := e.userOf(tok)
		if u["role"] != "admin" || u["email"] != "ada@example.com" || u["name"] != "Ada" {
			t.Fatalf("first user must be an admin with a normalized email: %v", u)
		}
		if r := e.call("GET", "/auth/setup", "", nil); r.Body["needsSetup"] != false {
			t.Fatalf("setup must be done after the first user: %s", r.Raw)
		}

		r = e.login("ADA@example.com ", pw)
		expect(t, r, 200, "")
		login := r.str("sessionToken")
		if login == tok {
			t.Fatal("each login must mint a new token")
		}

		r = e.call("POST", "/api/api-keys", login, map[string]any{"name": "ci", "expiresInDays": 30})
		expect(t, r, 201, "")
		key := r.str("token")
		if !strings.HasPrefix(key, "sk_") || len(key) != 67 {
			t.Fatalf("api key %q must be sk_ and 64 hex", key)
		}
		if r.str("prefix") != key[:7]+"..."+key[len(key)-4:] {
			t.Fatalf("prefix %q", r.str("prefix"))
		}
		if r.Body["expiresAt"] == nil || r.Body["lastUsedAt"] != nil {
			t.Fatalf("expiry and last use: %s", r.Raw)
		}
		id := r.str("id")
		if got := e.userOf(key); got["id"] != u["id"] {
			t.Fatalf("api key must act as its owner: %v", got)
		}
		r = e.call("GET", "/api/api-keys", login, nil)
		expect(t, r, 200, "")
		keys := r.Body["keys"].([]any)
		if len(keys) != 1 || keys[0].(map[string]any)["token"] != nil {
			t.Fatalf("list must show the key without its secret: %s", r.Raw)
		}
		if keys[0].(map[string]any)["lastUsedAt"] == nil {
			t.Fatalf("using a key must record lastUsedAt: %s", r.Raw)
		}
		expect(t, e.call("DELETE", "/api/api-keys/"+id, login, nil), 200, "")
		expect(t, e.me(key), 401, "UNAUTHORIZED")
		expect(t, e.call("DELETE", "/api/api-keys/"+id, login, nil), 404, "NOT_FOUND")
		if r := e.call("GET", "/api/api-keys", login, nil); len(r.Body["keys"].([]any)) != 0 {
			t.Fatalf("revoked keys are not listed: %s", r.Raw)
		}
	})
}

func TestSignupGating(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		admin := e.register("admin@example.com", pw)

		// Closed sign-up: nobody gets in without an invite, and nothing is written.
		r := e.call("POST", "/auth/email/register", "", map[string]any{"email": "eve@example.com", "password": pw})
		expect(t, r, 400, "not_allowed")
		// Beside upstream's word, a sentence says what to do.
		if !strings.Contains(r.str("message"), "invite") {
			t.Fatalf("not_allowed without a hint: %s", r.Raw)
		}
		expect(t, e.login("eve@example.com", pw), 401, "invalid_credentials")

		// Duplicate email, whatever its case.
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "ADMIN@example.com", "password": pw})
		expect(t, r, 400, "email_already_registered")
		if r.str("message") == "" {
			t.Fatalf("email_already_registered without a hint: %s", r.Raw)
		}

		// An invite code gives its role.
		r = e.call("POST", "/api/admin/invites", admin, map[string]any{"role": "admin"})
		expect(t, r, 201, "")
		code := r.str("code")
		r = e.call("GET", "/invites/"+code, "", nil)
		expect(t, r, 200, "")
		if r.str("status") != "valid" || r.str("role") != "admin" || r.str("orgName") == "" {
			t.Fatalf("invite lookup: %s", r.Raw)
		}
		bob := e.register("bob@example.com", pw, "inviteCode", code)
		if e.userOf(bob)["role"] != "admin" {
			t.Fatal("invite role must apply at sign-up")
		}
		if r := e.call("GET", "/invites/"+code, "", nil); r.str("status") != "accepted" {
			t.Fatalf("used invite: %s", r.Raw)
		}
		// A used code cannot be used again.
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "carol@example.com", "password": pw, "inviteCode": code})
		expect(t, r, 400, "invalid_invite")
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "carol@example.com", "password": pw, "inviteCode": "nope"})
		expect(t, r, 400, "invalid_invite")

		// An invite addressed to an email lets that email in without the code.
		expect(t, e.call("POST", "/api/admin/invites", admin, map[string]any{"email": "Carol@example.com"}), 201, "")
		carol := e.register("carol@example.com", pw)
		if e.userOf(carol)["role"] != "member" {
			t.Fatal("default invite role is member")
		}
		// An invite for one email cannot be used by another.
		r = e.call("POST", "/api/admin/invites", admin, map[string]any{"email": "dan@example.com"})
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "mallory@example.com", "password": pw, "inviteCode": r.str("code")})
		expect(t, r, 400, "not_allowed")
		if !strings.Contains(r.str("message"), "another email") {
			t.Fatalf("not_allowed for an invite of another email: %s", r.Raw)
		}

		// Password policy.
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "x@example.com", "password": "short"})
		expect(t, r, 400, "VALIDATION_ERROR")
		r = e.call("POST", "/auth/email/register", "", map[string]any{"email": "not an email", "password": pw})
		expect(t, r, 400, "VALIDATION_ERROR")
		if r.Body["details"].(map[string]any)["field"] != "email" {
			t.Fatalf("details must name the field: %s", r.Raw)
		}
	})
}

func TestOpenSignup(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{openSignup: true})
		e.register("first@example.com", pw)
		second := e.register("second@example.com", pw)
		if e.userOf(second)["role"] != "member" {
			t.Fatal("open sign-up makes members")
		}
	})
}

func TestLoginAttemptLimit(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		e.register("ada@example.com", pw)
		for i, bad := range []string{"wrong password", "", strings.Repeat("x", 100000)[:600], "correct horse batter", "ünïcødé ☃"} {
			r := e.login("ada@example.com", bad)
			if bad == "" {
				expect(t, r, 400, "VALIDATION_ERROR")
				continue
			}
			if r.Status != 401 || r.str("error") != "invalid_credentials" {
				t.Fatalf("attempt %d: %d %s", i, r.Status, r.Raw)
			}
		}
		// An unknown email is the same 401, and counts too.
		expect(t, e.login("nobody@example.com", pw), 401, "invalid_credentials")
		expect(t, e.login("ada@example.com", "wrong again"), 401, "invalid_credentials")
		// Five failures: now even the right password is refused.
		r := e.login("ada@example.com", pw)
		expect(t, r, 429, "too_many_attempts")
		if !strings.Contains(r.str("message"), "Too many failed logins") {
			t.Fatalf("too_many_attempts without a hint: %s", r.Raw)
		}
		retry, ok := r.Body["retryAfterSeconds"].(float64)
		if !ok || retry < 1 || retry > 15*60 {
			t.Fatalf("retryAfterSeconds: %s", r.Raw)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 must carry Retry-After")
		}
		// Another email is not affected.
		expect(t, e.login("nobody@example.com", pw), 401, "invalid_credentials")
		e.clock.Advance(15*time.Minute + time.Second)
		expect(t, e.login("ada@example.com", pw), 200, "")
		// Success clears the count.
		for range 4 {
			expect(t, e.login("ada@example.com", "nope nope"), 401, "")
		}
		expect(t, e.login("ada@example.com", pw), 200, "")
	})
}

func TestTokens(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ada@example.com", pw)
		for _, bad := range []string{"", "garbage", "sk_garbage", strings.Repeat("a", 64), "sk_" + strings.Repeat("0", 64), strings.Repeat("x", 5000)} {
			expect(t, e.me(bad), 401, "UNAUTHORIZED")
		}
		r := e.call("GET", "/api/auth/me", "", nil, "Authorization", "Basic Zm9vOmJhcg==")
		expect(t, r, 401, "UNAUTHORIZED")
		// Browsers' WebSockets send the token as a subprotocol.
		r = e.call("GET", "/api/auth/me", "", nil, "Sec-WebSocket-Protocol", "valet, bearer."+tok)
		expect(t, r, 200, "")

		r = e.call("POST", "/api/api-keys", tok, map[string]any{"name": "short", "expiresInDays": 1})
		key := r.str("token")
		expect(t, e.me(key), 200, "")
		e.clock.Advance(24*time.Hour + time.Second)
		expect(t, e.me(key), 401, "UNAUTHORIZED")
		expect(t, e.me(tok), 200, "")
		e.clock.Advance(6 * 24 * time.Hour)
		expect(t, e.me(tok), 401, "UNAUTHORIZED") // logins live 7 days

		r = e.login("ada@example.com", pw)
		login := r.str("sessionToken")
		expect(t, e.call("POST", "/api/auth/logout", login, nil), 200, "")
		expect(t, e.me(login), 401, "UNAUTHORIZED")

		// Logging out with an API key leaves the key valid.
		r = e.login("ada@example.com", pw)
		r = e.call("POST", "/api/api-keys", r.str("sessionToken"), map[string]any{"name": "keep"})
		key = r.str("token")
		expect(t, e.call("POST", "/api/auth/logout", key, nil), 200, "")
		expect(t, e.me(key), 200, "")
	})
}

func TestChangePassword(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		a := e.register("ada@example.com", pw)
		b := e.login("ada@example.com", pw).str("sessionToken")
		r := e.call("POST", "/api/auth/me/password", a, map[string]any{"currentPassword": "wrong one!", "newPassword": "a new passphrase"})
		expect(t, r, 401, "invalid_credentials")
		r = e.call("POST", "/api/auth/me/password", a, map[string]any{"currentPassword": pw, "newPassword": "short"})
		expect(t, r, 400, "VALIDATION_ERROR")
		r = e.call("POST", "/api/auth/me/password", a, map[string]any{"currentPassword": pw})
		expect(t, r, 400, "VALIDATION_ERROR")
		expect(t, e.login("ada@example.com", pw), 200, "") // nothing changed yet
		r = e.call("POST", "/api/auth/me/password", a, map[string]any{"currentPassword": pw, "newPassword": "a new passphrase"})
		expect(t, r, 200, "")
		expect(t, e.me(a), 200, "")
		expect(t, e.me(b), 401, "") // other logins end
		expect(t, e.login("ada@example.com", pw), 401, "invalid_credentials")
		expect(t, e.login("ada@example.com", "a new passphrase"), 200, "")
	})
}

func TestPatchMe(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ada@example.com", pw)
		r := e.call("PATCH", "/api/auth/me", tok, map[string]any{
			"name": "Ada L", "gitEmail": "ada@git.example", "idleTimeoutSeconds": 600, "sandboxCpuCores": 1.5,
			"modelPreferences": []string{"anthropic/claude", "openai/gpt"}, "uiQueueMode": "steer",
			"timezone": "Europe/Berlin", "onboardingCompleted": true, "someFutureField": 1,
		})
		expect(t, r, 200, "")
		u := e.userOf(tok)
		if u["name"] != "Ada L" || u["idleTimeoutSeconds"] != 600.0 || u["uiQueueMode"] != "steer" ||
			u["timezone"] != "Europe/Berlin" || u["sandboxCpuCores"] != 1.5 || u["onboardingCompleted"] != true ||
			len(u["modelPreferences"].([]any)) != 2 {
			t.Fatalf("profile not saved: %v", u)
		}
		bad := []map[string]any{
			{"idleTimeoutSeconds": 10},
			{"idleTimeoutSeconds": "600"},
			{"uiQueueMode": "yolo"},
			{"timezone": "Mars/Olympus"},
			{"sandboxMemoryMib": 100000},
			{"gitEmail": "nope"},
			{"modelPreferences": make([]string, 21)},
			{"name": strings.Repeat("n", 256)},
		}
		for _, b := range bad {
			r := e.call("PATCH", "/api/auth/me", tok, b)
			expect(t, r, 400, "VALIDATION_ERROR")
			if _, ok := r.Body["details"].(map[string]any)["field"]; !ok {
				t.Fatalf("%v: details must name the field: %s", b, r.Raw)
			}
		}
		if got := e.userOf(tok); got["idleTimeoutSeconds"] != 600.0 || got["uiQueueMode"] != "steer" {
			t.Fatalf("bad input changed the profile: %v", got)
		}
	})
}

func TestAdminRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{openSignup: true})
		admin := e.register("admin@example.com", pw)
		member := e.register("member@example.com", pw)
		adminID := e.userOf(admin)["id"].(string)
		memberID := e.userOf(member)["id"].(string)

		for _, rt := range [][2]string{{"GET", "/api/admin/users"}, {"PATCH", "/api/admin/users/" + adminID}, {"DELETE", "/api/admin/users/" + adminID},
			{"GET", "/api/admin/invites"}, {"POST", "/api/admin/invites"}, {"DELETE", "/api/admin/invites/x"}} {
			expect(t, e.call(rt[0], rt[1], member, map[string]any{"role": "member"}), 403, "FORBIDDEN")
			expect(t, e.call(rt[0], rt[1], "", map[string]any{"role": "member"}), 401, "UNAUTHORIZED")
		}
		if e.userOf(admin)["role"] != "admin" {
			t.Fatal("a refused request changed a role")
		}

		r := e.call("GET", "/api/admin/users", admin, nil)
		expect(t, r, 200, "")
		if !strings.HasPrefix(string(r.Raw), "[") || strings.Count(string(r.Raw), `"email"`) != 2 {
			t.Fatalf("users must be a bare array of both: %s", r.Raw)
		}
		if strings.Contains(string(r.Raw), "argon2") || strings.Contains(string(r.Raw), "password") {
			t.Fatal("password hashes must never leave the server")
		}

		// The last admin can be neither demoted nor deleted.
		expect(t, e.call("PATCH", "/api/admin/users/"+adminID, admin, map[string]any{"role": "member"}), 400, "VALIDATION_ERROR")
		expect(t, e.call("DELETE", "/api/admin/users/"+adminID, admin, nil), 400, "VALIDATION_ERROR")
		expect(t, e.call("PATCH", "/api/admin/users/"+memberID, admin, map[string]any{"role": "owner"}), 400, "VALIDATION_ERROR")
		expect(t, e.call("PATCH", "/api/admin/users/nope", admin, map[string]any{"role": "admin"}), 404, "NOT_FOUND")
		if e.userOf(admin)["role"] != "admin" {
			t.Fatal("the last admin was demoted")
		}
		// With two admins, one can step down; then the other is the last.
		expect(t, e.call("PATCH", "/api/admin/users/"+memberID, admin, map[string]any{"role": "admin"}), 200, "")
		expect(t, e.call("PATCH", "/api/admin/users/"+adminID, admin, map[string]any{"role": "member"}), 200, "")
		expect(t, e.call("GET", "/api/admin/users", admin, nil), 403, "FORBIDDEN")                      // role is read per request
		expect(t, e.call("DELETE", "/api/admin/users/"+memberID, member, nil), 400, "VALIDATION_ERROR") // not yourself
		// Deleting a user ends their logins and keys.
		key := e.call("POST", "/api/api-keys", admin, map[string]any{"name": "k"}).str("token")
		expect(t, e.call("DELETE", "/api/admin/users/"+adminID, member, nil), 200, "")
		expect(t, e.me(admin), 401, "")
		expect(t, e.me(key), 401, "")
		expect(t, e.call("DELETE", "/api/admin/users/"+adminID, member, nil), 404, "NOT_FOUND")
	})
}

func TestInvites(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{openSignup: true})
		admin := e.register("admin@example.com", pw)
		member := e.register("member@example.com", pw)

		expect(t, e.call("GET", "/invites/does-not-exist", "", nil), 404, "NOT_FOUND")
		expect(t, e.call("POST", "/api/invites/does-not-exist/accept", member, nil), 404, "NOT_FOUND")
		expect(t, e.call("POST", "/api/admin/invites", admin, map[string]any{"role": "root"}), 400, "VALIDATION_ERROR")
		expect(t, e.call("POST", "/api/admin/invites", admin, map[string]any{"email": "bad"}), 400, "VALIDATION_ERROR")

		r := e.call("POST", "/api/admin/invites", admin, map[string]any{"role": "admin"})
		expect(t, r, 201, "")
		code, id := r.str("code"), r.str("id")
		r = e.call("GET", "/api/admin/invites", admin, nil)
		if !strings.HasPrefix(string(r.Raw), "[") || !strings.Contains(string(r.Raw), code) {
			t.Fatalf("invite list: %s", r.Raw)
		}
		r = e.call("POST", "/api/invites/"+code+"/accept", member, nil)
		expect(t, r, 200, "")
		if r.str("role") != "admin" || e.userOf(member)["role"] != "admin" {
			t.Fatalf("accept must apply the role: %s", r.Raw)
		}
		expect(t, e.call("POST", "/api/invites/"+code+"/accept", member, nil), 404, "NOT_FOUND")

		// Expired invites are reported and refused.
		r = e.call("POST", "/api/admin/invites", admin, map[string]any{})
		code2, id2 := r.str("code"), r.str("id")
		e.clock.Advance(7*24*time.Hour + time.Second)
		if r := e.call("GET", "/invites/"+code2, "", nil); r.str("status") != "expired" {
			t.Fatalf("expired invite: %s", r.Raw)
		}
		member = e.login("member@example.com", pw).str("sessionToken") // logins last 7 days too
		admin = e.login("admin@example.com", pw).str("sessionToken")
		expect(t, e.call("POST", "/api/invites/"+code2+"/accept", member, nil), 404, "NOT_FOUND")

		expect(t, e.call("DELETE", "/api/admin/invites/"+id, admin, nil), 200, "")
		expect(t, e.call("DELETE", "/api/admin/invites/"+id, admin, nil), 404, "NOT_FOUND")
		expect(t, e.call("GET", "/invites/"+code, "", nil), 404, "NOT_FOUND")
		expect(t, e.call("DELETE", "/api/admin/invites/"+id2, member, nil), 200, "") // member is an admin now
	})
}

func TestHTTPStatusOfUnknownRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		for _, p := range []string{"/api/nope", "/api/", "/auth/nope", "/webhooks/x", "/invites/"} {
			expect(t, e.call("GET", p, "", nil), http.StatusNotFound, "NOT_FOUND")
		}
		expect(t, e.call("POST", "/some/page", "", "{}"), http.StatusNotFound, "NOT_FOUND")
		r := e.call("GET", "/some/page", "", nil)
		if r.Status != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GETs outside the API belong to the web client: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		r = e.call("DELETE", "/api/auth/me", "", nil)
		expect(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if r.Header.Get("Allow") != "GET, PATCH" {
			t.Fatalf("Allow: %q", r.Header.Get("Allow"))
		}
	})
}

// The failure limit counts per email and client address: a stranger who
// knows the owner's email locks out only themselves. Behind a trusted
// proxy the address is the one X-Forwarded-For names; from anyone else
// X-Forwarded-For is ignored, so an attacker cannot dodge the limit by
// inventing addresses.
func TestLoginLimitPerClientAddress(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{trustedProxies: []string{"127.0.0.0/8", "::1"}})
		e.register("owner@example.com", pw)
		from := func(addr, password string) resp {
			return e.call("POST", "/auth/email/login", "", map[string]any{"email": "owner@example.com", "password": password},
				"X-Forwarded-For", addr)
		}
		for range 5 {
			expect(t, from("203.0.113.9", "guess guess"), 401, "invalid_credentials")
		}
		expect(t, from("203.0.113.9", pw), 429, "too_many_attempts")
		// The owner, elsewhere, still gets in.
		expect(t, from("198.51.100.7", pw), 200, "")
		// The proxy's chain: the right-most untrusted address counts.
		expect(t, from("1.2.3.4, 203.0.113.9, 127.0.0.1", pw), 429, "too_many_attempts")

		// Without trusted proxies X-Forwarded-For is the client's own
		// word and is ignored: every request here comes from 127.0.0.1.
		e2 := newEnv(t, st, envOpts{})
		for i := range 5 {
			r := e2.call("POST", "/auth/email/login", "", map[string]any{"email": "owner@example.com", "password": "guess guess"},
				"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
			expect(t, r, 401, "invalid_credentials")
		}
		r := e2.call("POST", "/auth/email/login", "", map[string]any{"email": "owner@example.com", "password": pw}, "X-Forwarded-For", "192.0.2.200")
		expect(t, r, 429, "too_many_attempts")
	})
}
