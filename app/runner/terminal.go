package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/agentops/agentops/app/protocol"
)

// terminals are the shells the browser opened on one connection. They end
// with the connection: a reconnecting runner does not replay terminal
// output (it is not part of the session's stream), so a shell left behind
// would have nobody to talk to.
//
// Each shell has its own credit (protocol.TerminalWindow): its reader
// stops reading the pseudo-terminal while that much output is
// unacknowledged, so the kernel pauses the shell, and the connection
// carries at most a window per terminal ahead of the session's frames.
type terminals struct {
	ctx       context.Context
	log       *slog.Logger
	workspace string
	send      func(ctx context.Context, b []byte) error

	mu     sync.Mutex
	shells map[string]*shell
	closed bool
	wg     sync.WaitGroup // one per shell's goroutines
}

func newTerminals(ctx context.Context, log *slog.Logger, workspace string, send func(context.Context, []byte) error) *terminals {
	return &terminals{ctx: ctx, log: log, workspace: workspace, send: send, shells: map[string]*shell{}}
}

// shell is one running shell on a pseudo-terminal.
type shell struct {
	id   string
	cmd  *exec.Cmd
	ptmx *os.File

	// Input waiting for the pty, bounded in bytes by the server's credit
	// (protocol.TerminalInputWindow), however small its frames.
	inMu    sync.Mutex
	inQ     [][]byte
	inBytes int
	inWake  chan struct{}

	mu      sync.Mutex
	unacked int           // output bytes sent and not acknowledged
	credit  chan struct{} // closed and replaced when unacked shrinks
	done    chan struct{} // closed when the shell is being ended
	once    sync.Once
}

// handle takes one terminal frame from the server. It never blocks.
func (t *terminals) handle(raw []byte) {
	var f protocol.TerminalFrame
	if err := json.Unmarshal(raw, &f); err != nil || f.TerminalID == "" {
		t.log.Warn("ignoring an unreadable terminal frame", "err", err)
		return
	}
	switch f.Type {
	case protocol.TerminalOpen:
		t.open(f.TerminalID, f.Cols, f.Rows)
	case protocol.TerminalInput:
		if s := t.get(f.TerminalID); s != nil && !s.queueInput(f.Data) {
			// Only a server that ignores the input window gets here.
			t.log.Warn("terminal input over the window; dropped", "terminal_id", f.TerminalID, "bytes", len(f.Data))
		}
	case protocol.TerminalResize:
		if s := t.get(f.TerminalID); s != nil {
			_ = pty.Setsize(s.ptmx, winsize(f.Cols, f.Rows))
		}
	case protocol.TerminalAck:
		if s := t.get(f.TerminalID); s != nil {
			s.mu.Lock()
			s.unacked = max(s.unacked-f.Bytes, 0)
			close(s.credit)
			s.credit = make(chan struct{})
			s.mu.Unlock()
		}
	case protocol.TerminalClose:
		if s := t.get(f.TerminalID); s != nil {
			s.end()
		}
	}
}

func (t *terminals) get(id string) *shell {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shells[id]
}

func winsize(cols, rows int) *pty.Winsize {
	if cols <= 0 || cols > 1000 {
		cols = 80
	}
	if rows <= 0 || rows > 1000 {
		rows = 24
	}
	return &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}
}

// shellPath is the runner user's login shell ($SHELL), else /bin/sh.
func shellPath() string {
	if s := os.Getenv("SHELL"); s != "" {
		if fi, err := os.Stat(s); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return s
		}
	}
	return "/bin/sh"
}

// shellEnv is the runner's environment without provider keys, tokens and
// the runner's own settings: a person at the terminal has no business with
// the owner's API keys (see app/credentials.Env for what the runner gets).
func shellEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		up := strings.ToUpper(name)
		switch {
		case strings.HasPrefix(up, "AGENTOPS_"),
			strings.HasSuffix(up, "_API_KEY"), strings.HasSuffix(up, "_TOKEN"),
			strings.HasSuffix(up, "_SECRET"), strings.HasSuffix(up, "_SECRET_KEY"),
			strings.HasSuffix(up, "_BASE_URL"), up == "OPENAI_MODELS":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "TERM=xterm-256color")
}

func (t *terminals) open(id string, cols, rows int) {
	t.mu.Lock()
	if t.closed || t.shells[id] != nil {
		t.mu.Unlock()
		return
	}
	cmd := exec.Command(shellPath())
	cmd.Dir = t.workspace
	cmd.Env = shellEnv()
	// pty.Start makes the shell a session leader (setsid) with the pty as
	// its controlling terminal: its process group is its pid, and a
	// hang-up reaches every job it started.
	ptmx, err := pty.StartWithSize(cmd, winsize(cols, rows))
	if err != nil {
		t.mu.Unlock()
		t.log.Warn("could not start a terminal", "terminal_id", id, "err", err)
		t.sendFrame(protocol.TerminalFrame{Type: protocol.TerminalClose, TerminalID: id, Error: err.Error()})
		return
	}
	s := &shell{id: id, cmd: cmd, ptmx: ptmx, inWake: make(chan struct{}, 1),
		credit: make(chan struct{}), done: make(chan struct{})}
	t.shells[id] = s
	t.wg.Add(2)
	t.mu.Unlock()
	t.log.Info("terminal opened", "terminal_id", id, "pid", cmd.Process.Pid)
	go func() { defer t.wg.Done(); t.writeInput(s) }()
	go func() { defer t.wg.Done(); t.readOutput(s) }()
}

// queueInput queues input for the pty; false if it would exceed the window.
func (s *shell) queueInput(b []byte) bool {
	s.inMu.Lock()
	if s.inBytes+len(b) > protocol.TerminalInputWindow {
		s.inMu.Unlock()
		return false
	}
	s.inQ = append(s.inQ, b)
	s.inBytes += len(b)
	s.inMu.Unlock()
	select {
	case s.inWake <- struct{}{}:
	default:
	}
	return true
}

// writeInput feeds the server's input to the pty and returns the credit.
func (t *terminals) writeInput(s *shell) {
	for {
		s.inMu.Lock()
		var b []byte
		if len(s.inQ) > 0 {
			b = s.inQ[0]
			s.inQ[0] = nil
			s.inQ = s.inQ[1:]
		}
		s.inMu.Unlock()
		if b == nil {
			select {
			case <-s.done:
				return
			case <-s.inWake:
			}
			continue
		}
		// A pty whose buffer is full blocks here until the shell reads;
		// end() closes it.
		if _, err := s.ptmx.Write(b); err != nil {
			return
		}
		s.inMu.Lock()
		s.inBytes -= len(b)
		s.inMu.Unlock()
		_ = t.sendFrame(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: s.id, Bytes: len(b)})
	}
}

// readOutput sends what the shell prints, within the window, until the
// shell ends; then it reports the end.
func (t *terminals) readOutput(s *shell) {
	buf := make([]byte, protocol.TerminalChunk)
	for {
		s.mu.Lock()
		for s.unacked >= protocol.TerminalWindow {
			ch := s.credit
			s.mu.Unlock()
			select {
			case <-ch:
			case <-s.done:
				t.finish(s)
				return
			case <-t.ctx.Done():
				t.finish(s)
				return
			}
			s.mu.Lock()
		}
		room := min(len(buf), protocol.TerminalWindow-s.unacked)
		s.mu.Unlock()
		n, err := s.ptmx.Read(buf[:room])
		if n > 0 {
			s.mu.Lock()
			s.unacked += n
			s.mu.Unlock()
			if t.sendFrame(protocol.TerminalFrame{Type: protocol.TerminalOutput, TerminalID: s.id, Data: buf[:n]}) != nil {
				t.finish(s)
				return
			}
		}
		if err != nil { // EIO once the shell and its jobs closed the pty
			t.finish(s)
			return
		}
	}
}

// finish ends the shell if it still runs, waits for it and reports its end.
func (t *terminals) finish(s *shell) {
	s.end()
	waited := make(chan error, 1)
	go func() { waited <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-time.After(2 * time.Second): // it ignored the hang-up
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		err = <-waited
	}
	_ = s.ptmx.Close()
	t.mu.Lock()
	delete(t.shells, s.id)
	t.mu.Unlock()
	f := protocol.TerminalFrame{Type: protocol.TerminalClose, TerminalID: s.id}
	code := -1
	if s.cmd.ProcessState != nil {
		code = s.cmd.ProcessState.ExitCode() // -1: ended by a signal (a hang-up)
	}
	var ee *exec.ExitError
	if (err == nil || errors.As(err, &ee)) && code >= 0 {
		f.ExitCode = &code
	}
	t.log.Info("terminal ended", "terminal_id", s.id, "exit_code", code)
	_ = t.sendFrame(f)
}

// end hangs up the shell: SIGHUP to its process group, as a terminal that
// goes away does (finish sends SIGKILL to a shell that ignores it).
// Closing the pty wakes the reader.
func (s *shell) end() {
	s.once.Do(func() {
		close(s.done)
		groups := []int{s.cmd.Process.Pid}
		// The job in the foreground has a group of its own when the shell
		// does job control; it is hung up too.
		if rc, err := s.ptmx.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if fg, err := unix.IoctlGetInt(int(fd), unix.TIOCGPGRP); err == nil && fg > 0 && fg != groups[0] {
					groups = append(groups, fg)
				}
			})
		}
		for _, g := range groups {
			_ = syscall.Kill(-g, syscall.SIGHUP)
			_ = syscall.Kill(-g, syscall.SIGCONT) // a stopped job must run to see it
		}
		_ = s.ptmx.Close()
	})
}

func (t *terminals) sendFrame(f protocol.TerminalFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return t.send(t.ctx, b)
}

// closeAll ends every shell and waits for them.
func (t *terminals) closeAll() {
	t.mu.Lock()
	t.closed = true
	all := make([]*shell, 0, len(t.shells))
	for _, s := range t.shells {
		all = append(all, s)
	}
	t.mu.Unlock()
	for _, s := range all {
		s.end()
	}
	t.wg.Wait()
}
