// Command compare measures agentops side by side with the servers a user
// would pick for the same job, each driven by this one load program with
// the same requests, in alternating rounds:
//
//   - writes and reads over REST against PocketBase (authenticated record
//     creates and GETs; agentops: PUT /api/me/memory with new paths and
//     GET /api/auth/me), on SQLite;
//   - fan-out of a stream to WebSocket subscribers against Centrifugo
//     (agentops: one session's runner streaming text deltas to browser
//     sockets; Centrifugo: HTTP API publishes to one channel): the highest
//     rate every subscriber gets at p99 < 200 ms, deliveries/s and server
//     CPU per million deliveries;
//   - idle RSS after the first sign-in.
//
// The peers are built from the Go module proxy into a cache outside the
// clone (make bench-compare does it; see scripts/bench-peers.sh). Every
// server is started by this program in its own session, never setsid, so
// that the kernel's autogroup scheduler treats them alike.
//
//	go run -tags sqlite_fts5 ./internal/bench/compare -agentops bin/agentops \
//	  -pocketbase CACHE/pocketbase-0.36.8 -centrifugo CACHE/centrifugo-6.9.1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"
)

type options struct {
	agentops, pocketbase, centrifugo string
	scenarios                        string
	rounds                           int
	duration                         time.Duration
	clients                          []int
	subscribers                      int
	rates                            []int
	fanDuration                      time.Duration
	allRates                         bool // fan-out: try every rate, not only until one fails
	publishers                       int  // Centrifugo: concurrent HTTP publishers
	postgres                         bool // agentops on Postgres instead of SQLite
	agentopsOnly                     bool // fan-out: agentops alone (a before/after of two builds)
	postgresAdmin                    string
}

func main() {
	var o options
	var clients, rates string
	flag.StringVar(&o.agentops, "agentops", "bin/agentops", "the agentops binary")
	flag.StringVar(&o.pocketbase, "pocketbase", "", "the PocketBase binary (examples/base v0.36.8)")
	flag.StringVar(&o.centrifugo, "centrifugo", "", "the Centrifugo binary (v6.9.1)")
	flag.StringVar(&o.scenarios, "scenarios", "writes,reads,fanout,rss", "comma-separated: writes, reads, fanout, rss")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per figure; the order alternates round by round")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each REST run")
	flag.StringVar(&clients, "clients", "16,64", "concurrent REST clients (one user each)")
	flag.IntVar(&o.subscribers, "subscribers", 1000, "WebSocket subscribers for fan-out")
	flag.StringVar(&rates, "rates", "100,200,400,800,1600,3200", "fan-out rates (messages/s), tried in order until one fails (-all-rates: all of them)")
	flag.DurationVar(&o.fanDuration, "fan-duration", 10*time.Second, "length of each fan-out step")
	flag.BoolVar(&o.allRates, "all-rates", false, "fan-out: try every rate even after one fails to hold (overload)")
	flag.IntVar(&o.publishers, "publishers", 16, "Centrifugo: concurrent HTTP publish connections")
	flag.BoolVar(&o.agentopsOnly, "agentops-only", false, "fan-out: run agentops alone, without Centrifugo (to compare two builds)")
	flag.BoolVar(&o.postgres, "postgres", false, "run agentops on Postgres: a throwaway database per server on $AGENTOPS_TEST_POSTGRES_URL, or on a Postgres started here (fsync off)")
	flag.Parse()
	var err error
	if o.clients, err = ints(clients); err == nil {
		o.rates, err = ints(rates)
	}
	// Each server runs in its own temporary dir: binaries are named from here.
	for _, bin := range []*string{&o.agentops, &o.pocketbase, &o.centrifugo} {
		if err == nil && *bin != "" {
			*bin, err = filepath.Abs(*bin)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = withPostgres(ctx, &o, func() error { return run(ctx, o) })
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// withPostgres runs fn with o.postgresAdmin set when -postgres is given:
// $AGENTOPS_TEST_POSTGRES_URL, or a server started for the run and
// stopped after it (also when fn fails: os.Exit would skip a defer).
func withPostgres(ctx context.Context, o *options, fn func() error) error {
	if !o.postgres {
		return fn()
	}
	if o.postgresAdmin = os.Getenv("AGENTOPS_TEST_POSTGRES_URL"); o.postgresAdmin != "" {
		return fn()
	}
	srv, err := pgtest.Start(ctx)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer srv.Stop()
	o.postgresAdmin = srv.URL()
	return fn()
}

func run(ctx context.Context, o options) error {
	db := "SQLite"
	if o.postgres {
		db = "Postgres (a throwaway database per server; the test server's settings: fsync off)"
	}
	fmt.Printf("<!-- %s; agentops on %s -->\n\n", environment(), db)
	for _, sc := range strings.Split(o.scenarios, ",") {
		var err error
		switch strings.TrimSpace(sc) {
		case "writes":
			err = compareREST(ctx, o, true)
		case "reads":
			err = compareREST(ctx, o, false)
		case "fanout":
			err = compareFanout(ctx, o)
		case "rss":
			err = compareRSS(ctx, o)
		default:
			err = fmt.Errorf("unknown scenario %q", sc)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
	}
	return nil
}

// compareREST runs writes (or reads) at each client count, alternating
// which server goes first, each round on fresh servers.
func compareREST(ctx context.Context, o options, write bool) error {
	if o.pocketbase == "" {
		return fmt.Errorf("-pocketbase is needed")
	}
	what := map[bool]string{true: "writes", false: "reads"}[write]
	fmt.Printf("### %s: agentops vs PocketBase\n\n", what)
	fmt.Println("| clients | agentops /s (rounds) | agentops p99 | agentops CPU per request | PocketBase /s (rounds) | PocketBase p99 | PocketBase CPU per request | ratio (medians) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, n := range o.clients {
		var ours, theirs []loadResult
		for r := range o.rounds {
			order := []string{"agentops", "pocketbase"}
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, side := range order {
				res, err := restRound(ctx, o, side, n, write)
				if err != nil {
					return err
				}
				if res.failed > 0 {
					return fmt.Errorf("%s %s with %d clients: %d requests failed (first: %s)", side, what, n, res.failed, res.firstErr)
				}
				if side == "agentops" {
					ours = append(ours, res)
				} else {
					theirs = append(theirs, res)
				}
			}
		}
		a, b := medianRate(ours), medianRate(theirs)
		rate := func(x loadResult) string { return strconv.Itoa(int(x.perSec)) }
		p99 := func(x loadResult) string { return x.p99.Round(100 * time.Microsecond).String() }
		cpu := func(x loadResult) string { return x.cpuPer.Round(time.Microsecond).String() }
		fmt.Printf("| %d | %.0f (%s) | %s | %s | %.0f (%s) | %s | %s | %.2f |\n", n,
			a, perRound(ours, rate), perRound(ours, p99), perRound(ours, cpu),
			b, perRound(theirs, rate), perRound(theirs, p99), perRound(theirs, cpu), a/b)
	}
	fmt.Println()
	return nil
}

func restRound(ctx context.Context, o options, side string, n int, write bool) (loadResult, error) {
	dir, err := mkTemp()
	if err != nil {
		return loadResult{}, err
	}
	defer os.RemoveAll(dir)
	var s *restSide
	if side == "agentops" {
		s, err = startAgentops(ctx, o, dir, n)
	} else {
		s, err = startPocketBase(ctx, o, dir, n)
	}
	if err != nil {
		return loadResult{}, err
	}
	defer s.p.stop()
	runLoad(ctx, s, n, time.Second, write) // warm up
	return runLoad(ctx, s, n, o.duration, write), nil
}

// compareFanout finds, for each server, the highest rate that holds, round
// by round, and reports CPU per million deliveries at the highest rate
// both held.
func compareFanout(ctx context.Context, o options) error {
	if o.centrifugo == "" && !o.agentopsOnly {
		return fmt.Errorf("-centrifugo is needed")
	}
	fmt.Printf("### fan-out to %d WebSocket subscribers: agentops vs Centrifugo\n\n", o.subscribers)
	fmt.Println("| round | server | rate msg/s | deliveries/s | p50 | p99 | complete | cut (4008) | server CPU | CPU per 10⁶ deliveries | publish p99 / max | holds |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	best := map[string][]int{}
	cpuAt := map[string]map[int][]time.Duration{"agentops": {}, "centrifugo": {}}
	for r := range o.rounds {
		order := []string{"agentops", "centrifugo"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, side := range order {
			if o.agentopsOnly && side != "agentops" {
				continue
			}
			top, err := fanRound(ctx, o, side, r+1, cpuAt[side])
			if err != nil {
				return err
			}
			best[side] = append(best[side], top)
		}
	}
	fmt.Println()
	if o.agentopsOnly {
		fmt.Printf("highest rate held (median of rounds): agentops %d msg/s %v\n\n", median(best["agentops"]), best["agentops"])
		return nil
	}
	a, b := median(best["agentops"]), median(best["centrifugo"])
	fmt.Printf("highest rate held (median of rounds): agentops %d msg/s %v, Centrifugo %d msg/s %v: ratio %.2f\n", a, best["agentops"], b, best["centrifugo"], float64(a)/float64(max(b, 1)))
	for _, rate := range o.rates {
		ac, bc := cpuAt["agentops"][rate], cpuAt["centrifugo"][rate]
		if len(ac) == 0 || len(bc) == 0 {
			continue
		}
		ma, mb := medianDur(ac), medianDur(bc)
		fmt.Printf("CPU per 10⁶ deliveries at %d msg/s: agentops %s, Centrifugo %s: ratio %.2f\n", rate, ma.Round(10*time.Millisecond), mb.Round(10*time.Millisecond), float64(ma)/float64(mb))
	}
	fmt.Println()
	return nil
}

func fanRound(ctx context.Context, o options, side string, round int, cpu map[int][]time.Duration) (int, error) {
	dir, err := mkTemp()
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	var f fanSide
	if side == "agentops" {
		f, err = startAgentopsFan(ctx, o, dir)
	} else {
		f, err = startCentrifugo(ctx, o, dir)
	}
	if err != nil {
		return 0, err
	}
	defer f.close()
	top, failed := 0, false // the highest rate held with every lower one held
	for _, rate := range o.rates {
		res, err := f.step(ctx, o, rate)
		if err != nil {
			return 0, fmt.Errorf("%s at %d msg/s: %w", side, rate, err)
		}
		fmt.Printf("| %d | %s | %d | %.0f | %s | %s | %d | %d | %s | %s | %s / %s | %v |\n", round, side, rate, res.perSec,
			res.p50.Round(100*time.Microsecond), res.p99.Round(100*time.Microsecond), res.complete, res.cut,
			res.cpu.Round(10*time.Millisecond), res.cpuPerMillion().Round(10*time.Millisecond),
			res.pubP99.Round(10*time.Microsecond), res.pubMax.Round(10*time.Microsecond), res.holds())
		if !res.holds() {
			if !o.allRates {
				break
			}
			failed = true
			continue
		}
		if !failed {
			top = rate
		}
		cpu[rate] = append(cpu[rate], res.cpuPerMillion())
	}
	return top, nil
}

// compareRSS starts each server, signs one user in, waits a second and
// reads its resident set.
func compareRSS(ctx context.Context, o options) error {
	fmt.Println("### idle RSS after the first sign-in (each binary evicted from the page cache before it starts)")
	fmt.Println()
	fmt.Println("| round | server | RSS kB | anonymous kB | file kB |")
	fmt.Println("|---|---|---|---|---|")
	var ours, theirs []int64
	for r := range o.rounds {
		order := []string{"agentops", "pocketbase"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, side := range order {
			dir, err := mkTemp()
			if err != nil {
				return err
			}
			var s *restSide
			if side == "agentops" {
				s, err = startAgentops(ctx, o, dir, 1)
			} else {
				s, err = startPocketBase(ctx, o, dir, 1)
			}
			if err != nil {
				os.RemoveAll(dir)
				return err
			}
			time.Sleep(time.Second)
			m, err := s.p.memory()
			s.p.stop()
			os.RemoveAll(dir)
			if err != nil {
				return err
			}
			fmt.Printf("| %d | %s | %d | %d | %d |\n", r+1, side, m.rss, m.anon, m.file)
			if side == "agentops" {
				ours = append(ours, m.rss)
			} else {
				theirs = append(theirs, m.rss)
			}
		}
	}
	a, b := median(ours), median(theirs)
	fmt.Printf("\nagentops %d kB %v, PocketBase %d kB %v: ratio %.2f\n\n", a, ours, b, theirs, float64(a)/float64(b))
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a list of positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func median[T int | int64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianDur(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianRate(v []loadResult) float64 {
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = x.perSec
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// perRound joins one figure of each round, formatted by f.
func perRound(v []loadResult, f func(loadResult) string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

func environment() string {
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d cores, %s, %s/%s, load average at start %s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, strings.Join(strings.Fields(string(load))[:3], " "))
}

func cpus() int { return runtime.NumCPU() }

func execCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, args...)
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
