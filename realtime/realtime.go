// Package realtime holds the publish/subscribe seam of the server and its
// drivers: the in-process Memory, Postgres (LISTEN/NOTIFY) and Redis, which
// pass the same contract test (realtime/pubsubtest); and the writers of the
// streams that carry events to clients (Server-Sent Events, WebSocket).
//
// The bus carries hints, not data: a payload names what changed (an id, a
// sequence number) and the subscriber reads the truth from the database.
// That is why a slow subscriber can be dropped instead of slowing the
// publisher: when its subscription ends with ErrSlowSubscriber it reloads
// what it shows and subscribes again (the pattern of Coder's pubsub and
// Centrifugo's "insufficient state" disconnect).
//
// This package knows no domain: topics are opaque strings chosen by callers.
package realtime

import (
	"context"
	"errors"
	"fmt"
)

// Limits every driver enforces, so that code that works on the in-process
// hub also works across replicas. Postgres rejects NOTIFY payloads of 8000
// bytes or more, and a driver may have to encode binary payloads (base64
// grows them by a third) and add the topic to them.
const (
	MaxTopicBytes   = 200
	MaxPayloadBytes = 4096
)

// DefaultQueueSize is how many messages a subscriber may fall behind before
// it is dropped, unless WithQueueSize says otherwise.
const DefaultQueueSize = 256

var (
	// ErrClosed is returned by Publish and Subscribe after Close, and is the
	// Err of every subscription that Close ended.
	ErrClosed = errors.New("realtime: pubsub closed")
	// ErrSlowSubscriber is the Err of a subscription that was dropped because
	// its queue was full. Messages were lost: reload state, then subscribe
	// again.
	ErrSlowSubscriber = errors.New("realtime: subscriber dropped: queue full, resync")
	// ErrInvalidTopic is returned for a topic that is empty, longer than
	// MaxTopicBytes, or has a byte outside printable ASCII (0x21-0x7E).
	ErrInvalidTopic = errors.New("realtime: invalid topic")
	// ErrPayloadTooLarge is returned for a payload over MaxPayloadBytes.
	ErrPayloadTooLarge = errors.New("realtime: payload too large")
)

// Message is one publication as a subscriber receives it. Payload may be
// shared by every subscriber of the topic: treat it as read-only.
type Message struct {
	Topic   string
	Payload []byte
	// Resync marks a message without payload that a network driver sends
	// after its connection to the server dropped and came back: messages
	// of the topic published meanwhile may be lost. The subscription goes
	// on (everything published after the marker is delivered); reload
	// what depends on the topic.
	Resync bool
}

// PubSub delivers each payload published on a topic to every subscription
// to that topic that exists when Publish is called.
//
// Guarantees every driver gives (and realtime/pubsubtest checks):
//   - Publish never waits for subscribers. A subscriber whose queue is full
//     is dropped (ErrSlowSubscriber); the others are unaffected.
//   - A subscription receives the messages of its topic in publish order,
//     for publishes ordered by happens-before (one goroutine publishing in
//     a loop, say); with no gaps except at its end and before a Resync
//     marker.
//   - Messages published after Subscribe returns are delivered (unless the
//     subscription ends first). A network driver whose connection drops
//     keeps its subscriptions: once it is back, each gets a Resync marker
//     and delivery goes on.
//   - Publish copies the payload: the caller may reuse its buffer.
//
// Network drivers deliver asynchronously; the in-process driver delivers
// into the subscriber's queue before Publish returns.
type PubSub interface {
	// Publish sends payload to the subscribers of topic. It returns
	// ErrClosed after Close, ErrInvalidTopic or ErrPayloadTooLarge for bad
	// input, and for network drivers the error of sending it.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe starts a subscription to topic. The subscription ends when
	// it is closed, when ctx is done, when it falls behind, or when the
	// PubSub is closed; see Subscription.Err.
	Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (Subscription, error)
	// Close ends every subscription with ErrClosed and makes Publish and
	// Subscribe fail. It is idempotent.
	Close() error
}

// Subscription is one subscriber's view of a topic.
type Subscription interface {
	// C receives the topic's messages. It is closed when the subscription
	// ends, after the messages already queued.
	C() <-chan Message
	// Err tells why the subscription ended, once C is closed: nil after
	// Close, ErrSlowSubscriber when it fell behind, ErrClosed when the
	// PubSub was closed, ctx.Err() when the Subscribe context ended. It is
	// nil while the subscription is live.
	Err() error
	// Close ends the subscription. It is idempotent and safe to call
	// concurrently with anything, including from another goroutine reading C.
	Close()
}

// SubscribeConfig is what SubscribeOptions set; drivers read it with
// ApplySubscribeOptions.
type SubscribeConfig struct {
	// QueueSize bounds the messages waiting for the subscriber.
	QueueSize int
}

// SubscribeOption configures one subscription.
type SubscribeOption func(*SubscribeConfig)

// WithQueueSize sets how many messages the subscriber may fall behind
// before it is dropped. n < 1 keeps the driver's default.
func WithQueueSize(n int) SubscribeOption {
	return func(c *SubscribeConfig) {
		if n >= 1 {
			c.QueueSize = n
		}
	}
}

// ApplySubscribeOptions returns the configuration opts give, starting from a
// queue of defaultQueueSize (DefaultQueueSize if < 1).
func ApplySubscribeOptions(defaultQueueSize int, opts ...SubscribeOption) SubscribeConfig {
	if defaultQueueSize < 1 {
		defaultQueueSize = DefaultQueueSize
	}
	c := SubscribeConfig{QueueSize: defaultQueueSize}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// ValidateTopic reports whether topic can be used with every driver: 1 to
// MaxTopicBytes bytes of printable ASCII without spaces ("session:<id>"),
// which any driver can put in a NOTIFY payload or a Redis channel as is.
func ValidateTopic(topic string) error {
	if topic == "" || len(topic) > MaxTopicBytes {
		return fmt.Errorf("%w: %d bytes (want 1..%d)", ErrInvalidTopic, len(topic), MaxTopicBytes)
	}
	for i := 0; i < len(topic); i++ {
		if c := topic[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: byte %#x at %d", ErrInvalidTopic, c, i)
		}
	}
	return nil
}

// ValidatePayload reports whether payload can be sent with every driver.
func ValidatePayload(payload []byte) error {
	if len(payload) > MaxPayloadBytes {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrPayloadTooLarge, len(payload), MaxPayloadBytes)
	}
	return nil
}
