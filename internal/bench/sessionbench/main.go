// Command sessionbench measures the session actor and its sockets: it runs
// an agentops server in this process (external sandboxes, a temporary data
// dir, SQLite or Postgres), plays the runners itself over the runner socket
// and opens browser sockets, and prints its results as markdown.
//
//	go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario fanout -sockets 1000 -deltas 10000
//	go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario fanout-paced   # 1000 sockets × 50 deltas/s × 20 s
//	go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario many           # 200 sessions × 1000 deltas, SQLite
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario many -db postgres
//	go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario fanout-paced -db postgres -replicas 3
//	go run -tags sqlite_fts5 ./internal/bench/sessionbench -scenario memory         # 1000 idle sessions, 1000 sockets
//
// Scenarios:
//
//	fanout        one session, one runner sending -deltas text deltas as fast
//	              as acks allow (-rate 0) or at -rate deltas/s, to -sockets
//	              browser sockets: deliveries/s and runner-to-browser latency
//	fanout-paced  fanout with -rate 50 and -deltas 1000 unless given
//	              (both fanouts: -replicas N runs N replicas on one Postgres
//	              and spreads the browser sockets over them; the runner is on
//	              the first, which owns the session, so the others relay)
//	many          -sessions sessions at once, each with its own runner sending
//	              one turn of -deltas deltas; the transcript is checked over
//	              REST at the end: persisted deltas/s
//	memory        heap, stacks and RSS of the process per idle actor
//	              (-sessions sessions with no runner) and per browser socket
//	              (-sockets sockets, opened by a child process so that only
//	              the server's side is counted)
//
// Every address is loopback; every loop is bounded by a count and by
// -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

type options struct {
	replicas    int
	scenario    string
	db          string
	databaseURL string
	sockets     int
	deltas      int
	sessions    int
	rate        float64
	window      int
	deltaBytes  int
	timeout     time.Duration
	logLevel    string
	cpuprofile  string
	memprofile  string
	dialWorkers int

	// child (memory scenario's socket holder)
	url, token, sessionID string
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "fanout", "fanout, fanout-paced, many or memory")
	flag.StringVar(&o.db, "db", "sqlite", "sqlite or postgres")
	flag.StringVar(&o.databaseURL, "postgres-url", "", "admin URL of a Postgres server to create a throwaway database on (default $AGENTOPS_TEST_POSTGRES_URL)")
	flag.IntVar(&o.sockets, "sockets", 1000, "browser sockets (fanout, memory)")
	flag.IntVar(&o.deltas, "deltas", 10000, "text deltas per session (fanout-paced and many: 1000)")
	flag.IntVar(&o.sessions, "sessions", 200, "sessions (many; memory: 1000)")
	flag.Float64Var(&o.rate, "rate", 0, "deltas per second per runner; 0 sends as fast as acks allow (fanout-paced: 50)")
	flag.IntVar(&o.window, "window", 5000, "most frames a runner keeps unacknowledged")
	flag.IntVar(&o.deltaBytes, "delta-bytes", 24, "bytes per text delta (at least 20: a unix-nanos timestamp and a space)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&o.logLevel, "log-level", "error", "the server's log level")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.StringVar(&o.memprofile, "memprofile", "", "memory: write a heap profile with the browser sockets open to this file")
	flag.IntVar(&o.replicas, "replicas", 1, "fanout: replicas on one Postgres (-db postgres), the browser sockets spread over them")
	flag.IntVar(&o.dialWorkers, "dial-workers", 32, "sockets dialled at once")
	flag.StringVar(&o.url, "child-url", "", "internal: server URL for the socket-holding child")
	flag.StringVar(&o.token, "child-token", "", "internal: login token for the socket-holding child")
	flag.StringVar(&o.sessionID, "child-session", "", "internal: session for the socket-holding child")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch o.scenario {
	case "fanout-paced": // the aim: 1000 sockets × 50 deltas/s for 20 s
		if !set["rate"] {
			o.rate = 50
		}
		if !set["deltas"] {
			o.deltas = 1000
		}
	case "many":
		if !set["deltas"] {
			o.deltas = 1000
		}
	case "memory":
		if !set["sessions"] {
			o.sessions = 1000
		}
	}
	if o.deltaBytes < 20 {
		o.deltaBytes = 20
	}
	raiseFileLimit()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var err error
	switch o.scenario {
	case "fanout", "fanout-paced":
		err = withServer(ctx, o, func(ctx context.Context, s *server) error { return fanout(ctx, o, s) })
	case "many":
		err = withServer(ctx, o, func(ctx context.Context, s *server) error { return many(ctx, o, s) })
	case "memory":
		err = withServer(ctx, o, func(ctx context.Context, s *server) error { return memory(ctx, o, s) })
	case "sockets-child":
		err = socketsChild(ctx, o)
	default:
		err = fmt.Errorf("unknown -scenario %q", o.scenario)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessionbench:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one: every
// socket costs a descriptor on each side.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			fmt.Fprintln(os.Stderr, "sessionbench: raise the open-file limit:", err)
		}
	}
}

// profile starts the CPU profile if one was asked for; call the result to
// stop it.
func profile(o options) (func(), error) {
	if o.cpuprofile == "" {
		return func() {}, nil
	}
	f, err := os.Create(o.cpuprofile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func logger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func environment(o options) string {
	return fmt.Sprintf("%d cores (GOMAXPROCS %d), %s, %s/%s, database %s; server, runners and browsers in one process",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, o.db)
}
