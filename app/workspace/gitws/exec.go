package gitws

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// cmd is one git invocation.
type cmd struct {
	dir  string
	args []string
	// env is added to the cleaned environment (see gitEnv).
	env []string
	// secrets are scrubbed from the error message.
	secrets []string
	// stderr, when set, receives git's stderr as it is written (clone
	// progress); the error message then keeps only its tail.
	stderr io.Writer
	stdout io.Writer // when set, stdout is streamed there instead of returned
	stdin  string    // given to git on its standard input
}

// maxErrBytes bounds the git output an error message quotes.
const maxErrBytes = 4 << 10

// GitError is a git command that failed; Stderr is git's own message,
// without any secret the command was given.
type GitError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *GitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("git %s: %s", e.Args[0], msg)
}

func (e *GitError) Unwrap() error { return e.Err }

// gitEnv is the environment of every git command: the process's, without
// what could redirect git or inject configuration (GIT_DIR, GIT_CONFIG_*,
// GIT_ASKPASS …), never prompting on a terminal, and only the transports a
// session may use.
func gitEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GIT_") || name == "SSH_ASKPASS" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=true", // answers any credential prompt with nothing
		"GIT_ALLOW_PROTOCOL=https:http:file",
		"GIT_CONFIG_NOSYSTEM=1",
		// Reports may run while the agent uses git: never take the
		// index lock just to refresh it (git-status(1), "BACKGROUND
		// REFRESH"), or the agent's own git commands could fail.
		"GIT_OPTIONAL_LOCKS=0",
		"LC_ALL=C",
	)
	return append(env, extra...)
}

// run runs git and returns its stdout.
func run(ctx context.Context, c cmd) (string, error) {
	// No hooks: the agent can write them (in .git/hooks, or a hooksPath
	// it configured), and they would run inside agentops' own commands,
	// with their environment (a push's token among it).
	args := append([]string{"-c", "core.quotepath=false", "-c", "color.ui=false", "-c", "core.hooksPath=/dev/null"}, c.args...)
	x := exec.CommandContext(ctx, "git", args...)
	x.Dir = c.dir
	x.Env = gitEnv(c.env)
	if c.stdin != "" {
		x.Stdin = strings.NewReader(c.stdin)
	}
	var stdout bytes.Buffer
	tail := &tailBuffer{max: maxErrBytes}
	if c.stdout != nil {
		x.Stdout = c.stdout
	} else {
		x.Stdout = &stdout
	}
	if c.stderr != nil {
		x.Stderr = io.MultiWriter(tail, c.stderr)
	} else {
		x.Stderr = tail
	}
	if err := x.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &GitError{Args: c.args, Stderr: scrub(tail.String(), c.secrets), Err: errors.New(scrub(err.Error(), c.secrets))}
	}
	return stdout.String(), nil
}

// scrub replaces every secret (and its base64 forms, as they appear in an
// Authorization header) in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "***")
		s = strings.ReplaceAll(s, base64.StdEncoding.EncodeToString([]byte(sec)), "***")
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.b
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	// Progress lines end with \r: keep only the last state of each.
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r'); i >= 0 {
			l = l[i+1:]
		}
		if l = strings.TrimRight(l, "\r "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// progressWriter turns git's --progress output ("Receiving objects:  45%
// (…)\r") into calls of fn with a phase and a percentage.
type progressWriter struct {
	fn      func(phase string, percent int)
	partial []byte
	last    string
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexAny(p.partial, "\r\n")
		if i < 0 {
			break
		}
		p.line(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

func (p *progressWriter) line(l string) {
	l = strings.TrimPrefix(strings.TrimSpace(l), "remote: ")
	name, rest, ok := strings.Cut(l, ":")
	if !ok {
		return
	}
	rest = strings.TrimSpace(rest)
	pct, _, ok := strings.Cut(rest, "%")
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(pct))
	if err != nil || n < 0 || n > 100 {
		return
	}
	key := name + strconv.Itoa(n)
	if key == p.last {
		return
	}
	p.last = key
	p.fn(strings.ToLower(name), n)
}
