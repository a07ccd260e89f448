package agentops_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store/storetest"
)

// TestBackupRestoreMigrateDataCLI: the three commands through the real
// command tree: a backup of a data dir, its restore into a new one,
// refusals, and a migrate-data of the restored database to Postgres.
func TestBackupRestoreMigrateDataCLI(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Only serve and migrate up create a database.
	if _, _, err := execute(t, "", "migrate", "up", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "password123\n", "user", "create", "--data-dir", data, "--email", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	// Serving once creates the instance key and records it.
	cfg := app.Config{DataDir: data}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	out := filepath.Join(dir, "b.tar.gz")
	var stdout, stderr string
	stdout, stderr, err = execute(t, "", "backup", "--data-dir", data, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "key included") {
		t.Errorf("backup said %q", stdout)
	}
	restored := filepath.Join(dir, "restored")
	stdout, stderr, err = execute(t, "", "restore", out, "--data-dir", restored)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "restored the backup") {
		t.Errorf("restore said %q", stdout)
	}
	for _, f := range []string{"agentops.db", "instance.key"} {
		if _, err := os.Stat(filepath.Join(restored, f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := execute(t, "", "restore", out, "--data-dir", restored); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a non-empty data dir: %v", err)
	}
	if _, _, err := execute(t, "", "backup", "--data-dir", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "x.tar")); err == nil {
		t.Error("backup of a data dir without a database succeeded")
	}

	pg := storetest.PostgresURL(t)
	stdout, stderr, err = execute(t, "", "migrate-data", "--data-dir", restored, "--from", filepath.Join(restored, "agentops.db"), "--to", pg)
	if err != nil {
		t.Fatalf("migrate-data: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "row count and digest match") || !strings.Contains(stdout, "instance key opens the copied database") {
		t.Errorf("migrate-data said %q", stdout)
	}
	if _, _, err := execute(t, "", "migrate-data", "--data-dir", restored, "--from", filepath.Join(restored, "agentops.db"), "--to", pg); err == nil ||
		!strings.Contains(err.Error(), "not empty") {
		t.Errorf("migrate-data into a filled target: %v", err)
	}
}
