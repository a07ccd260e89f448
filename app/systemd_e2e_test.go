package app_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeTalksToSystemd runs `serve` as systemd would run a Type=notify
// unit with a watchdog: READY=1 arrives once /ready answers, WATCHDOG=1
// arrives at half the interval, and SIGTERM sends STOPPING=1 before the
// process exits 0.
func TestServeTalksToSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s notification", what)
			return ""
		}
	}

	addr := freeAddr(t)
	dataDir := t.TempDir()
	logf, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Env = append(os.Environ(), envRunAsCLI+"=1", "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("server log:\n%s", b)
		}
	})

	ready := next("READY")
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "MAINPID=") {
		t.Fatalf("first notification %q, want READY=1 with MAINPID", ready)
	}
	// Ready means ready: the server answers at once.
	resp, err := http.Get("http://" + addr + "/ready")
	if err != nil {
		t.Fatalf("READY=1 was sent before the server answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/ready %d after READY=1", resp.StatusCode)
	}
	// Pings at half of WATCHDOG_USEC: three arrive well within 2 s.
	start := time.Now()
	for i := 0; i < 3; i++ {
		if m := next("WATCHDOG"); m != "WATCHDOG=1" {
			t.Fatalf("ping %d: %q", i, m)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("three pings took %v with a 400 ms watchdog", time.Since(start))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		m := next("STOPPING")
		if m == "WATCHDOG=1" {
			continue
		}
		if m != "STOPPING=1" {
			t.Fatalf("after SIGTERM: %q", m)
		}
		break
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM", err)
	}
}
