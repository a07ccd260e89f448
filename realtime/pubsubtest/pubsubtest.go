// Package pubsubtest is the contract every realtime.PubSub driver passes.
// A driver's test calls Run with a constructor:
//
//	func TestMemory(t *testing.T) {
//		pubsubtest.Run(t, func(t *testing.T) realtime.PubSub { return realtime.NewMemory() })
//	}
//
// Every subtest gets its own PubSub and topic names with a random prefix, so
// drivers that share a server (Postgres, Redis) can run the suite in
// parallel. The tests never assert on speed: waits have generous timeouts
// and only fail when something never happens.
package pubsubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/realtime"
)

// Timeout bounds every wait for something that must happen.
const Timeout = 10 * time.Second

// quiet is how long a test waits to see that something does not happen.
const quiet = 100 * time.Millisecond

// Option adds the parts of the contract that only some drivers can take.
type Option func(*options)

type options struct {
	peer func(t *testing.T, ps realtime.PubSub) realtime.PubSub
	kill func(t *testing.T, ps realtime.PubSub)
}

// WithPeer is for drivers that work across processes: peer returns another
// PubSub on the same server as ps, as another replica would have. The
// contract then checks delivery and order between the two.
func WithPeer(peer func(t *testing.T, ps realtime.PubSub) realtime.PubSub) Option {
	return func(o *options) { o.peer = peer }
}

// WithConnectionKiller is for drivers with a server: kill makes the server
// drop every connection of ps (and only those), as a restart, a failover or
// a network cut would. The contract then checks that subscriptions survive
// with a Resync marker and that publishing goes on.
func WithConnectionKiller(kill func(t *testing.T, ps realtime.PubSub)) Option {
	return func(o *options) { o.kill = kill }
}

// testCase gets a fresh PubSub and a function that makes topic names
// unique to the test.
type testCase struct {
	name string
	fn   func(*testing.T, realtime.PubSub, func(string) string)
}

// Run runs the contract against the PubSubs newPubSub returns. Run closes
// each one at the end of its subtest (Close is idempotent, so newPubSub may
// also register its own cleanup).
func Run(t *testing.T, newPubSub func(t *testing.T) realtime.PubSub, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []testCase{
		{"DeliversToEverySubscriber", testDeliversToEverySubscriber},
		{"PerTopicOrderUnderConcurrentPublishers", testPerTopicOrder},
		{"NoCrossTopicDelivery", testNoCrossTopicDelivery},
		{"SlowSubscriberDropped", testSlowSubscriberDropped},
		{"DefaultQueueHoldsDefaultQueueSize", testDefaultQueue},
		{"UnsubscribeStopsDelivery", testUnsubscribe},
		{"ContextCancelEndsSubscription", testContextCancel},
		{"CloseEndsEverything", testClose},
		{"PayloadIsCopied", testPayloadCopied},
		{"Limits", testLimits},
		{"ResubscribeRightAfterTheLastLeft", testResubscribe},
		{"IdenticalPayloadsAllArrive", testIdenticalPayloads},
	}
	if o.peer != nil {
		tests = append(tests,
			testCase{"AcrossReplicas", func(t *testing.T, ps realtime.PubSub, topic func(string) string) {
				testAcrossReplicas(t, ps, o.peer(t, ps), topic)
			}})
	}
	if o.kill != nil {
		tests = append(tests,
			testCase{"SurvivesDroppedConnection", func(t *testing.T, ps realtime.PubSub, topic func(string) string) {
				testSurvivesDroppedConnection(t, ps, topic, func() { o.kill(t, ps) })
			}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := newPubSub(t)
			t.Cleanup(func() { _ = ps.Close() })
			prefix := randomPrefix(t)
			tc.fn(t, ps, func(name string) string { return prefix + name })
		})
	}
}

func testDeliversToEverySubscriber(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("a")
	subs := make([]realtime.Subscription, 3)
	for i := range subs {
		subs[i] = mustSubscribe(t, ps, tp)
	}
	for i := range 5 {
		mustPublish(t, ps, tp, "m"+strconv.Itoa(i))
	}
	for i, s := range subs {
		for j := range 5 {
			m := mustRecv(t, s)
			if m.Topic != tp || string(m.Payload) != "m"+strconv.Itoa(j) {
				t.Fatalf("subscriber %d message %d: got %s %q, want %s %q", i, j, m.Topic, m.Payload, tp, "m"+strconv.Itoa(j))
			}
		}
	}
}

func testPerTopicOrder(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	const topics, perTopic, subsPerTopic = 4, 300, 2
	type reader struct {
		topic string
		sub   realtime.Subscription
	}
	var readers []reader
	for i := range topics {
		tp := topic("order" + strconv.Itoa(i))
		for range subsPerTopic {
			// The queue holds everything, so a reader that the scheduler
			// starves cannot be dropped: this test is about order only.
			readers = append(readers, reader{tp, mustSubscribe(t, ps, tp, realtime.WithQueueSize(perTopic))})
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, topics+len(readers))
	for i := range topics {
		tp := topic("order" + strconv.Itoa(i))
		wg.Go(func() {
			for n := range perTopic {
				if err := ps.Publish(context.Background(), tp, []byte(strconv.Itoa(n))); err != nil {
					errs <- fmt.Errorf("publish %s #%d: %w", tp, n, err)
					return
				}
			}
		})
	}
	for _, r := range readers {
		wg.Go(func() {
			timeout := time.After(Timeout)
			for want := range perTopic {
				select {
				case m, ok := <-r.sub.C():
					if !ok {
						errs <- fmt.Errorf("%s: subscription ended after %d messages: %v", r.topic, want, r.sub.Err())
						return
					}
					if m.Topic != r.topic || string(m.Payload) != strconv.Itoa(want) {
						errs <- fmt.Errorf("%s: message %d: got %s %q", r.topic, want, m.Topic, m.Payload)
						return
					}
				case <-timeout:
					errs <- fmt.Errorf("%s: timed out after %d of %d messages", r.topic, want, perTopic)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testNoCrossTopicDelivery(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	// Names that share prefixes catch drivers that match by prefix or
	// pattern.
	names := []string{"t", "t2", "t.x", "t*", "T"}
	subs := make(map[string]realtime.Subscription)
	for _, n := range names {
		subs[n] = mustSubscribe(t, ps, topic(n))
	}
	for _, n := range names {
		mustPublish(t, ps, topic(n), "to-"+n)
	}
	for _, n := range names {
		m := mustRecv(t, subs[n])
		if m.Topic != topic(n) || string(m.Payload) != "to-"+n {
			t.Errorf("subscriber of %q got %s %q", n, m.Topic, m.Payload)
		}
	}
	// Anything published to another topic would have been queued before
	// its own message; give network drivers a moment to show strays.
	time.Sleep(quiet)
	for _, n := range names {
		select {
		case m := <-subs[n].C():
			t.Errorf("subscriber of %q got a stray %s %q", n, m.Topic, m.Payload)
		default:
		}
	}
}

func testSlowSubscriberDropped(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	const total, slowQueue = 1000, 4
	tp := topic("slow")
	slow := mustSubscribe(t, ps, tp, realtime.WithQueueSize(slowQueue))
	fast := mustSubscribe(t, ps, tp, realtime.WithQueueSize(total))
	other := mustSubscribe(t, ps, topic("bystander"))

	// Publishing must complete although slow never reads.
	published := make(chan error, 1)
	go func() {
		for n := range total {
			if err := ps.Publish(context.Background(), tp, []byte(strconv.Itoa(n))); err != nil {
				published <- fmt.Errorf("publish #%d: %w", n, err)
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(Timeout):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}

	for want := range total {
		m := mustRecv(t, fast)
		if string(m.Payload) != strconv.Itoa(want) {
			t.Fatalf("fast subscriber: message %d is %q", want, m.Payload)
		}
	}

	// slow holds a gapless prefix of what was published, then ends.
	got := drain(t, slow)
	if len(got) > total-1 {
		t.Fatalf("slow subscriber got %d of %d messages with a queue of %d and was not dropped", len(got), total, slowQueue)
	}
	for i, m := range got {
		if string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("slow subscriber: message %d is %q: not a prefix of what was published", i, m.Payload)
		}
	}
	if err := slow.Err(); !errors.Is(err, realtime.ErrSlowSubscriber) {
		t.Fatalf("slow subscriber Err = %v, want ErrSlowSubscriber", err)
	}

	// fast and the subscriber of another topic are still live.
	mustPublish(t, ps, tp, "after")
	if m := mustRecv(t, fast); string(m.Payload) != "after" {
		t.Fatalf("fast subscriber got %q after the drop", m.Payload)
	}
	mustPublish(t, ps, topic("bystander"), "hi")
	if m := mustRecv(t, other); string(m.Payload) != "hi" {
		t.Fatalf("bystander got %q", m.Payload)
	}
	if fast.Err() != nil || other.Err() != nil {
		t.Fatalf("live subscriptions have errors: %v, %v", fast.Err(), other.Err())
	}
}

func testDefaultQueue(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("q")
	s := mustSubscribe(t, ps, tp)
	for n := range realtime.DefaultQueueSize {
		mustPublish(t, ps, tp, strconv.Itoa(n))
	}
	// A probe subscriber tells when everything has been delivered, so a
	// network driver cannot pass by being late.
	probe := mustSubscribe(t, ps, topic("probe"))
	mustPublish(t, ps, topic("probe"), "x")
	mustRecv(t, probe)
	for want := range realtime.DefaultQueueSize {
		if m := mustRecv(t, s); string(m.Payload) != strconv.Itoa(want) {
			t.Fatalf("message %d is %q", want, m.Payload)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("subscriber with a full default queue was dropped: %v", err)
	}
}

func testUnsubscribe(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("u")
	gone := mustSubscribe(t, ps, tp)
	stays := mustSubscribe(t, ps, tp)
	mustPublish(t, ps, tp, "before")
	mustRecv(t, gone)
	mustRecv(t, stays)

	// Close is idempotent and safe from several goroutines at once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(gone.Close)
	}
	wg.Wait()
	gone.Close()

	mustPublish(t, ps, tp, "after")
	if m := mustRecv(t, stays); string(m.Payload) != "after" {
		t.Fatalf("remaining subscriber got %q", m.Payload)
	}
	if got := drain(t, gone); len(got) != 0 {
		t.Fatalf("closed subscription received %d messages, first %q", len(got), got[0].Payload)
	}
	if err := gone.Err(); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}

	// Closing the last subscriber of a topic and subscribing again works.
	stays.Close()
	again := mustSubscribe(t, ps, tp)
	mustPublish(t, ps, tp, "again")
	if m := mustRecv(t, again); string(m.Payload) != "again" {
		t.Fatalf("new subscriber got %q", m.Payload)
	}
}

func testContextCancel(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("ctx")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := ps.Subscribe(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	other := mustSubscribe(t, ps, tp)
	cancel()
	drain(t, s)
	if err := s.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after cancel = %v, want context.Canceled", err)
	}
	s.Close() // still fine after it ended

	mustPublish(t, ps, tp, "x")
	if m := mustRecv(t, other); string(m.Payload) != "x" {
		t.Fatalf("other subscriber got %q", m.Payload)
	}

	if s, err := ps.Subscribe(ctx, tp); err == nil {
		s.Close()
		t.Fatal("Subscribe with a done context succeeded")
	}
}

func testClose(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	subs := []realtime.Subscription{
		mustSubscribe(t, ps, topic("c1")),
		mustSubscribe(t, ps, topic("c1")),
		mustSubscribe(t, ps, topic("c2")),
	}
	if err := ps.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, s := range subs {
		drain(t, s)
		if err := s.Err(); !errors.Is(err, realtime.ErrClosed) {
			t.Errorf("subscription %d: Err = %v, want ErrClosed", i, err)
		}
		s.Close()
	}
	if err := ps.Publish(context.Background(), topic("c1"), []byte("x")); !errors.Is(err, realtime.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := ps.Subscribe(context.Background(), topic("c1")); !errors.Is(err, realtime.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := ps.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testPayloadCopied(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("copy")
	s := mustSubscribe(t, ps, tp)
	buf := []byte("original")
	if err := ps.Publish(context.Background(), tp, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "CHANGED!")
	if m := mustRecv(t, s); string(m.Payload) != "original" {
		t.Fatalf("got %q: the publisher's buffer was not copied", m.Payload)
	}
}

func testLimits(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	ctx := context.Background()
	tp := topic("limits")
	s := mustSubscribe(t, ps, tp)

	for _, bad := range []string{"", "has space", "nul\x00", "é", string(bytes.Repeat([]byte("x"), realtime.MaxTopicBytes+1))} {
		if err := ps.Publish(ctx, bad, nil); !errors.Is(err, realtime.ErrInvalidTopic) {
			t.Errorf("Publish to %q = %v, want ErrInvalidTopic", bad, err)
		}
		if s, err := ps.Subscribe(ctx, bad); !errors.Is(err, realtime.ErrInvalidTopic) {
			if err == nil {
				s.Close()
			}
			t.Errorf("Subscribe to %q = %v, want ErrInvalidTopic", bad, err)
		}
	}
	if err := ps.Publish(ctx, tp, make([]byte, realtime.MaxPayloadBytes+1)); !errors.Is(err, realtime.ErrPayloadTooLarge) {
		t.Errorf("Publish of %d bytes = %v, want ErrPayloadTooLarge", realtime.MaxPayloadBytes+1, err)
	}

	// The largest payload, every byte value, and an empty one arrive intact.
	big := make([]byte, realtime.MaxPayloadBytes)
	for i := range big {
		big[i] = byte(i)
	}
	if err := ps.Publish(ctx, tp, big); err != nil {
		t.Fatalf("Publish of MaxPayloadBytes: %v", err)
	}
	if err := ps.Publish(ctx, tp, nil); err != nil {
		t.Fatalf("Publish of an empty payload: %v", err)
	}
	if m := mustRecv(t, s); !bytes.Equal(m.Payload, big) {
		t.Fatalf("payload of %d bytes came back as %d bytes, or changed", len(big), len(m.Payload))
	}
	if m := mustRecv(t, s); len(m.Payload) != 0 {
		t.Fatalf("empty payload came back as %q", m.Payload)
	}
	longest := string(bytes.Repeat([]byte("~"), realtime.MaxTopicBytes))
	ls := mustSubscribe(t, ps, longest)
	mustPublish(t, ps, longest, "ok")
	if m := mustRecv(t, ls); m.Topic != longest {
		t.Fatalf("longest topic came back as %q", m.Topic)
	}
}

// The same payload published again is a new message (Postgres folds
// identical notifications of one transaction into one).
func testIdenticalPayloads(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("same")
	s := mustSubscribe(t, ps, tp, realtime.WithQueueSize(400))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if err := ps.Publish(context.Background(), tp, []byte("same")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	mustPublish(t, ps, tp, "end")
	for i := range 200 {
		if m := mustRecv(t, s); string(m.Payload) != "same" {
			t.Fatalf("message %d is %q: identical payloads were folded", i, m.Payload)
		}
	}
	if m := mustRecv(t, s); string(m.Payload) != "end" {
		t.Fatalf("got %q", m.Payload)
	}
}

// A topic whose last subscriber leaves is given up in the background by
// network drivers; a subscriber that comes right back must not lose to
// that.
func testResubscribe(t *testing.T, ps realtime.PubSub, topic func(string) string) {
	tp := topic("again")
	for i := range 50 {
		s, err := ps.Subscribe(context.Background(), tp)
		if err != nil {
			t.Fatal(err)
		}
		mustPublish(t, ps, tp, strconv.Itoa(i))
		if m := mustRecv(t, s); string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("round %d: got %q", i, m.Payload)
		}
		s.Close()
		if i%10 == 9 {
			time.Sleep(10 * time.Millisecond) // let a give-up run
		}
	}
}

func testAcrossReplicas(t *testing.T, a, b realtime.PubSub, topic func(string) string) {
	t.Cleanup(func() { _ = b.Close() })
	tp := topic("replicas")
	subs := []realtime.Subscription{mustSubscribe(t, a, tp), mustSubscribe(t, b, tp)}
	// Publishes alternate between the replicas, each after the previous
	// one returned: every subscriber sees them in that order.
	const n = 50
	for i := range n {
		from := a
		if i%2 == 1 {
			from = b
		}
		mustPublish(t, from, tp, strconv.Itoa(i))
	}
	for k, s := range subs {
		for want := range n {
			if m := mustRecv(t, s); string(m.Payload) != strconv.Itoa(want) {
				t.Fatalf("subscriber on replica %d: message %d is %q", k, want, m.Payload)
			}
		}
	}
	// A topic only one replica subscribes to still reaches it from the other.
	only := mustSubscribe(t, b, topic("only-b"))
	mustPublish(t, a, topic("only-b"), "hi")
	if m := mustRecv(t, only); string(m.Payload) != "hi" {
		t.Fatalf("got %q", m.Payload)
	}
}

func testSurvivesDroppedConnection(t *testing.T, ps realtime.PubSub, topic func(string) string, kill func()) {
	tp := topic("survive")
	s := mustSubscribe(t, ps, tp)
	other := mustSubscribe(t, ps, topic("survive-other"))
	mustPublish(t, ps, tp, "before")
	if m := mustRecv(t, s); string(m.Payload) != "before" {
		t.Fatalf("got %q", m.Payload)
	}
	for round := range 2 { // and again, on the new connection
		kill()
		for _, sub := range []realtime.Subscription{s, other} {
			if m := mustRecv(t, sub); !m.Resync || len(m.Payload) != 0 {
				t.Fatalf("round %d: after the connection dropped, got %q (resync %v), want a Resync marker", round, m.Payload, m.Resync)
			}
		}
		// Everything published after the marker arrives, in order, on the
		// same subscription; the connections to publish are back too.
		for i := range 3 {
			mustPublish(t, ps, tp, "after"+strconv.Itoa(i))
		}
		for i := range 3 {
			if m := mustRecv(t, s); m.Resync || string(m.Payload) != "after"+strconv.Itoa(i) {
				t.Fatalf("round %d: got %q (resync %v), want after%d", round, m.Payload, m.Resync, i)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("subscription ended: %v", err)
		}
	}
	// A new subscription works too.
	fresh := mustSubscribe(t, ps, topic("survive-fresh"))
	mustPublish(t, ps, topic("survive-fresh"), "x")
	if m := mustRecv(t, fresh); string(m.Payload) != "x" {
		t.Fatalf("new subscription got %q", m.Payload)
	}
}

// Helpers.

func randomPrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "pubsubtest." + hex.EncodeToString(b[:]) + "."
}

func mustSubscribe(t *testing.T, ps realtime.PubSub, topic string, opts ...realtime.SubscribeOption) realtime.Subscription {
	t.Helper()
	s, err := ps.Subscribe(context.Background(), topic, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustPublish(t *testing.T, ps realtime.PubSub, topic, payload string) {
	t.Helper()
	if err := ps.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, payload, err)
	}
}

func mustRecv(t *testing.T, s realtime.Subscription) realtime.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended while a message was expected: %v", s.Err())
		}
		return m
	case <-time.After(Timeout):
		t.Fatalf("no message within %s", Timeout)
	}
	panic("unreachable")
}

// drain reads s until its channel is closed and returns what it read.
func drain(t *testing.T, s realtime.Subscription) []realtime.Message {
	t.Helper()
	var got []realtime.Message
	timeout := time.After(Timeout)
	for {
		select {
		case m, ok := <-s.C():
			if !ok {
				return got
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("subscription not ended within %s (read %d messages)", Timeout, len(got))
		}
	}
}
