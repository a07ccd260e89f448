package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// lockedIncrement adds one to key inside InTx after LockKey(name), with a
// pause between the read and the write so that unserialized transactions
// would interleave.
func lockedIncrement(ctx context.Context, s *store.Store, name, key string) error {
	return s.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, name); err != nil {
			return err
		}
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
		time.Sleep(time.Millisecond)
		return tx.Meta().Set(ctx, key, strconv.Itoa(n+1))
	})
}

// TestLockKeySerializesTransactions: read-then-write transactions that
// take the same LockKey never lose an update, on either dialect, from one
// handle or from two (two servers).
func TestLockKeySerializesTransactions(t *testing.T) {
	const goroutines, each = 8, 10
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			url := storetest.URL(t, d)
			a := openRaw(t, url)
			_, err := a.Migrate(ctx)
			noErr(t, "migrate", err)
			b := openRaw(t, url)

			var wg sync.WaitGroup
			var log errorLog
			for g := range goroutines {
				s := []*store.Store{a, b}[g%2]
				// Two independent counters under two lock names.
				name := fmt.Sprintf("counter-%d", g%2)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						if err := lockedIncrement(ctx, s, name, name); err != nil {
							log.add(err)
						}
					}
				}()
			}
			wg.Wait()
			log.report(t)
			for c := range 2 {
				key := fmt.Sprintf("counter-%d", c)
				v, err := a.Meta().Get(ctx, key)
				noErr(t, "get "+key, err)
				if want := strconv.Itoa(goroutines / 2 * each); v != want {
					t.Errorf("%s = %s, want %s: increments under LockKey were lost", key, v, want)
				}
			}
		})
	}
}

func TestLockKeyInsideTransaction(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		err := s.InTx(ctx, func(tx *store.Store) error {
			if err := tx.LockKey(ctx, "a"); err != nil {
				return err
			}
			// Taking the same lock again in the same transaction is fine,
			// and so is a nested InTx.
			if err := tx.LockKey(ctx, "a"); err != nil {
				return err
			}
			return tx.InTx(ctx, func(inner *store.Store) error { return inner.LockKey(ctx, "b") })
		})
		noErr(t, "LockKey inside InTx", err)
		// The lock ends with its transaction: a later one takes it at once.
		ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		noErr(t, "LockKey in a later transaction", s.InTx(ctx2, func(tx *store.Store) error { return tx.LockKey(ctx2, "a") }))
		if s.Dialect() == store.Postgres {
			if err := s.LockKey(ctx, "a"); err == nil {
				t.Error("LockKey outside a transaction succeeded on Postgres; it would lock nothing")
			}
		}
	})
}
