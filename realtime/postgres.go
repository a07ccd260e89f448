package realtime

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions tune a Postgres PubSub. The zero value is sane.
type PostgresOptions struct {
	// QueueSize is the default subscriber queue (DefaultQueueSize).
	QueueSize int
	// PublishConns bounds the connections that publish (default 4).
	PublishConns int32
	// PingInterval: an idle listener connection is checked this often, so
	// a connection that died silently is replaced (default 30 s).
	PingInterval time.Duration
	// ListenTimeout bounds how long Subscribe waits for the listener to
	// take a new topic, e.g. while it reconnects (default 10 s).
	ListenTimeout time.Duration
	Logger        *slog.Logger
}

// Postgres is the PubSub of replicas that share a Postgres database:
// NOTIFY on one channel per topic, and one dedicated listener connection
// per process that LISTENs to the channels of the topics this process has
// subscribers for, and reconnects (with backoff) when it is lost; each
// subscription then gets a Resync marker.
//
// Payloads travel as text: as they are when they are UTF-8 without NUL
// bytes, otherwise in base64. Either way they stay far below the 8000
// bytes NOTIFY accepts (MaxPayloadBytes). Concurrent publishes share
// transactions (pgPublisher).
type Postgres struct {
	*hub
	l *pgListener
}

var _ PubSub = (*Postgres)(nil)

// defaultApplicationName names the driver's connections in
// pg_stat_activity unless the URL sets application_name.
const defaultApplicationName = "agentops-pubsub"

// NewPostgres connects the listener and the publishing pool to
// databaseURL (a postgres:// URL). It fails if the database does not
// answer; later outages are survived.
func NewPostgres(ctx context.Context, databaseURL string, opts PostgresOptions) (*Postgres, error) {
	if opts.PublishConns <= 0 {
		opts.PublishConns = 4
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
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: parse postgres url: %w", err)
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = defaultApplicationName
	}
	pcfg.MaxConns = opts.PublishConns
	lcfg := pcfg.ConnConfig.Copy()

	conn, err := pgx.ConnectConfig(ctx, lcfg)
	if err != nil {
		return nil, fmt.Errorf("realtime: connect postgres listener: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("realtime: connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		conn.Close(context.Background())
		return nil, fmt.Errorf("realtime: connect postgres: %w", err)
	}
	p := &Postgres{hub: newHub(opts.QueueSize)}
	p.l = &pgListener{
		cfg: lcfg, opts: opts, log: opts.Logger, hub: p.hub,
		want: map[string]string{}, have: map[string]bool{}, dropping: map[string]bool{}, waiters: waiters{},
		done: make(chan struct{}),
	}
	pub := &pgPublisher{pool: pool, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go pub.run()
	p.hub.tr = &pgTransport{l: p.l, pub: pub}
	lctx, cancel := context.WithCancel(context.Background())
	p.l.cancel = cancel
	go p.l.run(lctx, conn)
	p.hub.start()
	return p, nil
}

// pgChannel is the NOTIFY channel of a topic. Channel names are
// identifiers of at most 63 bytes: longer topics are hashed.
func pgChannel(topic string) string {
	if len(topic) <= 60 {
		return "ao:" + topic
	}
	sum := sha256.Sum256([]byte(topic))
	return "ao#" + hex.EncodeToString(sum[:])[:56]
}

// NOTIFY payloads are text in the database's encoding: raw UTF-8 goes as
// it is behind "=", anything else as base64 behind "~".
func encodeNotify(payload []byte) string {
	if utf8.Valid(payload) && !strings.ContainsRune(string(payload), 0) {
		return "=" + string(payload)
	}
	return "~" + base64.StdEncoding.EncodeToString(payload)
}

func decodeNotify(s string) ([]byte, error) {
	switch {
	case strings.HasPrefix(s, "="):
		return []byte(s[1:]), nil
	case strings.HasPrefix(s, "~"):
		return base64.StdEncoding.DecodeString(s[1:])
	}
	return nil, errors.New("unknown payload encoding")
}

type pgTransport struct {
	l   *pgListener
	pub *pgPublisher
}

func (t *pgTransport) listen(ctx context.Context, topic string) error {
	return t.l.listen(ctx, topic)
}

func (t *pgTransport) unlisten(_ context.Context, topic string) error {
	t.l.unlisten(topic)
	return nil
}

func (t *pgTransport) publish(ctx context.Context, topic string, payload []byte) error {
	if err := t.pub.publish(ctx, pgChannel(topic), encodeNotify(payload)); err != nil {
		return fmt.Errorf("realtime: publish to %s: %w", topic, err)
	}
	return nil
}

func (t *pgTransport) close() error {
	t.l.close()
	t.pub.close()
	return nil
}

// pgPublisher sends NOTIFYs from one goroutine. Publishes that arrive
// while a send is on its way go together in the next one, as one
// transaction: a commit that carries notifications is serialized across
// the whole server, so one commit for many of them is what lets
// concurrent publishers scale (Coder's batching pubsub does the same). A
// lone publisher waits for no one. Order is kept: one sender, and each
// batch in publish order.
type pgPublisher struct {
	pool    *pgxpool.Pool
	wake    chan struct{}
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run has returned

	mu     sync.Mutex
	closed bool
	queue  []*pgNote
}

type pgNote struct {
	channel, payload string
	result           chan error
}

// maxBatch bounds the notifications of one transaction.
const maxBatch = 500

func (p *pgPublisher) publish(ctx context.Context, channel, payload string) error {
	n := &pgNote{channel: channel, payload: payload, result: make(chan error, 1)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.queue = append(p.queue, n)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-n.result:
		return err
	case <-ctx.Done():
		return ctx.Err() // it may still be sent
	}
}

func (p *pgPublisher) run() {
	defer close(p.stopped)
	for {
		select {
		case <-p.done:
			p.mu.Lock()
			for _, n := range p.queue {
				n.result <- ErrClosed
			}
			p.queue = nil
			p.mu.Unlock()
			return
		case <-p.wake:
		}
		for {
			p.mu.Lock()
			batch := p.queue[:distinctPrefix(p.queue, maxBatch)]
			p.queue = p.queue[len(batch):]
			p.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			err := p.send(batch)
			for _, n := range batch {
				n.result <- err
			}
		}
	}
}

// distinctPrefix is how many of the first notes (at most limit) can share
// a transaction: Postgres delivers identical notifications (same channel
// and payload) of one transaction only once, so a repeat starts the next.
func distinctPrefix(queue []*pgNote, limit int) int {
	n := min(len(queue), limit)
	if n <= 1 {
		return n
	}
	seen := make(map[[2]string]struct{}, n)
	for i, note := range queue[:n] {
		k := [2]string{note.channel, note.payload}
		if _, dup := seen[k]; dup {
			return i
		}
		seen[k] = struct{}{}
	}
	return n
}

// send runs one transaction of NOTIFYs, retrying while it certainly did
// not happen.
func (p *pgPublisher) send(batch []*pgNote) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		var err error
		if len(batch) == 1 {
			_, err = p.pool.Exec(ctx, "SELECT pg_notify($1, $2)", batch[0].channel, batch[0].payload)
		} else {
			// A batch is one implicit transaction: all or nothing.
			b := &pgx.Batch{}
			for _, n := range batch {
				b.Queue("SELECT pg_notify($1, $2)", n.channel, n.payload)
			}
			err = p.pool.SendBatch(ctx, b).Close()
		}
		if err == nil || attempt >= 2 || !retryablePublish(err) {
			return err
		}
	}
}

// retryablePublish reports whether a failed NOTIFY certainly did not
// happen: nothing was sent, or the server had ended the connection
// (terminated, shutting down) before the statement ran.
func retryablePublish(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity == "FATAL" && strings.HasPrefix(pe.Code, "57P")
}

func (p *pgPublisher) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	<-p.stopped
	p.pool.Close()
}

// pgListener owns the listener connection: one goroutine (run) holds it,
// waits for notifications, and applies the wanted LISTEN set when woken.
type pgListener struct {
	cfg    *pgx.ConnConfig
	opts   PostgresOptions
	log    *slog.Logger
	hub    *hub
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	closed     bool
	want       map[string]string // channel → topic: what the connection should LISTEN to
	have       map[string]bool   // what the current connection LISTENs to
	dropping   map[string]bool   // UNLISTENs being sent
	waiters    waiters
	dirty      bool               // want changed since the last sync
	cancelWait context.CancelFunc // interrupts the wait for notifications
}

func (l *pgListener) listen(ctx context.Context, topic string) error {
	ch := pgChannel(topic)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.want[ch] = topic
	if l.have[ch] && !l.dropping[ch] {
		l.mu.Unlock()
		return nil
	}
	w := l.waiters.add(ch)
	l.wakeLocked()
	l.mu.Unlock()
	timer := time.NewTimer(l.opts.ListenTimeout)
	defer timer.Stop()
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		l.dropWaiter(ch, w)
		return ctx.Err()
	case <-timer.C:
		l.dropWaiter(ch, w)
		return fmt.Errorf("realtime: postgres listener did not take %s within %s (is the database reachable?)", topic, l.opts.ListenTimeout)
	}
}

func (l *pgListener) unlisten(topic string) {
	ch := pgChannel(topic)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.want, ch)
	if l.have[ch] {
		l.wakeLocked()
	}
}

func (l *pgListener) wakeLocked() {
	l.dirty = true
	if l.cancelWait != nil {
		l.cancelWait()
	}
}

func (l *pgListener) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	<-l.done
}

// run serves connections until ctx ends, reconnecting with backoff.
func (l *pgListener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	defer func() {
		l.mu.Lock()
		l.waiters.releaseAll(ErrClosed)
		l.mu.Unlock()
	}()
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	reconnected := false
	for {
		if conn != nil {
			err := l.serve(ctx, conn, reconnected)
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
			conn = nil
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("pubsub: postgres listener connection lost; reconnecting", "err", err)
			reconnected = true
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		c, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("pubsub: postgres listener cannot connect", "err", err, "retry_in", backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		conn = c
	}
}

// serve listens on conn until it fails or ctx ends. After a reconnect,
// every topic gets a Resync marker once its LISTEN is in place again.
func (l *pgListener) serve(ctx context.Context, conn *pgx.Conn, reconnected bool) error {
	l.mu.Lock()
	l.have = map[string]bool{}
	l.dirty = true
	l.mu.Unlock()
	resync := reconnected
	for {
		l.mu.Lock()
		dirty := l.dirty
		l.dirty = false
		l.mu.Unlock()
		if dirty {
			if err := l.sync(ctx, conn); err != nil {
				return err
			}
		}
		if resync {
			resync = false
			l.hub.resync(l.listenedTopics())
		}

		l.mu.Lock()
		if l.dirty {
			l.mu.Unlock()
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, l.opts.PingInterval)
		l.cancelWait = cancel
		l.mu.Unlock()
		n, err := conn.WaitForNotification(wctx)
		l.mu.Lock()
		l.cancelWait = nil
		l.mu.Unlock()
		idle := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if n != nil {
			l.notified(n)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case idle:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case errors.Is(err, context.Canceled) && !conn.IsClosed():
			// Woken to change what we listen to.
		default:
			return err
		}
	}
}

// sync makes the connection LISTEN to exactly the wanted channels.
func (l *pgListener) sync(ctx context.Context, conn *pgx.Conn) error {
	l.mu.Lock()
	var add, drop []string
	for ch := range l.want {
		if !l.have[ch] {
			add = append(add, ch)
		}
	}
	for ch := range l.have {
		if _, ok := l.want[ch]; !ok {
			drop = append(drop, ch)
			l.dropping[ch] = true
		}
	}
	l.mu.Unlock()
	if len(add)+len(drop) == 0 {
		return nil
	}
	var sql strings.Builder
	for _, ch := range add {
		sql.WriteString("LISTEN " + pgx.Identifier{ch}.Sanitize() + ";")
	}
	for _, ch := range drop {
		sql.WriteString("UNLISTEN " + pgx.Identifier{ch}.Sanitize() + ";")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := conn.Exec(sctx, sql.String())
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.dropping)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for _, ch := range add {
		l.have[ch] = true
	}
	for _, ch := range drop {
		delete(l.have, ch)
	}
	// Whatever changed meanwhile (a topic given up and taken again while
	// its UNLISTEN was on the way, say) is for the next round.
	for ch := range l.want {
		if !l.have[ch] {
			l.dirty = true
		}
	}
	for ch := range l.have {
		if _, ok := l.want[ch]; !ok {
			l.dirty = true
		}
	}
	for ch := range l.waiters {
		if l.have[ch] {
			l.waiters.release(ch, nil)
		}
	}
	return nil
}

func (l *pgListener) listenedTopics() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	topics := make([]string, 0, len(l.have))
	for ch := range l.have {
		if topic, ok := l.want[ch]; ok {
			topics = append(topics, topic)
		}
	}
	return topics
}

func (l *pgListener) notified(n *pgconn.Notification) {
	l.mu.Lock()
	topic, ok := l.want[n.Channel]
	l.mu.Unlock()
	if !ok {
		return // given up since; or another program's channel
	}
	payload, err := decodeNotify(n.Payload)
	if err != nil {
		l.log.Warn("pubsub: undecodable notification", "channel", n.Channel, "err", err)
		return
	}
	l.hub.deliver(topic, payload)
}

// dropWaiter forgets the waiter of a listen that gave up.
func (l *pgListener) dropWaiter(ch string, w chan error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiters.drop(ch, w)
}
