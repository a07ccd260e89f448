package gitws_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/workspace/gitws"
)

// bigWorkspace sets up a workspace with n committed files (about 1 KiB
// each, in folders of 100) as the base, then edits 10, adds 5, deletes 5
// and renames 5: what a turn of an agent might leave.
func bigWorkspace(b *testing.B, n int) string {
	b.Helper()
	ws := b.TempDir()
	if _, err := gitws.Prepare(context.Background(), ws, gitws.Spec{Branch: "agentops/bench"}, nil); err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("x", 60) + "\n"
	for i := range n {
		p := filepath.Join(ws, fmt.Sprintf("d%03d/f%05d.txt", i/100, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n%s", i, strings.Repeat(line, 16))), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	git(b, ws, "add", ".")
	git(b, ws, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "--quiet", "-m", "base")
	gd := git(b, ws, "rev-parse", "--absolute-git-dir")
	os.WriteFile(filepath.Join(gd, "agentops-base"), []byte(git(b, ws, "rev-parse", "HEAD")+" main\n"), 0o600)
	for i := range 10 {
		os.WriteFile(filepath.Join(ws, fmt.Sprintf("d000/f%05d.txt", i)), []byte("changed\n"), 0o644)
	}
	for i := range 5 {
		os.WriteFile(filepath.Join(ws, fmt.Sprintf("new%d.txt", i)), []byte("new\n"), 0o644)
		os.Remove(filepath.Join(ws, fmt.Sprintf("d001/f%05d.txt", 100+i)))
		os.Rename(filepath.Join(ws, fmt.Sprintf("d002/f%05d.txt", 200+i)), filepath.Join(ws, fmt.Sprintf("moved%d.txt", i)))
	}
	return ws
}

// BenchmarkTurnReport10k is the runner's report after a turn on a
// 10,000-file repository: the git state and the changed files.
func BenchmarkTurnReport10k(b *testing.B) {
	ws := bigWorkspace(b, 10000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := gitws.Status(ctx, ws); err != nil {
			b.Fatal(err)
		}
		files, err := gitws.ChangedFiles(ctx, ws)
		if err != nil || len(files) != 25 {
			b.Fatalf("%d files, %v", len(files), err)
		}
	}
}

// BenchmarkDiff10k is GET …/diff on the same workspace.
func BenchmarkDiff10k(b *testing.B) {
	ws := bigWorkspace(b, 10000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := gitws.Diff(ctx, ws, "", 0); err != nil {
			b.Fatal(err)
		}
	}
}
