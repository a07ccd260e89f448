package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

const (
	writers         = 16
	writesPerWriter = 50
)

// errorLog collects errors from goroutines.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	locked := 0
	for _, err := range l.errs {
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			locked++
		}
	}
	for i, err := range l.errs {
		if i == 10 {
			t.Errorf("... and %d more errors", len(l.errs)-10)
			break
		}
		t.Errorf("concurrent operation failed: %v", err)
	}
	if locked > 0 {
		t.Errorf("%d of %d errors are lock errors (database is locked / busy)", locked, len(l.errs))
	}
}

// increment adds one to the counter key in one transaction (read, then
// write).
func increment(ctx context.Context, s *store.Store, key string) error {
	return s.InTx(ctx, func(tx *store.Store) error {
		v, err := tx.Meta().Get(ctx, key)
		n := 0
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(v); err != nil {
				return err
			}
		}
		return tx.Meta().Set(ctx, key, strconv.Itoa(n+1))
	})
}

// hammer runs writers goroutines spread over the given handles, each doing
// writesPerWriter writes of several kinds, while readers read on every
// handle until the writers are done.
func hammer(t *testing.T, ctx context.Context, handles []*store.Store, log *errorLog) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		readers sync.WaitGroup
		done    atomic.Bool
		start   = make(chan struct{})
		reads   atomic.Int64
	)
	for w := range writers {
		s := handles[w%len(handles)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			email := fmt.Sprintf("w%02d@example.com", w)
			for i := range writesPerWriter {
				var err error
				switch i % 5 {
				case 0, 1:
					err = s.LoginFailures().Record(ctx, email, "", at(time.Duration(i)*time.Second))
				case 2:
					err = s.Meta().Set(ctx, fmt.Sprintf("w%02d", w), strconv.Itoa(i))
				case 3:
					_, err = s.Meta().SetIfAbsent(ctx, fmt.Sprintf("first-%02d-%02d", w, i), "x")
				case 4:
					err = increment(ctx, s, "counter")
				}
				if err != nil {
					log.add(fmt.Errorf("writer %d, write %d: %w", w, i, err))
				}
			}
		}()
	}
	for r := range 2 * len(handles) {
		s := handles[r%len(handles)]
		readers.Add(1)
		go func() {
			defer readers.Done()
			<-start
			for i := 0; !done.Load() || i == 0; i++ {
				email := fmt.Sprintf("w%02d@example.com", i%writers)
				if _, _, err := s.LoginFailures().Since(ctx, email, "", at(-time.Hour)); err != nil {
					log.add(fmt.Errorf("reader %d: since: %w", r, err))
				}
				if _, err := s.Meta().Get(ctx, fmt.Sprintf("w%02d", i%writers)); err != nil && !errors.Is(err, store.ErrNotFound) {
					log.add(fmt.Errorf("reader %d: meta: %w", r, err))
				}
				if _, err := s.Users().Count(ctx); err != nil {
					log.add(fmt.Errorf("reader %d: count: %w", r, err))
				}
				reads.Add(3)
			}
		}()
	}
	close(start)
	wg.Wait()
	done.Store(true)
	readers.Wait()
	t.Logf("%d writes, %d reads", writers*writesPerWriter, reads.Load())
}

// checkHammered verifies that every acknowledged write is there.
func checkHammered(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	perWriterFailures := 0
	for i := range writesPerWriter {
		if i%5 <= 1 {
			perWriterFailures++
		}
	}
	if n := countRows(t, s, "login_failures", ""); n != writers*perWriterFailures {
		t.Errorf("login_failures has %d rows, want %d", n, writers*perWriterFailures)
	}
	for w := range writers {
		n, _, err := s.LoginFailures().Since(ctx, fmt.Sprintf("w%02d@example.com", w), "", at(-time.Hour))
		noErr(t, "since", err)
		if n != perWriterFailures {
			t.Errorf("writer %d: %d failures recorded, want %d", w, n, perWriterFailures)
		}
		v, err := s.Meta().Get(ctx, fmt.Sprintf("w%02d", w))
		noErr(t, "meta", err)
		if want := strconv.Itoa(writesPerWriter - 1 - (writesPerWriter-1-2)%5); v != want {
			t.Errorf("writer %d: last Set value %q, want %q", w, v, want)
		}
	}
	increments := writers * (writesPerWriter / 5)
	if n := countRows(t, s, "instance_meta", "key LIKE 'first-%'"); n != increments {
		t.Errorf("%d SetIfAbsent keys, want %d", n, increments)
	}
	// On SQLite every transaction holds the write lock from BEGIN, so
	// read-then-write transactions serialize and no increment is lost.
	// (Postgres runs InTx at READ COMMITTED, where they may interleave.)
	if s.Dialect() == store.SQLite {
		v, err := s.Meta().Get(ctx, "counter")
		noErr(t, "counter", err)
		if v != strconv.Itoa(increments) {
			t.Errorf("counter = %s after %d increments in transactions", v, increments)
		}
	}
}

// TestConcurrentWritesOneStore: 16 goroutines writing through one store
// while others read never see an error ("database is locked" on SQLite)
// and lose nothing.
func TestConcurrentWritesOneStore(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var log errorLog
		hammer(t, ctx, []*store.Store{s}, &log)
		log.report(t)
		checkHammered(t, ctx, s)
	})
}

// TestConcurrentWritesTwoHandles: two Stores opened on one database, like
// two processes, writing at once: no error, nothing lost.
func TestConcurrentWritesTwoHandles(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			url := storetest.URL(t, d)
			a := openRaw(t, url)
			_, err := a.Migrate(ctx)
			noErr(t, "migrate", err)
			b := openRaw(t, url)
			var log errorLog
			hammer(t, ctx, []*store.Store{a, b}, &log)
			log.report(t)
			checkHammered(t, ctx, a)
			checkHammered(t, ctx, b)
		})
	}
}
