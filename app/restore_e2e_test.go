package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// TestRestoredSessionWakes: a backup taken while a session runs, restored
// without workspaces, serves the session as hibernated; a prompt wakes it
// in an empty workspace and the agent answers.
func TestRestoredSessionWakes(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(nil).Session.ID
	b := s.dial(id, s.token)
	b.waitReady()
	b.send(map[string]any{"type": "prompt", "content": "before"})
	b.turnDone()

	// Back up beside the running server.
	live, err := store.Open(ctx, s.cfg.DatabaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	key, err := os.ReadFile(s.cfg.InstanceKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := ops.Backup(ctx, ops.BackupOptions{Store: live, Key: key, Out: out}); err != nil {
		t.Fatal(err)
	}

	cfg := app.Config{DataDir: filepath.Join(t.TempDir(), "restored"), Listen: freeAddr(t), Sandbox: "local",
		RunnerCommand: []string{os.Args[0], "runner"}, StopRunnersOnShutdown: true, Version: "test"}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	res, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL,
		KeyFile: cfg.InstanceKeyFile, WorkspacesDir: filepath.Join(cfg.DataDir, "workspaces")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hibernated != 1 {
		t.Fatalf("restore: %+v", res)
	}
	a := mustOpen(t, cfg)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	r := &server{t: t, url: "http://" + cfg.Listen, cfg: cfg}
	eventually.NoError(t, 15*time.Second, "the restored server to be ready", func() error { return ready(http.DefaultClient, r.url) })
	var login struct{ SessionToken string }
	r.mustJSON("POST", "/auth/email/login", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &login)
	r.token = login.SessionToken

	var got struct{ Session map[string]any }
	r.mustJSON("GET", "/api/sessions/"+id, r.token, nil, 200, &got)
	if got.Session["status"] != "hibernated" {
		t.Fatalf("restored session: %+v", got.Session)
	}
	r.mustJSON("POST", "/api/sessions/"+id+"/prompt", r.token, map[string]any{"content": "after"}, 200, nil)
	eventually.NoError(t, 30*time.Second, "the prompt after the restore", func() error {
		msgs := r.messages(id)
		if len(msgs) == 4 && msgs[1].Content == "You said: before" && msgs[3].Content == "You said: after" {
			return nil
		}
		return fmt.Errorf("messages: %+v", msgs)
	})
}
