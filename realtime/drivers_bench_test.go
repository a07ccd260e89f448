package realtime_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/redistest"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store/storetest"
)

// BenchmarkDriverThroughput measures events/s through each driver: P
// goroutines publish b.N distinct 100-byte hints (as event ids make them)
// in all to one topic on one instance, and a subscriber on a second instance (another replica, for
// the network drivers) receives them; the time is until the last one has
// arrived. The subscriber's queue holds everything, so nothing is dropped.
func BenchmarkDriverThroughput(b *testing.B) {
	drivers := []struct {
		name string
		open func(b *testing.B) (pub, sub realtime.PubSub)
	}{
		{"memory", func(b *testing.B) (realtime.PubSub, realtime.PubSub) {
			m := realtime.NewMemory()
			b.Cleanup(func() { _ = m.Close() })
			return m, m
		}},
		{"postgres", func(b *testing.B) (realtime.PubSub, realtime.PubSub) {
			url := storetest.PostgresURL(b)
			return mustPostgres(b, url, realtime.PostgresOptions{PublishConns: 8}), mustPostgres(b, url, realtime.PostgresOptions{})
		}},
		{"redis", func(b *testing.B) (realtime.PubSub, realtime.PubSub) {
			url := redistest.URL(b)
			prefix := randomName("bench") + ":"
			return mustRedis(b, url, realtime.RedisOptions{ChannelPrefix: prefix}), mustRedis(b, url, realtime.RedisOptions{ChannelPrefix: prefix})
		}},
	}
	for _, d := range drivers {
		for _, publishers := range []int{1, 8, 64} {
			b.Run(d.name+"/publishers="+strconv.Itoa(publishers), func(b *testing.B) {
				pub, sub := d.open(b)
				ctx := context.Background()
				s, err := sub.Subscribe(ctx, "bench", realtime.WithQueueSize(b.N+1))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for p := range publishers {
					n := b.N / publishers
					if p < b.N%publishers {
						n++
					}
					wg.Go(func() {
						payload := make([]byte, 100)
						for i := range payload {
							payload[i] = 'x'
						}
						for i := range n {
							copy(payload, strconv.Itoa(p)+":"+strconv.Itoa(i)+":")
							if err := pub.Publish(ctx, "bench", payload); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				timeout := time.After(2 * time.Minute)
				for got := 0; got < b.N; got++ {
					select {
					case _, ok := <-s.C():
						if !ok {
							b.Fatalf("subscription ended after %d of %d: %v", got, b.N, s.Err())
						}
					case <-timeout:
						b.Fatalf("received %d of %d", got, b.N)
					}
				}
				b.StopTimer()
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
