package realtime

import (
	"context"
	"errors"
	"sync"
	"time"
)

// transport is what a network driver adds to the local fan-out: interest
// in a topic on the server, publishing through the server, and a receive
// loop that hands what arrives to the hub (deliver, resync).
type transport interface {
	// listen makes the server send the topic's messages to this process.
	// It returns once they will arrive: a message published after it
	// returns is received.
	listen(ctx context.Context, topic string) error
	// unlisten stops them. It does not wait.
	unlisten(ctx context.Context, topic string) error
	publish(ctx context.Context, topic string, payload []byte) error
	// close stops the receive loop and waits for it; pending listens fail
	// with ErrClosed.
	close() error
}

// hub is the part of the network drivers that is the same for all: local
// subscribers are a Memory, and the server is asked for a topic while this
// process has at least one subscriber to it. A topic whose last subscriber
// ends is given up in the background (sweep), never on the path of a
// publisher or of Close on a subscription.
type hub struct {
	local *Memory
	tr    transport

	ctx    context.Context // ends at Close; bounds sweeping
	cancel context.CancelFunc
	sweepc chan struct{}
	wg     sync.WaitGroup

	// mu guards closed, interest and every interest's refs. An interest's
	// own mu serializes listen and unlisten of its topic and guards
	// listening. Lock order: interest.mu, then hub.mu; Memory's topic lock
	// may be held when hub.mu is taken (release runs under it).
	mu       sync.Mutex
	closed   bool
	interest map[string]*interest
}

type interest struct {
	mu        sync.Mutex
	listening bool
	refs      int
}

func newHub(queueSize int) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{
		local:    NewMemory(WithDefaultQueueSize(queueSize)),
		ctx:      ctx,
		cancel:   cancel,
		sweepc:   make(chan struct{}, 1),
		interest: make(map[string]*interest),
	}
}

// start runs the sweeper; tr must be set.
func (h *hub) start() {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case <-h.ctx.Done():
				return
			case <-h.sweepc:
			}
			h.sweep()
		}
	}()
}

// Publish implements PubSub.
func (h *hub) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	if err := ValidatePayload(payload); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return h.tr.publish(ctx, topic, payload)
}

// Subscribe implements PubSub.
func (h *hub) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (Subscription, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := ApplySubscribeOptions(h.local.queueSize, opts...)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	in := h.interest[topic]
	if in == nil {
		in = &interest{}
		h.interest[topic] = in
	}
	in.refs++
	h.mu.Unlock()

	in.mu.Lock()
	if !in.listening {
		if err := h.tr.listen(ctx, topic); err != nil {
			// The server may have taken it after all: take it back.
			_ = h.tr.unlisten(context.WithoutCancel(ctx), topic)
			in.mu.Unlock()
			h.release(in)
			if errors.Is(err, ErrClosed) {
				return nil, ErrClosed
			}
			return nil, err
		}
		in.listening = true
	}
	in.mu.Unlock()
	s, err := h.local.subscribe(ctx, topic, cfg, func() { h.release(in) })
	if err != nil {
		h.release(in)
		return nil, err
	}
	return s, nil
}

// release drops a reference to in; the last one schedules a sweep. It is
// called with Memory's topic lock held, so it only takes hub.mu.
func (h *hub) release(in *interest) {
	h.mu.Lock()
	in.refs--
	idle := in.refs == 0
	h.mu.Unlock()
	if idle {
		select {
		case h.sweepc <- struct{}{}:
		default:
		}
	}
}

// sweep gives up the topics that no subscriber holds.
func (h *hub) sweep() {
	h.mu.Lock()
	idle := make(map[string]*interest)
	for topic, in := range h.interest {
		if in.refs == 0 {
			idle[topic] = in
		}
	}
	h.mu.Unlock()
	for topic, in := range idle {
		in.mu.Lock()
		h.mu.Lock()
		still := in.refs == 0
		h.mu.Unlock()
		if still && in.listening {
			ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
			_ = h.tr.unlisten(ctx, topic) // best effort: the transport forgets it anyway
			cancel()
			in.listening = false
		}
		h.mu.Lock()
		if in.refs == 0 && !in.listening && h.interest[topic] == in {
			delete(h.interest, topic)
		}
		h.mu.Unlock()
		in.mu.Unlock()
	}
}

// listenedTopics returns the topics the hub holds on the server (tests).
func (h *hub) listenedTopics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for topic := range h.interest {
		out = append(out, topic)
	}
	return out
}

// deliver hands a message from the server to the local subscribers.
func (h *hub) deliver(topic string, payload []byte) {
	_ = h.local.deliver(Message{Topic: topic, Payload: payload})
}

// resync tells the local subscribers of topics that messages may be lost.
func (h *hub) resync(topics []string) {
	for _, topic := range topics {
		_ = h.local.deliver(Message{Topic: topic, Resync: true})
	}
}

// Close implements PubSub.
func (h *hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	err := h.tr.close()
	_ = h.local.Close()
	return err
}
