// Package events is the user event bus: what happens to a user's sessions
// and questions (and whatever later features add) as one ordered stream per
// user, which clients follow over Server-Sent Events or a WebSocket and
// resume, on any replica, from the id of the last event they saw.
//
// Publish appends the event to the user's stream in the database (the
// truth, bounded: the newest Config.Keep events per user, for at most
// Config.MaxAge) and then publishes a hint on the user's pub/sub topic.
// Followers read the store after their last sequence number whenever a
// hint says they are behind; a hint carries the event itself when it is
// small enough, so that most events reach followers without a read.
//
// Event ids are "<epoch>:<seq>": seq counts the user's events, and epoch
// names the stream's lifetime, so an id from another database, or from
// before the stream was recreated, is recognized. A follower that resumes
// from an id the store can no longer continue gets an explicit reset
// instead of a silent gap.
package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
)

// Config tunes the bus. Zero fields take the defaults.
type Config struct {
	// Keep is how many of a user's newest events stay resumable (1000).
	Keep int
	// MaxAge: Prune deletes events older than this (7 days).
	MaxAge time.Duration
	// Heartbeat is how often an idle stream shows it is alive: an SSE
	// comment, a WebSocket ping (15 s).
	Heartbeat time.Duration
	// Recheck is how often a stream checks that its credential is still
	// valid and reads the store in case a hint was lost (30 s).
	Recheck time.Duration
	// WriteTimeout: a client that does not take a write for this long is
	// dropped (10 s).
	WriteTimeout time.Duration
	// QueueSize is how many hints a stream may fall behind before it
	// reads the store instead (256).
	QueueSize int
	// TicketTTL is how long a ticket from POST /api/events/ticket works
	// (5 minutes).
	TicketTTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Keep <= 0 {
		c.Keep = 1000
	}
	def(&c.MaxAge, 7*24*time.Hour)
	def(&c.Heartbeat, 15*time.Second)
	def(&c.Recheck, 30*time.Second)
	def(&c.WriteTimeout, realtime.DefaultWriteTimeout)
	def(&c.TicketTTL, 5*time.Minute)
	if c.QueueSize <= 0 {
		c.QueueSize = realtime.DefaultQueueSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Limits of a published event.
const (
	MaxTypeBytes = 100
	MaxDataBytes = 256 << 10
)

// trimEvery: a stream is trimmed to Keep events when its sequence number
// is a multiple of this, so it holds between Keep and Keep+trimEvery.
const trimEvery = 64

// Bus is the user event bus.
type Bus struct {
	st  *store.Store
	ps  realtime.PubSub
	cfg Config
	log *slog.Logger

	// ctx ends when the bus shuts down, which ends every stream.
	ctx     context.Context
	cancel  context.CancelFunc
	streams sync.WaitGroup
	mu      sync.Mutex
	closed  bool
	live    atomic.Int64
}

// New returns the bus over the store and the pub/sub that carries hints
// between replicas.
func New(st *store.Store, ps realtime.PubSub, cfg Config, log *slog.Logger) *Bus {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{st: st, ps: ps, cfg: cfg, log: log, ctx: ctx, cancel: cancel}
}

// Config returns the bus's settings, defaults filled in.
func (b *Bus) Config() Config { return b.cfg }

// Streams is the number of streams being served.
func (b *Bus) Streams() int { return int(b.live.Load()) }

// StopStreams ends every stream (clients reconnect, to another replica or
// to the next server) and refuses new ones. It does not wait.
func (b *Bus) StopStreams() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
}

// Shutdown ends every stream and waits until they have finished (or ctx
// ends).
func (b *Bus) Shutdown(ctx context.Context) {
	b.StopStreams()
	done := make(chan struct{})
	go func() { b.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (b *Bus) now() time.Time { return b.cfg.Now().UTC().Truncate(time.Microsecond) }

// Topic is the pub/sub topic of a user's hints.
func Topic(userID string) string { return "events:" + userID }

// Event is an event as clients receive it: upstream's EventBus shape
// ({type, sessionId?, userId, data, timestamp}) with its id.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	SessionID string          `json:"sessionId,omitempty"`
	UserID    string          `json:"userId"`
	Data      json.RawMessage `json:"data"`
	Timestamp string          `json:"timestamp"`

	seq int64
}

// timeLayout is REST's: ISO-8601 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func eventOf(epoch string, e *store.UserEvent) Event {
	return Event{
		ID: FormatID(epoch, e.Seq), Type: e.Type, SessionID: e.SessionID, UserID: e.UserID,
		Data: e.Data, Timestamp: e.CreatedAt.UTC().Format(timeLayout), seq: e.Seq,
	}
}

// FormatID is an event id.
func FormatID(epoch string, seq int64) string { return epoch + ":" + strconv.FormatInt(seq, 10) }

// ErrBadID is the error of ParseID.
var ErrBadID = errors.New("event id must look like <epoch>:<sequence number>")

// ParseID splits an event id into its epoch and sequence number.
func ParseID(id string) (epoch string, seq int64, err error) {
	epoch, s, ok := strings.Cut(id, ":")
	if !ok || epoch == "" || len(epoch) > 64 || s == "" || strings.ContainsAny(epoch, ": \r\n") {
		return "", 0, ErrBadID
	}
	seq, err = strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 || strings.HasPrefix(s, "+") {
		return "", 0, ErrBadID
	}
	return epoch, seq, nil
}

func newEpoch() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Input is an event to publish.
type Input struct {
	// Type names the event: session.update, question.asked, notification…
	Type string
	// SessionID, if the event is about a session.
	SessionID string
	// Data is the event's payload; anything encoding/json can encode.
	Data any
}

// A hint is what travels on a user's topic: the new event's id, and when
// it fits, a newline and the event as clients receive it (JSON), so that
// followers pass it on without decoding or encoding anything.
func encodeHint(id string, event []byte) []byte {
	if len(id)+1+len(event) > realtime.MaxPayloadBytes {
		return []byte(id) // followers read it from the store
	}
	b := make([]byte, 0, len(id)+1+len(event))
	b = append(b, id...)
	b = append(b, '\n')
	return append(b, event...)
}

func decodeHint(payload []byte) (epoch string, seq int64, event []byte, err error) {
	head, event, _ := bytes.Cut(payload, []byte("\n"))
	epoch, seq, err = ParseID(string(head))
	return epoch, seq, event, err
}

// Publish appends an event to the user's stream and tells the user's
// followers on every replica. The event is stored once Publish returns
// without error; failing to send the hint is logged, not returned:
// followers find the event at their next hint or recheck.
func (b *Bus) Publish(ctx context.Context, userID string, in Input) (Event, error) {
	if in.Type == "" || len(in.Type) > MaxTypeBytes || strings.ContainsAny(in.Type, "\r\n") {
		return Event{}, apperr.Invalid("type", "event type must be 1 to %d bytes on one line", MaxTypeBytes)
	}
	if userID == "" {
		return Event{}, apperr.Invalid("userId", "event needs a user")
	}
	data, err := json.Marshal(in.Data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event: %w", in.Type, err)
	}
	if len(data) > MaxDataBytes {
		return Event{}, &apperr.Error{Kind: apperr.KindTooLarge, Message: fmt.Sprintf("event data is larger than %d bytes", MaxDataBytes)}
	}
	e := &store.UserEvent{UserID: userID, Type: in.Type, SessionID: in.SessionID, Data: data, CreatedAt: b.now()}
	epoch, err := b.st.UserEvents().Append(ctx, e, newEpoch())
	if err != nil {
		return Event{}, err
	}
	if e.Seq%trimEvery == 0 && e.Seq > int64(b.cfg.Keep) {
		if _, err := b.st.UserEvents().TrimUser(ctx, userID, e.Seq, b.cfg.Keep); err != nil {
			b.log.Warn("trim user events", "user_id", userID, "err", err)
		}
	}
	ev := eventOf(epoch, e)
	body, err := json.Marshal(ev)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event: %w", in.Type, err)
	}
	if err := b.ps.Publish(ctx, Topic(userID), encodeHint(ev.ID, body)); err != nil {
		b.log.Warn("publish event hint", "user_id", userID, "type", in.Type, "err", err)
	}
	return ev, nil
}

// Prune deletes events older than MaxAge and expired tickets.
func (b *Bus) Prune(ctx context.Context) error {
	now := b.now()
	n, err := b.st.UserEvents().DeleteBefore(ctx, now.Add(-b.cfg.MaxAge))
	if err != nil {
		return err
	}
	if n > 0 {
		b.log.Info("pruned old events", "count", n)
	}
	_, err = b.st.EventTickets().DeleteExpired(ctx, now)
	return err
}
