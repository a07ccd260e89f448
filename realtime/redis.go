package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions tune a Redis PubSub. The zero value is sane.
type RedisOptions struct {
	// QueueSize is the default subscriber queue (DefaultQueueSize).
	QueueSize int
	// ChannelPrefix is put before every topic to make its Redis channel
	// (default "agentops:"). Redis pub/sub ignores the database number, so
	// deployments sharing a server need different prefixes.
	ChannelPrefix string
	// ClientName names the driver's connections (CLIENT LIST); default
	// "agentops-pubsub".
	ClientName string
	// PingInterval: an idle subscriber connection is pinged this often; one
	// that does not answer by the next ping is replaced (default 30 s).
	PingInterval time.Duration
	// ListenTimeout bounds how long Subscribe waits for Redis to confirm a
	// new topic, e.g. while reconnecting (default 10 s).
	ListenTimeout time.Duration
	Logger        *slog.Logger
}

// Redis is the PubSub of replicas that share a Redis server: PUBLISH on
// one channel per topic, and one subscriber connection per process that
// SUBSCRIBEs to the channels of the topics this process has subscribers
// for. go-redis reconnects and resubscribes a lost connection; each
// subscription then gets a Resync marker when Redis confirms its channel
// again.
type Redis struct {
	*hub
	t *redisTransport
}

var _ PubSub = (*Redis)(nil)

// NewRedis connects to redisURL (redis://[user:password@]host:port[/db],
// or rediss:// for TLS). It fails if Redis does not answer; later outages
// are survived.
func NewRedis(ctx context.Context, redisURL string, opts RedisOptions) (*Redis, error) {
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = "agentops:"
	}
	if opts.ClientName == "" {
		opts.ClientName = "agentops-pubsub"
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.ListenTimeout <= 0 {
		opts.ListenTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: parse redis url: %w", err)
	}
	ropts.ClientName = opts.ClientName
	// Publishing is retried by go-redis on network errors; the client
	// also backs the subscriber connection.
	client := redis.NewClient(ropts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("realtime: connect to redis at %s: %w", ropts.Addr, err)
	}
	r := &Redis{hub: newHub(opts.QueueSize)}
	lctx, cancel := context.WithCancel(context.Background())
	r.t = &redisTransport{
		client: client, opts: opts, log: opts.Logger, hub: r.hub,
		ps:   client.Subscribe(lctx),
		want: map[string]string{}, acked: map[string]bool{}, lost: map[string]bool{},
		waiters: waiters{},
		cancel:  cancel, done: make(chan struct{}),
	}
	r.hub.tr = r.t
	go r.t.run(lctx)
	r.hub.start()
	return r, nil
}

// ValidateRedisURL reports whether url is a Redis URL NewRedis can use,
// without connecting.
func ValidateRedisURL(url string) error {
	if _, err := redis.ParseURL(url); err != nil {
		return fmt.Errorf("not a Redis URL (redis://[user:password@]host:port[/db]): %w", err)
	}
	return nil
}

type redisTransport struct {
	client *redis.Client
	opts   RedisOptions
	log    *slog.Logger
	hub    *hub
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	closed  bool
	ps      *redis.PubSub     // replaced when its connection stops answering
	want    map[string]string // channel → topic
	acked   map[string]bool   // channels Redis confirmed on the current connection
	lost    map[string]bool   // channels that were acked when the connection dropped
	waiters waiters
}

func (t *redisTransport) channel(topic string) string { return t.opts.ChannelPrefix + topic }

func (t *redisTransport) listen(ctx context.Context, topic string) error {
	ch := t.channel(topic)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.want[ch] = topic
	if t.acked[ch] {
		t.mu.Unlock()
		return nil
	}
	w := t.waiters.add(ch)
	ps := t.ps
	t.mu.Unlock()
	// An error here (connection down) is not final: go-redis remembers the
	// channel and subscribes again when it reconnects; the confirmation
	// is what counts.
	_ = ps.Subscribe(ctx, ch)
	timer := time.NewTimer(t.opts.ListenTimeout)
	defer timer.Stop()
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		t.dropWaiter(ch, w)
		return ctx.Err()
	case <-timer.C:
		t.dropWaiter(ch, w)
		return fmt.Errorf("realtime: redis did not confirm the subscription to %s within %s (is it reachable?)", topic, t.opts.ListenTimeout)
	}
}

func (t *redisTransport) unlisten(ctx context.Context, topic string) error {
	ch := t.channel(topic)
	t.mu.Lock()
	delete(t.want, ch)
	delete(t.acked, ch)
	delete(t.lost, ch)
	ps := t.ps
	t.mu.Unlock()
	// go-redis forgets the channel even if this fails, so a reconnect
	// does not bring it back.
	_ = ps.Unsubscribe(ctx, ch)
	return nil
}

func (t *redisTransport) publish(ctx context.Context, topic string, payload []byte) error {
	if err := t.client.Publish(ctx, t.channel(topic), payload).Err(); err != nil {
		return fmt.Errorf("realtime: publish to %s: %w", topic, err)
	}
	return nil
}

func (t *redisTransport) close() error {
	t.mu.Lock()
	t.closed = true
	ps := t.ps
	t.mu.Unlock()
	t.cancel()
	_ = ps.Close() // ends a Receive in progress
	<-t.done
	return t.client.Close()
}

func (t *redisTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// run receives until close.
func (t *redisTransport) run(ctx context.Context) {
	defer close(t.done)
	defer func() {
		t.mu.Lock()
		t.waiters.releaseAll(ErrClosed)
		t.mu.Unlock()
	}()
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	pinged := false
	for {
		t.mu.Lock()
		ps := t.ps
		t.mu.Unlock()
		msg, err := ps.ReceiveTimeout(ctx, t.opts.PingInterval)
		if t.isClosed() || ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					t.log.Warn("pubsub: redis connection does not answer; replacing it")
					t.connectionLost()
					t.replace(ctx)
					pinged = false
					continue
				}
				_ = ps.Ping(ctx)
				pinged = true
				continue
			}
			// go-redis has dropped the connection and dials again on the
			// next receive; meanwhile every confirmed channel is lost.
			if t.connectionLost() {
				t.log.Warn("pubsub: redis connection lost; reconnecting", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				t.confirmed(m.Channel)
			}
		case *redis.Message:
			t.mu.Lock()
			topic, ok := t.want[m.Channel]
			t.mu.Unlock()
			if ok {
				t.hub.deliver(topic, []byte(m.Payload))
			}
		}
	}
}

// connectionLost marks every confirmed channel lost; it reports whether
// there were any (so that a server that stays down is logged once).
func (t *redisTransport) connectionLost() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.acked)
	for ch := range t.acked {
		t.lost[ch] = true
	}
	clear(t.acked)
	return n > 0
}

// confirmed records Redis's confirmation of a channel: waiting listens
// return, and a channel that was lost gets its Resync marker.
func (t *redisTransport) confirmed(ch string) {
	t.mu.Lock()
	topic, ok := t.want[ch]
	if !ok {
		t.mu.Unlock()
		return
	}
	t.acked[ch] = true
	t.waiters.release(ch, nil)
	wasLost := t.lost[ch]
	delete(t.lost, ch)
	t.mu.Unlock()
	if wasLost {
		t.hub.resync([]string{topic})
	}
}

// replace swaps in a new subscriber connection for one that stopped
// answering, subscribed to every wanted channel.
func (t *redisTransport) replace(ctx context.Context) {
	t.mu.Lock()
	old := t.ps
	t.ps = t.client.Subscribe(ctx) // no I/O until it is used
	chans := make([]string, 0, len(t.want))
	for ch := range t.want {
		chans = append(chans, ch)
	}
	ps := t.ps
	t.mu.Unlock()
	_ = old.Close()
	if len(chans) > 0 {
		_ = ps.Subscribe(ctx, chans...)
	}
}

// dropWaiter forgets the waiter of a listen that gave up.
func (t *redisTransport) dropWaiter(ch string, w chan error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waiters.drop(ch, w)
}
