package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fx "github.com/agentops/agentops/app/importer/importertest"
	"github.com/agentops/agentops/store"
)

// An upstream deployment imported with `agentops import-upstream` into a
// running server: its users log in (the old password; the printed link),
// see their sessions and transcripts, find their memories, a webhook
// signed with the old secret starts an execution, and a session's runner
// gets the imported provider keys.
func TestImportUpstreamEndToEnd(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		dump := fx.WriteDump(t, fx.DDL, fx.Rows("Listing the files"))
		keyFile := filepath.Join(t.TempDir(), "upstream.key")
		if err := os.WriteFile(keyFile, []byte("  "+fx.Key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"import-upstream", "--d1", dump, "--r2-dir", fx.WriteR2(t), "--upstream-encryption-key-file", keyFile,
			"--public-url", s.url}
		out, err := runCLI(t, s.cfg, append(args, "--dry-run")...)
		if err != nil || !strings.Contains(out, "dry run: nothing was written") || !strings.Contains(out, "messages") {
			t.Fatalf("dry run: %v\n%s", err, out)
		}
		code, _ := s.call("POST", "/auth/email/login", "", map[string]any{"email": "alice@example.com", "password": fx.AlicePassword})
		if code != 401 {
			t.Fatalf("a dry run let alice log in: %d", code)
		}
		out, err = runCLI(t, s.cfg, args...)
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		t.Log("\n" + out)

		var login struct{ SessionToken string }
		s.mustJSON("POST", "/auth/email/login", "", map[string]any{"email": "alice@example.com", "password": fx.AlicePassword}, 200, &login)
		alice := &server{t: t, url: s.url, token: login.SessionToken, cfg: s.cfg}

		var link string
		for _, l := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(l, "bob@example.com  "); ok {
				link = rest
			}
		}
		tok, ok := strings.CutPrefix(link, s.url+"/login/link/")
		if !ok {
			t.Fatalf("no login link for bob in:\n%s", out)
		}
		var bobLogin struct{ SessionToken string }
		s.mustJSON("POST", "/auth/login-link", "", map[string]any{"token": tok}, 200, &bobLogin)
		bob := &server{t: t, url: s.url, token: bobLogin.SessionToken, cfg: s.cfg}

		// Alice's upstream API key works.
		if code, _ := s.call("GET", "/api/auth/me", fx.AliceAPIKey, nil); code != 200 {
			t.Fatalf("alice's upstream API key: %d", code)
		}

		// An invite sent before the move works at the new URL.
		var reg struct{ SessionToken string }
		s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "carol@example.com", "password": "carol's passphrase",
			"inviteCode": fx.InviteCode}, 200, &reg)

		// Sessions and transcripts.
		var msgs struct {
			Messages []struct {
				ID, Role, Content string
				Parts             json.RawMessage
			}
		}
		alice.mustJSON("GET", "/api/sessions/"+fx.Session1+"/messages", alice.token, nil, 200, &msgs)
		if len(msgs.Messages) != 2 || msgs.Messages[1].ID != "m-2" || !strings.Contains(string(msgs.Messages[1].Parts), "tool-call") {
			t.Fatalf("alice's transcript: %+v", msgs)
		}
		if code, _ := bob.call("GET", "/api/sessions/"+fx.Session1+"/messages", bob.token, nil); code != 404 {
			t.Fatalf("bob reads alice's session: %d", code)
		}
		// Memory search.
		var hits struct{ Results []map[string]any }
		bob.mustJSON("GET", "/api/me/memory/search?query=zeppelinctl", bob.token, nil, 200, &hits)
		if len(hits.Results) != 1 {
			t.Fatalf("bob's memory search: %+v", hits)
		}
		// The R2 artifact.
		var files struct{ Files []map[string]any }
		alice.mustJSON("GET", "/api/files/backup?sessionId="+fx.Session1, alice.token, nil, 200, &files)
		if len(files.Files) != 1 {
			t.Fatalf("alice's artifacts: %+v", files)
		}
		// A webhook signed with the old secret starts an execution.
		body := []byte(`{"ref":"main"}`)
		code, reply := s.post("POST", "/webhooks/"+fx.WebhookPath, body, map[string]string{
			"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + sign(fx.WebhookSecret, body)})
		if code != 202 || reply["executionId"] == nil {
			t.Fatalf("signed webhook: %d %v", code, reply)
		}
		code, _ = s.post("POST", "/webhooks/"+fx.WebhookPath, body, map[string]string{
			"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + sign("wrong", body)})
		if code != 401 {
			t.Fatalf("wrongly signed webhook: %d", code)
		}
		// Alice's runner gets her imported key and the org's.
		alice.wantEnv(alice.sandboxEnv("ANTHROPIC_API_KEY", "OPENAI_API_KEY"), map[string]string{
			"ANTHROPIC_API_KEY": fingerprint("sk-ant-alice"),
			"OPENAI_API_KEY":    fingerprint("sk-org-openai"),
		})

		// Run again: nothing new.
		out, err = runCLI(t, s.cfg, args...)
		if err != nil || !strings.Contains(out, "0 to import") || strings.Contains(out, "login/link") {
			t.Fatalf("second import: %v\n%s", err, out)
		}
	})
}
