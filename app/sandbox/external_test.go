package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/sandbox/sandboxtest"
)

func TestExternalContract(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Provider { return sandbox.NewExternal(sandbox.ExternalOptions{}) })
}

func TestExternalCommand(t *testing.T) {
	t.Parallel()
	p := sandbox.NewExternal(sandbox.ExternalOptions{})
	req := sandbox.SpawnRequest{
		SessionID: "0b9f6a8e-5d1c-4c1e-9a43-5b2f0f1d2e3c",
		ServerURL: "https://agentops.example.com:8443",
		Token:     "aor_abc123",
		Agent:     "script",
	}
	sb, err := p.Spawn(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := "AGENTOPS_RUNNER_TOKEN=aor_abc123 agentops runner --server-url https://agentops.example.com:8443" +
		" --session-id 0b9f6a8e-5d1c-4c1e-9a43-5b2f0f1d2e3c --agent script"
	if sb.ID != "external" || sb.Command != want || sb.Workspace != "" {
		t.Fatalf("Spawn = %+v\nwant Command %s", sb, want)
	}

	req.Token = "aor_new"
	sb, err = p.Restore(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sb.Command, "AGENTOPS_RUNNER_TOKEN=aor_new ") {
		t.Fatalf("Restore command %q does not carry the new token", sb.Command)
	}
}

// The command is run by a real shell: hostile values must arrive as they
// are, one word each, and run nothing.
func TestExternalCommandIsShellSafe(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dir with 'quote")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "agent ops")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$OUT/args\"\nprintf '%s' \"$AGENTOPS_RUNNER_TOKEN\" > \"$OUT/token\"\nprintf '%s' \"$EXTRA\" > \"$OUT/extra\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	p := sandbox.NewExternal(sandbox.ExternalOptions{BinaryName: bin})
	req := sandbox.SpawnRequest{
		SessionID: uuid.NewString(),
		ServerURL: "https://example.com/it's/$(touch pwned1)/`touch pwned2`;touch pwned3",
		Token:     `t'o"k$(touch pwned4) \`,
		Agent:     "a b*",
		Env:       map[string]string{"EXTRA": "line1\nline2 '$PATH'"},
	}
	sb, err := p.Spawn(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", sb.Command)
	cmd.Dir = out
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running %s: %v\n%s", sb.Command, err, b)
	}
	wantArgs := []string{"runner", "--server-url", req.ServerURL, "--session-id", req.SessionID, "--agent", "a b*"}
	if got := readLines(t, filepath.Join(out, "args")); !slices.Equal(got, wantArgs) {
		t.Errorf("args %q\nwant %q", got, wantArgs)
	}
	if got := readFile(t, filepath.Join(out, "token")); got != req.Token {
		t.Errorf("token %q, want %q", got, req.Token)
	}
	if got := readFile(t, filepath.Join(out, "extra")); got != req.Env["EXTRA"] {
		t.Errorf("EXTRA %q, want %q", got, req.Env["EXTRA"])
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "pwned") {
			t.Errorf("the command ran an injected command: %s exists", e.Name())
		}
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                     "''",
		"plain-word_1.2/x:y@z": "plain-word_1.2/x:y@z",
		"a b":                  "'a b'",
		"it's":                 `'it'\''s'`,
		"$HOME":                "'$HOME'",
		"~":                    "'~'",
		"A=b":                  "'A=b'",
	} {
		if got := sandbox.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
