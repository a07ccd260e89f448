package cli

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Malformed lines are skipped; the lines after them still arrive.
func TestMalformedLinesSkipped(t *testing.T) {
	p, err := Start("/bin/sh", []string{"-c", `echo '{"a":1}'; echo 'not json {'; echo; echo '{"b":2}'`}, t.TempDir(), nil, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range p.Lines() {
		got = append(got, string(l))
	}
	if len(got) != 2 || got[0] != `{"a":1}` || got[1] != `{"b":2}` {
		t.Fatalf("lines %q", got)
	}
}

// A child that ignores SIGTERM is killed after the grace period, with its
// process group.
func TestStopKillsStubbornChild(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	script := `trap '' TERM; sh -c 'trap "" TERM; echo $$ > ` + pidFile + `; sleep 60' & echo '{"up":true}'; wait`
	p, err := Start("/bin/sh", []string{"-c", script}, dir, nil, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if l := <-p.Lines(); !json.Valid(l) {
		t.Fatalf("first line %q", l)
	}
	start := time.Now()
	p.Stop(300 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %s", d)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmtSscan(string(data), &pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err != nil {
			break
		}
		if st, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat")); len(st) > 0 && containsZombie(string(st)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
