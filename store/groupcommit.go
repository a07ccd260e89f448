package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/uptrace/bun"
)

// Group commit for SQLite. SQLite has one writer, so every write
// transaction waits its turn anyway; what each one pays on its own is
// BEGIN, COMMIT (the WAL append) and the hand-over of the one writer
// connection between goroutines. The committer takes the transactions
// that queued while the previous batch ran and runs them one after another
// in a single SQLite transaction, each inside its own savepoint so that
// one's error rolls back only its own writes, then commits once and only
// then answers each caller: an acknowledged write is committed exactly as
// before (synchronous=NORMAL in WAL mode: it survives kill -9), and a
// failed COMMIT fails every transaction of the batch.
//
// A transaction's function runs on the committer's goroutine with its
// caller's context values but without its cancellation: SQLite rolls back
// a whole transaction when a statement in it is interrupted, which would
// take the batch's other writes with it. A caller whose context ends
// while it waits in the queue is answered with that error and not run.
//
// When the queue is empty the first transaction starts at once: batching
// never adds a delay, it only merges what is already waiting.
type groupCommitter struct {
	db      *bun.DB
	jobs    chan *txJob
	maxJobs int
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type txJob struct {
	ctx   context.Context
	fn    func(tx bun.Tx) error
	err   error
	panic any
	done  chan struct{}
}

// maxBatch bounds a batch, so that one commit never waits on more than
// this many transactions.
const maxBatch = 64

func newGroupCommitter(db *bun.DB) *groupCommitter {
	g := &groupCommitter{db: db, jobs: make(chan *txJob, 1024), maxJobs: maxBatch, stop: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// errCommitterClosed answers transactions sent after Close.
var errCommitterClosed = fmt.Errorf("write transaction: the store is closed")

// do runs fn in the next batch and returns once that batch is committed
// (or fn failed and its writes were rolled back).
func (g *groupCommitter) do(ctx context.Context, fn func(tx bun.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &txJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case g.jobs <- j:
	case <-g.stop:
		return errCommitterClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the job is answered: waiting for it even if ctx ends
	// keeps "acknowledged" meaning "committed".
	<-j.done
	if j.panic != nil {
		panic(j.panic)
	}
	return j.err
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

func (g *groupCommitter) run() {
	defer close(g.done)
	batch := make([]*txJob, 0, g.maxJobs)
	for {
		select {
		case j := <-g.jobs:
			batch = append(batch[:0], j)
		case <-g.stop:
			// Answer what is still queued.
			for {
				select {
				case j := <-g.jobs:
					j.err = errCommitterClosed
					close(j.done)
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < g.maxJobs {
			select {
			case j := <-g.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		g.commit(batch)
		clear(batch)
	}
}

// commit runs one batch in one transaction.
func (g *groupCommitter) commit(batch []*txJob) {
	finish := func(err error) {
		for _, j := range batch {
			if j.err == nil && j.panic == nil {
				j.err = err
			}
			close(j.done)
		}
	}
	tx, err := g.db.BeginTx(context.Background(), &sql.TxOptions{})
	if err != nil {
		finish(fmt.Errorf("begin write transaction: %w", err))
		return
	}
	ran := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if len(batch) == 1 {
			// Alone: no savepoint needed; its error rolls back the lot.
			g.runJob(tx, j)
			if j.err != nil || j.panic != nil {
				_ = tx.Rollback()
				finish(nil)
				return
			}
			ran++
			continue
		}
		if _, err := tx.ExecContext(context.Background(), "SAVEPOINT gc"); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("write transaction savepoint: %w", err))
			return
		}
		g.runJob(tx, j)
		if j.err != nil || j.panic != nil {
			if _, err := tx.ExecContext(context.Background(), "ROLLBACK TO gc"); err != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("roll back a failed write: %w", err))
				return
			}
		} else {
			ran++
		}
		if _, err := tx.ExecContext(context.Background(), "RELEASE gc"); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("write transaction release: %w", err))
			return
		}
	}
	if ran == 0 {
		_ = tx.Rollback()
		finish(nil)
		return
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the batch is durable: every caller hears so, also
		// those whose own function succeeded.
		for _, j := range batch {
			if j.err == nil && j.panic == nil {
				j.err = fmt.Errorf("commit: %w", err)
			}
		}
		finish(nil)
		return
	}
	finish(nil)
}

func (g *groupCommitter) runJob(tx bun.Tx, j *txJob) {
	defer func() {
		if p := recover(); p != nil {
			j.panic = p
		}
	}()
	j.err = j.fn(tx)
}
