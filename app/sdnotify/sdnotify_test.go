package sdnotify_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentops/agentops/app/sdnotify"
)

// listen opens a fake notify socket and returns its path and a channel of
// the datagrams it receives.
func listen(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestReadyStoppingAndWatchdog(t *testing.T) {
	path, ch := listen(t)
	n, err := sdnotify.FromEnv(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.WatchdogInterval(); got != 100*time.Millisecond {
		t.Fatalf("watchdog interval %v", got)
	}
	if err := n.Ready("listening"); err != nil {
		t.Fatal(err)
	}
	if s := next(t, ch); !strings.HasPrefix(s, "READY=1\nSTATUS=listening\nMAINPID=") {
		t.Fatalf("ready: %q", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var failing atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watchdog(ctx, func(context.Context) error {
			if failing.Load() {
				return errors.New("database gone")
			}
			return nil
		}, nil)
	}()
	for i := 0; i < 3; i++ {
		if s := next(t, ch); s != "WATCHDOG=1" {
			t.Fatalf("ping %d: %q", i, s)
		}
	}
	// A server that is not alive stops petting the watchdog.
	failing.Store(true)
	time.Sleep(60 * time.Millisecond) // let a ping already under way arrive
	for len(ch) > 0 {
		<-ch
	}
	select {
	case s := <-ch:
		t.Fatalf("pinged while not alive: %q", s)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	<-done
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if s := next(t, ch); s != "STOPPING=1" {
		t.Fatalf("stopping: %q", s)
	}
}

func TestWithoutSocketNothingIsSent(t *testing.T) {
	n, err := sdnotify.FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() || n.Ready("x") != nil || n.Stopping() != nil {
		t.Fatal("a notifier without a socket must be a quiet no-op")
	}
	// Returns at once: no watchdog configured.
	n.Watchdog(context.Background(), nil, nil)
}

func TestWatchdogForAnotherProcessIsOff(t *testing.T) {
	n, err := sdnotify.FromEnv(env(map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if n.WatchdogInterval() != 0 {
		t.Fatal("WATCHDOG_PID of another process must turn the watchdog off")
	}
	if _, err := sdnotify.FromEnv(env(map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"})); err == nil {
		t.Fatal("a malformed WATCHDOG_USEC must be an error")
	}
}
