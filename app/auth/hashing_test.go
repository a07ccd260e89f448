package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of password hashes runs at most one per slot at a time, and
// every one of them runs.
func TestHashGateBoundsConcurrentHashing(t *testing.T) {
	g := newHashGate(2)
	var now, peak, ran atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := g.do(context.Background(), func() {
				n := now.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				now.Add(-1)
				ran.Add(1)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak.Load() > 2 || ran.Load() != 20 {
		t.Fatalf("peak %d hashes at once (want at most 2), %d of 20 ran", peak.Load(), ran.Load())
	}
}

// A caller that gives up while every slot is busy is answered with its
// context's error and hashes nothing.
func TestHashGateWaiterGivesUp(t *testing.T) {
	g := newHashGate(1)
	release := make(chan struct{})
	go g.do(context.Background(), func() { <-release })
	for len(g.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	err := g.do(ctx, func() { ran = true })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("waiter: err %v, ran %v; want DeadlineExceeded and not run", err, ran)
	}
}
