package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/internal/bench/benchkit"
)

// fanResult is one fan-out step: rate messages/s to n subscribers for d.
type fanResult struct {
	rate        int // messages/s published
	subscribers int
	deliveries  int64
	perSec      float64
	p50, p99    time.Duration
	complete    int // subscribers that got every message
	cut         int // closed as slow (agentops: 4008)
	cpu         time.Duration
	// how long one publish took (agentops: the runner's socket write,
	// with its wait for the ack window; Centrifugo: the HTTP publish)
	pubP99, pubMax time.Duration
}

// holds says the server kept up: every subscriber got every message, at
// 90% of the published rate or more (a publisher that falls behind keeps
// each message's latency low while the rate drops), and the 99th
// percentile latency stayed under 200 ms.
func (r fanResult) holds() bool {
	return r.p99 < 200*time.Millisecond && r.complete == r.subscribers &&
		r.perSec >= 0.9*float64(r.rate*r.subscribers)
}

// cpuPerMillion is the server's CPU time per million deliveries.
func (r fanResult) cpuPerMillion() time.Duration {
	if r.deliveries == 0 {
		return 0
	}
	return time.Duration(float64(r.cpu) / float64(r.deliveries) * 1e6)
}

// fanSide is one server that fans messages out to websocket subscribers.
type fanSide interface {
	name() string
	proc() *proc
	// step opens n subscribers, publishes rate messages/s for d and waits
	// until every subscriber has them all or gives up.
	step(ctx context.Context, o options, rate int) (fanResult, error)
	close()
}

const deltaBytes = 24

// --- agentops: one session, one runner streaming text deltas ---------------

type agentopsFan struct {
	p    *proc
	c    *benchkit.Client
	bs   benchkit.Session
	r    *benchkit.Runner
	turn int
}

func startAgentopsFan(ctx context.Context, o options, dir string) (*agentopsFan, error) {
	s, err := startAgentops(ctx, o, dir, 1)
	if err != nil {
		return nil, err
	}
	c := benchkit.NewClient(s.p.url, 4)
	bs, err := c.CreateSession(ctx, s.users[0].token)
	if err != nil {
		s.p.stop()
		return nil, err
	}
	r, err := benchkit.DialRunner(ctx, c.WSURL(bs.ID), bs.RunnerToken, 5000)
	if err == nil {
		err = r.Ready(ctx)
	}
	if err != nil {
		s.p.stop()
		return nil, err
	}
	return &agentopsFan{p: s.p, c: c, bs: bs, r: r}, nil
}

func (a *agentopsFan) name() string { return "agentops" }
func (a *agentopsFan) proc() *proc  { return a.p }
func (a *agentopsFan) close()       { a.r.Close(); a.p.stop() }

func (a *agentopsFan) step(ctx context.Context, o options, rate int) (fanResult, error) {
	n, d := o.subscribers, o.fanDuration
	want := rate * int(d/time.Second)
	lat, pub := &benchkit.Histogram{}, &benchkit.Histogram{}
	if err := a.r.Prompted(ctx, a.c, a.bs, "bench"); err != nil {
		return fanResult{}, err
	}
	browsers, err := benchkit.DialBrowsers(ctx, a.c.WSURL(a.bs.ID), a.bs.Owner, n, 32, want, deltaBytes, lat)
	if err != nil {
		return fanResult{}, err
	}
	defer func() {
		for _, b := range browsers {
			b.Conn.CloseNow()
		}
	}()
	a.turn++
	turn := "turn-" + strconv.Itoa(a.turn)
	seq, err := a.r.Create(ctx, turn)
	if err == nil {
		err = a.r.WaitAcked(ctx, seq)
	}
	if err != nil {
		return fanResult{}, err
	}
	cpu0, _ := a.p.cpuTime()
	fill := benchkit.Stamped(deltaBytes)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range want {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		t0 := time.Now()
		if _, err := a.r.Delta(ctx, turn, fill); err != nil {
			return fanResult{}, err
		}
		pub.Add(int64(time.Since(t0)))
	}
	if err := a.r.Finish(ctx, turn); err != nil {
		return fanResult{}, err
	}
	giveUp := time.After(d + 30*time.Second)
	for _, b := range browsers {
		select {
		case <-b.Finished:
		case <-giveUp:
		}
	}
	cpu1, _ := a.p.cpuTime()
	res := fanResult{rate: rate, subscribers: n, p50: lat.Quantile(0.5), p99: lat.Quantile(0.99), cpu: cpu1 - cpu0,
		pubP99: pub.Quantile(0.99), pubMax: pub.Max()}
	var end time.Time
	for _, b := range browsers {
		res.deliveries += int64(b.Got)
		if b.Got >= want {
			res.complete++
		} else if b.CloseCode == 4008 {
			res.cut++
		}
		if b.End.After(end) {
			end = b.End
		}
	}
	res.perSec = float64(res.deliveries) / end.Sub(start).Seconds()
	return res, nil
}

// --- Centrifugo: one channel, publishes over its HTTP API --------------------

type centrifugoFan struct {
	p   *proc
	url string
	hc  *http.Client
}

const centrifugoKey = "bench-api-key"

func startCentrifugo(ctx context.Context, o options, dir string) (*centrifugoFan, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":    map[string]any{"key": centrifugoKey},
		"health":      map[string]any{"enabled": true},
		"log":         map[string]any{"level": "error"},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "centrifugo.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := start(ctx, "centrifugo", o.centrifugo, []string{"--config", path}, dir, url, "/health")
	if err != nil {
		return nil, err
	}
	return &centrifugoFan{p: p, url: url, hc: newHTTPClient(o.publishers)}, nil
}

func (c *centrifugoFan) name() string { return "centrifugo" }
func (c *centrifugoFan) proc() *proc  { return c.p }
func (c *centrifugoFan) close()       { c.p.stop() }

// cfSub is one Centrifugo subscriber speaking its JSON protocol.
type cfSub struct {
	conn     *websocket.Conn
	want     int
	got      atomic.Int64
	end      time.Time
	finished chan struct{}
}

func (c *centrifugoFan) dial(ctx context.Context, channel string, want int, lat *benchkit.Histogram) (*cfSub, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws"+c.url[len("http"):]+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 22)
	cmd := fmt.Sprintf("{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{\"channel\":%q}}", channel)
	if err := conn.Write(dctx, websocket.MessageText, []byte(cmd)); err != nil {
		conn.CloseNow()
		return nil, err
	}
	s := &cfSub{conn: conn, want: want, finished: make(chan struct{})}
	subscribed := make(chan struct{})
	go s.read(subscribed, lat)
	select {
	case <-subscribed:
		return s, nil
	case <-s.finished:
		return nil, fmt.Errorf("centrifugo subscriber ended before its subscription")
	case <-dctx.Done():
		conn.CloseNow()
		return nil, dctx.Err()
	}
}

var (
	pushKey = []byte(`"push":`)
	dataKey = []byte(`"d":"`)
	sub2Key = []byte(`"id":2`)
)

func (s *cfSub) read(subscribed chan struct{}, lat *benchkit.Histogram) {
	var once, subOnce sync.Once
	finish := func() { once.Do(func() { s.end = time.Now(); close(s.finished) }) }
	defer finish()
	for {
		_, b, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		for _, m := range bytes.Split(b, []byte("\n")) {
			switch {
			case len(m) == 2 && m[0] == '{': // ping: answer with a pong
				_ = s.conn.Write(context.Background(), websocket.MessageText, []byte("{}"))
			case bytes.Contains(m, pushKey):
				if i := bytes.Index(m, dataKey); i >= 0 {
					d := m[i+len(dataKey):]
					if sp := bytes.IndexByte(d, ' '); sp > 0 {
						if ts, err := strconv.ParseInt(string(d[:sp]), 10, 64); err == nil {
							lat.Add(now - ts)
						}
					}
				}
				if int(s.got.Add(1)) >= s.want {
					finish()
				}
			case bytes.Contains(m, sub2Key):
				subOnce.Do(func() { close(subscribed) })
			}
		}
	}
}

func (c *centrifugoFan) step(ctx context.Context, o options, rate int) (fanResult, error) {
	n, d := o.subscribers, o.fanDuration
	want := rate * int(d/time.Second)
	lat, pub := &benchkit.Histogram{}, &benchkit.Histogram{}
	channel := "bench" + strconv.Itoa(rate)
	subs := make([]*cfSub, n)
	var next atomic.Int64
	var dialErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				s, err := c.dial(ctx, channel, want, lat)
				if err != nil {
					mu.Lock()
					dialErr = err
					mu.Unlock()
					return
				}
				subs[i] = s
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.conn.CloseNow()
			}
		}
	}()
	if dialErr != nil {
		return fanResult{}, dialErr
	}
	cpu0, _ := c.p.cpuTime()
	fill := benchkit.Stamped(deltaBytes)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	// Publishes go out on -publishers connections so that one slow answer
	// does not hold the pace; each carries the time it was sent.
	jobs := make(chan struct{}, 1024)
	var pubErr atomic.Value
	var pw sync.WaitGroup
	for range o.publishers {
		pw.Go(func() {
			buf := make([]byte, 0, 128)
			for range jobs {
				buf = append(buf[:0], `{"channel":"`...)
				buf = append(buf, channel...)
				buf = append(buf, `","data":{"d":"`...)
				buf = fill(buf)
				buf = append(buf, `"}}`...)
				req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/api/publish", bytes.NewReader(buf))
				req.Header.Set("X-API-Key", centrifugoKey)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := c.hc.Do(req)
				pub.Add(int64(time.Since(t0)))
				if err == nil {
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("publish: %d", res.StatusCode)
					}
				}
				if err != nil {
					pubErr.Store(err)
				}
			}
		})
	}
	for i := range want {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		jobs <- struct{}{}
	}
	close(jobs)
	pw.Wait()
	if err, ok := pubErr.Load().(error); ok {
		return fanResult{}, err
	}
	giveUp := time.After(d + 30*time.Second)
	for _, s := range subs {
		select {
		case <-s.finished:
		case <-giveUp:
		}
	}
	cpu1, _ := c.p.cpuTime()
	res := fanResult{rate: rate, subscribers: n, p50: lat.Quantile(0.5), p99: lat.Quantile(0.99), cpu: cpu1 - cpu0,
		pubP99: pub.Quantile(0.99), pubMax: pub.Max()}
	var end time.Time
	for _, s := range subs {
		got := s.got.Load()
		res.deliveries += got
		if int(got) >= want {
			res.complete++
		}
		if s.end.After(end) {
			end = s.end
		}
	}
	res.perSec = float64(res.deliveries) / end.Sub(start).Seconds()
	return res, nil
}
