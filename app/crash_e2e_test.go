package app_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// proc is an agentops server in a child process (this test binary run as
// the CLI), so that it can be killed with SIGKILL.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	args    []string
	addr    string
	dataDir string
	log     *os.File
	env     []string // added to the server's environment (its runners inherit it)
}

func startProc(t *testing.T, dataDir, dbURL string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, addr: freeAddr(t), dataDir: dataDir, env: env}
	p.args = []string{"serve", "--listen", p.addr, "--data-dir", dataDir, "--database-url", dbURL, "--log-level", "warn"}
	var err error
	if p.log, err = os.Create(filepath.Join(t.TempDir(), "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		killRunnersUnder(dataDir)
		if t.Failed() {
			b, _ := os.ReadFile(p.log.Name())
			t.Logf("server log:\n%s", b)
		}
	})
	p.start()
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(append(os.Environ(), envRunAsCLI+"=1"), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually.NoError(p.t, 30*time.Second, "the server to come up", func() error { return ready(http.DefaultClient, "http://"+p.addr) })
}

// stop is a graceful stop (SIGTERM), as systemctl stop or restart.
func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// kill is kill -9.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// killRunnersUnder kills runner processes whose command line names dir
// (they run in their own process groups and outlive the server).
func killRunnersUnder(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, " runner ") && strings.Contains(cmdline, dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestKillNineLosesNothing kills the server with SIGKILL in the middle of
// streaming turns, 20 times, restarting it each time. Every prompt the API
// acknowledged must end up in the transcript exactly once, with exactly
// one complete answer, and the prompt queued behind it must survive too.
func TestKillNineLosesNothing(t *testing.T) {
	const loops = 20
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dataDir := t.TempDir()
			p := startProc(t, dataDir, storetest.URL(t, d))
			s := &server{t: t, url: "http://" + p.addr}
			var reg struct{ SessionToken string }
			s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
			s.token = reg.SessionToken
			id := s.createSession(nil).Session.ID
			s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })

			rng := rand.New(rand.NewPCG(1, 2))
			for i := range loops {
				// Wait until the session can take a prompt at once: a
				// followup sent while it cannot would take the pending slot,
				// and the next one would replace it (by design).
				s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerBusy"] == false })
				// One streaming turn, and one prompt queued behind it.
				s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": fmt.Sprintf("a%d\n/chunks 40\n/slow 15", i)}, 200, nil)
				s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": fmt.Sprintf("b%d", i)}, 200, nil)
				time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
				p.kill()
				p.start()
				want := fmt.Sprintf("You said: b%d", i)
				s.waitTranscript(id, func(m []message) bool {
					return len(m) > 0 && m[len(m)-1].Content == want && len(partsOfType(m[len(m)-1], "finish")) == 1
				})
			}
			msgs := s.messages(id)
			lost, dup := 0, 0
			for i := range loops {
				for _, want := range []string{fmt.Sprintf("a%d\n/chunks 40\n/slow 15", i), fmt.Sprintf("b%d", i)} {
					users, answers := 0, 0
					quote := "You said: " + strings.SplitN(want, "\n", 2)[0]
					for _, m := range msgs {
						if m.Role == "user" && m.Content == want {
							users++
						}
						if m.Role == "assistant" && m.Content == quote && len(partsOfType(m, "finish")) == 1 {
							answers++
							if len(m.Parts) != 2 || len(partsOfType(m, "text")) != 1 {
								t.Errorf("%q: want one text part and the finish, got %+v", m.Content, m.Parts)
							}
						}
					}
					lost += max(0, 1-users) + max(0, 1-answers)
					dup += max(0, users-1) + max(0, answers-1)
				}
			}
			if len(msgs) != loops*4 {
				t.Errorf("transcript has %d messages, want %d", len(msgs), loops*4)
			}
			t.Logf("%s: %d kill -9 restarts mid-stream: %d messages, %d lost, %d duplicated", d, loops, len(msgs), lost, dup)
			if lost != 0 || dup != 0 {
				for _, m := range msgs {
					t.Logf("%s %q %d parts", m.Role, m.Content, len(m.Parts))
				}
				t.Fatalf("%d lost, %d duplicated", lost, dup)
			}
			s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
		})
	}
}

// TestBrowserResumesByOffsetAfterKill: a browser watching a stream when the
// server is killed reconnects, reloads the transcript over REST, and merges
// the chunks that follow by their offsets: no gap, nothing twice.
func TestBrowserResumesByOffsetAfterKill(t *testing.T) {
	dataDir := t.TempDir()
	p := startProc(t, dataDir, storetest.URL(t, store.SQLite))
	s := &server{t: t, url: "http://" + p.addr}
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	s.token = reg.SessionToken
	id := s.createSession(nil).Session.ID
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })

	b := s.dial(id, s.token)
	prompt := strings.Repeat("0123456789", 40)
	b.send(map[string]any{"type": "prompt", "content": prompt + "\n/chunks 200\n/slow 10"})
	b.waitUser(prompt + "\n/chunks 200\n/slow 10")
	var text strings.Builder
	var msgID string
	merge := func(f map[string]any) bool {
		if f["type"] != "chunk" {
			return false
		}
		if msgID == "" {
			msgID = f["messageId"].(string)
		}
		off, content := int(f["offset"].(float64)), f["content"].(string)
		have := text.Len() // ASCII: UTF-16 units equal bytes
		switch {
		case off > have:
			t.Fatalf("gap: chunk at %d, have %d", off, have)
		case off+len(content) > have:
			text.WriteString(content[have-off:])
		}
		return text.Len() >= 60
	}
	b.waitFor("some chunks", merge)
	p.kill()
	p.start()

	// Reconnect: reload over REST (what the server has), then merge.
	b2 := s.dial(id, s.token)
	for _, m := range s.messages(id) {
		if m.ID == msgID && len(m.Content) > text.Len() {
			text.Reset()
			text.WriteString(m.Content)
		}
	}
	want := "You said: " + prompt
	b2.waitFor("the rest of the stream", func(f map[string]any) bool {
		merge(f)
		return text.Len() >= len(want)
	})
	if text.String() != want {
		t.Fatalf("merged text differs:\n got %q\nwant %q", text.String(), want)
	}
	msgs := s.waitTranscript(id, func(m []message) bool { return len(m) == 2 && len(partsOfType(m[1], "finish")) == 1 })
	if msgs[1].Content != want {
		t.Fatalf("stored text: %q", msgs[1].Content)
	}
	s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
}
