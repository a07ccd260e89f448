// Command eventbench measures fan-out through the user event bus: it serves
// the real API handler (event routes, auth) over loopback in this process,
// opens -subscribers Server-Sent Events streams and/or WebSockets for one
// user, publishes -events events at -rate per second, and reports how long
// each event took from Publish to each subscriber (p50, p99, max) as
// markdown.
//
//	go run -tags sqlite_fts5 ./internal/bench/eventbench -transport sse -subscribers 1000
//	go run -tags sqlite_fts5 ./internal/bench/eventbench -transport ws -subscribers 1000
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/eventbench -db postgres -pubsub postgres
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/eventbench -db postgres -pubsub redis
//
// With -pubsub postgres or redis the events are published on a second bus
// with its own pub/sub connection (another replica), so every delivery
// crosses the driver. Each event's data carries the publish time; the
// subscribers, in this process, subtract it from the arrival time. Every
// loop is bounded by -timeout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
)

type options struct {
	transport   string
	subscribers int
	events      int
	rate        float64
	dataBytes   int
	db          string
	pubsub      string
	timeout     time.Duration
	dialWorkers int
	cpuprofile  string
}

func main() {
	var o options
	flag.StringVar(&o.transport, "transport", "sse", "sse, ws or both (both opens -subscribers of each)")
	flag.IntVar(&o.subscribers, "subscribers", 1000, "streams per transport, all of one user")
	flag.IntVar(&o.events, "events", 1000, "events to publish")
	flag.Float64Var(&o.rate, "rate", 50, "events per second; 0 publishes as fast as the bus takes them")
	flag.IntVar(&o.dataBytes, "data-bytes", 100, "bytes of padding in each event's data")
	flag.StringVar(&o.db, "db", "sqlite", "sqlite or postgres (on $AGENTOPS_TEST_POSTGRES_URL's server)")
	flag.StringVar(&o.pubsub, "pubsub", "memory", "memory, postgres or redis ($AGENTOPS_TEST_REDIS_URL)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.IntVar(&o.dialWorkers, "dial-workers", 32, "streams opened at once")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the publishing phase to this file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "eventbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "eventbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := filepath.Join(dir, "agentops.db")
	if o.db == "postgres" {
		admin := os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
		if admin == "" {
			return errors.New("-db postgres needs AGENTOPS_TEST_POSTGRES_URL (run under go run ./internal/testutil/testenv --)")
		}
		u, drop, err := pgtest.CreateDatabase(ctx, admin, "eventbench")
		if err != nil {
			return err
		}
		defer drop()
		dbURL = u
	}
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	serverPS, err := openPubSub(ctx, o.pubsub, dbURL)
	if err != nil {
		return err
	}
	defer serverPS.Close()
	publisherPS := serverPS
	if o.pubsub != "memory" {
		if publisherPS, err = openPubSub(ctx, o.pubsub, dbURL); err != nil {
			return err
		}
		defer publisherPS.Close()
	}
	bus := events.New(st, serverPS, events.Config{QueueSize: 1024}, quiet)
	publisher := events.New(st, publisherPS, events.Config{}, quiet)
	authSvc := auth.New(st, auth.Config{}, quiet)
	token, user, err := authSvc.Register(ctx, auth.RegisterInput{Email: "bench@example.com", Password: "a long passphrase"})
	if err != nil {
		return err
	}
	handler := api.New(api.Deps{Auth: authSvc, Events: bus}, api.Options{AllowedOrigins: []string{"*"}, Version: "eventbench"}, quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(bus.StopStreams)
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		bus.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()

	var transports []string
	switch o.transport {
	case "sse", "ws":
		transports = []string{o.transport}
	case "both":
		transports = []string{"sse", "ws"}
	default:
		return fmt.Errorf("-transport must be sse, ws or both, not %q", o.transport)
	}
	var subs []*subscriber
	openStart := time.Now()
	for _, tr := range transports {
		s, err := openAll(ctx, base, token, tr, o)
		if err != nil {
			return err
		}
		subs = append(subs, s...)
	}
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	openTime := time.Since(openStart)
	for bus.Streams() < len(subs) { // every stream has subscribed
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Publish.
	pad := strings.Repeat("x", o.dataBytes)
	var publishLat []time.Duration
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var cpuBefore, cpuAfter syscallRusage
	cpuBefore.read()
	start := time.Now()
	for i := range o.events {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		t0 := time.Now()
		_, err := publisher.Publish(ctx, user.ID, events.Input{Type: "bench", Data: map[string]any{"ts": t0.UnixNano(), "pad": pad}})
		if err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
		publishLat = append(publishLat, time.Since(t0))
	}
	publishTime := time.Since(start)
	// Wait for every delivery (or the timeout).
	want := int64(o.events)
	for {
		done := true
		for _, s := range subs {
			if s.got.Load() < want && s.err.Load() == nil {
				done = false
				break
			}
		}
		if done || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	total := time.Since(start)
	cpuAfter.read()

	var all []time.Duration
	var delivered, failed int64
	per := map[string][]time.Duration{}
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.lat...)
		per[s.transport] = append(per[s.transport], s.lat...)
		s.mu.Unlock()
		delivered += s.got.Load()
		if s.err.Load() != nil {
			failed++
		}
	}
	fmt.Printf("### eventbench -transport %s -subscribers %d -events %d -rate %g -db %s -pubsub %s\n\n",
		o.transport, o.subscribers, o.events, o.rate, o.db, o.pubsub)
	fmt.Printf("- %d cores, %s; %d streams opened in %s\n", runtime.NumCPU(), runtime.Version(), len(subs), openTime.Round(time.Millisecond))
	fmt.Printf("- published %d events in %s (%.0f/s); publish p50 %s, p99 %s\n", o.events, publishTime.Round(time.Millisecond),
		float64(o.events)/publishTime.Seconds(), q(publishLat, 0.5), q(publishLat, 0.99))
	fmt.Printf("- delivered %d of %d (%d streams failed) in %s: %.0f deliveries/s; process CPU %.1f s\n", delivered, int64(len(subs))*want, failed,
		total.Round(time.Millisecond), float64(delivered)/total.Seconds(), cpuAfter.sub(cpuBefore).Seconds())
	fmt.Printf("\n| transport | streams | deliveries | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, tr := range transports {
		l := per[tr]
		fmt.Printf("| %s | %d | %d | %s | %s | %s |\n", tr, o.subscribers, len(l), q(l, 0.5), q(l, 0.99), q(l, 1))
	}
	if len(transports) > 1 {
		fmt.Printf("| all | %d | %d | %s | %s | %s |\n", len(subs), len(all), q(all, 0.5), q(all, 0.99), q(all, 1))
	}
	if delivered < int64(len(subs))*want {
		return fmt.Errorf("%d deliveries missing", int64(len(subs))*want-delivered)
	}
	return nil
}

func q(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i].Round(10 * time.Microsecond)
}

func openPubSub(ctx context.Context, kind, dbURL string) (realtime.PubSub, error) {
	switch kind {
	case "memory":
		return realtime.NewMemory(), nil
	case "postgres":
		if !store.IsPostgres(dbURL) {
			return nil, errors.New("-pubsub postgres needs -db postgres")
		}
		return realtime.NewPostgres(ctx, dbURL, realtime.PostgresOptions{})
	case "redis":
		u := os.Getenv("AGENTOPS_TEST_REDIS_URL")
		if u == "" {
			return nil, errors.New("-pubsub redis needs AGENTOPS_TEST_REDIS_URL (run under go run ./internal/testutil/testenv --)")
		}
		return realtime.NewRedis(ctx, u, realtime.RedisOptions{ChannelPrefix: "eventbench:"})
	}
	return nil, fmt.Errorf("-pubsub must be memory, postgres or redis, not %q", kind)
}

// subscriber is one stream: it counts the bench events it gets and their
// latency.
type subscriber struct {
	transport string
	got       atomic.Int64
	err       atomic.Pointer[error]
	mu        sync.Mutex
	lat       []time.Duration
	close     func()
}

// record takes the publish time out of a bench event's data. It looks for
// the field rather than decoding the JSON, to keep the load generator,
// which shares the CPUs with the server, cheap.
func (s *subscriber) record(data []byte) {
	_, rest, ok := bytes.Cut(data, []byte(`"ts":`))
	if !ok || !bytes.Contains(data, []byte(`"type":"bench"`)) {
		return
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return
	}
	ts, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return
	}
	d := time.Since(time.Unix(0, ts))
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
	s.got.Add(1)
}

func (s *subscriber) fail(err error) { s.err.Store(&err) }

func openAll(ctx context.Context, base, token, transport string, o options) ([]*subscriber, error) {
	subs := make([]*subscriber, o.subscribers)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}
	jobs := make(chan int)
	errc := make(chan error, o.dialWorkers)
	var wg sync.WaitGroup
	for range o.dialWorkers {
		wg.Go(func() {
			for i := range jobs {
				s := &subscriber{transport: transport, lat: make([]time.Duration, 0, o.events)}
				var err error
				if transport == "sse" {
					err = openSSE(ctx, client, base, token, s)
				} else {
					err = openWS(ctx, base, token, s)
				}
				if err != nil {
					errc <- fmt.Errorf("open %s stream %d: %w", transport, i, err)
					return
				}
				subs[i] = s
			}
		})
	}
	for i := range subs {
		select {
		case jobs <- i:
		case err := <-errc:
			close(jobs)
			wg.Wait()
			return nil, err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return subs, nil
}

func openSSE(ctx context.Context, client *http.Client, base, token string, s *subscriber) error {
	sctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(sctx, "GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if res.StatusCode != 200 {
		cancel()
		res.Body.Close()
		return fmt.Errorf("status %d", res.StatusCode)
	}
	rd := bufio.NewReaderSize(res.Body, 16<<10)
	// The ready frame: the stream has subscribed.
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			cancel()
			return err
		}
		if string(line) == "\n" {
			break
		}
	}
	s.close = cancel
	go func() {
		defer res.Body.Close()
		for {
			line, err := rd.ReadSlice('\n')
			if err != nil {
				if sctx.Err() == nil {
					s.fail(err)
				}
				return
			}
			if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				s.record(data)
			}
		}
	}()
	return nil
}

func openWS(ctx context.Context, base, token string, s *subscriber) error {
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/events/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return err
	}
	if _, _, err := c.Read(ctx); err != nil { // the ready frame
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	s.close = func() { cancel(); _ = c.CloseNow() }
	go func() {
		for {
			_, data, err := c.Read(sctx)
			if err != nil {
				if sctx.Err() == nil {
					s.fail(err)
				}
				return
			}
			s.record(data)
		}
	}()
	return nil
}

// syscallRusage is the CPU time this process (server and clients) used.
type syscallRusage struct{ d time.Duration }

func (r *syscallRusage) read() {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	r.d = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r syscallRusage) sub(o syscallRusage) time.Duration { return r.d - o.d }
