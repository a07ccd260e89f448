package realtime_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/realtime/pubsubtest"
)

func TestMemoryContract(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T) realtime.PubSub { return realtime.NewMemory() })
}

// Memory delivers before Publish returns, so a subscriber that never reads
// is dropped exactly when its queue overflows.
func TestMemoryDropsExactlyOnOverflow(t *testing.T) {
	m := realtime.NewMemory(realtime.WithDefaultQueueSize(3))
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	s, err := m.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := m.Publish(ctx, "t", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("dropped with a full but not overflowing queue: %v", err)
	}
	if err := m.Publish(ctx, "t", []byte("3")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for msg := range s.C() {
		got = append(got, string(msg.Payload))
	}
	if len(got) != 3 || got[0] != "0" || got[2] != "2" {
		t.Fatalf("queued before the drop: %q, want 0 1 2", got)
	}
	if !errors.Is(s.Err(), realtime.ErrSlowSubscriber) {
		t.Fatalf("Err = %v", s.Err())
	}
}

// Subscriptions ending in every way at once, against publishers and Close:
// the race detector and the absence of panics (send on closed channel) are
// the assertions.
func TestMemoryConcurrentChurn(t *testing.T) {
	m := realtime.NewMemory(realtime.WithDefaultQueueSize(2))
	var delivered, finished atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := m.Publish(context.Background(), "topic"+strconv.Itoa((p+i)%3), []byte("x"))
				if err != nil && !errors.Is(err, realtime.ErrClosed) {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 200 {
		wg.Go(func() {
			defer finished.Add(1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := m.Subscribe(ctx, "topic"+strconv.Itoa(i%3))
			if errors.Is(err, realtime.ErrClosed) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			switch i % 3 {
			case 0:
				s.Close()
			case 1:
				cancel()
			}
			for range s.C() {
				delivered.Add(1)
			}
		})
	}
	// Close while some subscribers are likely still live.
	wg.Go(func() {
		for delivered.Load() < 100 && finished.Load() < 200 {
			runtime.Gosched()
		}
		_ = m.Close()
	})
	// Readers of case 2 end only by drop or Close; stop publishers once
	// Close has happened.
	for {
		if err := m.Publish(context.Background(), "topic2", nil); errors.Is(err, realtime.ErrClosed) {
			break
		}
	}
	close(stop)
	wg.Wait()
}
