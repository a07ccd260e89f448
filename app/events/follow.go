package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/realtime"
)

// Control frames, beside the events themselves. Every frame's data is a
// JSON object with "type" and "id".
const (
	// FrameReady opens a stream that continues where the client asked
	// (or, without an id, from now); its id is the position.
	FrameReady = "ready"
	// FrameReset opens a stream that cannot continue from the client's
	// id (unknown epoch, pruned, or ahead of the store): reload what you
	// show, then carry on from this frame's id.
	FrameReset = "reset"
)

// ErrUnavailable is returned for streams started while the bus shuts
// down.
var ErrUnavailable = &apperr.Error{Kind: apperr.KindUnavailable, Message: "Server is shutting down; reconnect"}

// FollowOptions say where a stream starts and what it checks.
type FollowOptions struct {
	// LastEventID is the id of the last event the client has; empty to
	// start from now.
	LastEventID string
	// Check runs every Recheck interval; an error ends the stream (the
	// credential was revoked or expired, the ticket lost).
	Check func(ctx context.Context) error
}

// catchUpPage is how many events one store read returns.
const catchUpPage = 500

// Follow serves a user's stream to sink until ctx ends, the bus shuts
// down, the sink fails (the client is gone or does not read), or Check
// fails; it returns why. It subscribes to the user's hints before it reads
// the store, so nothing falls between the two.
func (b *Bus) Follow(ctx context.Context, userID string, sink realtime.Sink, opts FollowOptions) (err error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrUnavailable
	}
	b.streams.Add(1)
	b.mu.Unlock()
	defer b.streams.Done()
	b.live.Add(1)
	defer b.live.Add(-1)
	defer func() {
		if err != nil && b.ctx.Err() != nil {
			err = ErrUnavailable // whatever was cut short by the shutdown
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()

	f := &follower{b: b, userID: userID, sink: sink}
	sub, err := f.subscribe(ctx)
	if err != nil {
		return err
	}
	defer func() { sub.Close() }()
	if err := f.start(ctx, opts.LastEventID); err != nil {
		return err
	}
	if err := sink.Flush(ctx); err != nil {
		return err
	}

	// onMessage handles what the hint subscription delivers.
	onMessage := func(m realtime.Message, ok bool) error {
		if ok {
			return f.hinted(ctx, m)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(sub.Err(), realtime.ErrSlowSubscriber) {
			return fmt.Errorf("event hints ended: %w", sub.Err())
		}
		// Hints were dropped while the client was slow: the store has
		// everything.
		if sub, err = f.subscribe(ctx); err != nil {
			return err
		}
		return f.catchUp(ctx)
	}
	heartbeat := time.NewTicker(b.cfg.Heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(b.cfg.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-sub.C():
			if err := onMessage(m, ok); err != nil {
				return err
			}
			// Whatever else is waiting goes out in the same write.
			for more := ok; more; {
				select {
				case m, ok := <-sub.C():
					if err := onMessage(m, ok); err != nil {
						return err
					}
					more = ok
				default:
					more = false
				}
			}
			if err := sink.Flush(ctx); err != nil {
				return fmt.Errorf("send events: %w", err)
			}
		case <-heartbeat.C:
			if err := sink.Heartbeat(ctx); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
		case <-recheck.C:
			if opts.Check != nil {
				if err := opts.Check(ctx); err != nil {
					return err
				}
			}
			if err := f.catchUp(ctx); err != nil {
				return err
			}
			if err := sink.Flush(ctx); err != nil {
				return fmt.Errorf("send events: %w", err)
			}
		}
	}
}

// follower is one stream's position.
type follower struct {
	b      *Bus
	userID string
	sink   realtime.Sink
	epoch  string
	cursor int64 // the last sequence number sent
}

func (f *follower) subscribe(ctx context.Context) (realtime.Subscription, error) {
	s, err := f.b.ps.Subscribe(ctx, Topic(f.userID), realtime.WithQueueSize(f.b.cfg.QueueSize))
	if err != nil {
		return nil, fmt.Errorf("subscribe to event hints: %w", err)
	}
	return s, nil
}

// start finds where the stream begins, says so (ready or reset), and
// sends what the client missed.
func (f *follower) start(ctx context.Context, lastEventID string) error {
	st, err := f.b.st.UserEvents().Stream(ctx, f.userID, newEpoch(), f.b.now())
	if err != nil {
		return err
	}
	f.epoch, f.cursor = st.Epoch, st.LastSeq
	if lastEventID == "" {
		return f.control(ctx, FrameReady)
	}
	epoch, seq, err := ParseID(lastEventID)
	if err != nil || epoch != st.Epoch || seq > st.LastSeq {
		return f.control(ctx, FrameReset)
	}
	if seq < st.LastSeq {
		oldest, err := f.b.st.UserEvents().OldestSeq(ctx, f.userID)
		if err != nil {
			return err
		}
		if oldest == 0 || oldest > seq+1 {
			return f.control(ctx, FrameReset)
		}
	}
	f.cursor = seq
	if err := f.control(ctx, FrameReady); err != nil {
		return err
	}
	return f.catchUp(ctx)
}

// catchUp sends every stored event after the cursor.
func (f *follower) catchUp(ctx context.Context) error {
	for {
		page, err := f.b.st.UserEvents().After(ctx, f.userID, f.cursor, catchUpPage)
		if err != nil {
			return err
		}
		if len(page) > 0 && page[0].Seq != f.cursor+1 {
			// Pruned past us while we were behind.
			return f.reset(ctx)
		}
		for i := range page {
			if err := f.send(ctx, eventOf(f.epoch, &page[i])); err != nil {
				return err
			}
		}
		if len(page) < catchUpPage {
			return nil
		}
	}
}

// hinted handles a pub/sub message: the next event inline, or a sign to
// read the store.
func (f *follower) hinted(ctx context.Context, m realtime.Message) error {
	if m.Resync {
		return f.catchUp(ctx)
	}
	epoch, seq, event, err := decodeHint(m.Payload)
	switch {
	case err != nil:
		f.b.log.Warn("undecodable event hint", "user_id", f.userID, "err", err)
		return f.catchUp(ctx)
	case epoch != f.epoch:
		// The stream was recreated under us (its user's data was
		// deleted and recreated, or the database replaced).
		return f.reset(ctx)
	case seq <= f.cursor:
		return nil // sent already (from the store)
	case seq == f.cursor+1 && len(event) > 0:
		return f.sendRaw(ctx, FormatID(epoch, seq), seq, event)
	}
	return f.catchUp(ctx)
}

// reset starts over from the stream's current end.
func (f *follower) reset(ctx context.Context) error {
	st, err := f.b.st.UserEvents().Stream(ctx, f.userID, newEpoch(), f.b.now())
	if err != nil {
		return err
	}
	f.epoch, f.cursor = st.Epoch, st.LastSeq
	return f.control(ctx, FrameReset)
}

func (f *follower) send(ctx context.Context, e Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return f.sendRaw(ctx, e.ID, e.seq, data)
}

// sendRaw sends an event already encoded.
func (f *follower) sendRaw(ctx context.Context, id string, seq int64, data []byte) error {
	if err := f.sink.Send(ctx, realtime.Frame{ID: id, Data: data}); err != nil {
		return fmt.Errorf("send event: %w", err)
	}
	f.cursor = seq
	return nil
}

func (f *follower) control(ctx context.Context, typ string) error {
	id := FormatID(f.epoch, f.cursor)
	data, _ := json.Marshal(map[string]string{"type": typ, "id": id})
	if err := f.sink.Send(ctx, realtime.Frame{ID: id, Event: typ, Data: data}); err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}
