// Package redistest starts a throwaway Redis server from the installed
// redis-server binary, for tests: no persistence, listening on a free
// loopback port, stopped (and its directory removed) by Stop.
//
// A test run shares one server: `make test` starts one (internal/testutil/testenv)
// and passes its URL in AGENTOPS_TEST_REDIS_URL. Without that variable the
// first test that calls URL starts one for its package; such packages call
// StopShared from TestMain when their tests end.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvURL names the variable holding the shared server's URL.
const EnvURL = "AGENTOPS_TEST_REDIS_URL"

// ErrNotInstalled means no redis-server binary was found.
var ErrNotInstalled = errors.New("redis-server not found: install Debian's redis-server package (`apt-get install redis-server`) or set AGENTOPS_REDIS_SERVER")

// Server is a running throwaway Redis.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit status, once done is closed
}

// Binary finds redis-server: AGENTOPS_REDIS_SERVER, else PATH, else
// /usr/bin/redis-server.
func Binary() (string, error) {
	if p := os.Getenv("AGENTOPS_REDIS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", ErrNotInstalled
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a server in a new temporary directory and waits until it
// answers PING.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agentops-redis-")
	if err != nil {
		return nil, fmt.Errorf("create redis dir: %w", err)
	}
	for attempt := 0; ; attempt++ {
		s, err := start(ctx, bin, dir)
		if err == nil {
			return s, nil
		}
		// Another process may have taken the port between freePort and
		// the server's bind: try another.
		if attempt >= 3 || ctx.Err() != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func start(ctx context.Context, bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: port, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--logfile", dir+"/redis.log")
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	for {
		if err := ping(ctx, s.addr()); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			logTail, _ := os.ReadFile(dir + "/redis.log")
			return nil, fmt.Errorf("redis-server exited: %v\n%s", s.err, logTail)
		case <-ctx.Done():
			_ = s.kill()
			return nil, fmt.Errorf("redis-server did not answer: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func (s *Server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.addr() + "/0" }

func (s *Server) kill() error {
	_ = s.cmd.Process.Kill()
	<-s.done
	return nil
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.dir)
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return s.kill()
	}
	return nil
}

var shared struct {
	once   sync.Once
	url    string
	err    error
	server *Server
}

// SharedURL returns the URL of the run's shared server, starting one for
// this process when AGENTOPS_TEST_REDIS_URL is not set.
func SharedURL() (string, error) {
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared.url = u
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.server, shared.err = Start(ctx)
		if shared.err == nil {
			shared.url = shared.server.URL()
		}
	})
	return shared.url, shared.err
}

// URL returns the shared server's URL or fails the test.
func URL(t testing.TB) string {
	t.Helper()
	u, err := SharedURL()
	if err != nil {
		t.Fatalf("start redis for tests: %v", err)
	}
	return u
}

// StopShared stops a server that SharedURL started in this process. A
// start in progress is waited for.
func StopShared() {
	shared.once.Do(func() {}) // synchronizes with a start in another goroutine
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "redistest:", err)
		}
		shared.server = nil
	}
}
