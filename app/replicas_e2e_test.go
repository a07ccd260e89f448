package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// testLease is the lease time of the replicas in these tests: short, so
// failover is quick (the default is 20 s). TEST_REPLICAS_LEASE=20s
// measures failover with the default (docs/benchmarks.md).
var testLease = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("TEST_REPLICAS_LEASE")); err == nil {
		return d
	}
	return 3 * time.Second
}()

// startReplica runs `agentops serve` as one of several replicas on db,
// sharing the instance keyring in keyFile (the first replica creates it).
func startReplica(t *testing.T, db, keyFile string, extra ...string) *proc {
	t.Helper()
	dataDir := t.TempDir()
	p := &proc{t: t, addr: freeAddr(t), dataDir: dataDir}
	p.args = []string{"serve", "--listen", p.addr, "--data-dir", dataDir, "--database-url", db, "--log-level", "info",
		"--instance-key-file", keyFile, "--sandbox", "external", "--advertise-url", "http://" + p.addr,
		"--session-lease", testLease.String()}
	p.args = append(p.args, extra...)
	var err error
	if p.log, err = os.Create(filepath.Join(t.TempDir(), "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log.Name())
			t.Logf("replica %s log:\n%s", p.addr, b)
		}
	})
	p.start()
	return p
}

// balancer is a load balancer without affinity in front of the replicas:
// each request goes to the next replica that is up.
type balancer struct {
	mu   sync.Mutex
	reps []*proc
	down map[*proc]bool
	next int
	srv  *httptest.Server
}

func newBalancer(t *testing.T, reps []*proc) *balancer {
	b := &balancer{reps: reps, down: map[*proc]bool{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		var to *proc
		for range b.reps {
			p := b.reps[b.next%len(b.reps)]
			b.next++
			if !b.down[p] {
				to = p
				break
			}
		}
		b.mu.Unlock()
		if to == nil {
			http.Error(w, "no replica", http.StatusBadGateway)
			return
		}
		u, _ := url.Parse("http://" + to.addr)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *balancer) setDown(p *proc, down bool) {
	b.mu.Lock()
	b.down[p] = down
	b.mu.Unlock()
}

// owner returns the replica whose actor runs the session, from the
// database.
func owner(t *testing.T, st *store.Store, reps []*proc, id string) *proc {
	t.Helper()
	ctx := context.Background()
	var found *proc
	eventually.NoError(t, 30*time.Second, "the session to have a live owner", func() error {
		l, err := st.Leases().Get(ctx, id)
		if err != nil {
			return err
		}
		if !l.Held(time.Now()) {
			return fmt.Errorf("lease not held: %+v", l)
		}
		r, err := st.Replicas().Get(ctx, l.Owner)
		if err != nil {
			return err
		}
		for _, p := range reps {
			if r.AdvertiseURL == "http://"+p.addr {
				found = p
				return nil
			}
		}
		return fmt.Errorf("owner %s is none of the replicas", r.AdvertiseURL)
	})
	return found
}

// streams merges a browser's chunk frames by message and offset, failing
// on a gap; text seen twice is merged away, as the web client does.
type streams struct {
	t    *testing.T
	text map[string]*strings.Builder
}

func newStreams(t *testing.T) *streams { return &streams{t: t, text: map[string]*strings.Builder{}} }

func (s *streams) merge(f map[string]any) {
	if f["type"] != "chunk" {
		return
	}
	id, _ := f["messageId"].(string)
	b := s.text[id]
	if b == nil {
		b = &strings.Builder{}
		s.text[id] = b
	}
	off, content := int(f["offset"].(float64)), f["content"].(string)
	switch have := b.Len(); {
	case off > have:
		s.t.Fatalf("gap in message %s: chunk at %d, have %d", id, off, have)
	case off+len(content) > have:
		b.WriteString(content[have-off:])
	}
}

// reload takes what the server has stored for the session's messages, as
// a reconnecting client does, before merging what follows.
func (s *streams) reload(msgs []message) {
	for _, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		b := s.text[m.ID]
		if b == nil || len(m.Content) > b.Len() {
			b = &strings.Builder{}
			b.WriteString(m.Content)
			s.text[m.ID] = b
		}
	}
}

func (s *streams) has(want string) bool {
	for _, b := range s.text {
		if b.String() == want {
			return true
		}
	}
	return false
}

// tryDial opens a browser socket, or says why not.
func tryDial(s *server, id string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := strings.Replace(s.url, "http://", "ws://", 1) + "/api/sessions/" + id + "/ws?role=client"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"valet", "bearer." + s.token}})
	if err != nil {
		return nil, err
	}
	c.CloseNow()
	return s.dial(id, s.token), nil
}

// Three replicas on one Postgres, a load balancer without affinity, an
// external runner and a browser on every replica: every browser sees every
// turn; REST prompts to each replica reach the session; the owner's kill -9
// mid-turn loses nothing acknowledged and shows no text twice; a SIGTERM
// hands the session over; a replica paused past its lease cannot write
// when it resumes.
func TestReplicasShareSessions(t *testing.T) {
	db := storetest.URL(t, store.Postgres)
	keyFile := filepath.Join(t.TempDir(), "instance.key")
	reps := []*proc{}
	for range 3 {
		reps = append(reps, startReplica(t, db, keyFile))
	}
	lb := newBalancer(t, reps)
	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	first := &server{t: t, url: "http://" + reps[0].addr}
	var reg struct{ SessionToken string }
	first.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	on := func(p *proc) *server { return &server{t: t, url: "http://" + p.addr, token: reg.SessionToken} }
	first.token = reg.SessionToken
	id, runnerToken := externalSession(t, first)
	startRunner(t, &server{t: t, url: lb.srv.URL}, id, runnerToken)
	if o := owner(t, st, reps, id); o != reps[0] {
		t.Fatalf("the session runs on %s, want the replica that created it (%s)", o.addr, reps[0].addr)
	}

	browsers := make([]*wsClient, len(reps))
	seen := make([]*streams, len(reps))
	for i, p := range reps {
		browsers[i] = on(p).dial(id, reg.SessionToken)
		seen[i] = newStreams(t)
	}
	browsers[1].waitReady()
	watch := func(i int, want string) {
		t.Helper()
		browsers[i].waitFor(fmt.Sprintf("%q on the browser at replica %d", want, i), func(f map[string]any) bool {
			seen[i].merge(f)
			return seen[i].has(want)
		})
	}

	// A REST prompt on each replica; every browser sees every answer.
	for i, p := range reps {
		s := on(p)
		s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerBusy"] == false })
		s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": fmt.Sprintf("p%d", i)}, 200, nil)
		for j := range browsers {
			watch(j, fmt.Sprintf("You said: p%d", i))
		}
	}

	// kill -9 of the owner mid-turn.
	own := owner(t, st, reps, id)
	var survivor *proc
	var si int
	for i, p := range reps {
		if p != own {
			survivor, si = p, i
			break
		}
	}
	long := strings.Repeat("0123456789", 40)
	prompt := long + "\n/chunks 200\n/slow 10"
	s := on(survivor)
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerBusy"] == false })
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": prompt}, 200, nil)
	want := "You said: " + long
	browsers[si].waitFor("some of the long answer", func(f map[string]any) bool {
		seen[si].merge(f)
		for _, b := range seen[si].text {
			if strings.HasPrefix(b.String(), "You said: 0123") && b.Len() > 60 {
				return true
			}
		}
		return false
	})
	killedAt := time.Now()
	lb.setDown(own, true)
	own.kill()
	var b2 *wsClient
	eventually.NoError(t, 60*time.Second, "a browser to reconnect to the survivor", func() error {
		var err error
		b2, err = tryDial(s, id)
		return err
	})
	seen[si].reload(s.messages(id))
	b2.waitFor("the rest of the long answer", func(f map[string]any) bool {
		seen[si].merge(f)
		return seen[si].has(want)
	})
	t.Logf("failover: kill -9 of the owner to the answer complete on another replica: %s", time.Since(killedAt).Round(time.Millisecond))
	msgs := s.waitTranscript(id, func(m []message) bool {
		return len(m) == 8 && len(partsOfType(m[7], "finish")) == 1
	})
	for i, want := range []string{"p0", "You said: p0", "p1", "You said: p1", "p2", "You said: p2", prompt, "You said: " + long} {
		if msgs[i].Content != want {
			t.Fatalf("message %d: %q, want %q (transcript %+v)", i, msgs[i].Content, want, msgs)
		}
	}
	own.start()
	lb.setDown(own, false)

	// SIGTERM of the owner hands the session over at once.
	own = owner(t, st, reps, id)
	for _, p := range reps {
		if p != own {
			survivor = p
			break
		}
	}
	s = on(survivor)
	termAt := time.Now()
	lb.setDown(own, true)
	if err := own.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := own.cmd.Wait(); err != nil {
		t.Fatalf("a replica stopped by SIGTERM: %v", err)
	}
	own.cmd = nil
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerBusy"] == false })
	t.Logf("hand-over: SIGTERM of the owner to the runner ready on another replica: %s", time.Since(termAt).Round(time.Millisecond))
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "after sigterm"}, 200, nil)
	s.waitTranscript(id, func(m []message) bool {
		return len(m) == 10 && m[9].Content == "You said: after sigterm" && len(partsOfType(m[9], "finish")) == 1
	})
	own.start()
	lb.setDown(own, false)

	// SIGSTOP of the owner past its lease: another replica takes the
	// session; when the paused one resumes its lease is gone and it writes
	// nothing.
	own = owner(t, st, reps, id)
	before, err := st.Leases().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	lb.setDown(own, true)
	if err := own.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var after *store.SessionLease
	eventually.NoError(t, 30*time.Second, "another replica to take the paused owner's session", func() error {
		l, err := st.Leases().Get(context.Background(), id)
		if err != nil {
			return err
		}
		if l.Epoch <= before.Epoch || l.Owner == before.Owner {
			return fmt.Errorf("lease still %+v", l)
		}
		after = l
		return nil
	})
	if err := own.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	lb.setDown(own, false)
	eventually.NoError(t, 30*time.Second, "the resumed replica to notice it lost the session", func() error {
		b, _ := os.ReadFile(own.log.Name())
		if !strings.Contains(string(b), "session lease lost") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	for _, p := range reps {
		if p != own {
			s = on(p)
			break
		}
	}
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true && st["runnerBusy"] == false })
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "after sigstop"}, 200, nil)
	msgs = s.waitTranscript(id, func(m []message) bool {
		return len(m) == 12 && m[11].Content == "You said: after sigstop" && len(partsOfType(m[11], "finish")) == 1
	})
	if l, err := st.Leases().Get(context.Background(), id); err != nil || l.Epoch < after.Epoch {
		t.Fatalf("lease after the paused owner resumed: %+v, %v (it took it back?)", l, err)
	}
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Role+":"+m.Content]++
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%q stored %d times", k, n)
		}
	}
}

// One webhook delivery sent to every replica at once (a sender retrying
// through a load balancer) makes one execution; here the replicas share
// events through Redis.
func TestReplicasWebhookRunsOnce(t *testing.T) {
	db := storetest.URL(t, store.Postgres)
	redisURL, err := redistest.SharedURL()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "instance.key")
	var reps []*proc
	for range 3 {
		reps = append(reps, startReplica(t, db, keyFile, "--pubsub", "redis", "--redis-url", redisURL))
	}
	first := &server{t: t, url: "http://" + reps[0].addr}
	var reg struct{ SessionToken string }
	first.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	first.token = reg.SessionToken
	first.syncWorkflow("quick", `{"steps":[{"id":"a","type":"bash","command":"true"}]}`)
	first.mustJSON("POST", "/api/triggers", first.token, map[string]any{"workflowId": "quick", "name": "hook",
		"config": map[string]any{"type": "webhook", "path": "deploy"}}, 201, nil)
	for i := range 5 {
		body := []byte(fmt.Sprintf(`{"delivery":%d}`, i))
		var wg sync.WaitGroup
		codes := make([]int, len(reps))
		for j, p := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := &server{t: t, url: "http://" + p.addr}
				codes[j], _ = s.post("POST", "/webhooks/deploy", body, map[string]string{"X-Webhook-Id": fmt.Sprint("delivery-", i)})
			}()
		}
		wg.Wait()
		accepted := 0
		for _, c := range codes {
			switch c {
			case 202:
				accepted++
			case 200: // deduplicated
			default:
				t.Fatalf("delivery %d: codes %v", i, codes)
			}
		}
		if accepted != 1 {
			t.Fatalf("delivery %d sent to %d replicas was accepted %d times (codes %v)", i, len(reps), accepted, codes)
		}
	}
	for _, p := range reps {
		s := &server{t: t, url: "http://" + p.addr, token: reg.SessionToken}
		if n := s.executionCount(); n != 5 {
			t.Fatalf("replica %s lists %d executions, want 5", p.addr, n)
		}
	}
}
