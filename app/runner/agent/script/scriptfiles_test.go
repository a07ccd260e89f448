package script

import (
	"github.com/agentops/agentops/app/runner/agent"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptFileDirectives(t *testing.T) {
	ws := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(ws, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("git", "-C", ws, "init", "--quiet").Run(); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(ws, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old.txt", "old\n")
	write("gone.txt", "bye\n")

	a := New()
	rt := &recTurn{}
	prompt := strings.Join([]string{
		`/write src/new.go package main\n\nfunc main() {}\n`,
		`/write-base64 blob.bin AAECAP8=`,
		`/delete gone.txt`,
		`/rename old.txt moved/renamed.txt`,
		`/write ../outside.txt nope`,
		`/write escape/through-link.txt nope`,
		`/write .git/config nope`,
		`/delete missing.txt`,
		`/commit the script's work`,
		`done`,
	}, "\n")
	if err := a.Run(t.Context(), agent.Prompt{Content: prompt, Workspace: ws, GitName: "Ada", GitEmail: "ada@example.com"}, rt); err != nil {
		t.Fatal(err)
	}
	want := []string{"completed", "completed", "completed", "completed", "error", "error", "error", "error", "completed"}
	var got []string
	for _, e := range rt.events {
		if strings.HasPrefix(e, "tool:file_") && !strings.HasSuffix(e, ":running") {
			got = append(got, e[strings.LastIndexByte(e, ':')+1:])
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("file op outcomes %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "src/new.go")); string(b) != "package main\n\nfunc main() {}\n" {
		t.Errorf("new.go: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "blob.bin")); string(b) != "\x00\x01\x02\x00\xff" {
		t.Errorf("blob.bin: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ws, "gone.txt")); !os.IsNotExist(err) {
		t.Errorf("gone.txt still there: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "moved/renamed.txt")); string(b) != "old\n" {
		t.Errorf("renamed: %q", b)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a directive wrote outside the workspace: %v", entries)
	}
	out, err := exec.Command("git", "-C", ws, "log", "-1", "--format=%an <%ae> %s").Output()
	if err != nil || strings.TrimSpace(string(out)) != "Ada <ada@example.com> the script's work" {
		t.Errorf("commit: %q %v", out, err)
	}
	if rt.text.String() != "You said: done" {
		t.Errorf("reply %q", rt.text.String())
	}
}
