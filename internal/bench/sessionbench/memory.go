package main

import (
	"github.com/agentops/agentops/internal/bench/benchkit"

	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// usage is what the process holds after a full collection.
type usage struct {
	heapInuse, stackInuse uint64
	rssKB                 int64
	goroutines            int
}

// measure collects garbage, returns freed memory to the OS, and reads the
// runtime's statistics and the RSS from /proc/self/status.
func measure() usage {
	time.Sleep(2 * time.Second) // let closed connections and timers settle
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, rssKB: rssKB(), goroutines: runtime.NumGoroutine()}
}

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// row prints the growth from before to after, per item.
func row(what string, n int, before, after usage) {
	per := func(a, b int64) string { return fmt.Sprintf("%.0f", float64(b-a)/float64(n)) }
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %.2f |\n", what, n,
		per(int64(before.heapInuse), int64(after.heapInuse)), per(int64(before.stackInuse), int64(after.stackInuse)),
		per(int64(before.heapInuse+before.stackInuse), int64(after.heapInuse+after.stackInuse)),
		per(before.rssKB*1024, after.rssKB*1024), float64(after.goroutines-before.goroutines)/float64(n))
}

// memory measures the process per idle actor and per browser socket.
func memory(ctx context.Context, o options, s *server) error {
	tokens, err := s.Users(ctx, (o.sessions+9)/10)
	if err != nil {
		return err
	}
	s.HTTP.CloseIdleConnections()
	start := measure()
	sessions, err := s.CreateSessions(ctx, tokens, o.sessions, 8)
	if err != nil {
		return err
	}
	target := sessions[0]
	sessions = nil // only the target's id and token stay in memory
	s.HTTP.CloseIdleConnections()
	actors := measure()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "-scenario", "sockets-child", "-child-url", s.URL, "-child-token", target.Owner,
		"-child-session", target.ID, "-sockets", strconv.Itoa(o.sockets), "-dial-workers", strconv.Itoa(o.dialWorkers),
		"-timeout", o.timeout.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stdin.Close()
		_ = cmd.Wait()
		return fmt.Errorf("socket child did not get ready: %q %v", line, err)
	}
	sockets := measure()
	if o.memprofile != "" {
		if err := writeHeapProfile(o.memprofile); err != nil {
			return err
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("socket child: %w", err)
	}
	after := measure()

	fmt.Printf("<!-- %s; browser sockets held by a child process -->\n", environment(o))
	fmt.Println("| what | count | HeapInuse B each | StackInuse B each | heap+stacks B each | RSS B each | goroutines each |")
	fmt.Println("|---|---|---|---|---|---|---|")
	row("idle actor (session, external sandbox, no runner)", o.sessions, start, actors)
	row("browser socket (all on one session)", o.sockets, actors, sockets)
	fmt.Printf("\nprocess: before sessions HeapInuse %d KiB, StackInuse %d KiB, RSS %d kB, %d goroutines; "+
		"with %d sessions %d KiB, %d KiB, %d kB, %d; with %d sockets too %d KiB, %d KiB, %d kB, %d; sockets closed %d KiB, %d KiB, %d kB, %d\n",
		start.heapInuse>>10, start.stackInuse>>10, start.rssKB, start.goroutines,
		o.sessions, actors.heapInuse>>10, actors.stackInuse>>10, actors.rssKB, actors.goroutines,
		o.sockets, sockets.heapInuse>>10, sockets.stackInuse>>10, sockets.rssKB, sockets.goroutines,
		after.heapInuse>>10, after.stackInuse>>10, after.rssKB, after.goroutines)
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// socketsChild opens o.sockets browser sockets on a session, says "ready"
// on stdout, and holds them until stdin ends.
func socketsChild(ctx context.Context, o options) error {
	if o.url == "" || o.token == "" || o.sessionID == "" {
		return errors.New("sockets-child needs -child-url, -child-token and -child-session")
	}
	s := benchkit.NewClient(o.url, 1)
	browsers, err := benchkit.DialBrowsers(ctx, s.WSURL(o.sessionID), o.token, o.sockets, o.dialWorkers, 1<<30, o.deltaBytes, &benchkit.Histogram{})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	var ended bytes.Buffer
	for _, b := range browsers {
		select {
		case <-b.Finished:
			fmt.Fprintf(&ended, "a socket ended early: close %d: %v\n", int(b.CloseCode), b.Err)
		default:
		}
		b.Conn.CloseNow()
	}
	if ended.Len() > 0 {
		return errors.New(strings.SplitN(ended.String(), "\n", 2)[0])
	}
	return nil
}
