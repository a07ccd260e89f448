// Package cli holds what the CLI adapters share: the agent's private
// directories and environment, and a child process in its own process
// group whose JSON lines are read in the background.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentops/agentops/app/runner/agent"
)

// Dirs are an agent's private directories, under its state dir and so
// outside the workspace.
type Dirs struct {
	Root, Home, Config, Data, Cache, State string
	temp                                   bool
}

// MakeDirs creates the directories under stateDir (empty: a temporary
// directory that Remove deletes).
func MakeDirs(stateDir, agentID string) (Dirs, error) {
	d := Dirs{Root: stateDir}
	if stateDir == "" {
		tmp, err := os.MkdirTemp("", "agentops-"+agentID+"-")
		if err != nil {
			return d, err
		}
		d.Root, d.temp = tmp, true
	}
	d.Home = filepath.Join(d.Root, "home")
	d.Config = filepath.Join(d.Root, "config")
	d.Data = filepath.Join(d.Root, "data")
	d.Cache = filepath.Join(d.Root, "cache")
	d.State = filepath.Join(d.Root, "state")
	for _, p := range []string{d.Home, d.Config, d.Data, d.Cache, d.State} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Remove deletes a temporary state dir (a given one is kept: it belongs
// to the session).
func (d Dirs) Remove() error {
	if d.temp {
		return os.RemoveAll(d.Root)
	}
	return nil
}

// Env is the base environment of an agent process: PATH and locale from
// the runner, HOME and XDG from dirs, and nothing else. Adapters add
// their provider's variables.
func Env(o agent.Options, d Dirs) []string {
	env := []string{
		"HOME=" + d.Home,
		"XDG_CONFIG_HOME=" + d.Config,
		"XDG_DATA_HOME=" + d.Data,
		"XDG_CACHE_HOME=" + d.Cache,
		"XDG_STATE_HOME=" + d.State,
		"TMPDIR=" + os.TempDir(),
	}
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TZ", "TERM"} {
		if v := o.Env(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if o.Env("PATH") == "" {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return env
}

// Pass appends the named variables the runner has (and that are not
// empty) to env.
func Pass(env []string, o agent.Options, names ...string) []string {
	for _, k := range names {
		if v := o.Env(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Proc is a running CLI.
type Proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan json.RawMessage
	done  chan struct{} // closed when the process has exited and stdout is drained
	log   *slog.Logger

	mu      sync.Mutex
	stderr  tail
	waitErr error
}

// Start runs bin with args in dir, stdin a pipe when keepStdin (else
// /dev/null), stdout read as JSON lines (malformed ones are logged and
// skipped), stderr kept (its tail) for error messages.
func Start(bin string, args []string, dir string, env []string, keepStdin bool, log *slog.Logger) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{cmd: cmd, lines: make(chan json.RawMessage, 256), done: make(chan struct{}), log: log}
	var err error
	if keepStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 32<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if len(strings.TrimSpace(string(line))) == 0 {
				continue
			}
			if !json.Valid(line) {
				log.Warn("skipping a malformed line from the agent", "line", agent.Truncate(string(line), 200))
				continue
			}
			p.lines <- json.RawMessage(append([]byte(nil), line...))
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
	}()
	return p, nil
}

// Lines delivers the JSON lines; it is closed when the process has
// exited.
func (p *Proc) Lines() <-chan json.RawMessage { return p.lines }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Send writes one JSON line to stdin.
func (p *Proc) Send(v any) error {
	if p.stdin == nil {
		return errors.New("cli: stdin is not open")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = p.stdin.Write(append(data, '\n'))
	return err
}

// ExitError describes how the process ended, with stderr's tail.
func (p *Proc) ExitError(name string) error {
	p.mu.Lock()
	err := p.waitErr
	p.mu.Unlock()
	msg := strings.TrimSpace(p.stderr.String())
	switch {
	case err == nil && msg == "":
		return fmt.Errorf("%s exited", name)
	case err == nil:
		return fmt.Errorf("%s exited: %s", name, msg)
	case msg == "":
		return fmt.Errorf("%s exited: %v", name, err)
	}
	return fmt.Errorf("%s exited (%v): %s", name, err, msg)
}

// Stop ends the process: stdin closed, SIGTERM to its group, SIGKILL
// after grace. It waits for the exit.
func (p *Proc) Stop(grace time.Duration) {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	lines := p.lines // read what is still coming, so the reader never blocks
	for {
		select {
		case <-p.done:
			return
		case _, ok := <-lines:
			if !ok {
				lines = nil
			}
		case <-t.C:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// CloseStdin closes stdin and waits up to grace for the process to exit
// by itself, then stops it.
func (p *Proc) CloseStdin(grace time.Duration) {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	lines := p.lines
	for {
		select {
		case <-p.done:
			return
		case _, ok := <-lines:
			if !ok {
				lines = nil
			}
		case <-t.C:
			p.Stop(grace)
			return
		}
	}
}

// Drain reads lines until the process exits (after a Stop), so that the
// reader goroutine never blocks.
func (p *Proc) Drain(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-p.lines:
			if !ok {
				return
			}
		}
	}
}

// tail keeps the last 4 KiB written.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
