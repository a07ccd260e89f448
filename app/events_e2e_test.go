package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store"
)

// userStream is a Server-Sent Events client of GET /api/events.
type userStream struct {
	t      *testing.T
	frames chan map[string]any
	cancel context.CancelFunc
}

func (s *server) events(base, token, lastEventID string) *userStream {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		s.t.Fatalf("GET /api/events: %d", res.StatusCode)
	}
	us := &userStream{t: s.t, frames: make(chan map[string]any, 1000), cancel: cancel}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var f map[string]any
				if json.Unmarshal([]byte(data), &f) == nil {
					us.frames <- f
				}
			}
		}
		close(us.frames)
	}()
	s.t.Cleanup(cancel)
	return us
}

// waitFor returns the first frame of type typ, and the ones before it.
func (us *userStream) waitFor(typ string, match func(map[string]any) bool) (map[string]any, []map[string]any) {
	us.t.Helper()
	var seen []map[string]any
	timeout := time.After(30 * time.Second)
	for {
		select {
		case f, ok := <-us.frames:
			if !ok {
				us.t.Fatalf("event stream ended while waiting for %s", typ)
			}
			if f["type"] == typ && (match == nil || match(f)) {
				return f, seen
			}
			seen = append(seen, f)
		case <-timeout:
			us.t.Fatalf("no %s event within 30s; saw %v", typ, seen)
		}
	}
}

func (us *userStream) quiet() {
	us.t.Helper()
	select {
	case f := <-us.frames:
		us.t.Fatalf("unexpected event %v", f)
	case <-time.After(300 * time.Millisecond):
	}
}

func data(f map[string]any) map[string]any {
	d, _ := f["data"].(map[string]any)
	return d
}

// secondUser registers another user through an invite.
func (s *server) secondUser(email string) string {
	s.t.Helper()
	s.mustJSON("POST", "/api/admin/invites", s.token, map[string]any{"email": email}, 201, nil)
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": email, "password": "a long passphrase"}, 200, &reg)
	return reg.SessionToken
}

// A session's lifecycle and questions reach its owner's event stream, and
// nobody else's.
func TestSessionEventsReachTheirOwner(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local", func(c *app.Config) { c.SessionTimings.QuestionTTL = time.Minute })
		other := s.secondUser("other@example.com")
		owner := s.events(s.url, s.token, "")
		owner.waitFor("ready", nil)
		bystander := s.events(s.url, other, "")
		bystander.waitFor("ready", nil)

		id := s.createSession(nil).Session.ID
		started, _ := owner.waitFor("session.started", nil)
		if started["sessionId"] != id || data(started)["status"] != "initializing" || data(started)["workspace"] != "demo" {
			t.Fatalf("session.started %v", started)
		}
		owner.waitFor("session.update", func(f map[string]any) bool { return data(f)["status"] == "running" })

		b := s.dial(id, s.token)
		b.waitReady()
		b.send(map[string]any{"type": "prompt", "content": "/ask Pick a color | red | blue"})
		asked, _ := owner.waitFor("question.asked", nil)
		qid, _ := data(asked)["questionId"].(string)
		if asked["sessionId"] != id || qid == "" || !strings.Contains(data(asked)["text"].(string), "Pick a color") {
			t.Fatalf("question.asked %v", asked)
		}
		b.send(map[string]any{"type": "answer", "questionId": qid, "answer": "option_0"})
		answered, _ := owner.waitFor("question.answered", nil)
		if data(answered)["questionId"] != qid {
			t.Fatalf("question.answered %v", answered)
		}

		s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
		completed, _ := owner.waitFor("session.completed", nil)
		if completed["sessionId"] != id {
			t.Fatalf("session.completed %v", completed)
		}
		bystander.quiet()
	})
}

// Two replicas on one Postgres database: events of a session run by one
// reach the owner's stream on the other, live (through the pub/sub
// driver) and on resume (through the store).
func TestEventsAcrossReplicas(t *testing.T) {
	for _, ps := range []string{"postgres", "redis"} {
		t.Run(ps, func(t *testing.T) {
			tweak := func(c *app.Config) {
				c.PubSub = ps
				if ps == "redis" {
					c.RedisURL = redistest.URL(t)
				}
			}
			a := startServer(t, store.Postgres, "local", tweak)
			// Replica b: the same database and keyring, its own data dir.
			cfg := a.cfg
			cfg.DataDir = filepath.Join(t.TempDir(), "b")
			cfg.Listen = freeAddr(t)
			cfg.PublicURL = ""
			cfg.AllowedOrigins = nil
			if err := cfg.Resolve(); err != nil {
				t.Fatal(err)
			}
			b := serve(t, cfg)

			onB := a.events(b, a.token, "")
			onB.waitFor("ready", nil)
			id := a.createSession(nil).Session.ID
			started, _ := onB.waitFor("session.started", nil)
			running, _ := onB.waitFor("session.update", func(f map[string]any) bool { return data(f)["status"] == "running" })
			if started["sessionId"] != id || running["sessionId"] != id {
				t.Fatalf("events on replica b: %v %v", started, running)
			}
			onB.cancel()
			a.mustJSON("DELETE", "/api/sessions/"+id, a.token, nil, 200, nil)
			resumed := a.events(b, a.token, started["id"].(string))
			resumed.waitFor("ready", nil)
			_, between := resumed.waitFor("session.completed", nil)
			found := false
			for _, f := range between {
				found = found || f["id"] == running["id"]
			}
			if !found {
				t.Fatalf("resumed on replica b after %s: %v, want %s among them", started["id"], between, running["id"])
			}
		})
	}
}

// serve runs another server with cfg until the test ends and returns its
// URL.
func serve(t *testing.T, cfg app.Config) string {
	t.Helper()
	a := mustOpen(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("replica did not stop")
		}
	})
	url := "http://" + cfg.Listen
	eventually.NoError(t, 15*time.Second, "the replica to be ready", func() error { return ready(http.DefaultClient, url) })
	return url
}
