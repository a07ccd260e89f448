package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) {
	stop := storetest.StopOnInterrupt(redistest.StopShared)
	code := m.Run()
	stop()
	redistest.StopShared()
	storetest.StopShared()
	os.Exit(code)
}

// backend is a database and the pub/sub that replicas on it would use;
// newPubSub returns another replica's pub/sub on the same server.
type backend struct {
	st        *store.Store
	newPubSub func(t *testing.T) realtime.PubSub
}

// eachBackend runs fn on SQLite with the in-process hub, and on Postgres
// with Postgres and with Redis pub/sub.
func eachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	t.Run("sqlite+memory", func(t *testing.T) {
		m := realtime.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		fn(t, backend{st: storetest.Open(t, store.SQLite), newPubSub: func(*testing.T) realtime.PubSub { return m }})
	})
	t.Run("postgres+postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		st, err := store.Open(context.Background(), url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, backend{st: st, newPubSub: func(t *testing.T) realtime.PubSub {
			ps, err := realtime.NewPostgres(context.Background(), url, realtime.PostgresOptions{PublishConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ps.Close() })
			return ps
		}})
	})
	t.Run("postgres+redis", func(t *testing.T) {
		url := redistest.URL(t)
		prefix := "evtest" + uuid.NewString()[:8] + ":"
		fn(t, backend{st: storetest.Open(t, store.Postgres), newPubSub: func(t *testing.T) realtime.PubSub {
			ps, err := realtime.NewRedis(context.Background(), url, realtime.RedisOptions{ChannelPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ps.Close() })
			return ps
		}})
	})
}

func (be backend) bus(t *testing.T, cfg events.Config) *events.Bus {
	t.Helper()
	b := events.New(be.st, be.newPubSub(t), cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	return b
}

func mkUser(t *testing.T, st *store.Store) string {
	t.Helper()
	now := store.Now()
	u := &store.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: store.RoleMember,
		IdleTimeoutSeconds: 900, UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	if err := st.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// frame is a received frame, decoded.
type frame struct {
	realtime.Frame
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	SessionID string          `json:"sessionId"`
	UserID    string          `json:"userId"`
	Data      json.RawMessage `json:"data"`
}

// sink records frames; block, while set, makes Send wait (a slow client).
type sink struct {
	frames chan frame
	mu     sync.Mutex
	block  chan struct{}
}

func newSink() *sink { return &sink{frames: make(chan frame, 10000)} }

func (s *sink) Send(ctx context.Context, f realtime.Frame) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var fr frame
	if err := json.Unmarshal(f.Data, &fr); err != nil {
		return err
	}
	fr.Frame = f
	s.frames <- fr
	return nil
}

func (s *sink) Flush(context.Context) error     { return nil }
func (s *sink) Heartbeat(context.Context) error { return nil }

func (s *sink) next(t *testing.T) frame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	panic("unreachable")
}

func (s *sink) quiet(t *testing.T) {
	t.Helper()
	select {
	case f := <-s.frames:
		t.Fatalf("unexpected frame %s %s", f.Type, f.Data)
	case <-time.After(150 * time.Millisecond):
	}
}

// follow runs Follow in the background until the test ends; the returned
// channel gets its result.
func follow(t *testing.T, b *events.Bus, userID string, opts events.FollowOptions) (*sink, chan error) {
	t.Helper()
	s := newSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Follow(ctx, userID, s, opts) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, done
}

func mustPublish(t *testing.T, b *events.Bus, userID, typ string, data any) events.Event {
	t.Helper()
	e, err := b.Publish(context.Background(), userID, events.Input{Type: typ, SessionID: "s1", Data: data})
	if err != nil {
		t.Fatalf("publish %s: %v", typ, err)
	}
	return e
}

func expectControl(t *testing.T, s *sink, typ, id string) frame {
	t.Helper()
	f := s.next(t)
	if f.Type != typ || f.Event != typ || f.Frame.ID != f.ID {
		t.Fatalf("got %s frame (sse event %q) %s, want %s", f.Type, f.Event, f.Frame.Data, typ)
	}
	if id != "" && f.ID != id {
		t.Fatalf("%s frame has id %s, want %s", typ, f.ID, id)
	}
	return f
}

func expectEvent(t *testing.T, s *sink, want events.Event) {
	t.Helper()
	f := s.next(t)
	if f.Type != want.Type || f.ID != want.ID || f.Frame.ID != want.ID || f.Event != "" || f.UserID != want.UserID || f.SessionID != want.SessionID {
		t.Fatalf("got %s %s (sse id %q event %q), want %s %s", f.Type, f.ID, f.Frame.ID, f.Event, want.Type, want.ID)
	}
	var got, exp any
	_ = json.Unmarshal(f.Data, &got)
	_ = json.Unmarshal(want.Data, &exp)
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("%s data %s, want %s", want.ID, f.Data, want.Data)
	}
}

func TestFollowDeliversOwnEventsInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		b := be.bus(t, events.Config{})
		alice, bob := mkUser(t, be.st), mkUser(t, be.st)
		sa, _ := follow(t, b, alice, events.FollowOptions{})
		sb, _ := follow(t, b, bob, events.FollowOptions{})
		ready := expectControl(t, sa, events.FrameReady, "")
		epoch, seq, err := events.ParseID(ready.ID)
		if err != nil || seq != 0 {
			t.Fatalf("ready id %q of a new stream: %v", ready.ID, err)
		}
		expectControl(t, sb, events.FrameReady, "")

		var sent []events.Event
		for i := range 20 {
			sent = append(sent, mustPublish(t, b, alice, "session.update", map[string]any{"n": i, "status": "running"}))
		}
		for i, e := range sent {
			if e.ID != events.FormatID(epoch, int64(i+1)) {
				t.Fatalf("event %d has id %s", i, e.ID)
			}
			expectEvent(t, sa, e)
		}
		sb.quiet(t) // bob sees none of alice's events
		be2 := mustPublish(t, b, bob, "question.asked", map[string]string{"questionId": "q1"})
		expectEvent(t, sb, be2)
		sa.quiet(t)
	})
}

func TestResumeFromLastEventID(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		b := be.bus(t, events.Config{})
		u := mkUser(t, be.st)
		var sent []events.Event
		for i := range 5 {
			sent = append(sent, mustPublish(t, b, u, "session.update", map[string]int{"n": i}))
		}
		s, _ := follow(t, b, u, events.FollowOptions{LastEventID: sent[1].ID})
		expectControl(t, s, events.FrameReady, sent[1].ID)
		for _, e := range sent[2:] {
			expectEvent(t, s, e)
		}
		live := mustPublish(t, b, u, "session.completed", nil)
		expectEvent(t, s, live)
		// Resuming from the newest id sends nothing old.
		s2, _ := follow(t, b, u, events.FollowOptions{LastEventID: live.ID})
		expectControl(t, s2, events.FrameReady, live.ID)
		s2.quiet(t)
	})
}

func TestResetWhenTheIDCannotBeContinued(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		b := be.bus(t, events.Config{Keep: 10})
		u := mkUser(t, be.st)
		var last events.Event
		for i := range 2 * 64 { // trimmed to the newest 10 at seq 64 and 128
			last = mustPublish(t, b, u, "session.update", map[string]int{"n": i})
		}
		epoch, _, _ := events.ParseID(last.ID)
		for _, tc := range []struct {
			name string
			id   func(lastSeq int64) string
		}{
			{"pruned", func(int64) string { return events.FormatID(epoch, 5) }},
			{"other epoch", func(n int64) string { return events.FormatID("0123456789ab", n-1) }},
			{"ahead of store", func(n int64) string { return events.FormatID(epoch, n+1) }},
			{"malformed", func(int64) string { return "nonsense" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, lastSeq, _ := events.ParseID(last.ID)
				s, _ := follow(t, b, u, events.FollowOptions{LastEventID: tc.id(lastSeq)})
				expectControl(t, s, events.FrameReset, last.ID)
				next := mustPublish(t, b, u, "session.update", nil)
				expectEvent(t, s, next)
				last = next
			})
		}
		// The oldest kept event's predecessor can still be continued.
		kept, err := be.st.UserEvents().OldestSeq(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := follow(t, b, u, events.FollowOptions{LastEventID: events.FormatID(epoch, kept-1)})
		expectControl(t, s, events.FrameReady, events.FormatID(epoch, kept-1))
		if f := s.next(t); f.ID != events.FormatID(epoch, kept) {
			t.Fatalf("first event after resuming is %s, want seq %d", f.ID, kept)
		}
	})
}

// A large event does not fit a hint (nor a NOTIFY): its hint carries only
// its position, and followers read it from the store.
func TestLargeEventTravelsByID(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ps := be.newPubSub(t)
		b := events.New(be.st, ps, events.Config{}, nil)
		u := mkUser(t, be.st)
		hints, err := ps.Subscribe(context.Background(), events.Topic(u))
		if err != nil {
			t.Fatal(err)
		}
		defer hints.Close()
		s, _ := follow(t, b, u, events.FollowOptions{})
		expectControl(t, s, events.FrameReady, "")
		big := strings.Repeat("x", 20000)
		e := mustPublish(t, b, u, "notification", map[string]string{"body": big})
		expectEvent(t, s, e)
		select {
		case m := <-hints.C():
			if string(m.Payload) != e.ID {
				t.Fatalf("hint of a large event: %d bytes: %.200s", len(m.Payload), m.Payload)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no hint")
		}
		// A small one travels whole, behind its id.
		small := mustPublish(t, b, u, "notification", map[string]string{"body": "hi"})
		expectEvent(t, s, small)
		select {
		case m := <-hints.C():
			if !strings.HasPrefix(string(m.Payload), small.ID+"\n{") || !strings.Contains(string(m.Payload), `"body":"hi"`) {
				t.Fatalf("hint of a small event: %s", m.Payload)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no hint")
		}
		if _, err := b.Publish(context.Background(), u, events.Input{Type: "huge", Data: strings.Repeat("x", events.MaxDataBytes)}); err == nil {
			t.Fatal("an event over MaxDataBytes was accepted")
		}
	})
}

// A follower whose client stalls falls behind its hint queue and is
// dropped from pub/sub; it reads what it missed from the store, in order,
// and never slows the publisher.
func TestSlowFollowerCatchesUpFromStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		b := be.bus(t, events.Config{QueueSize: 4})
		u := mkUser(t, be.st)
		slow, _ := follow(t, b, u, events.FollowOptions{})
		expectControl(t, slow, events.FrameReady, "")
		fast, _ := follow(t, b, u, events.FollowOptions{})
		expectControl(t, fast, events.FrameReady, "")
		unblock := make(chan struct{})
		slow.mu.Lock()
		slow.block = unblock
		slow.mu.Unlock()

		var sent []events.Event
		for i := range 100 {
			sent = append(sent, mustPublish(t, b, u, "session.update", map[string]int{"n": i}))
		}
		for _, e := range sent {
			expectEvent(t, fast, e)
		}
		slow.mu.Lock()
		slow.block = nil
		slow.mu.Unlock()
		close(unblock)
		for _, e := range sent {
			expectEvent(t, slow, e)
		}
		slow.quiet(t)
	})
}

// Replicas share the stream: what one publishes, a follower on another
// gets live, and a client resumes on either.
func TestAcrossReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		a := be.bus(t, events.Config{})
		b := be.bus(t, events.Config{})
		u := mkUser(t, be.st)
		s, _ := follow(t, b, u, events.FollowOptions{})
		expectControl(t, s, events.FrameReady, "")
		e1 := mustPublish(t, a, u, "session.started", map[string]string{"status": "initializing"})
		expectEvent(t, s, e1)
		e2 := mustPublish(t, a, u, "session.update", map[string]string{"status": "running"})
		e3 := mustPublish(t, b, u, "session.update", map[string]string{"status": "hibernated"})
		r, _ := follow(t, a, u, events.FollowOptions{LastEventID: e1.ID})
		expectControl(t, r, events.FrameReady, e1.ID)
		expectEvent(t, r, e2)
		expectEvent(t, r, e3)
	})
}

func TestStreamEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		b := be.bus(t, events.Config{Recheck: 20 * time.Millisecond})
		u := mkUser(t, be.st)
		revoked := errors.New("credential revoked")
		var mu sync.Mutex
		var checkErr error
		s, done := follow(t, b, u, events.FollowOptions{Check: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return checkErr
		}})
		expectControl(t, s, events.FrameReady, "")
		mu.Lock()
		checkErr = revoked
		mu.Unlock()
		select {
		case err := <-done:
			if !errors.Is(err, revoked) {
				t.Fatalf("Follow = %v, want the check's error", err)
			}
			done <- err // for the cleanup
		case <-time.After(10 * time.Second):
			t.Fatal("a failing check did not end the stream")
		}

		s2, done2 := follow(t, b, u, events.FollowOptions{})
		expectControl(t, s2, events.FrameReady, "")
		if b.Streams() != 1 {
			t.Fatalf("Streams = %d, want 1", b.Streams())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
		if err := <-done2; !errors.Is(err, events.ErrUnavailable) {
			t.Fatalf("Follow after Shutdown = %v", err)
		}
		done2 <- nil
		if err := b.Follow(context.Background(), u, newSink(), events.FollowOptions{}); !errors.Is(err, events.ErrUnavailable) {
			t.Fatalf("new Follow after Shutdown = %v", err)
		}
		if b.Streams() != 0 {
			t.Fatalf("Streams = %d after shutdown", b.Streams())
		}
	})
}

func TestPruneByAge(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		now := time.Now().UTC()
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		b := be.bus(t, events.Config{MaxAge: time.Hour, Now: clock})
		u := mkUser(t, be.st)
		old := mustPublish(t, b, u, "session.update", nil)
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		recent := mustPublish(t, b, u, "session.update", nil)
		if err := b.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		left, err := be.st.UserEvents().After(context.Background(), u, 0, 10)
		if err != nil || len(left) != 1 || events.FormatID(strings.Split(recent.ID, ":")[0], left[0].Seq) != recent.ID {
			t.Fatalf("after pruning: %v %v", left, err)
		}
		// The first event's predecessor is gone: resuming from it resets.
		epoch, _, _ := events.ParseID(old.ID)
		s, _ := follow(t, b, u, events.FollowOptions{LastEventID: events.FormatID(epoch, 0)})
		expectControl(t, s, events.FrameReset, recent.ID)
	})
}

func TestParseID(t *testing.T) {
	for _, bad := range []string{"", "x", ":1", "e:", "e:-1", "e:+1", "e:1.5", "a:b:1", "e :1", strings.Repeat("e", 65) + ":1"} {
		if _, _, err := events.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	if e, s, err := events.ParseID("abc123:42"); err != nil || e != "abc123" || s != 42 {
		t.Errorf("ParseID = %q %d %v", e, s, err)
	}
}
