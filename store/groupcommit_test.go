package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// Transactions that run at once (on SQLite, merged into one commit) keep
// their own outcome: a failing one leaves none of its writes, a panicking
// one panics in its caller, and every other one is committed.
func TestConcurrentTransactionsKeepTheirOwnOutcome(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		errFail := errors.New("this one fails")
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		panics := make([]any, n)
		for i := range n {
			wg.Go(func() {
				defer func() { panics[i] = recover() }()
				errs[i] = s.InTx(ctx, func(tx *store.Store) error {
					if err := tx.Meta().Set(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
						return err
					}
					// A second write, so that a rollback must undo more
					// than the last statement.
					if err := tx.Meta().Set(ctx, fmt.Sprintf("k%03d-b", i), "v"); err != nil {
						return err
					}
					switch i % 10 {
					case 3:
						return errFail
					case 7:
						panic(fmt.Sprintf("panic %d", i))
					}
					return nil
				})
			})
		}
		wg.Wait()
		for i := range n {
			_, err := s.Meta().Get(ctx, fmt.Sprintf("k%03d", i))
			_, errB := s.Meta().Get(ctx, fmt.Sprintf("k%03d-b", i))
			switch i % 10 {
			case 3:
				if !errors.Is(errs[i], errFail) {
					t.Errorf("transaction %d returned %v, want its own error", i, errs[i])
				}
				if !errors.Is(err, store.ErrNotFound) || !errors.Is(errB, store.ErrNotFound) {
					t.Errorf("transaction %d failed but its writes remain (%v, %v)", i, err, errB)
				}
			case 7:
				if panics[i] != fmt.Sprintf("panic %d", i) {
					t.Errorf("transaction %d: caller recovered %v, want its own panic", i, panics[i])
				}
				if !errors.Is(err, store.ErrNotFound) || !errors.Is(errB, store.ErrNotFound) {
					t.Errorf("transaction %d panicked but its writes remain (%v, %v)", i, err, errB)
				}
			default:
				if errs[i] != nil || panics[i] != nil {
					t.Errorf("transaction %d: %v / %v, want success", i, errs[i], panics[i])
				}
				if err != nil || errB != nil {
					t.Errorf("transaction %d succeeded but its writes are missing (%v, %v)", i, err, errB)
				}
			}
		}
	})
}

// A caller whose context has ended is answered with its error and its
// function never runs.
func TestTransactionWithEndedContextDoesNotRun(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		err := s.InTx(ctx, func(tx *store.Store) error { ran = true; return nil })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("InTx with a cancelled context: err %v, ran %v; want context.Canceled and not run", err, ran)
		}
	})
}
