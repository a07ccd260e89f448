package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/cmd/agentops"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// fingerprint is what the script agent's /env shows for a value.
func fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "set sha256:" + hex.EncodeToString(sum[:6])
}

// sandboxEnv starts a session whose runner (a real child process of the
// local sandbox) reports the named variables, and returns its report.
func (s *server) sandboxEnv(names ...string) map[string]string {
	s.t.Helper()
	c := s.createSession(map[string]any{"initialPrompt": "/env " + strings.Join(names, " ")})
	msgs := s.waitTranscript(c.Session.ID, func(ms []message) bool {
		for _, m := range ms {
			if m.Role == "assistant" && strings.Contains(m.Content, names[len(names)-1]+"=") {
				return true
			}
		}
		return false
	})
	out := map[string]string{}
	for _, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		for _, line := range strings.Split(m.Content, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				out[k] = v
			}
		}
	}
	s.mustJSON("DELETE", "/api/sessions/"+c.Session.ID, s.token, nil, 200, nil)
	return out
}

func (s *server) wantEnv(got map[string]string, want map[string]string) {
	s.t.Helper()
	for k, v := range want {
		if got[k] != v {
			s.t.Fatalf("sandbox %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// runCLI runs the agentops command line in this process.
func runCLI(t *testing.T, cfg app.Config, args ...string) (string, error) {
	t.Helper()
	root := agentops.NewRoot("test")
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--data-dir", cfg.DataDir, "--database-url", cfg.DatabaseURL, "--instance-key-file", cfg.InstanceKeyFile))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// Stored credentials reach the sandbox's environment (the owner's key,
// else the org's), and `agentops keys rotate` works while the server runs:
// the server follows the new key file, and nothing is lost, also when a
// rotation is interrupted and run again.
func TestCredentialsReachTheSandboxAcrossKeyRotation(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		s.mustJSON("PUT", "/api/auth/me/credentials/anthropic", s.token, map[string]any{"key": "sk-ant-mine"}, 200, nil)
		s.mustJSON("PUT", "/api/admin/llm-keys/anthropic", s.token, map[string]any{"key": "sk-ant-org"}, 200, nil)
		s.mustJSON("PUT", "/api/admin/llm-keys/openai", s.token, map[string]any{"key": "sk-oai-org", "baseUrl": "http://127.0.0.1:1/v1"}, 200, nil)
		want := map[string]string{
			"ANTHROPIC_API_KEY": fingerprint("sk-ant-mine"), // mine beats the org's
			"OPENAI_API_KEY":    fingerprint("sk-oai-org"),
			"OPENAI_BASE_URL":   fingerprint("http://127.0.0.1:1/v1"),
			"GITHUB_TOKEN":      "unset",
		}
		names := []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_TOKEN"}
		s.wantEnv(s.sandboxEnv(names...), want)
		oldKey := mustLoadKeyring(t, s.cfg.InstanceKeyFile).PrimaryID()

		// A rotation that dies after adding the new key: the running
		// server still reads and writes.
		crash := errors.New("simulated crash")
		_, err := app.RotateKeys(context.Background(), s.cfg, quiet, keys.RotateOptions{AfterStep: func(step string) error {
			if step == keys.StepKeyAdded {
				return crash
			}
			return nil
		}})
		if !errors.Is(err, crash) {
			t.Fatalf("interrupted rotation: %v", err)
		}
		s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": "ghp_meanwhile"}, 200, nil)
		want["GITHUB_TOKEN"] = fingerprint("ghp_meanwhile")
		s.wantEnv(s.sandboxEnv(names...), want)

		// Run again through the command line: it completes the rotation.
		out, err := runCLI(t, s.cfg, "keys", "rotate")
		if err != nil {
			t.Fatalf("agentops keys rotate: %v\n%s", err, out)
		}
		if !strings.Contains(out, "completed an interrupted rotation") || !strings.Contains(out, "re-sealed 4 secrets") ||
			!strings.Contains(out, "dropped key(s): "+oldKey) {
			t.Fatalf("rotate output:\n%s", out)
		}
		file := mustLoadKeyring(t, s.cfg.InstanceKeyFile)
		if len(file.IDs()) != 1 || file.PrimaryID() == oldKey {
			t.Fatalf("key file after rotation: %v", file.IDs())
		}
		// The server, which loaded the old key at start, opens what the
		// new key sealed, and seals new secrets with it.
		s.wantEnv(s.sandboxEnv(names...), want)
		s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": "ghp_after"}, 200, nil)
		want["GITHUB_TOKEN"] = fingerprint("ghp_after")
		s.wantEnv(s.sandboxEnv(names...), want)

		// A plain rotation while it runs, then once more.
		out, err = runCLI(t, s.cfg, "keys", "rotate")
		if err != nil || strings.Contains(out, "interrupted") || !strings.Contains(out, "re-sealed 4 secrets") {
			t.Fatalf("second rotation: %v\n%s", err, out)
		}
		s.wantEnv(s.sandboxEnv(names...), want)
		var list []map[string]any
		s.mustJSON("GET", "/api/auth/me/credentials", s.token, nil, 200, &list)
		if len(list) != 2 {
			t.Fatalf("credentials after rotations: %v", list)
		}
	})
}

func TestKeysRotateRefusesAnEnvironmentKey(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	cfg.InstanceKey = bareKey(t)
	openAndClose(t, cfg)
	t.Setenv("AGENTOPS_INSTANCE_KEY", cfg.InstanceKey)
	out, err := runCLI(t, cfg, "keys", "rotate")
	if err == nil || !strings.Contains(err.Error(), "AGENTOPS_INSTANCE_KEY") || !strings.Contains(err.Error(), "cannot rewrite") {
		t.Fatalf("want a clear refusal naming AGENTOPS_INSTANCE_KEY, got %v\n%s", err, out)
	}
}

func mustLoadKeyring(t *testing.T, path string) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestWebhookSecretsSurviveKeyRotation: triggers' webhook secrets are
// sealed secrets too; a rotation re-seals them before it drops the old
// key, and a running server seals new ones with the key the database
// records and opens them after any number of rotations.
func TestWebhookSecretsSurviveKeyRotation(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "external")
		s.syncWorkflow("quick", `{"steps":[{"id":"a","type":"bash","command":"true"}]}`)
		trigger := func(path string) {
			s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "quick", "name": path,
				"config": map[string]any{"type": "webhook", "path": path, "secret": "k-" + path}}, 201, nil)
		}
		deliver := func(path string, n int) {
			t.Helper()
			body := []byte(fmt.Sprintf(`{"n":%d}`, n))
			code, reply := s.post("POST", "/webhooks/"+path, body, map[string]string{"X-Webhook-Signature": sign("k-"+path, body)})
			if code != 202 {
				t.Fatalf("delivery to %s: %d %v", path, code, reply)
			}
		}
		trigger("before")
		deliver("before", 1)
		for round := range 2 {
			out, err := runCLI(t, s.cfg, "keys", "rotate")
			if err != nil || !strings.Contains(out, "dropped key(s)") {
				t.Fatalf("rotation %d: %v\n%s", round, err, out)
			}
			if round == 0 {
				trigger("after") // sealed by the running server with the new key
			}
			deliver("before", 10+round)
			deliver("after", 20+round)
		}
	})
}
