package agentops

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A runner killed with SIGKILL leaves its tools-socket folder behind; the
// next runner removes it, and leaves alone a live runner's folder and one
// just made whose socket is not up yet.
func TestSweepToolDirsRemovesOnlyDeadRunnersFolders(t *testing.T) {
	parent, err := os.MkdirTemp("", "sweep")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	mk := func(name string) string {
		dir := filepath.Join(parent, toolDirPrefix+name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	listen := func(dir string) *net.UnixListener {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "tools.sock"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	live := mk("live")
	ln := listen(live)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead := mk("dead")
	dl := listen(dead)
	dl.SetUnlinkOnClose(false) // as after SIGKILL: the socket file stays, nobody listens
	dl.Close()
	fresh := mk("fresh")
	old := mk("old")
	past := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, "not-ours")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}

	sweepToolDirs(time.Now(), parent, parent)
	for dir, want := range map[string]bool{live: true, dead: false, fresh: true, old: false, other: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), got, want)
		}
	}
}
