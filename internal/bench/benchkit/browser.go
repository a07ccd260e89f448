package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Browser is a browser socket that counts the deltas of one message and
// records, for each, the time since the runner wrote it (every delta is
// deltaBytes long and starts with the unix-nanos time of the write). The
// server may merge deltas that wait in a socket's queue into one chunk
// frame: such a frame holds several deltas back to back.
type Browser struct {
	Conn       *websocket.Conn
	Want       int // deltas until finished
	deltaBytes int
	lat        *Histogram

	inited   chan struct{}
	Finished chan struct{} // all chunks read, or the socket ended
	done     chan struct{} // the reader has returned

	// written by the reader; read after finished
	Got        int // deltas
	Frames     int // chunk frames
	OffsetErrs int
	nextOffset int
	End        time.Time
	CloseCode  websocket.StatusCode
	Err        error
}

var (
	chunkPrefix = []byte(`{"type":"chunk",`)
	contentKey  = []byte(`","content":"`)
	offsetKey   = []byte(`","offset":`)
)

// DialBrowsers opens n browser sockets on a session's socket URL (workers at a time)
// and waits until each has its init frame, i.e. has joined the session.
func DialBrowsers(ctx context.Context, wsURL, token string, n, workers, want, deltaBytes int, lat *Histogram) ([]*Browser, error) {
	out := make([]*Browser, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				b, err := dialBrowser(ctx, wsURL, token, want, deltaBytes, lat)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("browser %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				out[i] = b
			}
		})
	}
	wg.Wait()
	if first != nil {
		for _, b := range out {
			if b != nil {
				b.Conn.CloseNow()
			}
		}
		return nil, first
	}
	return out, nil
}

func dialBrowser(ctx context.Context, wsURL, token string, want, deltaBytes int, lat *Histogram) (*Browser, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, wsURL+"?role=client", &websocket.DialOptions{
		Subprotocols: []string{"valet", "bearer." + token},
	})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 22)
	b := &Browser{Conn: c, Want: want, deltaBytes: deltaBytes, lat: lat, inited: make(chan struct{}), Finished: make(chan struct{}), done: make(chan struct{})}
	go b.read()
	select {
	case <-b.inited:
		return b, nil
	case <-b.Finished:
		return nil, fmt.Errorf("socket ended before init: %w", b.Err)
	case <-dctx.Done():
		c.CloseNow()
		return nil, dctx.Err()
	}
}

func (b *Browser) read() {
	defer close(b.done)
	var once sync.Once
	finish := func() { once.Do(func() { b.End = time.Now(); close(b.Finished) }) }
	defer finish()
	inited := false
	buf := make([]byte, 0, 1024)
	for {
		_, rd, err := b.Conn.Reader(context.Background())
		if err == nil {
			buf, err = readInto(buf[:0], rd)
		}
		if err != nil {
			b.Err = err
			b.CloseCode = websocket.CloseStatus(err)
			return
		}
		now := time.Now().UnixNano()
		if !bytes.HasPrefix(buf, chunkPrefix) {
			if !inited {
				var f struct{ Type string }
				if json.Unmarshal(buf, &f) == nil && f.Type == "init" {
					inited = true
					close(b.inited)
				}
			}
			continue
		}
		content, offset, ok := parseChunk(buf)
		if !ok {
			b.OffsetErrs++
			continue
		}
		if offset != b.nextOffset {
			b.OffsetErrs++
		}
		b.nextOffset = offset + len(content)
		b.Frames++
		for d := content; len(d) > 0; d = d[min(len(d), b.deltaBytes):] {
			if sp := bytes.IndexByte(d, ' '); sp > 0 {
				if ts, err := strconv.ParseInt(string(d[:sp]), 10, 64); err == nil {
					b.lat.Add(now - ts)
				}
			}
			b.Got++
		}
		if b.Got >= b.Want {
			finish()
		}
	}
}

// parseChunk reads {"type":"chunk","messageId":"…","content":"…","offset":N}
// without a JSON decoder (the content is plain ASCII without escapes).
func parseChunk(f []byte) (content []byte, offset int, ok bool) {
	i := bytes.Index(f, contentKey)
	j := bytes.LastIndex(f, offsetKey)
	if i < 0 || j < i+len(contentKey) || len(f) < j+len(offsetKey)+2 {
		return nil, 0, false
	}
	content = f[i+len(contentKey) : j]
	n, err := strconv.Atoi(string(f[j+len(offsetKey) : len(f)-1]))
	if err != nil {
		return nil, 0, false
	}
	return content, n, true
}

func readInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
