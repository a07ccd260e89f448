package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Runner plays a session's runner: it numbers its frames, keeps at most
// window of them unacknowledged (the real runner keeps up to 10000), and
// reads the server's acks.
type Runner struct {
	c      *websocket.Conn
	window int64
	seq    int64

	mu      sync.Mutex
	acked   int64
	changed chan struct{} // closed and replaced on every ack
	err     error         // the reader's end
	inited  chan struct{}
	buf     []byte

	// Prompts receives the message id of each prompt the server sends.
	Prompts chan string
}

// DialRunner connects to a session's socket URL (ws://…/api/sessions/ID/ws)
// as its runner with the runner token and waits for init.
func DialRunner(ctx context.Context, wsURL, runnerToken string, window int) (*Runner, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, wsURL+"?role=runner&token="+runnerToken, nil)
	if err != nil {
		return nil, fmt.Errorf("dial runner: %w", err)
	}
	c.SetReadLimit(1 << 22)
	r := &Runner{c: c, window: int64(window), changed: make(chan struct{}), inited: make(chan struct{}), Prompts: make(chan string, 64)}
	go r.read()
	select {
	case <-r.inited:
	case <-r.closed():
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		return nil, fmt.Errorf("runner socket closed before init: %w", err)
	case <-dctx.Done():
		c.CloseNow()
		return nil, fmt.Errorf("no init: %w", dctx.Err())
	}
	return r, nil
}

// closed returns a channel that is closed when the reader has ended (or
// on the next ack: callers check r.err).
func (r *Runner) closed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Runner) read() {
	var f struct {
		Type      string `json:"type"`
		Seq       int64  `json:"seq"`
		LastSeq   *int64 `json:"lastSeq"`
		MessageID string `json:"messageId"`
	}
	inited := false
	for {
		_, data, err := r.c.Read(context.Background())
		if err != nil {
			r.mu.Lock()
			r.err = err
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
			return
		}
		f.Type, f.Seq, f.LastSeq, f.MessageID = "", 0, nil, ""
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case "init":
			if f.LastSeq != nil {
				r.seq = *f.LastSeq // before anything is sent: no race with send
				r.mu.Lock()
				r.acked = *f.LastSeq
				r.mu.Unlock()
			}
			if !inited {
				inited = true
				close(r.inited)
			}
		case "prompt":
			select {
			case r.Prompts <- f.MessageID:
			default: // nobody waits for so many
			}
		case "ack":
			r.mu.Lock()
			if f.Seq > r.acked {
				r.acked = f.Seq
				close(r.changed)
				r.changed = make(chan struct{})
			}
			r.mu.Unlock()
		}
	}
}

// WaitAcked waits until the server has acknowledged seq.
func (r *Runner) WaitAcked(ctx context.Context, seq int64) error {
	for {
		r.mu.Lock()
		acked, err, ch := r.acked, r.err, r.changed
		r.mu.Unlock()
		if acked >= seq {
			return nil
		}
		if err != nil {
			return fmt.Errorf("runner socket ended at ack %d of %d: %w", acked, seq, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for ack %d (have %d): %w", seq, acked, ctx.Err())
		}
	}
}

// send numbers and writes one frame whose JSON body (without braces' seq)
// is built by body; it waits while window frames are unacknowledged.
func (r *Runner) send(ctx context.Context, body func(b []byte) []byte) (int64, error) {
	if err := r.WaitAcked(ctx, r.seq+1-r.window); err != nil {
		return 0, err
	}
	r.seq++
	b := append(r.buf[:0], `{"seq":`...)
	b = strconv.AppendInt(b, r.seq, 10)
	b = append(b, ',')
	b = body(b)
	b = append(b, '}')
	r.buf = b
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.c.Write(wctx, websocket.MessageText, b); err != nil {
		return 0, fmt.Errorf("runner write: %w", err)
	}
	return r.seq, nil
}

func field(b []byte, name, value string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = append(b, value...) // only our own plain ASCII: nothing to escape
	return append(b, '"')
}

// Ready sends the ready signal (idle without a message id) and waits for
// its ack.
func (r *Runner) Ready(ctx context.Context) error {
	seq, err := r.send(ctx, func(b []byte) []byte {
		b = field(b, "type", "agentStatus")
		b = append(b, ',')
		return field(b, "status", "idle")
	})
	if err != nil {
		return err
	}
	return r.WaitAcked(ctx, seq)
}

// Create starts an assistant message for turn.
func (r *Runner) Create(ctx context.Context, turn string) (int64, error) {
	return r.send(ctx, func(b []byte) []byte {
		b = field(b, "type", "message.create")
		b = append(b, ',')
		return field(b, "turnId", turn)
	})
}

// Delta sends a text delta; fill appends its text (after the window wait,
// so a timestamp in it is the time of the write).
func (r *Runner) Delta(ctx context.Context, turn string, fill func(b []byte) []byte) (int64, error) {
	return r.send(ctx, func(b []byte) []byte {
		b = field(b, "type", "message.part.text-delta")
		b = append(b, ',')
		b = field(b, "turnId", turn)
		b = append(b, `,"delta":"`...)
		b = fill(b)
		return append(b, '"')
	})
}

// Finish ends the turn (finalize, complete) and waits until both are
// persisted.
func (r *Runner) Finish(ctx context.Context, turn string) error {
	if _, err := r.send(ctx, func(b []byte) []byte {
		b = field(b, "type", "message.finalize")
		b = append(b, ',')
		b = field(b, "turnId", turn)
		b = append(b, ',')
		return field(b, "reason", "end_turn")
	}); err != nil {
		return err
	}
	seq, err := r.send(ctx, func(b []byte) []byte { return field(b, "type", "complete") })
	if err != nil {
		return err
	}
	return r.WaitAcked(ctx, seq)
}

// Prompted sends a prompt over REST as the session's owner and waits until
// the server hands it to this runner: only then may a turn start.
func (r *Runner) Prompted(ctx context.Context, c *Client, s Session, content string) error {
	if err := c.Call(ctx, "POST", "/api/sessions/"+s.ID+"/prompt", s.Owner, map[string]any{"content": content}, nil, 200); err != nil {
		return err
	}
	select {
	case <-r.Prompts:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the prompt to reach the runner: %w", ctx.Err())
	}
}

// Close ends the runner socket.
func (r *Runner) Close() { _ = r.c.Close(websocket.StatusNormalClosure, "bench done") }

// Stamped returns a fill for delta: the unix-nanos time of the write, a
// space, and filler letters up to n bytes.
func Stamped(n int) func(b []byte) []byte {
	return func(b []byte) []byte {
		start := len(b)
		b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
		b = append(b, ' ')
		for len(b)-start < n {
			b = append(b, 'a'+byte((len(b)-start)%26))
		}
		return b
	}
}
