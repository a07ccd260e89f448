// Command workflowbench measures the workflow gateway:
//
//   - -mode webhooks: signed webhook deliveries accepted per second
//     through the HTTP API of agentops serving in this process (runners
//     external, so that no runner process is started per delivery: this
//     measures the gateway's accept path: HMAC check, idempotency lookup,
//     limits, the session and execution rows, the session's actor). A
//     finisher marks executions completed every 20 ms, as runners would,
//     so the active count stays within the limits (-max-active, 200) and
//     few deliveries get 429. Then the accepted deliveries again, which are
//     answered as duplicates.
//
//   - -mode schedules: the per-minute evaluation of N schedule triggers
//     (workflow.Service.Tick on the store directly), with none due and
//     with 1 % due (each due trigger starts an execution).
//
//     go run -tags sqlite_fts5 ./internal/testutil/testenv -- go run -tags sqlite_fts5 ./internal/bench/workflowbench -mode webhooks -db postgres
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentops/agentops/internal/testutil/pgtest"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

type options struct {
	mode, db    string
	duration    time.Duration
	clients     int
	triggers    int
	runs        int
	maxActive   int
	postgresURL string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "webhooks", "webhooks or schedules")
	flag.StringVar(&o.db, "db", "sqlite", "sqlite or postgres (postgres needs AGENTOPS_TEST_POSTGRES_URL: run under internal/testutil/testenv)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "webhooks: how long to send deliveries")
	flag.IntVar(&o.clients, "clients", 16, "webhooks: concurrent senders")
	flag.IntVar(&o.maxActive, "max-active", 200, "webhooks: --workflow-max-global and -per-user")
	flag.IntVar(&o.triggers, "triggers", 10000, "schedules: schedule triggers")
	flag.IntVar(&o.runs, "runs", 7, "schedules: evaluations per case (the median is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured part to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "workflowbench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	o.postgresURL = os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
	var err error
	switch o.mode {
	case "webhooks":
		err = webhooks(context.Background(), o)
	case "schedules":
		err = schedules(context.Background(), o)
	default:
		err = fmt.Errorf("-mode must be webhooks or schedules, not %q", o.mode)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "workflowbench:", err)
		os.Exit(1)
	}
}

// databaseURL returns a fresh database of o.db and its cleanup.
func databaseURL(ctx context.Context, o options, dir string) (string, func(), error) {
	switch o.db {
	case "sqlite":
		return filepath.Join(dir, "agentops.db"), func() {}, nil
	case "postgres":
		if o.postgresURL == "" {
			return "", nil, errors.New("-db postgres needs AGENTOPS_TEST_POSTGRES_URL (run under go run ./internal/testutil/testenv --)")
		}
		return pgtest.CreateDatabase(ctx, o.postgresURL, "workflowbench")
	}
	return "", nil, fmt.Errorf("-db must be sqlite or postgres, not %q", o.db)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// ---- webhooks ----

type client struct {
	base  string
	token string
	http  *http.Client
}

func (c *client) json(method, path string, body, out any, want int) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func webhooks(ctx context.Context, o options) (err error) {
	dir, err := os.MkdirTemp("", "workflowbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL, drop, err := databaseURL(ctx, o, dir)
	if err != nil {
		return err
	}
	defer drop()
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := app.Config{Listen: addr, DataDir: filepath.Join(dir, "data"), DatabaseURL: dbURL, Sandbox: "external",
		StopRunnersOnShutdown: true, Version: "workflowbench", LogLevel: "error",
		Workflows: app.WorkflowConfig{MaxPerUser: o.maxActive, MaxGlobal: o.maxActive}}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	defer func() {
		stop()
		if serr := <-done; serr != nil && err == nil {
			err = serr
		}
	}()
	c := &client{base: "http://" + addr, http: &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.clients, Proxy: nil}}}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if res, err := c.http.Get(c.base + "/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("server not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var reg struct{ SessionToken string }
	if err := c.json("POST", "/auth/email/register", map[string]any{"email": "bench@example.com", "password": "a long benchmark passphrase"}, &reg, 200); err != nil {
		return err
	}
	c.token = reg.SessionToken
	if err := c.json("POST", "/api/workflows/sync", map[string]any{"id": "bench", "name": "bench",
		"data": map[string]any{"steps": []any{map[string]any{"id": "a", "type": "bash", "command": "true"}}}}, nil, 200); err != nil {
		return err
	}
	const secret = "benchmark-secret"
	if err := c.json("POST", "/api/triggers", map[string]any{"workflowId": "bench", "name": "hook",
		"config":          map[string]any{"type": "webhook", "path": "bench/push", "secret": secret},
		"variableMapping": map[string]any{"ref": "$.ref", "sha": "$.head_commit.id"}}, nil, 201); err != nil {
		return err
	}

	// The finisher: runners would complete executions; keep the active
	// count within the limits as in production.
	fctx, fstop := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	fwg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			_, _ = a.Store.DB().NewUpdate().Table("workflow_executions").Set("status = ?", store.ExecCompleted).
				Where("status IN (?)", bun.In(store.ActiveExecStatuses)).Exec(fctx)
		}
	})
	defer func() { fstop(); fwg.Wait() }()

	var seq atomic.Int64
	deliver := func(id int64) (int, time.Duration, error) {
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","head_commit":{"id":"%040d","message":"change %d"},"repository":{"full_name":"acme/app"}}`, id, id)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req, _ := http.NewRequest("POST", c.base+"/webhooks/bench/push", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("delivery-%d", id))
		start := time.Now()
		res, err := c.http.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, time.Since(start), nil
	}
	var acceptedMu sync.Mutex
	var accepted []int64
	phase := func(name string, next func() int64, want int) error {
		var mu sync.Mutex
		var lat []time.Duration
		codes := map[int]int{}
		end := time.Now().Add(o.duration)
		var wg sync.WaitGroup
		var firstErr error
		start := time.Now()
		for range o.clients {
			wg.Go(func() {
				for time.Now().Before(end) {
					id := next()
					if id < 0 {
						return
					}
					code, d, err := deliver(id)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					codes[code]++
					if code == want {
						lat = append(lat, d)
					}
					if code == http.StatusAccepted {
						acceptedMu.Lock()
						accepted = append(accepted, id)
						acceptedMu.Unlock()
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		if firstErr != nil {
			return firstErr
		}
		slices.Sort(lat)
		pct := func(p float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[min(len(lat)-1, int(float64(len(lat))*p))]
		}
		fmt.Printf("%-10s db=%-8s clients=%d  %d answered %d in %s: %.0f/s  p50 %s  p99 %s  (all codes %v)\n", name, o.db, o.clients,
			len(lat), want, took.Round(time.Millisecond), float64(len(lat))/took.Seconds(), pct(0.5).Round(10*time.Microsecond),
			pct(0.99).Round(10*time.Microsecond), codes)
		return nil
	}
	if err := phase("accepted", func() int64 { return seq.Add(1) }, http.StatusAccepted); err != nil {
		return err
	}
	ids := slices.Clone(accepted)
	var again atomic.Int64
	return phase("duplicate", func() int64 {
		n := again.Add(1)
		if n > int64(len(ids)) {
			return -1
		}
		return ids[n-1]
	}, http.StatusOK)
}

// ---- schedules ----

// noSessions starts nothing: the benchmark measures the evaluation and the
// rows an execution needs, not runners.
type noSessions struct{}

func (noSessions) NewWorkflowSession(userID, workspace string) *store.Session {
	now := time.Now().UTC()
	return &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: workspace, Status: store.StatusInitializing,
		Purpose: store.PurposeWorkflow, Agent: "script", QueueMode: "followup", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
}
func (noSessions) KickWorkflow(context.Context, string) error               { return nil }
func (noSessions) EndWorkflowSession(context.Context, string, string) error { return nil }

var zones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles",
	"Europe/London", "Asia/Kolkata", "America/Sao_Paulo", "Africa/Lagos"}

func schedules(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "workflowbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL, drop, err := databaseURL(ctx, o, dir)
	if err != nil {
		return err
	}
	defer drop()
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	kr, err := keyring.Generate()
	if err != nil {
		return err
	}
	var now atomic.Pointer[time.Time]
	clock := func() time.Time { return *now.Load() }
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)
	now.Store(&t0)
	svc := workflow.New(workflow.Deps{Store: st, Sessions: noSessions{}, Sealer: kr},
		workflow.Config{MaxPerUser: 1 << 30, MaxGlobal: 1 << 30, Now: clock})
	created := t0.Add(-24 * time.Hour)
	u := &store.User{ID: uuid.NewString(), Email: "bench@example.com", Role: store.RoleAdmin, IdleTimeoutSeconds: 900,
		UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: created, UpdatedAt: created}
	if err := st.Users().Create(ctx, u); err != nil {
		return err
	}
	w, err := svc.Sync(ctx, u.ID, workflow.SyncInput{ID: "bench", Name: "bench",
		Data: json.RawMessage(`{"steps":[{"id":"a","type":"bash","command":"true"}]}`)})
	if err != nil {
		return err
	}
	// Not due at 10:xx on 2 June 2025 in any of the zones: 03:17 on Sundays.
	const quiet = "17 3 * * 0"
	insert := func(n int, cron string) error {
		return st.InTx(ctx, func(tx *store.Store) error {
			for i := range n {
				cfg, _ := json.Marshal(workflow.TriggerConfig{Type: store.TriggerSchedule, Cron: cron, Timezone: zones[i%len(zones)], Target: "workflow"})
				t := &store.Trigger{ID: uuid.NewString(), UserID: u.ID, WorkflowUID: w.UID, Name: "t", Enabled: true,
					Type: store.TriggerSchedule, Config: cfg, CreatedAt: created, UpdatedAt: created}
				if err := tx.Triggers().Insert(ctx, t); err != nil {
					return err
				}
			}
			return nil
		})
	}
	setup := time.Now()
	for left := o.triggers; left > 0; left -= 1000 {
		if err := insert(min(left, 1000), quiet); err != nil {
			return err
		}
	}
	fmt.Printf("db=%s: %d schedule triggers inserted in %s\n", o.db, o.triggers, time.Since(setup).Round(time.Millisecond))
	minute := t0
	measure := func(name string) error {
		var took []time.Duration
		var last workflow.TickStats
		for range o.runs {
			minute = minute.Add(time.Minute)
			m := minute
			now.Store(&m)
			start := time.Now()
			stats, err := svc.Tick(ctx)
			if err != nil {
				return err
			}
			took = append(took, time.Since(start))
			last = stats
		}
		slices.Sort(took)
		fmt.Printf("%-22s db=%-8s triggers=%d due=%d fired=%d: median %s  min %s  max %s\n", name, o.db, last.Triggers, last.Due,
			last.Fired, took[len(took)/2].Round(10*time.Microsecond), took[0].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
		return nil
	}
	if err := measure("none due"); err != nil {
		return err
	}
	// 1 % of them every minute.
	due := max(o.triggers/100, 1)
	if err := insert(due, "* * * * *"); err != nil {
		return err
	}
	return measure(fmt.Sprintf("%d due (1 %%)", due))
}
