// Command opsbench measures backup, restore and migrate-data on a seeded
// database, and how long writers wait while a backup runs.
//
//	go run -tags sqlite_fts5 ./internal/bench/opsbench -sessions 100000 -messages 10
//
// It seeds a fresh SQLite file (users, sessions with messages, memory
// files) through the table registry's batch writer, then: times the
// writes of a writer that inserts one message per transaction, alone and
// while a backup runs beside it on another connection (as beside a
// server); times a backup and its restore; and times migrate-data from
// SQLite to a throwaway Postgres (AGENTOPS_TEST_POSTGRES_URL, else one it
// starts) and back.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/internal/testutil/pgtest"
	"github.com/agentops/agentops/store"
)

func main() {
	sessions := flag.Int("sessions", 100000, "sessions to seed")
	per := flag.Int("messages", 10, "messages per session")
	batch := flag.Int("batch", 1000, "migrate-data rows per batch")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	archiveDir := flag.String("archive-dir", "", "where the backup archive (and the snapshot) is written (default: beside the database)")
	doMigrate := flag.Bool("migrate", true, "also measure migrate-data (needs Postgres)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "opsbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "opsbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*sessions, *per, *batch, *archiveDir, *doMigrate); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "opsbench:", err)
		os.Exit(1)
	}
}

func run(nSessions, per, batch int, archiveDir string, doMigrate bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "opsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src.db")
	t0 := time.Now()
	st, userID, err := seed(ctx, src, nSessions, per)
	if err != nil {
		return err
	}
	defer st.Close()
	fi, _ := os.Stat(src)
	var rows int64
	for _, t := range store.Tables() {
		n, _ := st.Count(ctx, t.Name)
		rows += n
	}
	fmt.Printf("seeded %d sessions, %d messages (%d rows in all), %.0f MB SQLite file, in %s\n",
		nSessions, nSessions*per, rows, float64(fi.Size())/1e6, time.Since(t0).Round(time.Second))

	// Writers during a backup.
	w, err := store.Open(ctx, src, store.Options{})
	if err != nil {
		return err
	}
	defer w.Close()
	sessionID, err := firstSession(ctx, w)
	if err != nil {
		return err
	}
	alone := writeFor(ctx, w, sessionID, userID, 2*time.Second, nil, nil)
	report("writes alone (2 s)", alone)
	adir := dir
	if archiveDir != "" {
		adir = archiveDir
	}
	out := filepath.Join(adir, fmt.Sprintf("opsbench-%d.tar", time.Now().UnixNano()))
	var bres *ops.BackupResult
	var berr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during []time.Duration
	type slowWrite struct {
		at time.Time
		d  time.Duration
	}
	var slow []slowWrite
	wg.Add(1)
	go func() {
		defer wg.Done()
		during = writeFor(ctx, w, sessionID, userID, 0, stop, func(at time.Time, d time.Duration) { slow = append(slow, slowWrite{at, d}) })
	}()
	time.Sleep(200 * time.Millisecond)
	bstart := time.Now()
	bres, berr = ops.Backup(ctx, ops.BackupOptions{Store: st, WithoutKey: true, Out: out})
	close(stop)
	wg.Wait()
	for _, sw := range slow {
		fmt.Printf("  a write of %s began %s after the backup began\n", sw.d.Round(time.Millisecond), sw.at.Sub(bstart).Round(time.Millisecond))
	}
	if berr != nil {
		return berr
	}
	report("writes during the backup", during)
	afi, _ := os.Stat(out)
	el := bres.Elapsed.Seconds()
	fmt.Printf("backup: %s (snapshot %s), %.0f MB archive, %.1f MB/s, %.0f rows/s\n",
		bres.Elapsed.Round(time.Millisecond), bres.Snapshot.Round(time.Millisecond), float64(afi.Size())/1e6,
		float64(afi.Size())/1e6/el, float64(rows)/el)

	target := filepath.Join(dir, "restored")
	rres, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
		KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces")})
	if err != nil {
		return err
	}
	fmt.Printf("restore: %s, %.1f MB/s\n", rres.Elapsed.Round(time.Millisecond), float64(afi.Size())/1e6/rres.Elapsed.Seconds())
	os.Remove(out)
	if !doMigrate {
		return nil
	}

	admin := os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
	if admin == "" {
		srv, err := pgtest.Start(ctx)
		if err != nil {
			return err
		}
		defer srv.Stop()
		admin = srv.URL()
	}
	pg, drop, err := pgtest.CreateDatabase(ctx, admin, "opsbench")
	if err != nil {
		return err
	}
	defer drop()
	mres, err := ops.MigrateData(ctx, ops.MigrateOptions{From: src, To: pg, BatchRows: batch, Progress: ops.NewProgress(os.Stderr, false)})
	if err != nil {
		return err
	}
	migrated("migrate-data sqlite → postgres", mres)
	back := filepath.Join(dir, "back.db")
	mres, err = ops.MigrateData(ctx, ops.MigrateOptions{From: pg, To: back, BatchRows: batch})
	if err != nil {
		return err
	}
	migrated("migrate-data postgres → sqlite", mres)
	return nil
}

func migrated(what string, r *ops.MigrateResult) {
	var size, rows int64
	for _, t := range r.Tables {
		size += t.Bytes
		rows += t.Rows
	}
	fmt.Printf("%s: %s in all; copy %s (%.0f rows/s, %.1f MB/s), verify %s, search index %s\n", what,
		r.Elapsed.Round(time.Millisecond), r.Copy.Round(time.Millisecond), float64(rows)/r.Copy.Seconds(),
		float64(size)/1e6/r.Copy.Seconds(), r.Verify.Round(time.Millisecond), r.Search.Round(time.Millisecond))
}

func report(what string, d []time.Duration) {
	if len(d) == 0 {
		fmt.Printf("%s: no writes\n", what)
		return
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Printf("%s: %d writes, p50 %s, p99 %s, max %s\n", what, len(d),
		q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
}

// writeFor inserts one message per transaction for dur, or until stop is
// closed, and returns each write's time.
func writeFor(ctx context.Context, s *store.Store, sessionID, userID string, dur time.Duration, stop chan struct{}, slow func(at time.Time, d time.Duration)) []time.Duration {
	var out []time.Duration
	end := time.Now().Add(dur)
	seq := time.Now().UnixNano()
	for {
		if stop != nil {
			select {
			case <-stop:
				return out
			default:
			}
		} else if time.Now().After(end) {
			return out
		}
		seq++
		now := store.Now()
		t0 := time.Now()
		err := s.Messages().Insert(ctx, &store.Message{ID: uuid.NewString(), SessionID: sessionID, Seq: seq, Role: "user",
			Content: "a write during the measurement", AuthorID: userID, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return out
		}
		d := time.Since(t0)
		out = append(out, d)
		if slow != nil && d > 50*time.Millisecond {
			slow(t0, d)
		}
	}
}

func firstSession(ctx context.Context, s *store.Store) (string, error) {
	var id string
	err := s.DB().NewRaw("SELECT id FROM sessions ORDER BY id LIMIT 1").Scan(ctx, &id)
	return id, err
}

// seed writes users, sessions, messages and memory files in multi-row
// batches through the registry's writer.
func seed(ctx context.Context, path string, nSessions, per int) (*store.Store, string, error) {
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return nil, "", err
	}
	if _, err := st.Migrate(ctx); err != nil {
		return nil, "", err
	}
	infos := map[string]store.TableInfo{}
	for _, t := range []string{"users", "sessions", "messages", "memory_files"} {
		if infos[t], err = st.Describe(ctx, t); err != nil {
			return nil, "", err
		}
	}
	base := time.Now().UTC().Add(-90 * 24 * time.Hour).Truncate(time.Microsecond)
	row := func(table string, vals map[string]any) store.Row {
		info := infos[table]
		r := make(store.Row, len(info.Columns))
		for i, c := range info.Columns {
			r[i] = vals[c.Name]
		}
		return r
	}
	var users []string
	var urows []store.Row
	for i := range 50 {
		id := uuid.NewString()
		users = append(users, id)
		urows = append(urows, row("users", map[string]any{"id": id, "email": fmt.Sprintf("user%d@example.com", i), "role": "member",
			"onboarding_completed": true, "idle_timeout_seconds": int64(900), "ui_queue_mode": "followup", "identity_provider": "email",
			"model_preferences": `["claude"]`, "created_at": base, "updated_at": base}))
	}
	if err := st.WriteBatch(ctx, infos["users"], urows); err != nil {
		return nil, "", err
	}
	parts, _ := json.Marshal([]map[string]any{{"type": "text", "text": strings.Repeat("lorem ipsum ", 8)}})
	content := strings.Repeat("The agent changed a file and explained why. ", 3)
	const chunk = 500
	for start := 0; start < nSessions; start += chunk {
		var srows, mrows []store.Row
		for i := start; i < min(start+chunk, nSessions); i++ {
			id := uuid.NewString()
			at := base.Add(time.Duration(i) * time.Second)
			srows = append(srows, row("sessions", map[string]any{"id": id, "user_id": users[i%len(users)], "workspace": fmt.Sprintf("ws%d", i%200),
				"title": "session " + fmt.Sprint(i), "status": "terminated", "purpose": "interactive", "agent": "script",
				"runner_seq": int64(per), "runner_busy": false, "git_state": `{"branch":"main","dirty":false}`, "queue_mode": "followup",
				"runner_respawns": int64(0), "message_count": int64(per), "tool_call_count": int64(0),
				"last_active_at": at, "ended_at": at, "created_at": at, "updated_at": at}))
			for j := range per {
				mrows = append(mrows, row("messages", map[string]any{"id": uuid.NewString(), "session_id": id, "seq": int64(j + 1),
					"role": []string{"user", "assistant"}[j%2], "content": content, "parts": string(parts), "tool_call_count": int64(0),
					"created_at": at, "updated_at": at}))
			}
		}
		err := st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.WriteBatch(ctx, infos["sessions"], srows); err != nil {
				return err
			}
			for k := 0; k < len(mrows); k += 1000 {
				if err := tx.WriteBatch(ctx, infos["messages"], mrows[k:min(k+1000, len(mrows))]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, "", err
		}
	}
	var files []store.MemoryFile
	for i := range 1000 {
		files = append(files, store.MemoryFile{ID: uuid.NewString(), UserID: users[i%len(users)], Path: fmt.Sprintf("notes/%d.md", i),
			Content: fmt.Sprintf("note %d about the build and the zebra", i), Relevance: 1, Version: 1,
			CreatedAt: base, UpdatedAt: base, LastAccessedAt: base})
	}
	if err := st.MemoryFiles().InsertMany(ctx, files); err != nil {
		return nil, "", err
	}
	return st, users[0], nil
}
