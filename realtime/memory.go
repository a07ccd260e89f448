package realtime

import (
	"bytes"
	"context"
	"sync"
)

// Memory is the in-process PubSub: the default on a single server, and the
// local fan-out that network drivers can build on.
//
// It starts no goroutines. Publish delivers into each subscriber's buffered
// channel under the topic's lock, without ever waiting: a full channel
// drops that subscriber. Holding the topic lock for the fan-out gives every
// subscriber of a topic the same order, even with concurrent publishers.
//
// Locks are taken in the order Memory.mu, topic.mu, sub.mu.
type Memory struct {
	queueSize int

	mu     sync.RWMutex
	closed bool
	topics map[string]*memTopic
}

type memTopic struct {
	mu   sync.Mutex
	subs map[*memSub]struct{}
}

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithDefaultQueueSize sets the queue of subscriptions that do not choose
// one with WithQueueSize (DefaultQueueSize otherwise). n < 1 is ignored.
func WithDefaultQueueSize(n int) MemoryOption {
	return func(m *Memory) {
		if n >= 1 {
			m.queueSize = n
		}
	}
}

// NewMemory returns an in-process PubSub.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{queueSize: DefaultQueueSize, topics: make(map[string]*memTopic)}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	return m
}

var _ PubSub = (*Memory)(nil)

// Publish implements PubSub. The payload is copied once and the copy is
// shared by all subscribers.
func (m *Memory) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	if err := ValidatePayload(payload); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.deliver(Message{Topic: topic, Payload: bytes.Clone(payload)})
}

// deliver hands msg to every subscriber of its topic without waiting: a
// subscriber whose queue is full is dropped. Network drivers call it with
// what arrives from their server (a payload nobody else holds, or a
// Resync marker).
func (m *Memory) deliver(msg Message) error {
	m.mu.RLock()
	closed, t := m.closed, m.topics[msg.Topic]
	m.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if t == nil {
		return nil
	}
	t.mu.Lock()
	for s := range t.subs {
		select {
		case s.ch <- msg:
		default:
			s.endLocked(t, ErrSlowSubscriber)
		}
	}
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if empty {
		m.removeIfEmpty(msg.Topic, t)
	}
	return nil
}

// topicNames lists the topics that have subscribers.
func (m *Memory) topicNames() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.topics))
	for name := range m.topics {
		names = append(names, name)
	}
	return names
}

// Subscribe implements PubSub.
func (m *Memory) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (Subscription, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.subscribe(ctx, topic, ApplySubscribeOptions(m.queueSize, opts...), nil)
}

// subscribe adds a subscription. onEnd, if not nil, is called once when it
// ends, with the topic's lock held: it must not block or call into m.
func (m *Memory) subscribe(ctx context.Context, topic string, cfg SubscribeConfig, onEnd func()) (Subscription, error) {
	s := &memSub{m: m, topic: topic, ch: make(chan Message, cfg.QueueSize), onEnd: onEnd}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	t := m.topics[topic]
	if t == nil {
		t = &memTopic{subs: make(map[*memSub]struct{})}
		m.topics[topic] = t
	}
	s.t = t
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	m.mu.Unlock()

	// context.AfterFunc starts a goroutine only once ctx is done; stop
	// unregisters it when the subscription ends first.
	stop := context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	t.mu.Lock()
	if s.done {
		stop()
	} else {
		s.stopCtx = stop
	}
	t.mu.Unlock()
	return s, nil
}

// Close implements PubSub: every subscription ends with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, t := range m.topics {
		t.mu.Lock()
		for s := range t.subs {
			s.endLocked(t, ErrClosed)
		}
		t.mu.Unlock()
	}
	m.topics = nil
	return nil
}

// removeIfEmpty forgets topic if t is still its entry and has no
// subscribers left, so that topics do not accumulate.
func (m *Memory) removeIfEmpty(topic string, t *memTopic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.topics[topic] != t {
		return
	}
	t.mu.Lock()
	if len(t.subs) == 0 {
		delete(m.topics, topic)
	}
	t.mu.Unlock()
}

type memSub struct {
	m     *Memory
	topic string
	ch    chan Message

	// Set before the subscription is visible to anyone else; fixed after.
	t *memTopic

	// Guarded by t.mu: sends on ch and its close happen under it.
	done    bool
	stopCtx func() bool
	onEnd   func()

	mu  sync.Mutex
	err error
}

func (s *memSub) C() <-chan Message { return s.ch }

func (s *memSub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *memSub) Close() { s.end(nil) }

func (s *memSub) end(err error) {
	t := s.t
	t.mu.Lock()
	ended := s.endLocked(t, err)
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if ended && empty {
		s.m.removeIfEmpty(s.topic, t)
	}
}

// endLocked ends s with err unless it has already ended. t.mu is held.
func (s *memSub) endLocked(t *memTopic, err error) bool {
	if s.done {
		return false
	}
	s.done = true
	delete(t.subs, s)
	if s.stopCtx != nil {
		s.stopCtx() // does not wait for a running AfterFunc, so no deadlock
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.ch)
	if s.onEnd != nil {
		s.onEnd()
	}
	return true
}
