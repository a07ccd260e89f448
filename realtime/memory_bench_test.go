package realtime_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/agentops/agentops/realtime"
)

// BenchmarkMemoryPublish measures publishing a 64-byte hint to a topic with
// 1 or 100 subscribers, each read by its own goroutine, delivery included:
// the publisher sends batches of half a queue and waits until every
// subscriber has read the batch, so nothing is dropped and ns/op is the
// cost of one message reaching all subscribers. (A publisher that does not
// wait outruns its readers, gets them dropped, and then measures publishing
// to nobody.)
func BenchmarkMemoryPublish(b *testing.B) {
	const batch = realtime.DefaultQueueSize / 2
	for _, n := range []int{1, 100} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			m := realtime.NewMemory()
			defer m.Close()
			ctx := context.Background()
			batchRead := make(chan struct{}, n)
			subs := make([]realtime.Subscription, n)
			var wg sync.WaitGroup
			for i := range subs {
				s, err := m.Subscribe(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = s
				wg.Go(func() {
					for msg := range s.C() {
						if msg.Payload[0] == 1 {
							batchRead <- struct{}{}
						}
					}
				})
			}
			payload := make([]byte, 64)
			last := make([]byte, 64)
			last[0] = 1
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := payload
				endOfBatch := i%batch == batch-1 || i == b.N-1
				if endOfBatch {
					p = last
				}
				if err := m.Publish(ctx, "bench", p); err != nil {
					b.Fatal(err)
				}
				if endOfBatch {
					for range n {
						<-batchRead
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, s := range subs {
				if err := s.Err(); err != nil {
					b.Fatalf("subscriber ended: %v", err)
				}
				s.Close()
			}
			wg.Wait()
		})
	}
}
