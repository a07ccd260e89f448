package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a server started by the load program, in the load program's own
// session (no setsid), so that the kernel's autogroup scheduling treats
// both sides alike.
type proc struct {
	name string
	cmd  *exec.Cmd
	url  string
	dir  string
	log  *os.File
	done chan error
	// after runs once the process has ended (a throwaway database's drop)
	after func()
}

// start runs bin with args in dir (which it owns: removed on stop) and
// waits until GET url+readyPath answers 200.
func start(ctx context.Context, name, bin string, args []string, dir, url, readyPath string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if err := evictFromPageCache(bin); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cpus()))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, url: url, dir: dir, log: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(url + readyPath)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited at start (%v): %s", name, err, tail(logf.Name()))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready within 60 s: %s", name, tail(logf.Name()))
		}
	}
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
	if p.after != nil {
		p.after()
	}
}

// cpuTime is the process's user + system CPU time so far.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// evictFromPageCache drops the binary's clean pages from the page cache,
// so that every server starts as it would after a reboot. A binary just
// built or copied sits in the page cache in large folios, and the kernel
// maps a whole folio into the process on a fault: the same server then
// shows 13 MB more resident (45 MB against 32 MB for agentops), all of it
// its own file's pages, and a comparison would measure which binary was
// written last.
func evictFromPageCache(bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("evict %s from the page cache: %w", bin, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("evict %s from the page cache: %w", bin, err)
	}
	return nil
}

// memory is a process's resident set: all of it, its anonymous pages
// (heap, stacks) and its file pages (mostly its own binary's).
type memory struct{ rss, anon, file int64 } // kB

func (p *proc) memory() (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range bytes.Split(b, []byte("\n")) {
		for _, f := range []struct {
			key string
			to  *int64
		}{{"VmRSS:", &m.rss}, {"RssAnon:", &m.anon}, {"RssFile:", &m.file}} {
			if v, ok := bytes.CutPrefix(line, []byte(f.key)); ok {
				*f.to, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			}
		}
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS")
	}
	return m, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
