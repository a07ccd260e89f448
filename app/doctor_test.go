package app_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// noAgentCLIs finds programs as the machine does, except the coding-agent
// CLIs, which it reports missing whether or not they are installed.
func noAgentCLIs(name string) (string, error) {
	switch name {
	case "claude", "codex", "opencode":
		return "", exec.ErrNotFound
	}
	return exec.LookPath(name)
}

func runDoctor(t *testing.T, cfg app.Config) *app.DoctorReport {
	t.Helper()
	return app.Doctor(context.Background(), cfg, app.DoctorOptions{LookPath: noAgentCLIs, Timeout: 5 * time.Second})
}

// finding returns the first finding of check at sev, failing the test if
// there is none.
func finding(t *testing.T, r *app.DoctorReport, check string, sev app.Severity) app.Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Check == check && f.Severity == sev {
			return f
		}
	}
	t.Fatalf("no %s finding for %q in:\n%s", sev, check, reportText(r))
	return app.Finding{}
}

func reportText(r *app.DoctorReport) string {
	var b strings.Builder
	r.Write(&b)
	return b.String()
}

func wantFix(t *testing.T, f app.Finding, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(f.Message+" "+f.Fix, w) {
			t.Fatalf("finding %+v should mention %q", f, w)
		}
	}
	if f.Fix == "" {
		t.Fatalf("a problem without a fix: %+v", f)
	}
}

// TestDoctorHealthyInstance: after a first run, every check passes; the
// missing agent CLIs are only a warning, so the report is not broken.
func TestDoctorHealthyInstance(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		cfg := newConfig(t, d)
		openAndClose(t, cfg)
		r := runDoctor(t, cfg)
		if r.Broken() {
			t.Fatalf("a healthy instance is broken:\n%s", reportText(r))
		}
		for _, check := range []string{"database", "migrations", "instance key", "object storage", "pub/sub"} {
			finding(t, r, check, app.OK)
		}
		wantFix(t, finding(t, r, "agents", app.Warn), "npm install")
		if entries, _ := os.ReadDir(filepath.Join(cfg.DataDir, "blobs", "doctor-probe")); len(entries) > 0 {
			t.Fatalf("the probe object was left behind: %v", entries)
		}
	})
}

func TestDoctorBrokenDatabaseURL(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	cfg.DatabaseURL = "postgres://agentops:secret@127.0.0.1:1/agentops?connect_timeout=2"
	cfg.PubSub = "memory"
	r := runDoctor(t, cfg)
	if !r.Broken() {
		t.Fatalf("an unreachable database is not broken:\n%s", reportText(r))
	}
	f := finding(t, r, "database", app.Fail)
	wantFix(t, f, "--database-url", "Postgres is running")
	if strings.Contains(f.Message, "secret") {
		t.Fatalf("the password is shown: %s", f.Message)
	}

	// An SQLite path that holds something else.
	cfg = newConfig(t, store.SQLite)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.DatabaseURL, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFix(t, finding(t, runDoctor(t, cfg), "database", app.Fail), "--database-url")
}

func TestDoctorMissingKey(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	id := openAndClose(t, cfg)
	if err := os.Remove(cfg.InstanceKeyFile); err != nil {
		t.Fatal(err)
	}
	r := runDoctor(t, cfg)
	if !r.Broken() {
		t.Fatalf("a missing key is not broken:\n%s", reportText(r))
	}
	wantFix(t, finding(t, r, "instance key", app.Fail), "missing", "restore", id, "AGENTOPS_INSTANCE_KEY")
	if _, err := os.Stat(cfg.InstanceKeyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("doctor must not create a key: %v", err)
	}
}

func TestDoctorKeyThatCannotOpenTheDatabase(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	id := openAndClose(t, cfg)
	other, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(cfg.InstanceKeyFile); err != nil {
		t.Fatal(err)
	}
	r := runDoctor(t, cfg)
	wantFix(t, finding(t, r, "instance key", app.Fail), "cannot open this database's check value", id, "--instance-key-file")

	// The same through AGENTOPS_INSTANCE_KEY.
	cfg.InstanceKey = string(other.Marshal())
	wantFix(t, finding(t, runDoctor(t, cfg), "instance key", app.Fail), "AGENTOPS_INSTANCE_KEY", "cannot open")
}

func TestDoctorPubSub(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	openAndClose(t, cfg)
	cfg.PubSub, cfg.RedisURL = "redis", "redis://127.0.0.1:1/0"
	r := runDoctor(t, cfg)
	if !r.Broken() {
		t.Fatalf("an unreachable Redis is not broken:\n%s", reportText(r))
	}
	wantFix(t, finding(t, r, "pub/sub", app.Fail), "Redis", "--redis-url")

	// A real Redis: the round trip works.
	cfg.RedisURL = redistest.URL(t)
	finding(t, runDoctor(t, cfg), "pub/sub", app.OK)

	// Postgres LISTEN/NOTIFY: the round trip works.
	pg := newConfig(t, store.Postgres)
	openAndClose(t, pg)
	f := finding(t, runDoctor(t, pg), "pub/sub", app.OK)
	if !strings.Contains(f.Message, "postgres") {
		t.Fatalf("pub/sub on Postgres: %+v", f)
	}
}

func TestDoctorMissingAgent(t *testing.T) {
	cfg := newConfig(t, store.SQLite)
	openAndClose(t, cfg)
	cfg.DefaultAgent = "nope"
	r := runDoctor(t, cfg)
	if !r.Broken() {
		t.Fatalf("an unknown default agent is not broken:\n%s", reportText(r))
	}
	wantFix(t, finding(t, r, "agents", app.Fail), "--default-agent", "script", "claude-code")

	// A known agent whose CLI is not installed.
	cfg.DefaultAgent = "claude-code"
	cfg.AgentsDir = t.TempDir()
	t.Setenv("PATH", t.TempDir())
	r = runDoctor(t, cfg)
	if !r.Broken() {
		t.Fatalf("a default agent that is not installed is not broken:\n%s", reportText(r))
	}
	wantFix(t, finding(t, r, "agents", app.Fail), "npm install", "claude")
}

// TestDoctorAgainstARunningServer runs doctor on the data dir and database
// of a server that is serving a session: it finds nothing wrong, and the
// server goes on serving (a prompt after it completes; the database still
// records the same key; no probe is left).
func TestDoctorAgainstARunningServer(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		id := s.createSession(nil).Session.ID
		b := s.dial(id, s.token)
		b.waitReady()
		b.send(map[string]any{"type": "prompt", "content": "before\n/chunks 20\n/slow 20"})
		r := runDoctor(t, s.cfg)
		if r.Broken() {
			t.Fatalf("doctor on a running server:\n%s", reportText(r))
		}
		for _, check := range []string{"database", "migrations", "instance key", "object storage"} {
			finding(t, r, check, app.OK)
		}
		if f := finding(t, r, "server", app.OK); !strings.Contains(f.Message, "a server answers") {
			t.Fatalf("doctor should see the server: %+v", f)
		}
		b.turnDone()
		b.send(map[string]any{"type": "prompt", "content": "after"})
		b.turnDone()
		msgs := s.messages(id)
		if len(msgs) != 4 || msgs[3].Content != "You said: after" {
			t.Fatalf("the session after doctor: %+v", msgs)
		}
		if entries, _ := os.ReadDir(filepath.Join(s.cfg.DataDir, "blobs", "doctor-probe")); len(entries) > 0 {
			t.Fatalf("the probe object was left behind: %v", entries)
		}
	})
}
